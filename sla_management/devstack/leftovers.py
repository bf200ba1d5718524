"""`<workdir>/pids.json`: which processes a run started, so the next run can stop them.

Servers run in their own sessions (see `processes`), so a `sla dev` killed with SIGKILL leaves
them running where no terminal signal reaches them; the next `sla dev` stops them first.
"""

from __future__ import annotations

import json
import signal
import time
from collections.abc import Callable, Iterable
from pathlib import Path

from sla_management.devstack.processes import STOP_GRACE_SECONDS, Service, signal_group

RECORD = "pids.json"


def create_time(pid: int) -> float | None:
    """When process `pid` started (psutil), None if it is gone or psutil is missing."""
    try:
        import psutil
    except ImportError:
        return None
    try:
        return float(psutil.Process(pid).create_time())
    except psutil.Error:
        return None


def record_pids(workdir: Path, services: Iterable[Service]) -> None:
    """Write down every running process of the stack (called again after each start/restart)."""
    entries = [
        {
            "name": service.name,
            "pid": service.proc.pid,
            "started": create_time(service.proc.pid),
            "signal": service.stop_signal.name,
        }
        for service in services
        if service.proc is not None
    ]
    (workdir / RECORD).write_text(json.dumps(entries, indent=1))


def forget_pids(workdir: Path) -> None:
    (workdir / RECORD).unlink(missing_ok=True)


def stop_leftovers(workdir: Path, echo: Callable[[str], None]) -> None:
    """Stop servers a previous run left running (it was killed before it could stop them).

    A pid is trusted only if its process start time matches the one recorded, so a reused pid
    is never signalled.
    """
    record = workdir / RECORD
    if not record.exists():
        return
    try:
        entries = json.loads(record.read_text())
    except ValueError:
        entries = []
    for entry in reversed(entries):
        pid, started = entry.get("pid"), entry.get("started")
        if not isinstance(pid, int) or started is None or create_time(pid) != started:
            continue
        echo(f"  stopping {entry.get('name')} (pid {pid}) left over from a previous run")
        with_grace = time.monotonic() + STOP_GRACE_SECONDS
        try:
            stop_signal = signal.Signals[str(entry.get("signal"))]
        except KeyError:
            stop_signal = signal.SIGTERM
        signal_group(pid, stop_signal)
        while create_time(pid) == started and time.monotonic() < with_grace:
            time.sleep(0.2)
        signal_group(pid, signal.SIGKILL)
    forget_pids(workdir)
