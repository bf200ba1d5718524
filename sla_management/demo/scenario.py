"""The demo's services, and their counters as exact functions of time.

Every value is a closed-form function of the wall-clock time and an `anchor` (the moment the
story is told from, normally when `sla dev` started). The backfill and the live exporter call the
very same `Timeline.at`, so the counters the exporter serves continue the backfilled history
without a step or a reset; a counter that went down by a rounding error would read to Prometheus
as a restart and add its whole value to `increase()`.

The story, relative to the anchor, with 30-day windows:

- checkout: 0.02 % errors against 99.9 %: a fifth of the budget used, calm.
- payments: 0.06 % errors all month, a 2-hour outage (5 % errors) ten days ago, and a bad deploy
  two hours ago (0.4 % errors, burn rate 4) that lasts six more hours: about three quarters of
  the budget is gone and the short windows burn fast. One `sla demo incident payments` crosses
  the freeze threshold about ten minutes in.
- search: latency, 99.7 % of requests under 300 ms against 99 %: healthy.
- message-bus: the spec's p95 latency example (p95 < 250 ms per 5-minute slice, 99.9 % of
  slices); p95 is about 145 ms, but a 20-minute slowdown nine days ago spent about half of the
  8.6 bad slices a month allows.

Traffic follows a sine over the day (peak 15:00 UTC) so rates and burn rates move a little.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

MINUTE = 60.0
HOUR = 3600.0
DAY = 86400.0

# Counters start a day before the 30-day window: a query over the whole window then has a
# sample before its start, as it would against a service that has been up for a long time.
HISTORY_SECONDS = 31 * DAY

REQUESTS_METRIC = "demo_http_requests_total"
DURATION_METRIC = "demo_http_request_duration_seconds"

# Histogram upper bounds (seconds). 0.3 is the search SLO's threshold; 0.25 brackets the bus's.
BUCKETS: tuple[float, ...] = (0.01, 0.025, 0.05, 0.1, 0.15, 0.25, 0.3, 0.5, 1.0, 2.5)
# `le` values as text. Prometheus 3 rewrites scraped `le` values to this float form ("1.0", not
# "1"), so the backfill and the live scrape name the same series on Prometheus 2 and 3 alike.
LE_LABELS: tuple[str, ...] = (*(repr(bound) for bound in BUCKETS), "+Inf")
# Representative latency of each bucket (for `_sum`): its midpoint; the open one, 5 s.
_BUCKET_MIDPOINTS: tuple[float, ...] = (
    *((low + high) / 2 for low, high in zip((0.0, *BUCKETS[:-1]), BUCKETS, strict=True)),
    5.0,
)

# Traffic peaks at 15:00 UTC: sin(2π(t - phase)/day) is 1 a quarter day after `phase`.
_PEAK_SECONDS_OF_DAY = 15 * HOUR
_DIURNAL_PHASE = _PEAK_SECONDS_OF_DAY - DAY / 4
_OMEGA = 2 * math.pi / DAY

# Where requests land when a service is slow (cumulative share per bucket, +Inf last).
SLOW_CDF: tuple[float, ...] = (0, 0, 0, 0, 0, 0, 0.02, 0.3, 0.85, 0.98, 1)


@dataclass(frozen=True)
class Phase:
    """A departure from a service's baseline, in seconds relative to the anchor."""

    start: float
    end: float
    error_ratio: float | None = None
    slow_fraction: float = 0.0


@dataclass(frozen=True)
class Profile:
    name: str
    requests_per_second: float
    diurnal_amplitude: float
    error_ratio: float
    # Cumulative share of requests at or under each bound of BUCKETS, then 1 for +Inf; None for
    # a service that exports no latency histogram.
    latency_cdf: tuple[float, ...] | None = None
    phases: tuple[Phase, ...] = ()

    @property
    def has_histogram(self) -> bool:
        return self.latency_cdf is not None


@dataclass(frozen=True)
class Incident:
    """An injected failure (absolute times): `error_rate` of the requests that would have
    succeeded fail instead, and on histogram services are slow as well."""

    service: str
    start: float
    end: float
    error_rate: float


PROFILES: tuple[Profile, ...] = (
    Profile("checkout", requests_per_second=40, diurnal_amplitude=0.35, error_ratio=0.0002),
    Profile(
        "payments",
        requests_per_second=12,
        diurnal_amplitude=0.3,
        error_ratio=0.0006,
        phases=(
            Phase(start=-(10 * DAY + 3 * HOUR), end=-(10 * DAY + 1 * HOUR), error_ratio=0.05),
            Phase(start=-2 * HOUR, end=6 * HOUR, error_ratio=0.004),
        ),
    ),
    Profile(
        "search",
        requests_per_second=25,
        diurnal_amplitude=0.4,
        error_ratio=0.0005,
        latency_cdf=(0.01, 0.05, 0.2, 0.55, 0.8, 0.98, 0.997, 0.9993, 0.9999, 1, 1),
    ),
    Profile(
        "message-bus",
        requests_per_second=60,
        diurnal_amplitude=0.25,
        error_ratio=0.0001,
        latency_cdf=(0.02, 0.1, 0.35, 0.85, 0.96, 0.993, 0.996, 0.999, 0.9998, 1, 1),
        phases=(
            Phase(
                start=-(9 * DAY + 14 * HOUR),
                end=-(9 * DAY + 14 * HOUR) + 20 * MINUTE,
                slow_fraction=0.25,
            ),
        ),
    ),
)
SERVICES: tuple[str, ...] = tuple(profile.name for profile in PROFILES)


