"""Prototype (bench only): a pass's instant queries as ONE Prometheus request.

A steady-state pass sends 18 instant queries (head, tail and 7 burn windows, for the error and
the total query). Prometheus evaluates each in ~0.2 ms; the HTTP round trip and the client's
Python around it cost ~20x that. Here they are joined into one expression,

    label_replace(<q1>, "bench_key", "ev:head", "", "") or label_replace(<q2>, ...) or ...

with the head queries pinned to their own time by the `@` modifier (Prometheus >= 2.33 enables
it by default), so the answers are the same numbers, keyed by the label. Range queries (one
pass in 120) are sent as before.

Limits of the prototype: `@` is inserted after plain range selectors (`[5m]`), which is what
`render()` produces from `[{{.window}}]`; a subquery range (`[1h:5m]`) is not handled, and a
query whose result already carries a `bench_key` label would clash.
"""

from __future__ import annotations

import math
import re

from sla_management.adapters.prometheus import PrometheusClient, ShapeError
from sla_management.domain.plan import InstantQuery, QueryPlan, QueryResults

_RANGE = re.compile(r"\[([0-9]+[smhdwy])\]")
KEY = "bench_key"


def pinned(q: InstantQuery, eval_time: int) -> str:
    if q.time == eval_time:
        return q.promql
    return _RANGE.sub(lambda m: f"[{m.group(1)}] @ {q.time}", q.promql)


def batched_expression(plan: QueryPlan) -> str:
    return " or ".join(
        f'label_replace({pinned(q, plan.now)}, "{KEY}", "{q.key}", "", "")' for q in plan.instant
    )


async def run_plan_batched(self: PrometheusClient, plan: QueryPlan) -> QueryResults:
    """Drop-in for `PrometheusClient.run_plan` (same answers, one request for the instants)."""
    values: dict[str, float | None] = {q.key: None for q in plan.instant}
    if plan.instant:
        data = await self._api("query", {"query": batched_expression(plan), "time": str(plan.now)}, "instant")
        single = {q.key for q in plan.instant if not q.sum_series}
        seen: dict[str, int] = {}
        finite: dict[str, list[float]] = {}
        for item in data["result"]:
            key = item["metric"][KEY]
            seen[key] = seen.get(key, 0) + 1
            value = float(item["value"][1])
            finite.setdefault(key, [])
            if not math.isnan(value):
                finite[key].append(value)
        for key, count in seen.items():
            if count > 1 and key in single:
                raise ShapeError(f"query {key} returned {count} series, expected one")
            values[key] = math.fsum(finite[key]) if finite[key] else math.nan
    series = {
        q.key: await self.range_series(q.promql, q.start, q.end, q.step, sum_series=q.sum_series)
        for q in plan.range
    }
    return QueryResults(values=values, series=series)
