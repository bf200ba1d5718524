"""Metrics the system exports about itself: the spec's fifteen plus what an operator needs.

Labels are bounded. `slo` and `service` come from definitions the operator controls, never from
request data, and `TelemetryRefresher` drops the series of deleted SLOs; every other label takes
values from a fixed set (activity names, query kinds, topics from settings, route templates).

Per-SLO budget gauges are exported by every API and worker process with the same values (they
are refreshed from PostgreSQL), so dashboards aggregate them with `max by (slo, service)`.
"""

from __future__ import annotations

import contextlib
import math
import platform
import weakref
from collections.abc import Iterable, Iterator, Mapping
from datetime import datetime
from importlib.metadata import PackageNotFoundError, version
from typing import Protocol

import httpx
from prometheus_client import REGISTRY, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.metrics import MetricWrapperBase
from prometheus_client.registry import Collector

from sla_management import __version__

# Calculations ---------------------------------------------------------------------------------

CALCULATIONS = Counter(
    "sla_calculations_total",
    "Budget calculations recorded, by resulting status (UNKNOWN: Prometheus could not be read).",
    ["slo", "service", "outcome"],
)
CALCULATION_DURATION = Histogram(
    "sla_calculation_duration_seconds",
    "Time to query Prometheus for one pass of one SLO.",
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)

# Error budgets ---------------------------------------------------------------------------------

BUDGET_REMAINING = Gauge("sla_budget_remaining_percent", "Error budget remaining.", ["slo", "service"])
BUDGET_CONSUMED = Gauge("sla_budget_consumed_percent", "Error budget consumed.", ["slo", "service"])
BUDGET_STATUS = Gauge(
    "sla_budget_status",
    "0=HEALTHY 1=WARNING 2=CRITICAL 3=EXHAUSTED, -1=NO_DATA/UNKNOWN.",
    ["slo", "service"],
)
BURN_RATE = Gauge("sla_burn_rate", "Burn rate by window.", ["slo", "service", "window"])
BUDGET_CALCULATED_AT = Gauge(
    "sla_budget_calculated_timestamp_seconds",
    "Unix time of the SLO's latest recorded budget.",
    ["slo", "service"],
)
BUDGETS_BY_STATUS = Gauge(
    "sla_budgets_by_status", "SLOs by current budget status (PENDING: no budget yet).", ["status"]
)
PASS_LAG = Gauge(
    "sla_workflow_pass_lag_seconds",
    "Age of the stalest current budget: grows when SLO loops fall behind or stop.",
)

# Freezes ---------------------------------------------------------------------------------------

FREEZES_ACTIVE = Gauge("sla_freezes_active", "Freezes in force.", ["scope"])
FREEZES_ACTIVATED = Counter("sla_freezes_activated_total", "Freezes started.", ["scope"])
FREEZES_RESOLVED = Counter("sla_freezes_resolved_total", "Freezes ended.", ["scope", "by"])
FREEZE_DURATION = Histogram(
    "sla_freeze_duration_seconds",
    "How long freezes lasted.",
    buckets=(60, 300, 900, 1800, 3600, 7200, 14400, 43200, 86400, 259200, 604800),
)
POLICY_SIGNALS = Counter("sla_policy_signals_total", "Budget observations sent to policy workflows.")

# SLOs and violations ---------------------------------------------------------------------------

SLOS_TOTAL = Gauge("sla_slos_total", "SLO definitions stored.")
POLICIES_TOTAL = Gauge("sla_policies_total", "Freeze policies stored.")
SLO_VIOLATIONS = Counter(
    "sla_slo_violations_total", "SLO alerts received from Alertmanager.", ["slo", "status"]
)
ALERTS_IGNORED = Counter("sla_alerts_ignored_total", "Alerts without a known SLO.", ["reason"])
WORKFLOWS_RUNNING = Gauge(
    "sla_workflows_running", "Running workflows by type (Temporal visibility).", ["workflow"]
)

# Integrations ----------------------------------------------------------------------------------