def profile(name: str) -> Profile:
    for candidate in PROFILES:
        if candidate.name == name:
            return candidate
    raise KeyError(f"unknown demo service {name!r}; one of {', '.join(SERVICES)}")


@dataclass(frozen=True)
class Counters:
    """Cumulative values of one service's series at one instant."""

    ok: float
    errors: float
    # Cumulative count per LE_LABELS entry (the last, +Inf, is also `_count`); empty without a
    # histogram.
    buckets: tuple[float, ...]
    duration_sum: float


def _mean_latency(cdf: Sequence[float]) -> float:
    previous = 0.0
    total = 0.0
    for share, midpoint in zip(cdf, _BUCKET_MIDPOINTS, strict=True):
        total += (share - previous) * midpoint
        previous = share
    return total


class Timeline:
    """One service's counters over time: piecewise-constant error ratio and latency mix, with
    cumulative values kept at each breakpoint so `at(t)` is one segment's worth of arithmetic.

    Breakpoints before a change are recomputed by the same operations in the same order, so
    adding an incident never alters a value already served.
    """

    def __init__(self, profile: Profile, anchor: float, incidents: Iterable[Incident] = ()) -> None:
        self.profile = profile
        self.anchor = anchor
        self.origin = anchor - HISTORY_SECONDS
        self.incidents = tuple(i for i in incidents if i.service == profile.name)
        bounds = {self.origin}
        for phase in profile.phases:
            bounds.update((anchor + phase.start, anchor + phase.end))
        for incident in self.incidents:
            bounds.update((incident.start, incident.end))
        self._starts = sorted(b for b in bounds if b >= self.origin)
        self._coefficients = [self._coefficients_at(start) for start in self._starts]
        self._traffic_at_start = [self.traffic(start) for start in self._starts]
        self._prefix: list[tuple[float, ...]] = []
        running = tuple(0.0 for _ in self._coefficients[0])
        for index in range(len(self._starts)):
            if index:
                spent = self._traffic_at_start[index] - self._traffic_at_start[index - 1]
                coefficients = self._coefficients[index - 1]
                running = tuple(value + c * spent for value, c in zip(running, coefficients, strict=True))
            self._prefix.append(running)

    def traffic(self, t: float) -> float:
        """Requests served from the origin to `t` (the integral of the diurnal rate)."""
        p = self.profile
        swing = p.diurnal_amplitude / _OMEGA
        return p.requests_per_second * (
            (t - self.origin)
            - swing
            * (math.cos(_OMEGA * (t - _DIURNAL_PHASE)) - math.cos(_OMEGA * (self.origin - _DIURNAL_PHASE)))
        )

    def _state_at(self, t: float) -> tuple[float, float]:
        """(error ratio, slow fraction) in force at `t` (intervals are [start, end))."""
        error_ratio = self.profile.error_ratio
        slow = 0.0
        offset = t - self.anchor
        for phase in self.profile.phases:
            if phase.start <= offset < phase.end:
                if phase.error_ratio is not None:
                    error_ratio = phase.error_ratio
                slow = phase.slow_fraction
        for incident in self.incidents:
            if incident.start <= t < incident.end:
                error_ratio += incident.error_rate * (1 - error_ratio)
                slow += incident.error_rate * (1 - slow)
        return error_ratio, slow

    def _coefficients_at(self, t: float) -> tuple[float, ...]:
        """Per request: (ok, error, each bucket..., seconds) while the state at `t` holds."""
        error_ratio, slow = self._state_at(t)
        cdf = self.profile.latency_cdf
        if cdf is None:
            return (1 - error_ratio, error_ratio)
        mixed = tuple((1 - slow) * base + slow * tail for base, tail in zip(cdf, SLOW_CDF, strict=True))
        return (1 - error_ratio, error_ratio, *mixed, _mean_latency(mixed))

    def at(self, t: float) -> Counters:
        if t <= self.origin:
            values: tuple[float, ...] = self._prefix[0]
        else:
            index = bisect_right(self._starts, t) - 1
            spent = self.traffic(t) - self._traffic_at_start[index]
            values = tuple(
                value + c * spent
                for value, c in zip(self._prefix[index], self._coefficients[index], strict=True)
            )
        if self.profile.has_histogram:
            return Counters(values[0], values[1], values[2:-1], values[-1])
        return Counters(values[0], values[1], (), 0.0)


