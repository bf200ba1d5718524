"""The real stack for the benchmarks: Prometheus with 90+ days of history, Temporal, Kafka,
a fresh PostgreSQL database and Redis, all on loopback, started with sla_management.devstack.

History: `SERVICES` services, each with `bench_requests_total` and `bench_errors_total`
counters sampled every 60 s from `HISTORY_DAYS` before the anchor to `FUTURE_HOURS` after it,
so "now" stays inside the data for a day and a 90-day window is complete. Rates are piecewise
constant (a steady error ratio plus one two-hour incident per service), so every window's
exact event counts are known (`exact_counts`) and results can be checked, not just timed.

The TSDB blocks take a minute to write, so they are kept in bench/.work/prometheus-cache and
reused while the anchor is recent enough. Each run opens its own copy (25 MB): two Prometheus
servers on one directory corrupt each other's memory-mapped blocks (a SIGBUS seen here).

Run alone to bring the stack up and keep it until Ctrl-C:
    .venv/bin/python -m bench.stack
"""

from __future__ import annotations

import json
import math
import os
import shutil
import signal
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from sla_management import binaries
from sla_management.adapters.migrations import upgrade
from sla_management.config import (
    CalculatorSettings,
    KafkaSettings,
    PostgreSQLSettings,
    PrometheusSettings,
    RedisSettings,
    Settings,
    TemporalSettings,
    WorkerSettings,
)
from sla_management.devstack import databases, processes, servers

BENCH = Path(__file__).resolve().parent
WORK = BENCH / ".work"
PROM_CACHE = WORK / "prometheus-cache"

SERVICES = 20
STEP = 60
DAY = 86400
HISTORY_DAYS = 95  # 90-day windows plus their head, plus room for the anchor to age
FUTURE_HOURS = 26  # the cached data stays usable for a day
# 90-day windows need every block kept: retention counts back from the newest sample.
RETENTION = "150d"
REQUESTS = "bench_requests_total"
ERRORS = "bench_errors_total"


# --- the synthetic history -------------------------------------------------------------------


@dataclass(frozen=True)
class Service:
    name: str
    request_rate: float  # requests per second, constant
    error_ratio: float  # outside the incident
    incident_start: int  # seconds relative to the anchor
    incident_ratio: float
    incident_seconds: int = 2 * 3600

    def error_rate(self, rel: float) -> float:
        inside = self.incident_start <= rel < self.incident_start + self.incident_seconds
        return self.request_rate * (self.incident_ratio if inside else self.error_ratio)

    def errors_between(self, a: float, b: float) -> float:
        """Exact errors in [a, b) (seconds relative to the anchor)."""
        lo, hi = self.incident_start, self.incident_start + self.incident_seconds
        inside = max(0.0, min(b, hi) - max(a, lo))
        return self.request_rate * (self.error_ratio * ((b - a) - inside) + self.incident_ratio * inside)

    def requests_between(self, a: float, b: float) -> float:
        return self.request_rate * (b - a)


def services() -> list[Service]:
    out = []
    for i in range(SERVICES):
        out.append(
            Service(
                name=f"svc-{i:02d}",
                request_rate=5.0 + i,
                error_ratio=0.0002 * (1 + i % 5),
                # Incidents spread over the last 80 days: some fall in 7-day windows, most in 90.
                incident_start=-((4 * i + 1) * DAY) + 3 * 3600,
                incident_ratio=0.05,
            )
        )
    return out


def exact_counts(service: Service, anchor_rel_end: float, window_seconds: int) -> tuple[float, float]:
    """(errors, requests) in the window ending `anchor_rel_end` seconds after the anchor."""
    a = anchor_rel_end - window_seconds
    return service.errors_between(a, anchor_rel_end), service.requests_between(a, anchor_rel_end)


def write_openmetrics(path: Path, anchor: int) -> int:
    start = anchor - HISTORY_DAYS * DAY
    end = anchor + FUTURE_HOURS * 3600
    times = range(start, end + 1, STEP)
    samples = 0
    with path.open("w") as out:
        for metric in (ERRORS, REQUESTS):
            out.write(f"# TYPE {metric.removesuffix('_total')} counter\n")
            for svc in services():
                lines = []
                value = 0.0
                previous = times[0]
                for t in times:
                    if metric == REQUESTS:
                        value += svc.requests_between(previous - anchor, t - anchor)
                    else:
                        value += svc.errors_between(previous - anchor, t - anchor)
                    previous = t
                    lines.append(f'{metric}{{svc="{svc.name}"}} {value:.6f} {t}\n')
                out.writelines(lines)
                samples += len(lines)
        out.write("# EOF\n")
    return samples


