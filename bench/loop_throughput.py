"""Evaluation throughput of the SLO loops on the real stack.

For each (N SLOs, activity mode): a fresh stack (bench/stack.py), N SLOs inserted into
PostgreSQL and their workflows started, the worker as its own process (`sla worker`, configured
through the environment as in production). After every SLO has a budget and a settling period,
a steady window is measured:

- evaluations/s: the worker's `sla_calculations_total` (its /metrics), cross-checked with the
  outbox rows (one event per pass);
- staleness: now - budgets_current.calculated_at of every SLO, sampled every few seconds
  (a loop on a 30 s interval is 0..30 s stale plus its pass time when on schedule);
- CPU (% of one core) and peak RSS of the worker, the Temporal dev server, Prometheus, Kafka
  and PostgreSQL, and the machine's total (other load on the machine included);
- Temporal history events per pass, read from a few workflows' histories.

    .venv/bin/python -m bench.loop_throughput --slos 100 1000 --modes regular local
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psutil
from prometheus_client.parser import text_string_to_metric_families

from bench.stack import BENCH, WORK, BenchStack, bench_stack, build_slo, settings_env
from sla_management.adapters.postgres import Database, SLORepository
from sla_management.devstack import processes
from sla_management.workflows.client import connect, start_slo

RESULTS = WORK / "results"


# --- measuring processes ------------------------------------------------------------------------


@dataclass
class Tracked:
    """CPU seconds and peak RSS of a process tree (or of every process with a given name)."""

    name: str
    pid: int | None = None
    process_name: str | None = None
    recursive: bool = True
    cpu_start: dict[int, float] = field(default_factory=dict)
    cpu_last: dict[int, float] = field(default_factory=dict)
    rss_peak: int = 0
    rss_samples: list[int] = field(default_factory=list)

    def _procs(self) -> list[psutil.Process]:
        if self.pid is not None:
            try:
                root = psutil.Process(self.pid)
                return [root, *root.children(recursive=True)] if self.recursive else [root]
            except psutil.NoSuchProcess:
                return []
        return [p for p in psutil.process_iter(["name"]) if p.info["name"] == self.process_name]

    def sample(self, *, start: bool = False) -> None:
        rss = 0
        for proc in self._procs():
            try:
                with proc.oneshot():
                    times = proc.cpu_times()
                    cpu = times.user + times.system
                    rss += proc.memory_info().rss
            except psutil.Error:
                continue
            if start:
                self.cpu_start[proc.pid] = cpu
            else:
                # A process born inside the window spent all its CPU time there.
                self.cpu_start.setdefault(proc.pid, 0.0)
            self.cpu_last[proc.pid] = cpu
        self.rss_peak = max(self.rss_peak, rss)
        self.rss_samples.append(rss)

    def cpu_seconds(self) -> float:
        return sum(self.cpu_last[pid] - self.cpu_start.get(pid, 0.0) for pid in self.cpu_last)


def machine_busy() -> tuple[float, float]:
    t = psutil.cpu_times()
    idle = t.idle + getattr(t, "iowait", 0.0)
    return sum(t) - idle, idle


# --- worker metrics ------------------------------------------------------------------------------


def scrape(url: str) -> dict[str, float]:
    text = httpx.get(url, timeout=10, trust_env=False).text
    out: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name in (
                "sla_calculations_total",
                "sla_prometheus_queries_total",
                "sla_calculation_duration_seconds_sum",
                "sla_calculation_duration_seconds_count",
            ):
                key = sample.name
                if sample.name == "sla_calculations_total":
                    key += ":" + sample.labels.get("outcome", "")
                    out["sla_calculations_total"] = out.get("sla_calculations_total", 0.0) + sample.value
                out[key] = out.get(key, 0.0) + sample.value
    return out


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def log_problems(path: Path, limit: int = 8) -> dict[str, object]:
    """Warnings and errors in a JSON-lines (worker) or text (Temporal) log."""
    if not path.exists():
        return {"count": 0, "examples": []}
    count = 0
    examples: dict[str, int] = {}
    for line in path.read_text(errors="replace").splitlines():
        level = ""
        message = line
        if line.startswith("{"):
            try:
                doc = json.loads(line)
            except ValueError:
                doc = {}
            level = str(doc.get("level", "")).lower()
            message = str(doc.get("event", line))[:160]
        elif " WARN" in (plain := re.sub(r"\x1b\[[0-9;]*m", "", line)) or " ERROR" in plain:
            # The Temporal SDK core logs through Rust tracing: ANSI-coloured text on stderr.
            level = "error" if " ERROR " in plain else "warning"
            text = plain.split(" ", 2)[-1].strip()
            message = re.sub(r"[0-9a-f]{8}-[0-9a-f-]{27}:[0-9:]+", "<run>", text)[:160]
        else:
            low = line.lower()
            if '"level":"error"' in low or "level=error" in low or " error " in low or "traceback" in low:
                level = "error"
            elif '"level":"warn"' in low or "level=warn" in low:
                level = "warning"
        if level in ("warning", "warn", "error", "critical"):
            count += 1
            key = f"{level}: {message[:200]}"
            examples[key] = examples.get(key, 0) + 1
    top = sorted(examples.items(), key=lambda kv: -kv[1])[:limit]
    return {"count": count, "examples": [f"{n}x {k}" for k, n in top]}


# --- one configuration ----------------------------------------------------------------------------


async def start_workflows(stack: BenchStack, n: int, mode: str, interval: float) -> tuple[list[str], float]:
    settings = stack.settings(calculation_interval_seconds=interval, activity_mode=mode)
    db = Database(settings.postgresql)
    await db.connect()
    client = await connect(settings)
    slos = [build_slo(i) for i in range(n)]
    began = time.monotonic()
    gate = asyncio.Semaphore(32)

    async def one(slo):  # type: ignore[no-untyped-def]
        async with gate:
            stored = await SLORepository(db).insert(slo)
            await start_slo(client, stored, settings)

    await asyncio.gather(*(one(s) for s in slos))
    took = time.monotonic() - began
    await db.close()
    return [s.workflow_id for s in slos], took


async def history_events_per_pass(stack: BenchStack, workflow_ids: list[str]) -> dict[str, float]:
    """History events per pass of a few loops, read from their histories alone (a workflow
    query would need the worker, which may be too busy to answer): one timer per pass."""
    from temporalio.api.enums.v1 import EventType

    settings = stack.settings()
    client = await connect(settings)
    ratios = []
    for wid in workflow_ids[:: max(1, len(workflow_ids) // 5)][:5]:
        handle = client.get_workflow_handle(wid)
        events = timers = 0
        async for event in handle.fetch_history_events():
            events += 1
            timers += event.event_type == EventType.EVENT_TYPE_TIMER_STARTED
        if timers:
            ratios.append(events / timers)
    return {"history_events_per_pass": round(statistics.mean(ratios), 1) if ratios else float("nan")}


async def staleness_sample(conn_db: Database) -> tuple[list[float], int]:
    async with conn_db.acquire() as conn:
        rows = await conn.fetch(
            "SELECT extract(epoch FROM clock_timestamp() - calculated_at) AS s FROM budgets_current"
        )
    return [float(r["s"]) for r in rows], len(rows)


async def run_config(n: int, mode: str, args: argparse.Namespace) -> dict[str, object]:
    workdir = WORK / f"loop-{n}-{mode}{tag(args)}"
    if workdir.exists():
        import shutil

        shutil.rmtree(workdir)
    result: dict[str, object] = {
        "slos": n,
        "mode": mode,
        "interval_seconds": args.interval,
        "worker": args.variant or "sla worker",
        "log_level": args.log_level,
    }
    with bench_stack(workdir, temporal_db_file=not args.temporal_in_memory) as stack:
        metrics_port = processes.free_port()
        settings = stack.settings(
            metrics_port=metrics_port, calculation_interval_seconds=args.interval, activity_mode=mode
        )
        settings.log_level = args.log_level
        env = {**os.environ, **settings_env(settings)}
        if args.variant:
            # bench/worker_variant.py: the same worker with proposed fixes switched on.
            env["PYTHONPATH"] = str(BENCH.parent)
            flags = [
                f"--{flag}" for flag in args.variant.split(",") if flag and not flag.startswith("max-cached")
            ]
            flags += [
                f"--max-cached={flag.split('=')[1]}"
                for flag in args.variant.split(",")
                if flag.startswith("max-cached")
            ]
            argv = [sys.executable, "-m", "bench.worker_variant", *flags]
        else:
            argv = [str(Path(sys.executable).parent / "sla"), "worker"]
        worker = processes.spawn("worker", argv, workdir, env=env)
        try:
            processes.wait_for_http(f"http://127.0.0.1:{metrics_port}/metrics", 60, service=worker)
            metrics_url = f"http://127.0.0.1:{metrics_port}/metrics"
            log(f"[{n} {mode}] stack up; starting {n} workflows")
            t0 = time.monotonic()
            workflow_ids, start_took = await start_workflows(stack, n, mode, args.interval)
            result["start_workflows_seconds"] = round(start_took, 1)
            db = Database(stack.settings().postgresql)
            await db.connect()
            # Cold start: every loop's first pass builds its ledger from a 30-day range query.
            while True:
                _, have = await staleness_sample(db)
                if have >= n:
                    break
                if time.monotonic() - t0 > args.warmup_timeout:
                    raise RuntimeError(f"only {have}/{n} SLOs have a budget after {args.warmup_timeout} s")
                if not worker.running:
                    raise RuntimeError(f"worker exited:\n{worker.log_tail()}")
                await asyncio.sleep(1)
            result["all_budgets_after_seconds"] = round(time.monotonic() - t0, 1)
            log(
                f"[{n} {mode}] all {n} budgets after {result['all_budgets_after_seconds']} s; "
                f"settling {args.settle} s"
            )
            await asyncio.sleep(args.settle)

            tracked = [
                Tracked("worker", pid=worker.proc.pid if worker.proc else None),
                Tracked(
                    "temporal",
                    pid=stack.temporal.proc.pid if stack.temporal and stack.temporal.proc else None,
                ),
                Tracked("prometheus", pid=stack.prometheus.proc.pid if stack.prometheus.proc else None),
                Tracked("kafka", pid=stack.kafka.proc.pid if stack.kafka and stack.kafka.proc else None),
                Tracked("postgres", process_name="postgres"),
                Tracked("redis", process_name="redis-server"),
                # This script's own sampling, so it is not counted as "other" load.
                Tracked("bench", pid=os.getpid(), recursive=False),
            ]
            for t in tracked:
                t.sample(start=True)
            before = scrape(metrics_url)
            async with db.acquire() as conn:
                outbox_before = await conn.fetchval("SELECT count(*) FROM event_outbox")
            busy0, idle0 = machine_busy()
            w0 = time.monotonic()
            stale: list[float] = []
            per_sample_p99: list[float] = []
            missing = 0
            next_stale = w0
            while time.monotonic() - w0 < args.measure:
                for t in tracked:
                    t.sample()
                if time.monotonic() >= next_stale:
                    values, have = await staleness_sample(db)
                    stale.extend(values)
                    per_sample_p99.append(percentile(values, 99))
                    missing += n - have
                    next_stale += args.sample_every
                if not worker.running:
                    raise RuntimeError(f"worker exited:\n{worker.log_tail()}")
                await asyncio.sleep(1)
            elapsed = time.monotonic() - w0
            for t in tracked:
                t.sample()
            busy1, idle1 = machine_busy()
            after = scrape(metrics_url)
            async with db.acquire() as conn:
                outbox_after = await conn.fetchval("SELECT count(*) FROM event_outbox")
                pending = await conn.fetchval("SELECT count(*) FROM event_outbox WHERE published_at IS NULL")
            await db.close()

            evals = after["sla_calculations_total"] - before["sla_calculations_total"]
            dur_n = (
                after["sla_calculation_duration_seconds_count"]
                - before["sla_calculation_duration_seconds_count"]
            )
            dur_s = (
                after["sla_calculation_duration_seconds_sum"] - before["sla_calculation_duration_seconds_sum"]
            )
            queries = after.get("sla_prometheus_queries_total", 0) - before.get(
                "sla_prometheus_queries_total", 0
            )
            outcomes = {
                k.split(":", 1)[1]: round(after[k] - before.get(k, 0.0))
                for k in after
                if k.startswith("sla_calculations_total:")
            }
            result.update(
                {
                    "measure_seconds": round(elapsed, 1),
                    "evaluations": round(evals),
                    "evaluations_per_second": round(evals / elapsed, 2),
                    "on_schedule_rate": round(n / args.interval, 2),
                    "outbox_events_per_second": round((outbox_after - outbox_before) / elapsed, 2),
                    "outbox_unpublished_at_end": pending,
                    "outcomes": outcomes,
                    "staleness_p50_s": round(percentile(stale, 50), 1),
                    "staleness_p99_s": round(percentile(stale, 99), 1),
                    "staleness_max_s": round(max(stale), 1) if stale else None,
                    "staleness_worst_sample_p99_s": round(max(per_sample_p99), 1) if per_sample_p99 else None,
                    "staleness_samples": len(stale),
                    "missing_budget_samples": missing,
                    "query_sli_mean_ms": round(1000 * dur_s / dur_n, 1) if dur_n else None,
                    "prometheus_queries_per_second": round(queries / elapsed, 1),
                    "cpu_percent": {t.name: round(100 * t.cpu_seconds() / elapsed, 1) for t in tracked},
                    "rss_peak_mb": {t.name: round(t.rss_peak / 2**20) for t in tracked},
                    "machine_cpu_percent_of_200": round(
                        100 * 2 * (busy1 - busy0) / ((busy1 - busy0) + (idle1 - idle0)), 1
                    ),
                }
            )
            cpu = result["cpu_percent"]
            assert isinstance(cpu, dict)
            # CPU per evaluation holds up better than rates when others load the machine.
            if evals:
                result["cpu_ms_per_evaluation"] = {
                    name: round(10 * pct * elapsed / evals, 1) for name, pct in cpu.items()
                }
            result["other_cpu_percent"] = round(
                float(result["machine_cpu_percent_of_200"]) - sum(cpu.values()), 1
            )
            try:
                result.update(await history_events_per_pass(stack, workflow_ids))
            except Exception as exc:
                result["history_events_per_pass"] = f"failed: {exc}"
        finally:
            worker.stop()
        result["worker_log"] = log_problems(workdir / "worker.log")
        result["temporal_log"] = log_problems(workdir / "temporal.log")
    return result


def tag(args: argparse.Namespace) -> str:
    return ("-" + args.variant.replace(",", "+").replace("=", "")) if args.variant else ""


def log(message: str) -> None:
    print(f"{time.strftime('%H:%M:%S')} {message}", file=sys.stderr, flush=True)


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--slos", type=int, nargs="+", default=[100, 1000])
    parser.add_argument("--modes", nargs="+", default=["regular", "local"], choices=["regular", "local"])
    parser.add_argument("--interval", type=float, default=30)
    parser.add_argument("--settle", type=float, default=60, help="seconds after the last first budget")
    parser.add_argument("--measure", type=float, default=180, help="steady window, seconds")
    parser.add_argument("--sample-every", type=float, default=5)
    parser.add_argument("--warmup-timeout", type=float, default=420)
    parser.add_argument("--log-level", default="INFO")
    parser.add_argument("--temporal-in-memory", action="store_true")
    parser.add_argument(
        "--variant",
        default="",
        help="run bench/worker_variant.py with these comma-separated flags, e.g. quiet-httpx,batched",
    )
    args = parser.parse_args()
    RESULTS.mkdir(parents=True, exist_ok=True)
    for n in args.slos:
        for mode in args.modes:
            began = time.monotonic()
            try:
                result = await run_config(n, mode, args)
            except Exception as exc:
                result = {"slos": n, "mode": mode, "failed": f"{type(exc).__name__}: {exc}"[:4000]}
            result["wall_seconds"] = round(time.monotonic() - began)
            result["date"] = time.strftime("%Y-%m-%d %H:%M:%S %Z")
            (RESULTS / f"loop-{n}-{mode}{tag(args)}.json").write_text(json.dumps(result, indent=2))
            print(json.dumps(result), flush=True)


if __name__ == "__main__":
    asyncio.run(main())
