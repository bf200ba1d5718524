"""31 days of demo history, written as Prometheus TSDB blocks before Prometheus starts.

The samples carry `job="demo"` and `instance="127.0.0.1:<exporter port>"`, the labels the live
scrape gets, so history and live data are one series each and `increase(...[30d])` spans both.
The file is OpenMetrics in the order the format requires (family by family, series by series,
time ascending), streamed line by line: about 1.6 M samples.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from sla_management.binaries import write_openmetrics_blocks
from sla_management.demo.scenario import (
    DURATION_METRIC,
    HISTORY_SECONDS,
    LE_LABELS,
    PROFILES,
    REQUESTS_METRIC,
    Counters,
    Timeline,
)

STEP_SECONDS = 60
# Lines are gathered per series and written in one call: a write per line costs ~3x more.
_REQUESTS_FAMILY = REQUESTS_METRIC.removesuffix("_total")


@dataclass(frozen=True)
class BackfillReport:
    samples: int
    first: float
    last: float
    write_seconds: float
    promtool_seconds: float


def sample_times(anchor: float, end: float, step: int = STEP_SECONDS) -> list[int]:
    """Whole seconds from the counters' origin to `end`, `step` apart."""
    origin = int(anchor - HISTORY_SECONDS)
    return list(range(origin, int(end) + 1, step))


def _series_lines(name: str, labels: str, values: Iterator[float], times: list[int]) -> Iterator[str]:
    head = f"{name}{{{labels}}} "
    for value, ts in zip(values, times, strict=True):
        yield f"{head}{value:.3f} {ts}\n"


def write_history(
    path: Path,
    *,
    anchor: float,
    end: float,
    instance: str,
    job: str = "demo",
    step: int = STEP_SECONDS,
) -> int:
    """Write the OpenMetrics file; returns the number of samples."""
    times = sample_times(anchor, end, step)
    target = f'job="{job}",instance="{instance}"'
    samples = 0
    per_service: dict[str, list[Counters]] = {}
    for profile in PROFILES:
        timeline = Timeline(profile, anchor)
        per_service[profile.name] = [timeline.at(ts) for ts in times]

    with path.open("w", encoding="ascii", buffering=1 << 20) as out:
        out.write(f"# HELP {_REQUESTS_FAMILY} Requests served by the demo services.\n")
        out.write(f"# TYPE {_REQUESTS_FAMILY} counter\n")
        for profile in PROFILES:
            points = per_service[profile.name]
            for code, values in (
                ("200", (c.ok for c in points)),
                ("500", (c.errors for c in points)),
            ):
                labels = f'{target},service="{profile.name}",code="{code}"'
                out.write("".join(_series_lines(REQUESTS_METRIC, labels, values, times)))
                samples += len(times)

        out.write(f"# HELP {DURATION_METRIC} Request latency of the demo services.\n")
        out.write(f"# TYPE {DURATION_METRIC} histogram\n")
        for profile in PROFILES:
            if not profile.has_histogram:
                continue
            points = per_service[profile.name]
            labels = f'{target},service="{profile.name}"'
            bucket_heads = [f'{DURATION_METRIC}_bucket{{{labels},le="{le}"}} ' for le in LE_LABELS]
            count_head = f"{DURATION_METRIC}_count{{{labels}}} "
            sum_head = f"{DURATION_METRIC}_sum{{{labels}}} "
            # One histogram series is one OpenMetrics "metric": its points (all buckets, count
            # and sum of one timestamp) go together, in time order.
            chunk: list[str] = []
            for point, ts in zip(points, times, strict=True):
                for bucket_head, value in zip(bucket_heads, point.buckets, strict=True):
                    chunk.append(f"{bucket_head}{value:.3f} {ts}\n")
                chunk.append(f"{count_head}{point.buckets[-1]:.3f} {ts}\n")
                chunk.append(f"{sum_head}{point.duration_sum:.3f} {ts}\n")
                if len(chunk) > 50_000:
                    out.write("".join(chunk))
                    chunk.clear()
            out.write("".join(chunk))
            samples += len(times) * (len(LE_LABELS) + 2)
        out.write("# EOF\n")
    return samples


def backfill(
    data_dir: Path,
    *,
    anchor: float,
    instance: str,
    end: float | None = None,
    scratch_dir: Path | None = None,
) -> BackfillReport:
    """Write the history up to `end` (default: now) as blocks in `data_dir`."""
    stop = time.time() if end is None else end
    scratch = scratch_dir if scratch_dir is not None else data_dir.parent
    scratch.mkdir(parents=True, exist_ok=True)
    openmetrics = scratch / "demo-history.om"
    began = time.monotonic()
    samples = write_history(openmetrics, anchor=anchor, end=stop, instance=instance)
    written = time.monotonic()
    try:
        write_openmetrics_blocks(openmetrics, data_dir)
    finally:
        openmetrics.unlink(missing_ok=True)
    times = sample_times(anchor, stop)
    return BackfillReport(
        samples=samples,
        first=times[0],
        last=times[-1],
        write_seconds=written - began,
        promtool_seconds=time.monotonic() - written,
    )