def prometheus_history(*, rebuild: bool = False, log: bool = True) -> tuple[Path, int]:
    """The cached TSDB directory and its anchor, written again when too old to use."""
    meta_path = PROM_CACHE / "meta.json"
    data = PROM_CACHE / "data"
    now = time.time()
    if not rebuild and meta_path.exists() and data.exists():
        meta = json.loads(meta_path.read_text())
        # Usable while "now" plus a long run stays inside the data and the anchor is recent.
        if meta.get("version") == 2 and meta["anchor"] + FUTURE_HOURS * 3600 > now + 3 * 3600:
            return data, int(meta["anchor"])
    shutil.rmtree(PROM_CACHE, ignore_errors=True)
    PROM_CACHE.mkdir(parents=True)
    anchor = int(now) // 3600 * 3600
    openmetrics = PROM_CACHE / "history.om"
    began = time.monotonic()
    samples = write_openmetrics(openmetrics, anchor)
    wrote = time.monotonic() - began
    binaries.write_openmetrics_blocks(openmetrics, data)
    openmetrics.unlink()
    if log:
        print(
            f"history: {samples:,} samples written in {wrote:.0f} s, blocks in "
            f"{time.monotonic() - began - wrote:.0f} s",
            file=sys.stderr,
        )
    meta_path.write_text(json.dumps({"version": 2, "anchor": anchor, "samples": samples}))
    return data, anchor


def start_prometheus(workdir: Path, data_dir: Path) -> processes.Service:
    """Prometheus over the cached blocks with 150 days of retention.

    `servers.start_prometheus` fixes `--storage.tsdb.retention.time=90d` and Prometheus
    refuses a repeated flag, so the argv is built here with the same spawn and readiness
    helpers (see the report: a `retention` parameter there would remove this copy).
    """
    began = time.monotonic()
    binary = binaries.find_binary("prometheus")
    port = processes.free_port()
    config = workdir / "prometheus.yml"
    workdir.mkdir(parents=True, exist_ok=True)
    config.write_text("global:\n  scrape_interval: 1m\nscrape_configs: []\n")
    url = f"http://{processes.LOOPBACK}:{port}"
    argv = [
        binary,
        f"--config.file={config}",
        f"--web.listen-address={processes.LOOPBACK}:{port}",
        f"--storage.tsdb.path={data_dir}",
        f"--storage.tsdb.retention.time={RETENTION}",
        # The default 50 M samples is plenty; keep the default query concurrency (cores).
    ]
    service = processes.spawn("prometheus", argv, workdir, address=url)
    try:
        processes.wait_for_http(f"{url}/-/ready", 120, service=service)
    except BaseException:
        service.stop()
        raise
    service.startup_seconds = time.monotonic() - began
    return service


# --- the whole stack -------------------------------------------------------------------------


@dataclass
class BenchStack:
    workdir: Path
    anchor: int
    prometheus: processes.Service
    temporal: processes.Service | None = None
    kafka: processes.Service | None = None
    pg_host: str = "127.0.0.1"
    pg_port: int = 5432
    database: str = ""
    redis_node: str = "127.0.0.1:6379"
    task_queue: str = field(default_factory=lambda: f"bench-{uuid.uuid4().hex[:8]}")
    started: list[processes.Service] = field(default_factory=list)

    @property
    def prometheus_url(self) -> str:
        return self.prometheus.address

    def settings(self, *, metrics_port: int = 0, **calculator: object) -> Settings:
        return Settings(
            prometheus=PrometheusSettings(url=self.prometheus_url),
            postgresql=PostgreSQLSettings(
                host=self.pg_host, port=self.pg_port, database=self.database, pool_max_size=20
            ),
            redis=RedisSettings(cluster_nodes=[self.redis_node], key_prefix=f"{self.database}:"),
            kafka=KafkaSettings(bootstrap_servers=[self.kafka.address] if self.kafka else []),
            calculator=CalculatorSettings(**calculator),  # type: ignore[arg-type]
            temporal=TemporalSettings(
                address=self.temporal.address if self.temporal else "", task_queue=self.task_queue
            ),
            worker=WorkerSettings(metrics_port=metrics_port),
        )


def settings_env(settings: Settings) -> dict[str, str]:
    """The environment that makes `sla worker` read exactly these settings."""
    s = settings
    env = {
        "PROMETHEUS__URL": s.prometheus.url,
        "PROMETHEUS__TIMEOUT_SECONDS": str(s.prometheus.timeout_seconds),
        "PROMETHEUS__MAX_RETRIES": str(s.prometheus.max_retries),
        "POSTGRESQL__HOST": s.postgresql.host,
        "POSTGRESQL__PORT": str(s.postgresql.port),
        "POSTGRESQL__DATABASE": s.postgresql.database,
        "POSTGRESQL__USER": s.postgresql.user,
        "POSTGRESQL__PASSWORD": s.postgresql.password,
        "POSTGRESQL__POOL_MAX_SIZE": str(s.postgresql.pool_max_size),
        "REDIS__CLUSTER_NODES": ",".join(s.redis.cluster_nodes),
        "REDIS__KEY_PREFIX": s.redis.key_prefix,
        "KAFKA__BOOTSTRAP_SERVERS": ",".join(s.kafka.bootstrap_servers),
        "TEMPORAL__ADDRESS": s.temporal.address,
        "TEMPORAL__NAMESPACE": s.temporal.namespace,
        "TEMPORAL__TASK_QUEUE": s.temporal.task_queue,
        "WORKER__METRICS_PORT": str(s.worker.metrics_port),
        "LOG_LEVEL": s.log_level,
        # No cluster here: freezes are recorded and published, nothing is annotated.
        "KUBERNETES__ENABLED": "false",
    }
    for name, value in s.calculator.model_dump().items():
        env[f"CALCULATOR__{name.upper()}"] = str(value)
    return env


