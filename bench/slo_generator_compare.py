"""The same SLOs computed by google/slo-generator 2.6.0 and by our pipeline, in-process, on the
same Prometheus.

slo-generator runs in its own venv (bench/.venv-slogen, created here when missing) through
bench/slogen_runner.py, in two configurations: one error-budget-policy step (the 30-day window:
2 queries per SLO) and eight steps (30 days plus our 7 burn windows: 16 queries, the same
windows our pass computes). Ours: `plan_queries` + `PrometheusClient.run_plan` +
`fold_results` + `compute_budget` per SLO, one SLO after another like slo-generator, on the
first pass (ledger rebuilt from a 30-day range query) and in steady state (ledger kept), plus
steady state with 16 SLOs in flight (how the worker runs passes) and the batched prototype of
bench/window_cost.py. The 30-day SLIs of both are compared.

    .venv/bin/python -m bench.slo_generator_compare [--slos 50]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import time
from datetime import UTC, datetime
from typing import Any

import psutil

from bench.batched import run_plan_batched
from bench.stack import BENCH, WORK, bench_stack, build_slo
from sla_management.adapters.prometheus import PrometheusClient
from sla_management.domain.budget import Thresholds, compute_budget
from sla_management.domain.plan import fold_results, plan_queries
from sla_management.domain.slo import SLO

SLOGEN_VENV = BENCH / ".venv-slogen"
SLOGEN_PYTHON = SLOGEN_VENV / "bin" / "python"
SETTLE = 300
RESULTS = WORK / "results"


def ensure_slogen() -> str:
    if not SLOGEN_PYTHON.exists():
        # The system interpreter, not ours: slo-generator's pins must not meet our packages.
        subprocess.run(["python3", "-m", "venv", str(SLOGEN_VENV)], check=True)
        subprocess.run(
            [str(SLOGEN_PYTHON), "-m", "pip", "install", "-q", "slo-generator[prometheus]==2.6.0"], check=True
        )
    done = subprocess.run(
        [str(SLOGEN_PYTHON), "-c", "import importlib.metadata as m; print(m.version('slo-generator'))"],
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip()


def run_slogen(url: str, slos: int, rounds: int, burn_windows: bool, prometheus_pid: int) -> dict[str, Any]:
    prom = psutil.Process(prometheus_pid)
    t = prom.cpu_times()
    p0 = t.user + t.system
    argv = [
        str(SLOGEN_PYTHON),
        str(BENCH / "slogen_runner.py"),
        "--url",
        url,
        "--slos",
        str(slos),
        "--rounds",
        str(rounds),
    ]
    if burn_windows:
        argv.append("--burn-windows")
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        return {"failed": done.stderr[-3000:]}
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    t = prom.cpu_times()
    # Includes the one untimed warm-up SLO: a slight overstatement.
    result["prometheus_cpu_ms_per_slo"] = round(1000 * (t.user + t.system - p0) / result["slos_computed"], 2)
    return result


async def ours(url: str, slos: list[SLO], rounds: int, prometheus_pid: int) -> dict[str, Any]:
    prom = PrometheusClient(url, timeout_seconds=60, max_retries=0)
    process = psutil.Process(prometheus_pid)
    thresholds = Thresholds()
    ledgers: dict[str, Any] = {}
    sli: dict[str, float | None] = {}
    out: dict[str, Any] = {}

    async def evaluate(slo: SLO, now: int, *, keep: bool, batched: bool = False) -> None:
        ledger = ledgers.get(slo.id) if keep else None
        plan = plan_queries(slo, ledger, now, SETTLE)
        if batched:
            results = await run_plan_batched(prom, plan)
        else:
            results = await prom.run_plan(plan)
        ledger, measurements = fold_results(slo, slo.query_units, ledger, plan, results)
        ledgers[slo.id] = ledger
        budget = compute_budget(
            slo_id=slo.id,
            service_name=slo.service_name,
            namespace=slo.namespace,
            target=slo.target,
            window_days=slo.window_days,
            measurements=measurements,
            thresholds=thresholds,
            now=datetime.fromtimestamp(now, UTC),
        )
        sli[slo.name] = budget.sli

    async def timed(name: str, body: Any, count: int) -> None:
        t = process.cpu_times()
        p0, w0, c0 = t.user + t.system, time.perf_counter(), time.process_time()
        await body()
        t = process.cpu_times()
        wall = time.perf_counter() - w0
        out[name] = {
            "slos_computed": count,
            "wall_seconds": round(wall, 2),
            "slos_per_second": round(count / wall, 2),
            "client_cpu_ms_per_slo": round(1000 * (time.process_time() - c0) / count, 2),
            "prometheus_cpu_ms_per_slo": round(1000 * (t.user + t.system - p0) / count, 2),
        }

    try:
        now = int(time.time())

        async def first_pass() -> None:
            for slo in slos:
                await evaluate(slo, now, keep=False)

        async def steady() -> None:
            for k in range(rounds):
                for slo in slos:
                    await evaluate(slo, now + 30 * (k + 1), keep=True)

        async def steady_concurrent() -> None:
            gate = asyncio.Semaphore(16)

            async def one(slo: SLO, at: int) -> None:
                async with gate:
                    await evaluate(slo, at, keep=True)

            for k in range(rounds):
                await asyncio.gather(*(one(s, now + 30 * (rounds + k + 1)) for s in slos))

        async def steady_batched() -> None:
            for k in range(rounds):
                for slo in slos:
                    await evaluate(slo, now + 30 * (2 * rounds + k + 1), keep=True, batched=True)

        await timed("first_pass", first_pass, len(slos))
        first_sli = dict(sli)
        await timed("steady", steady, len(slos) * rounds)
        await timed("steady_16_in_flight", steady_concurrent, len(slos) * rounds)
        await timed("steady_batched_prototype", steady_batched, len(slos) * rounds)
        out["sli_30d_first_pass"] = first_sli
    finally:
        await prom.aclose()
    return out


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--slos", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=4)
    args = parser.parse_args()
    RESULTS.mkdir(parents=True, exist_ok=True)
    report: dict[str, Any] = {"slos": args.slos, "rounds": args.rounds}
    try:
        report["slo_generator_version"] = ensure_slogen()
    except (subprocess.CalledProcessError, OSError) as exc:
        report["slo_generator_version"] = f"not installable: {exc}"
    with bench_stack(WORK / "slogen-compare", temporal=False, kafka=False, database=False) as stack:
        pid = stack.prometheus.proc.pid  # type: ignore[union-attr]
        url = stack.prometheus_url
        slos = [build_slo(i) for i in range(args.slos)]
        report["ours"] = await ours(url, slos, args.rounds, pid)
        if SLOGEN_PYTHON.exists():
            report["slo_generator_1_step"] = run_slogen(url, args.slos, args.rounds, False, pid)
            report["slo_generator_8_steps"] = run_slogen(url, args.slos, max(1, args.rounds // 2), True, pid)
        theirs = report.get("slo_generator_1_step", {}).get("sli_30d", {})
        mine = report["ours"].pop("sli_30d_first_pass")
        diffs = [abs((mine[k] or 0) - v) for k, v in theirs.items() if k in mine]
        report["sli_30d_max_abs_difference"] = max(diffs) if diffs else None
        report["sli_30d_compared"] = len(diffs)
        for key in ("slo_generator_1_step", "slo_generator_8_steps"):
            report.get(key, {}).pop("sli_30d", None)
        base = report.get("slo_generator_1_step", {}).get("slos_per_second")
        base8 = report.get("slo_generator_8_steps", {}).get("slos_per_second")
        if base:
            report["speedup_vs_slo_generator_1_step"] = {
                k: round(v["slos_per_second"] / base, 1) for k, v in report["ours"].items()
            }
        if base8:
            report["speedup_vs_slo_generator_8_steps"] = {
                k: round(v["slos_per_second"] / base8, 1) for k, v in report["ours"].items()
            }
    report["date"] = time.strftime("%Y-%m-%d %H:%M:%S %Z")
    (RESULTS / "slo-generator-compare.json").write_text(json.dumps(report, indent=2))
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    asyncio.run(main())