def timelines(anchor: float, incidents: Iterable[Incident] = ()) -> dict[str, Timeline]:
    listed = tuple(incidents)
    return {p.name: Timeline(p, anchor, listed) for p in PROFILES}


def format_value(value: float) -> str:
    # Fixed decimals: rounding is monotonic, so counters stay monotonic on the wire.
    return f"{value:.3f}"


# --- the demo SLOs -----------------------------------------------------------------------------


# Spelled once: inside f-strings the placeholder's braces would need doubling again.
WINDOW = "{{.window}}"


def _requests(service: str, extra: str = "", fn: str = "rate") -> str:
    matchers = f'service="{service}"' + (f",{extra}" if extra else "")
    return f"sum({fn}({REQUESTS_METRIC}{{{matchers}}}[{WINDOW}]))"


def demo_slos() -> list[dict[str, object]]:
    """REST bodies (POST /api/v1/slos) of the SLOs watching the demo services. Long because it is
    data: one literal body per demo SLO, each shape of SLI once."""
    return [
        {
            "name": "checkout-availability",
            "sloType": "AVAILABILITY",
            "serviceName": "checkout",
            "namespace": "shop",
            "layer": "experiencia",
            "description": "Checkout requests answered without a 5xx.",
            "labels": {"team": "storefront", "demo": "true"},
            "target": 0.999,
            "windowDays": 30,
            "sliQuery": {
                "metricName": REQUESTS_METRIC,
                "errorQuery": _requests("checkout", 'code=~"5.."'),
                "totalQuery": _requests("checkout"),
            },
        },
        {
            "name": "payments-availability",
            "sloType": "AVAILABILITY",
            "serviceName": "payments",
            "namespace": "shop",
            "layer": "negocio",
            "description": "Payment requests answered without a 5xx.",
            "labels": {"team": "payments", "demo": "true"},
            "target": 0.999,
            "windowDays": 30,
            "sliQuery": {
                "metricName": REQUESTS_METRIC,
                "goodQuery": _requests("payments", 'code!~"5.."', fn="increase"),
                "totalQuery": _requests("payments", fn="increase"),
            },
        },
        {
            "name": "search-latency",
            "sloType": "LATENCY",
            "serviceName": "search",
            "namespace": "discovery",
            "layer": "experiencia",
            "description": "Search requests answered within 300 ms.",
            "labels": {"team": "discovery", "demo": "true"},
            "target": 0.99,
            "windowDays": 30,
            "sliQuery": {
                "metricName": DURATION_METRIC,
                "query": (
                    f'sum(rate({DURATION_METRIC}_bucket{{service="search",le="0.3"}}[{WINDOW}]))'
                    f' / sum(rate({DURATION_METRIC}_count{{service="search"}}[{WINDOW}]))'
                ),
            },
        },
        {
            # The spec's SLODefinition example, on the demo's histogram.
            "name": "bus-latency-slo",
            "sloType": "LATENCY",
            "serviceName": "message-bus",
            "namespace": "neural-hive-orchestration",
            "layer": "orquestracao",
            "description": "Neural Hive Bus Latency: p95 under 250 ms in each 5-minute slice.",
            "labels": {"demo": "true"},
            "target": 0.999,
            "windowDays": 30,
            "sliQuery": {
                "metricName": DURATION_METRIC,
                "query": (
                    f"histogram_quantile(0.95, sum(rate({DURATION_METRIC}_bucket"
                    '{service="message-bus"}[5m])) by (le)) * 1000'
                ),
            },
            "threshold": 250,
            "comparison": "lt",
            "timesliceMinutes": 5,
        },
    ]


def demo_policies() -> list[dict[str, object]]:
    """REST bodies (POST /api/v1/policies) of the freeze policies over the demo SLOs."""
    return [
        {
            # payments lives here: one incident takes it under 20 % remaining and freezes `shop`.
            "name": "shop-freeze-policy",
            "scope": "NAMESPACE",
            "target": "shop",
            "actions": ["BLOCK_DEPLOY"],
            "triggerThresholdPercent": 20,
            "autoUnfreeze": True,
            "unfreezeThresholdPercent": 50,
            "description": "Freeze deploys to the shop namespace when an SLO has < 20 % budget.",
        },
        {
            # The spec's SLAPolicy example, watching bus-latency-slo.
            "name": "orchestration-freeze-policy",
            "scope": "NAMESPACE",
            "target": "neural-hive-orchestration",
            "actions": ["BLOCK_DEPLOY", "ALERT_ONLY"],
            "triggerThresholdPercent": 20,
            "autoUnfreeze": True,
            "unfreezeThresholdPercent": 50,
            "description": "Orchestration Freeze Policy",
        },
    ]
