"""Per-evaluation Prometheus cost for windowDays 7, 30 and 90.

Same SLOs (error/total counters on the backfilled history) evaluated four ways, one evaluation
at a time so the latency is the evaluation's own:

- incremental: the loop's steady state. The ledger is built once (not timed), then passes 30 s
  apart, starting just before an hour bucket settles so one pass in twelve also range-reads the
  new bucket (in production that is one in 120, so this overstates its cost a little).
- rebuild: `plan_queries(ledger=None)` every pass: the 1-hour-step range over the whole window
  the loop does on its first pass.
- naive: what a stateless evaluator does: `increase(x[<window>])` for both queries at once,
  plus the same 7 burn windows (the slo-generator way, with burn windows).
- batched (prototype, bench-only): the incremental plan's instant queries sent as ONE PromQL
  expression, each part pinned to its time with `@` and tagged with label_replace, to show what
  per-request overhead costs (see README).

Reported per evaluation: wall time of `PrometheusClient.run_plan`, Prometheus server execution
time (`stats=all`, replayed separately), Prometheus process CPU, and this client's CPU.

    .venv/bin/python -m bench.window_cost [--slos 50] [--passes 12]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import time
from typing import Any

import httpx
import psutil

from bench.batched import batched_expression, run_plan_batched
from bench.stack import (
    SERVICES,
    WORK,
    bench_stack,
    build_slo,
    close_enough,
    exact_counts,
    services,
)
from sla_management.adapters.prometheus import PrometheusClient
from sla_management.domain.plan import (
    InstantQuery,
    QueryPlan,
    fold_results,
    plan_queries,
)
from sla_management.domain.slo import SLO, WINDOW_PLACEHOLDER
from sla_management.domain.windows import BURN_WINDOWS, format_duration

SETTLE = 300
RESULTS = WORK / "results"


# --- the naive evaluation --------------------------------------------------------------------------


def naive_queries(slo: SLO, now: int) -> list[InstantQuery]:
    window = slo.window_days * 86400
    out = []
    for role, query in (("ev", slo.sli_query.error_query or ""), ("total", slo.sli_query.total_query or "")):
        for name, seconds in {"window": window, **BURN_WINDOWS}.items():
            out.append(
                InstantQuery(
                    key=f"{role}:{name}",
                    promql=query.replace(WINDOW_PLACEHOLDER, format_duration(seconds)),
                    time=now,
                    window_seconds=seconds,
                )
            )
    return out


# --- measuring ---------------------------------------------------------------------------------------


class Meter:
    def __init__(self, prometheus_pid: int) -> None:
        self.prom = psutil.Process(prometheus_pid)

    def snapshot(self) -> tuple[float, float, float]:
        t = self.prom.cpu_times()
        return time.perf_counter(), t.user + t.system, time.process_time()


async def server_time(
    http: httpx.AsyncClient, url: str, queries: list[tuple[str, str, dict[str, str]]]
) -> float:
    """Sum of Prometheus's own execTotalTime for these requests (path, promql, extra params)."""
    total = 0.0
    for path, promql, extra in queries:
        response = await http.post(f"{url}/api/v1/{path}", data={"query": promql, "stats": "all", **extra})
        response.raise_for_status()
        total += response.json()["data"]["stats"]["timings"]["execTotalTime"]
    return total


def plan_requests(plan: QueryPlan) -> list[tuple[str, str, dict[str, str]]]:
    out: list[tuple[str, str, dict[str, str]]] = [
        ("query", q.promql, {"time": str(q.time)}) for q in plan.instant
    ]
    out += [
        ("query_range", q.promql, {"start": str(q.start), "end": str(q.end), "step": f"{q.step}s"})
        for q in plan.range
    ]
    return out