PROMETHEUS_QUERIES = Counter(
    "sla_prometheus_queries_total", "Queries sent to Prometheus.", ["kind", "outcome"]
)
PROMETHEUS_QUERY_ERRORS = Counter(
    "sla_prometheus_query_errors_total",
    "Prometheus queries that failed after every retry, by cause.",
    ["kind", "error"],
)
PROMETHEUS_QUERY_RETRIES = Counter(
    "sla_prometheus_query_retries_total", "Prometheus requests retried after a transient failure.", ["kind"]
)
PROMETHEUS_QUERY_DURATION = Histogram(
    "sla_prometheus_query_duration_seconds",
    "One Prometheus query, retries included.",
    ["kind"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
KAFKA_EVENTS = Counter("sla_kafka_events_published_total", "Events published to Kafka.", ["topic", "outcome"])
OUTBOX_PENDING = Gauge("sla_outbox_pending_events", "Events written but not yet on Kafka.")
OUTBOX_OLDEST_AGE = Gauge(
    "sla_outbox_oldest_pending_age_seconds", "Age of the oldest event still waiting for Kafka (0: none)."
)
ALERTMANAGER_WEBHOOKS = Counter(
    "sla_alertmanager_webhooks_received_total", "Alertmanager webhook calls.", ["outcome"]
)
NOTIFICATIONS = Counter(
    "sla_notifications_total",
    "Notification deliveries by channel and outcome (sent, failed: retried later, dead: given up).",
    ["channel", "outcome"],
)
NOTIFICATION_LATENCY = Histogram(
    "sla_notification_latency_seconds",
    "From the event (the freeze decision, the grant...) to the receiver's answer.",
    ["channel"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300, 3600),
)
CACHE_REQUESTS = Counter("sla_cache_requests_total", "Budget cache look-ups.", ["outcome"])
DEPENDENCY_UP = Gauge("sla_dependency_up", "1 when the dependency answered the last probe.", ["dependency"])

# Temporal activities (worker interceptor) ------------------------------------------------------

ACTIVITY_EXECUTIONS = Counter(
    "sla_activity_executions_total", "Activity attempts, by outcome.", ["activity", "outcome"]
)
ACTIVITY_RETRIES = Counter(
    "sla_activity_retries_total", "Activity attempts after the first (Temporal retries).", ["activity"]
)
ACTIVITY_DURATION = Histogram(
    "sla_activity_duration_seconds",
    "One activity attempt.",
    ["activity"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
)
ACTIVITY_SCHEDULE_TO_START = Histogram(
    "sla_activity_schedule_to_start_seconds",
    "Wait between scheduling an activity attempt and a worker starting it: the task-queue backlog.",
    ["activity"],
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300),
)

# The API ---------------------------------------------------------------------------------------

HTTP_REQUESTS = Counter(
    "sla_http_requests_total",
    "API requests, by route template and status code.",
    ["method", "route", "status"],
)
HTTP_DURATION = Histogram(
    "sla_http_request_duration_seconds",
    "API request latency by route template.",
    ["method", "route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)

# The process -----------------------------------------------------------------------------------

BUILD_INFO = Gauge(
    "sla_build_info", "Always 1; the labels say what is running.", ["version", "python", "temporalio"]
)


def _package_version(name: str) -> str:
    try:
        return version(name)
    except PackageNotFoundError:
        return "unknown"


BUILD_INFO.labels(
    version=__version__, python=platform.python_version(), temporalio=_package_version("temporalio")
).set(1)

# Series carrying an `slo` label: dropped when their SLO is deleted.
PER_SLO: tuple[MetricWrapperBase, ...] = (
    CALCULATIONS,
    BUDGET_REMAINING,
    BUDGET_CONSUMED,
    BUDGET_STATUS,
    BURN_RATE,
    BUDGET_CALCULATED_AT,
    SLO_VIOLATIONS,
)


def forget_slos(keep: Iterable[str]) -> int:
    """Remove every per-SLO series whose SLO is not in `keep`; returns how many went."""
    kept = set(keep)
    removed = 0
    for metric in PER_SLO:
        names: list[str] = list(metric._labelnames)  # the declared label order `remove` expects
        stale: set[tuple[str, ...]] = set()
        for family in metric.collect():
            for sample in family.samples:
                if sample.labels.get("slo") not in kept:
                    stale.add(tuple(sample.labels[n] for n in names))
        for values in stale:
            metric.remove(*values)
            removed += 1
    return removed


def query_error(exc: BaseException) -> str:
    """A bounded name for why a Prometheus request failed."""
    if isinstance(exc, httpx.TimeoutException):
        return "timeout"
    if isinstance(exc, httpx.TransportError):
        return "unreachable"
    if isinstance(exc, httpx.HTTPStatusError):
        return "server_error" if exc.response.status_code >= 500 else "http_error"
    return "invalid_response"


# Connection pools: read at scrape time, since in-use connections change between refreshes. ----


class PoolStats(Protocol):
    def pool_stats(self) -> dict[str, int]: ...


class _PoolCollector(Collector):
    def __init__(self) -> None:
        self.sources: weakref.WeakSet[PoolStats] = weakref.WeakSet()

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily(
            "sla_db_pool_connections", "PostgreSQL pool connections by state.", labels=["state"]
        )
        totals = {"in_use": 0, "idle": 0, "max": 0}
        for source in list(self.sources):
            for state, value in source.pool_stats().items():
                totals[state] = totals.get(state, 0) + value
        for state, value in totals.items():
            family.add_metric([state], value)
        yield family

    def describe(self) -> Iterator[GaugeMetricFamily]:
        # Describing without collecting keeps registration from touching any pool.
        yield GaugeMetricFamily(
            "sla_db_pool_connections", "PostgreSQL pool connections by state.", labels=["state"]
        )


_POOLS = _PoolCollector()
REGISTRY.register(_POOLS)


def watch_pool(source: PoolStats) -> None:
    """Export this database's pool; several (API and worker in one process) are summed."""
    _POOLS.sources.add(source)


# Budget gauges: one writer for the activity (right after a pass) and the refresher (from
# PostgreSQL), so both export exactly the same series. ----------------------------------------


def _clear(metric: Gauge, *labels: str) -> None:
    # A value that no longer exists (NO_DATA, a window without traffic) is removed rather than
    # left at its last number, which dashboards and alerts would take as current.
    with contextlib.suppress(KeyError):
        metric.remove(*labels)


def set_budget(
    slo: str,
    service: str,
    *,
    status_gauge: int,
    remaining: float | None,
    consumed: float | None,
    burn_rates: Mapping[str, float | None],
    calculated_at: datetime,
) -> None:
    BUDGET_STATUS.labels(slo, service).set(status_gauge)
    BUDGET_CALCULATED_AT.labels(slo, service).set(calculated_at.timestamp())
    for gauge, value in ((BUDGET_REMAINING, remaining), (BUDGET_CONSUMED, consumed)):
        if value is None or math.isnan(value):
            _clear(gauge, slo, service)
        else:
            gauge.labels(slo, service).set(value)
    for window, rate in burn_rates.items():
        if rate is None or math.isnan(rate):
            _clear(BURN_RATE, slo, service, window)
        else:
            BURN_RATE.labels(slo, service, window).set(rate)
