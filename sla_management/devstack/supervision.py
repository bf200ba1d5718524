"""Watching the dev stack's processes: restart a crashed API or worker, stop on a lost server.

The API and the worker are our own code, and a crash of one (a segfault in a C extension, an
unhandled error at start-up) should cost a developer a log tail and a few seconds, not the whole
stack with its 31-day backfill. So they are restarted, and each restart is reported with how the
process ended (exit code or signal) and the end of its log. A process that keeps crashing is not
restarted forever: past a budget (at most `RESTARTS_ALLOWED` in `RESTART_WINDOW_SECONDS`) the
stack stops with that log tail, because a crash loop hides its first error under restarts.

Backing servers (Temporal, PostgreSQL, Prometheus, ...) are not restarted: their state is on
disk or in memory in ways a blind restart could get wrong (Kafka here keeps topics in memory,
Prometheus was backfilled before it opened its data), so their exit stops the stack as before.
"""

from __future__ import annotations

import signal
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from sla_management.devstack.processes import Service

RESTARTS_ALLOWED = 5
RESTART_WINDOW_SECONDS = 600.0
LOG_TAIL_LINES = 30

Echo = Callable[[str], None]


def describe_exit(returncode: int) -> str:
    """How a process ended, in words: `killed by SIGSEGV (signal 11)`, `exit code 3`."""
    if returncode < 0:
        name = _signal_name(-returncode)
        return f"killed by {name} (signal {-returncode})" if name else f"killed by signal {-returncode}"
    if returncode > 128 and (name := _signal_name(returncode - 128)):
        # What a shell (or a wrapper script) reports for a child killed by a signal.
        return f"exit code {returncode} (128 + {name}, as a shell reports a signal)"
    return f"exit code {returncode}"


def _signal_name(number: int) -> str | None:
    try:
        return signal.Signals(number).name
    except ValueError:
        return None


@dataclass
class RestartBudget:
    """At most `limit` restarts within any `window_seconds`."""

    limit: int = RESTARTS_ALLOWED
    window_seconds: float = RESTART_WINDOW_SECONDS
    _spent: deque[float] = field(default_factory=deque, repr=False)

    def spend(self, now: float) -> bool:
        """Take one restart at `now`; False (and nothing taken) when the budget is used up."""
        while self._spent and now - self._spent[0] >= self.window_seconds:
            self._spent.popleft()
        if len(self._spent) >= self.limit:
            return False
        self._spent.append(now)
        return True

    @property
    def spent(self) -> int:
        return len(self._spent)

    def describe(self) -> str:
        return f"at most {self.limit} restarts in {self.window_seconds / 60:g} min"


@dataclass(eq=False)
class _Watched:
    service: Service
    # Spawns the replacement of the process that exited; None: its exit stops the stack.
    restart: Callable[[Service], Service] | None = None
    budget: RestartBudget | None = None
    # Polled after a restart, without blocking, to say when the process serves again.
    ready: Callable[[], bool] | None = None
    restarted_at: float | None = None


class Supervisor:
    """The processes of a running stack: `check()` looks once, `run()` until one must stop it."""

    def __init__(
        self,
        echo: Echo = print,
        *,
        restarts: int = RESTARTS_ALLOWED,
        window_seconds: float = RESTART_WINDOW_SECONDS,
    ) -> None:
        self.echo = echo
        self.restarts = restarts
        self.window_seconds = window_seconds
        self._watched: list[_Watched] = []

    def watch(self, service: Service) -> None:
        """The stack cannot go on without this one: its exit stops everything."""
        self._watched.append(_Watched(service))

    def keep_alive(
        self, service: Service, restart: Callable[[Service], Service], ready: Callable[[], bool] | None = None
    ) -> None:
        """Restart this one when it exits (`restart(exited)` spawns the replacement), within the
        budget; `ready` tells when a replacement serves again."""
        budget = RestartBudget(self.restarts, self.window_seconds)
        self._watched.append(_Watched(service, restart, budget, ready))

    @property
    def services(self) -> list[Service]:
        """What is being watched now (after restarts, the replacements)."""
        return [watched.service for watched in self._watched]

    def check(self, now: float | None = None) -> str | None:
        """Restart what exited and may be restarted; the reason to stop the stack, or None."""
        moment = time.monotonic() if now is None else now
        for watched in self._watched:
            proc = watched.service.proc
            if proc is None or proc.poll() is None:
                self._note_back(watched, moment)
                continue
            reason = self._restart(watched, describe_exit(proc.returncode), moment)
            if reason is not None:
                return reason
        return None

    def run(self, poll_seconds: float = 1.0) -> int:
        """Block until a process the stack cannot do without is gone (returns 1). Signals (Ctrl-C)
        end it by raising, as they do anywhere else."""
        while True:
            reason = self.check()
            if reason is not None:
                self.echo(f"\n{reason}")
                return 1
            time.sleep(poll_seconds)

    def _restart(self, watched: _Watched, how: str, now: float) -> str | None:
        service = watched.service
        name = service.name
        tail = self._tail(service)
        if watched.restart is None or watched.budget is None:
            return f"{name} {how}; the dev stack cannot run without it.{tail}"
        if not watched.budget.spend(now):
            return (
                f"{name} {how}, and it was already restarted {watched.budget.spent} times within "
                f"{self.window_seconds / 60:g} min ({watched.budget.describe()}): it keeps "
                f"crashing, so the dev stack stops.{tail}"
            )
        self.echo(
            f"\n{name} {how}.{tail}\nRestarting {name} (restart {watched.budget.spent}; "
            f"{watched.budget.describe()})."
        )
        # Closes its log and kills whatever it left in its process group.
        service.stop()
        try:
            watched.service = watched.restart(service)
        except (OSError, RuntimeError) as exc:
            return f"{name} could not be restarted: {exc}"
        watched.restarted_at = now
        pid = watched.service.proc.pid if watched.service.proc is not None else "?"
        self.echo(f"  {name} restarted (pid {pid})")
        return None

    def _note_back(self, watched: _Watched, now: float) -> None:
        if watched.restarted_at is None or watched.ready is None:
            return
        if watched.ready():
            self.echo(
                f"  {watched.service.name} is back, {now - watched.restarted_at:.1f} s after its restart"
            )
            watched.restarted_at = None

    @staticmethod
    def _tail(service: Service) -> str:
        tail = service.log_tail(LOG_TAIL_LINES)
        if not tail:
            return ""
        return f"\n--- last lines of {service.log_path} ---\n{tail}\n---"
