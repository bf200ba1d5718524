"""Start real servers on loopback, each in its own session, and stop them again.

Shared by `sla dev` and the test suite's session fixtures: both get the same binaries, flags and
readiness checks, so "works in `make run`" and "works in the tests" mean the same thing. This
module holds what every server needs (spawning, stopping, ports, readiness waits); the servers
themselves are in `servers` (Temporal, Prometheus, Alertmanager, Kafka) and `databases`
(PostgreSQL, Redis).

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

import atexit
import contextlib
import os
import shlex
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import httpx

LOOPBACK = "127.0.0.1"
STOP_GRACE_SECONDS = 10.0

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
                signal_group(proc.pid, self.stop_signal)
                # A paused (SIGSTOPped) group would sit on the signal until resumed.
                signal_group(proc.pid, signal.SIGCONT)
                try:
                    proc.wait(STOP_GRACE_SECONDS)
                except subprocess.TimeoutExpired:
                    signal_group(proc.pid, signal.SIGKILL)
                    proc.wait()
            # The leader is gone; children it left in its group (none, normally) go too.
            signal_group(proc.pid, signal.SIGKILL)
        finally:
            if self._log_file is not None:
                self._log_file.close()
                self._log_file = None

    def pause(self) -> None:
        """Freeze the whole group (SIGSTOP): sockets stay open but nothing answers, an outage."""
        if self.proc is not None and self.proc.poll() is None:
            signal_group(self.proc.pid, signal.SIGSTOP)

    def resume(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            signal_group(self.proc.pid, signal.SIGCONT)


def signal_group(pgid: int, sig: signal.Signals) -> None:
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


def wait_until(check: Callable[[], bool], what: str, timeout: float, service: Service | None) -> None:
    """Poll `check` until true; ServiceFailed if `service` exits first, TimeoutError after
    `timeout` (both with the service's log tail)."""
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
    wait_until(lambda: port_is_open(host, port), f"listener on {host}:{port}", timeout, service)


def http_answers(url: str, status: int = 200) -> bool:
    """Whether GET `url` answers `status` right now (one try, 2 s at most)."""
    try:
        # trust_env=False: an HTTP(S)_PROXY in the developer's shell must not capture loopback.
        with httpx.Client(trust_env=False, timeout=2) as client:
            return client.get(url).status_code == status
    except httpx.HTTPError:
        return False


def wait_for_http(
    url: str, timeout: float = 30, *, service: Service | None = None, status: int = 200
) -> None:
    """Block until GET `url` answers `status`."""
    wait_until(lambda: http_answers(url, status), f"HTTP {status} from {url}", timeout, service)


# --- spawning ----------------------------------------------------------------------------------


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


def mark_started(service: Service, began: float) -> Service:
    """Record how long `service` took to become ready (printed by `sla dev`)."""
    service.startup_seconds = time.monotonic() - began
    return service


def ready_or_stop(service: Service, wait: Callable[[], None]) -> None:
    """Run the readiness `wait`; a server that never got ready is stopped, not left behind."""
    try:
        wait()
    except BaseException:
        service.stop()
        raise
