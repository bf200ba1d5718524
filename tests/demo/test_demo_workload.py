"""The demo workload: its SLOs are valid, its story holds, and its counters never go back.

Pure (plus an in-process HTTP server and, when installed, promtool): no session stack needed.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from sla_management.binaries import write_openmetrics_blocks
from sla_management.demo.backfill import write_history
from sla_management.demo.exporter import DemoWorkload, start_exporter_thread
from sla_management.demo.scenario import (
    DAY,
    HOUR,
    LE_LABELS,
    MINUTE,
    PROFILES,
    Counters,
    demo_policies,
    demo_slos,
    format_value,
    timelines,
)
from sla_management.domain.policy import PolicySpec
from sla_management.domain.slo import SLIKind, SLOSpec

ANCHOR = 1_790_000_040.0  # a whole minute


def _flat(c: Counters) -> tuple[float, ...]:
    return (c.ok, c.errors, *c.buckets, c.duration_sum)


def _budget_used(service: str, start: float, end: float, target: float = 0.999) -> float:
    timeline = timelines(ANCHOR)[service]
    a, b = timeline.at(start), timeline.at(end)
    errors = b.errors - a.errors
    return errors / (errors + b.ok - a.ok) / (1 - target)


def test_demo_slos_are_valid_specs_of_every_sli_shape() -> None:
    specs = [SLOSpec.model_validate(body) for body in demo_slos()]
    assert [s.kind for s in specs] == [
        SLIKind.ERROR_TOTAL,
        SLIKind.GOOD_TOTAL,
        SLIKind.RATIO,
        SLIKind.THRESHOLD,
    ]
    assert len({s.name for s in specs}) == len(specs)


def test_no_query_carries_a_half_escaped_window_placeholder() -> None:
    for body in demo_slos():
        for query in json.loads(json.dumps(body["sliQuery"])).values():
            assert not re.search(r"(?<!\{)\{\.window\}(?!\})", query), query


def test_demo_policies_are_valid_specs() -> None:
    assert [PolicySpec.model_validate(b).target for b in demo_policies()] == [
        "shop",
        "neural-hive-orchestration",
    ]


@pytest.mark.parametrize(
    ("service", "low", "high"),
    [
        pytest.param("checkout", 0.19, 0.21, id="checkout has spent a fifth of its budget"),
        pytest.param("payments", 0.70, 0.85, id="payments has spent about three quarters"),
    ],
)
def test_thirty_day_budget_spent_at_the_anchor(service: str, low: float, high: float) -> None:
    assert low <= _budget_used(service, ANCHOR - 30 * DAY, ANCHOR) <= high


def test_payments_burns_fast_right_now() -> None:
    assert _budget_used("payments", ANCHOR - HOUR, ANCHOR) == pytest.approx(4.0)


def test_search_keeps_997_per_mille_under_300_ms() -> None:
    timeline = timelines(ANCHOR)["search"]
    a, b = timeline.at(ANCHOR - 30 * DAY), timeline.at(ANCHOR)
    at_300ms = LE_LABELS.index("0.3")
    good = b.buckets[at_300ms] - a.buckets[at_300ms]
    assert good / (b.buckets[-1] - a.buckets[-1]) == pytest.approx(0.997)


def test_counters_never_decrease_over_the_history() -> None:
    for name, timeline in timelines(ANCHOR).items():
        previous = _flat(timeline.at(timeline.origin))
        t = timeline.origin
        while t < ANCHOR + DAY:
            t += 60
            current = _flat(timeline.at(t))
            assert all(
                float(format_value(c)) >= float(format_value(p))
                for c, p in zip(current, previous, strict=True)
            ), (name, t)
            previous = current


def test_an_incident_raises_errors_and_calm_keeps_what_it_added() -> None:
    now = [ANCHOR + 10 * MINUTE]
    workload = DemoWorkload(ANCHOR, clock=lambda: now[0])
    untouched = timelines(ANCHOR)["payments"]
    before = workload.counters("payments")

    workload.start_incident("payments", error_rate=0.3, minutes=15)
    now[0] += 5 * MINUTE
    during = workload.counters("payments")
    assert workload.calm("payments") is True
    assert workload.active() == []
    now[0] += 5 * MINUTE
    after = workload.counters("payments")

    extra = during.errors - untouched.at(now[0] - 5 * MINUTE).errors
    assert extra > 0.25 * (during.ok + during.errors - before.ok - before.errors)
    # Ended, not erased: the errors it added stay, and nothing goes back.
    assert after.errors - untouched.at(now[0]).errors == pytest.approx(extra)
    assert all(a >= d for a, d in zip(_flat(after), _flat(during), strict=True))


def test_the_exporter_serves_its_control_api_and_metrics() -> None:
    exporter = start_exporter_thread("127.0.0.1", 0, ANCHOR)
    try:
        with httpx.Client(base_url=exporter.url, trust_env=False, timeout=5) as client:
            text = client.get("/metrics").text
            families = {f.name: f for f in text_string_to_metric_families(text)}
            assert set(families) == {"demo_http_requests", "demo_http_request_duration_seconds"}
            les = {
                s.labels["le"]
                for s in families["demo_http_request_duration_seconds"].samples
                if "le" in s.labels
            }
            assert les == set(LE_LABELS)

            assert (
                client.post("/incident/payments", json={"errorRate": 0.3, "minutes": 15}).status_code == 201
            )
            assert [i["service"] for i in client.get("/incidents").json()] == ["payments"]
            assert client.delete("/incident/payments").json() == {"service": "payments", "ended": True}
            assert client.post("/incident/nope", json={}).status_code == 404
            assert client.post("/incident/search", json={"errorRate": 2}).status_code == 422
    finally:
        exporter.stop()


def test_backfill_file_is_openmetrics_promtool_accepts(tmp_path: Path) -> None:
    history = tmp_path / "history.om"
    # One day of history keeps the test fast; the format is the same for 31.
    samples = write_history(history, anchor=ANCHOR, end=ANCHOR - 30 * DAY, instance="127.0.0.1:9109")
    series = 2 * len(PROFILES) + sum(len(LE_LABELS) + 2 for p in PROFILES if p.has_histogram)
    assert samples == series * (DAY // 60 + 1)
    assert history.read_text().endswith("# EOF\n")
    if shutil.which("promtool") is None:
        pytest.skip("promtool not installed")
    write_openmetrics_blocks(history, tmp_path / "data")
    assert any((tmp_path / "data").iterdir())
