"""Metrics the system exports about itself (names from the spec).

Labels are bounded: `slo` and `service` come from definitions the operator controls, never
from request data.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

CALCULATIONS = Counter(
    "sla_calculations_total", "Budget calculations run, by outcome.", ["slo", "service", "outcome"]
)
CALCULATION_DURATION = Histogram(
    "sla_calculation_duration_seconds",
    "Time to query Prometheus and compute one budget.",
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
BUDGET_REMAINING = Gauge("sla_budget_remaining_percent", "Error budget remaining.", ["slo", "service"])
BUDGET_CONSUMED = Gauge("sla_budget_consumed_percent", "Error budget consumed.", ["slo", "service"])
BUDGET_STATUS = Gauge(
    "sla_budget_status",
    "0=HEALTHY 1=WARNING 2=CRITICAL 3=EXHAUSTED, -1=NO_DATA/UNKNOWN.",
    ["slo", "service"],
)
BURN_RATE = Gauge("sla_burn_rate", "Burn rate by window.", ["slo", "service", "window"])
SLOS_TOTAL = Gauge("sla_slos_total", "SLO definitions stored.")
PROMETHEUS_QUERIES = Counter(
    "sla_prometheus_queries_total", "Queries sent to Prometheus.", ["kind", "outcome"]
)
KAFKA_EVENTS = Counter("sla_kafka_events_published_total", "Events published to Kafka.", ["topic", "outcome"])
OUTBOX_PENDING = Gauge("sla_outbox_pending_events", "Events written but not yet on Kafka.")
CACHE_REQUESTS = Counter("sla_cache_requests_total", "Budget cache look-ups.", ["outcome"])
FREEZES_ACTIVE = Gauge("sla_freezes_active", "Freezes in force.")
FREEZES_ACTIVATED = Counter("sla_freezes_activated_total", "Freezes started.", ["scope"])
FREEZES_RESOLVED = Counter("sla_freezes_resolved_total", "Freezes ended.", ["scope", "by"])
FREEZE_DURATION = Histogram(
    "sla_freeze_duration_seconds",
    "How long freezes lasted.",
    buckets=(60, 300, 900, 1800, 3600, 7200, 14400, 43200, 86400, 259200, 604800),
)
SLO_VIOLATIONS = Counter("sla_slo_violations_total", "SLO alerts received from Alertmanager.", ["slo", "status"])
ALERTMANAGER_WEBHOOKS = Counter(
    "sla_alertmanager_webhooks_received_total", "Alertmanager webhook calls.", ["outcome"]
)
ALERTS_IGNORED = Counter("sla_alerts_ignored_total", "Alerts without a known SLO.", ["reason"])
POLICY_SIGNALS = Counter("sla_policy_signals_total", "Budget observations sent to policy workflows.")
