"""The dev stack's supervision, on small real processes: a crashed app process comes back and
says how it ended, a crash loop stops the stack, a lost backing server stops it at once."""

from __future__ import annotations

import os
import signal
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from sla_management.devstack.processes import Service, spawn
from sla_management.devstack.supervision import RestartBudget, Supervisor, describe_exit

# Says hello (so the log has a tail to show), then waits to be killed.
SLEEPER = "import sys, time; print('sleeper up, argv', sys.argv[1:], flush=True); time.sleep(120)"


def _sleeper(workdir: Path, name: str = "api") -> Service:
    return spawn(name, [sys.executable, "-c", SLEEPER, name], workdir)


def _wait_greeting(service: Service, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while "sleeper up" not in service.log_tail():
        assert time.monotonic() < deadline, "the sleeper never started"
        time.sleep(0.05)


def _wait_exit(service: Service, timeout: float = 10) -> None:
    assert service.proc is not None
    service.proc.wait(timeout)


class Recorder:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def __call__(self, text: str) -> None:
        self.lines.append(text)

    @property
    def text(self) -> str:
        return "\n".join(self.lines)


@pytest.fixture
def started() -> Iterator[list[Service]]:
    """Every process a test spawns, stopped afterwards whatever happened."""
    services: list[Service] = []
    yield services
    for service in services:
        service.stop()


def test_a_process_killed_by_sigsegv_is_restarted_and_the_crash_is_reported(
    tmp_path: Path, started: list[Service]
) -> None:
    echo = Recorder()
    supervisor = Supervisor(echo, restarts=3, window_seconds=600)
    first = _sleeper(tmp_path)
    started.append(first)

    def restart(exited: Service) -> Service:
        replacement = _sleeper(tmp_path, exited.name)
        started.append(replacement)
        return replacement

    answered: list[bool] = []
    supervisor.keep_alive(first, restart, ready=lambda: answered.append(True) or True)
    assert supervisor.check() is None, "a running process is left alone"
    assert first.proc is not None
    _wait_greeting(first)
    os.kill(first.proc.pid, signal.SIGSEGV)
    _wait_exit(first)

    assert supervisor.check() is None, "a crashed app process does not stop the stack"
    [replacement] = supervisor.services
    assert replacement is not first and replacement.running
    assert replacement.proc is not None and replacement.proc.pid != first.proc.pid
    assert "api killed by SIGSEGV (signal 11)" in echo.text
    assert "sleeper up" in echo.text, "the crashed process's log tail is shown"
    assert "Restarting api (restart 1; at most 3 restarts in 10 min)" in echo.text
    assert f"api restarted (pid {replacement.proc.pid})" in echo.text
    assert not first.running

    supervisor.check()
    assert answered, "readiness of the replacement is polled"
    assert "api is back" in echo.text


def test_a_crash_loop_stops_the_stack_once_the_budget_is_spent(
    tmp_path: Path, started: list[Service]
) -> None:
    echo = Recorder()
    supervisor = Supervisor(echo, restarts=2, window_seconds=600)

    def crashing(name: str = "worker") -> Service:
        service = spawn(
            name, [sys.executable, "-c", "print('boom', flush=True); raise SystemExit(3)"], tmp_path
        )
        started.append(service)
        return service

    supervisor.keep_alive(crashing(), lambda exited: crashing(exited.name))
    reasons: list[str] = []
    for _ in range(3):
        _wait_exit(supervisor.services[0])
        reason = supervisor.check()
        if reason is not None:
            reasons.append(reason)
    assert echo.text.count("Restarting worker") == 2
    [reason] = reasons
    assert "worker exit code 3" in reason
    assert "already restarted 2 times within 10 min (at most 2 restarts in 10 min)" in reason
    assert "boom" in reason


def test_a_backing_server_that_exits_stops_the_stack(tmp_path: Path, started: list[Service]) -> None:
    echo = Recorder()
    supervisor = Supervisor(echo)
    server = spawn("prometheus", [sys.executable, "-c", "print('bye', flush=True)"], tmp_path)
    started.append(server)
    supervisor.watch(server)
    _wait_exit(server)
    assert supervisor.run(poll_seconds=0.05) == 1
    assert "prometheus exit code 0; the dev stack cannot run without it." in echo.text
    assert "bye" in echo.text
    assert supervisor.services == [server], "a backing server is never restarted"


def test_restarts_older_than_the_window_are_forgotten() -> None:
    budget = RestartBudget(limit=2, window_seconds=60)
    assert budget.spend(0) and budget.spend(10)
    assert not budget.spend(59), "a third restart within a minute is refused"
    assert budget.spend(61), "the first restart has left the window"
    assert budget.spent == 2


@pytest.mark.parametrize(
    ("code", "words"),
    [
        pytest.param(-11, "killed by SIGSEGV (signal 11)", id="a signal as Popen reports it"),
        pytest.param(139, "exit code 139 (128 + SIGSEGV, as a shell reports a signal)", id="through a shell"),
        pytest.param(1, "exit code 1", id="a plain exit code"),
        pytest.param(255, "exit code 255", id="above 128 but no signal"),
        pytest.param(-99, "killed by signal 99", id="a number with no signal name"),
    ],
)
def test_exits_are_described_in_words(code: int, words: str) -> None:
    assert describe_exit(code) == words