@contextmanager
def bench_stack(
    workdir: Path,
    *,
    temporal: bool = True,
    kafka: bool = True,
    database: bool = True,
    temporal_db_file: bool = True,
) -> Iterator[BenchStack]:
    """Start what a benchmark needs; stop it all (and drop the database) on the way out."""
    workdir.mkdir(parents=True, exist_ok=True)
    data_dir, anchor = prometheus_history()
    started: list[processes.Service] = []
    db_name = ""
    pg_host, pg_port = (
        os.environ.get("BENCH_PG_HOST", "127.0.0.1"),
        int(os.environ.get("BENCH_PG_PORT", "5432")),
    )
    redis_port = int(os.environ.get("BENCH_REDIS_PORT", "6379"))
    try:
        own = workdir / "prometheus-data"
        shutil.rmtree(own, ignore_errors=True)
        shutil.copytree(data_dir, own)
        prom = start_prometheus(workdir, own)
        started.append(prom)
        stack = BenchStack(workdir=workdir, anchor=anchor, prometheus=prom, started=started)
        if temporal:
            db_file = workdir / "temporal.sqlite" if temporal_db_file else None
            if db_file is not None and db_file.exists():
                db_file.unlink()
            stack.temporal = servers.start_temporal(workdir, processes.free_port(), db_file=db_file)
            started.append(stack.temporal)
        if kafka:
            stack.kafka = servers.start_kafka(workdir, processes.free_port())
            started.append(stack.kafka)
        if database:
            if (pg := databases.ensure_postgres(workdir, pg_host, pg_port)) is not None:
                started.append(pg)
            if (redis := databases.ensure_redis(workdir, redis_port)) is not None:
                started.append(redis)
            db_name = f"bench_{uuid.uuid4().hex[:10]}"
            databases.create_database(pg_host, pg_port, "postgres", db_name)
            upgrade(PostgreSQLSettings(host=pg_host, port=pg_port, database=db_name))
            stack.pg_host, stack.pg_port, stack.database = pg_host, pg_port, db_name
            stack.redis_node = f"127.0.0.1:{redis_port}"
        yield stack
    finally:
        for service in reversed(started):
            service.stop()
        if db_name:
            try:
                databases.drop_database(pg_host, pg_port, "postgres", db_name)
            except Exception as exc:  # a report is still worth more than a clean exit
                print(f"could not drop {db_name}: {exc}", file=sys.stderr)


def slo_spec(index: int, window_days: int = 30) -> dict[str, object]:
    """The SLO definition of benchmark SLO `index` (services are shared round-robin)."""
    svc = f"svc-{index % SERVICES:02d}"
    return {
        "name": f"bench-{index:05d}",
        "sloType": "AVAILABILITY",
        "serviceName": svc,
        "target": 0.999 if index % 2 else 0.995,
        "windowDays": window_days,
        "sliQuery": {
            "errorQuery": f'sum(increase({ERRORS}{{svc="{svc}"}}[{{{{.window}}}}]))',
            "totalQuery": f'sum(increase({REQUESTS}{{svc="{svc}"}}[{{{{.window}}}}]))',
        },
    }


def build_slo(index: int, window_days: int = 30):  # type: ignore[no-untyped-def]
    from datetime import UTC, datetime

    from sla_management.domain.promql import detect_unit
    from sla_management.domain.slo import SLO

    now = datetime.now(UTC)
    slo = SLO.model_validate(
        {**slo_spec(index, window_days), "id": str(uuid.uuid4()), "createdAt": now, "updatedAt": now}
    )
    return slo.model_copy(update={"query_units": {f: detect_unit(q) for f, q in slo.event_queries().items()}})


def close_enough(a: float, b: float, rel: float = 2e-3) -> bool:
    return math.isclose(a, b, rel_tol=rel, abs_tol=1e-9)


if __name__ == "__main__":
    with bench_stack(WORK / "stack") as s:
        print(
            json.dumps(
                {
                    "prometheus": s.prometheus_url,
                    "temporal": s.temporal and s.temporal.address,
                    "kafka": s.kafka and s.kafka.address,
                    "database": s.database,
                }
            )
        )
        signal.sigwait({signal.SIGINT, signal.SIGTERM})
