"""Synthetic Prometheus history for the tests, with the exact answers it implies.

Each series is a counter growing at a piecewise-constant rate, so the number of events in any
interval is an exact integral the tests compute without asking Prometheus. Samples run from
31 days before the session start to 6 hours after it, so "now" is always inside the data.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

STEP = 60  # seconds between samples
DAY = 86400


@dataclass(frozen=True)
class Phase:
    start: int  # seconds relative to the anchor (negative = before)
    rate: float  # events per second from `start` until the next phase


@dataclass(frozen=True)
class CounterSeries:
    metric: str
    labels: dict[str, str]
    phases: tuple[Phase, ...]

    def rate_at(self, rel: float) -> float:
        rate = 0.0
        for phase in self.phases:
            if rel >= phase.start:
                rate = phase.rate
        return rate

    def integral(self, a: float, b: float) -> float:
        """Events in [a, b] (relative seconds)."""
        total = 0.0
        bounds = [p.start for p in self.phases] + [10**12]
        for phase, end in zip(self.phases, bounds[1:], strict=True):
            lo, hi = max(a, phase.start), min(b, end)
            if hi > lo:
                total += (hi - lo) * phase.rate
        return total


@dataclass(frozen=True)
class GaugeSeries:
    metric: str
    labels: dict[str, str]
    # value at relative second t
    good_value: float
    bad_value: float
    bad_every: int  # every n-th 5-minute slice (counted from the epoch) is bad

    def value_at(self, absolute: int) -> float:
        # The sample at a slice's end belongs to that slice: slice k is (300k, 300(k+1)].
        slice_index = (absolute - 1) // 300
        return self.bad_value if slice_index % self.bad_every == 0 else self.good_value


START = -31 * DAY
END = 6 * 3600


def scenario() -> tuple[list[CounterSeries], list[GaugeSeries]]:
    counters = [
        # steady: 10 req/s, 0.1 % errors, forever. Against 99 %: 10 % of the budget spent.
        CounterSeries("t_requests_total", {"svc": "steady"}, (Phase(START, 10.0),)),
        CounterSeries("t_errors_total", {"svc": "steady"}, (Phase(START, 0.01),)),
        # burning: 0.5 % errors for a month, then 20 % errors for the last 2 hours before
        # the anchor and onwards.
        CounterSeries("t_requests_total", {"svc": "burning"}, (Phase(START, 10.0),)),
        CounterSeries("t_errors_total", {"svc": "burning"}, (Phase(START, 0.05), Phase(-2 * 3600, 2.0))),
        # quiet: the counters exist but never move (no traffic).
        CounterSeries("t_requests_total", {"svc": "quiet"}, (Phase(START, 0.0),)),
        CounterSeries("t_errors_total", {"svc": "quiet"}, (Phase(START, 0.0),)),
    ]
    gauges = [GaugeSeries("t_latency_ms", {"svc": "lat"}, good_value=120.0, bad_value=900.0, bad_every=20)]
    return counters, gauges


def _labels(labels: dict[str, str]) -> str:
    return ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))


def write_openmetrics(path: Path, anchor: int) -> None:
    """Counters are written as their running totals; `anchor` is the session's "now"."""
    counters, gauges = scenario()
    times = range(anchor + START, anchor + END + 1, STEP)
    with path.open("w") as out:
        for metric in sorted({c.metric for c in counters}):
            out.write(f"# TYPE {metric.removesuffix('_total')} counter\n")
            for series in (c for c in counters if c.metric == metric):
                out.writelines(_counter_lines(series, anchor, times))
        for metric in sorted({g.metric for g in gauges}):
            out.write(f"# TYPE {metric} gauge\n")
            for gauge in (g for g in gauges if g.metric == metric):
                label = _labels(gauge.labels)
                out.writelines(f"{metric}{{{label}}} {gauge.value_at(t)} {t}\n" for t in times)
        out.write("# EOF\n")


def _counter_lines(series: CounterSeries, anchor: int, times: range) -> Iterator[str]:
    label = _labels(series.labels)
    value = 0.0
    previous = times[0]
    for t in times:
        value += series.integral(previous - anchor, t - anchor)
        previous = t
        yield f"{series.metric}{{{label}}} {value} {t}\n"


def counter(metric: str, svc: str) -> CounterSeries:
    counters, _ = scenario()
    return next(c for c in counters if c.metric == metric and c.labels["svc"] == svc)