async def measure_window(
    url: str, meter: Meter, window_days: int, n_slos: int, passes: int, rebuild_passes: int, t0: int
) -> dict[str, Any]:
    prom = PrometheusClient(url, timeout_seconds=60, max_retries=0)
    http = httpx.AsyncClient(timeout=60, trust_env=False)
    slos = [build_slo(i, window_days) for i in range(n_slos)]
    out: dict[str, Any] = {"window_days": window_days}
    try:
        # Ledgers built first (not timed), as a running loop has them.
        ledgers: dict[str, Any] = {}
        for slo in slos:
            plan = plan_queries(slo, None, t0, SETTLE)
            ledgers[slo.id], _ = fold_results(slo, slo.query_units, None, plan, await prom.run_plan(plan))

        async def timed(name: str, evaluate: Any, steps: int) -> None:
            replay: list[tuple[str, str, dict[str, str]]] = []
            latencies: list[float] = []
            w0, p0, c0 = meter.snapshot()
            for k in range(steps):
                for slo in slos:
                    began = time.perf_counter()
                    requests = await evaluate(slo, k)
                    latencies.append(time.perf_counter() - began)
                    replay.extend(requests)
            w1, p1, c1 = meter.snapshot()
            evals = len(latencies)
            server = await server_time(http, url, replay)
            out[name] = {
                "evaluations": evals,
                "requests_per_eval": round(len(replay) / evals, 2),
                "wall_ms_mean": round(1000 * (w1 - w0) / evals, 2),
                "wall_ms_p50": round(1000 * sorted(latencies)[evals // 2], 2),
                "server_exec_ms": round(1000 * server / evals, 3),
                "prometheus_cpu_ms": round(1000 * (p1 - p0) / evals, 2),
                "client_cpu_ms": round(1000 * (c1 - c0) / evals, 2),
            }

        checks: list[str] = []

        async def incremental(slo: SLO, k: int) -> list[tuple[str, str, dict[str, str]]]:
            now = t0 + 30 * (k + 1)
            plan = plan_queries(slo, ledgers[slo.id], now, SETTLE)
            results = await prom.run_plan(plan)
            ledgers[slo.id], m = fold_results(slo, slo.query_units, ledgers[slo.id], plan, results)
            if k == passes - 1:
                check(slo, m, now, checks)
            return plan_requests(plan)

        async def rebuild(slo: SLO, k: int) -> list[tuple[str, str, dict[str, str]]]:
            plan = plan_queries(slo, None, t0 + 30 * (k + 1), SETTLE)
            await prom.run_plan(plan)
            return plan_requests(plan)

        async def naive(slo: SLO, k: int) -> list[tuple[str, str, dict[str, str]]]:
            queries = naive_queries(slo, t0 + 30 * (k + 1))
            await prom.run_plan(QueryPlan(now=t0, instant=queries))
            return [("query", q.promql, {"time": str(q.time)}) for q in queries]

        batched_ledgers = dict(ledgers)

        async def batched(slo: SLO, k: int) -> list[tuple[str, str, dict[str, str]]]:
            now = t0 + 30 * (k + 1)
            plan = plan_queries(slo, batched_ledgers[slo.id], now, SETTLE)
            results = await run_plan_batched(prom, plan)
            if k == 0:
                # Same answers as one request per query (checked once per SLO).
                reference = await prom.run_plan(plan)
                for key, value in reference.values.items():
                    got = results.values.get(key)
                    if (value is None) != (got is None) or (
                        value is not None and got is not None and not close_enough(value, got, 1e-9)
                    ):
                        checks.append(f"batched {key}: {got} != {value}")
            batched_ledgers[slo.id], _ = fold_results(
                slo, slo.query_units, batched_ledgers[slo.id], plan, results
            )
            expr = batched_expression(plan)
            return [("query", expr, {"time": str(plan.now)}), *plan_requests(plan)[len(plan.instant) :]]

        await timed("incremental", incremental, passes)
        await timed("batched", batched, passes)
        await timed("rebuild", rebuild, rebuild_passes)
        await timed("naive", naive, rebuild_passes)
        out["checks_failed"] = checks[:10]
        out["checks_failed_count"] = len(checks)
    finally:
        await prom.aclose()
        await http.aclose()
    return out


def check(slo: SLO, m: Any, now: int, failures: list[str]) -> None:
    """The folded window totals against the exact integral of the synthetic rates."""
    svc = services()[int(slo.service_name.split("-")[1]) % SERVICES]
    anchor_rel = now - ANCHOR[0]
    errors, total = exact_counts(svc, anchor_rel, slo.window_days * 86400)
    # increase() extrapolates at the window edges and the ledger adds head, buckets and tail
    # separately; a few samples' worth of difference is expected, more is a bug.
    if not close_enough(m.total_events, total, 2e-3) or not math.isclose(m.bad_events, errors, rel_tol=2e-2):
        failures.append(
            f"{slo.name} {slo.window_days}d: total {m.total_events:.0f} vs {total:.0f}, "
            f"bad {m.bad_events:.1f} vs {errors:.1f}"
        )


ANCHOR = [0]


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--slos", type=int, default=50)
    parser.add_argument("--passes", type=int, default=12)
    parser.add_argument("--rebuild-passes", type=int, default=3)
    parser.add_argument("--windows", type=int, nargs="+", default=[7, 30, 90])
    args = parser.parse_args()
    RESULTS.mkdir(parents=True, exist_ok=True)
    with bench_stack(WORK / "window-cost", temporal=False, kafka=False, database=False) as stack:
        ANCHOR[0] = stack.anchor
        # Fifteen seconds past a full hour, so the bucket that settles at hh:05 lands in pass 10.
        t0 = int(time.time()) // 3600 * 3600 + 15
        meter = Meter(stack.prometheus.proc.pid)  # type: ignore[union-attr]
        report: dict[str, Any] = {"slos": args.slos, "passes": args.passes, "t0": t0, "windows": []}
        for days in args.windows:
            result = await measure_window(
                stack.prometheus_url, meter, days, args.slos, args.passes, args.rebuild_passes, t0
            )
            print(json.dumps(result), flush=True)
            report["windows"].append(result)
        by_days = {w["window_days"]: w for w in report["windows"]}
        if 7 in by_days and 90 in by_days:
            report["ratio_90_over_7"] = {
                variant: {
                    metric: round(by_days[90][variant][metric] / by_days[7][variant][metric], 2)
                    for metric in ("wall_ms_mean", "server_exec_ms", "prometheus_cpu_ms")
                    if by_days[7][variant][metric]
                }
                for variant in ("incremental", "batched", "rebuild", "naive")
            }
        report["date"] = time.strftime("%Y-%m-%d %H:%M:%S %Z")
        (RESULTS / "window-cost.json").write_text(json.dumps(report, indent=2))
        print(json.dumps(report.get("ratio_90_over_7")), flush=True)


if __name__ == "__main__":
    asyncio.run(main())
