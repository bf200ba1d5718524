"""The demo workload inside `sla dev`: its exporter, its 31-day history, its SLOs and policies.

The story itself (services, counters, incidents) is in `sla_management.demo`; this module only
runs it: the exporter as a process of the stack, the backfill before Prometheus starts, and the
demo SLOs and policies posted through the API like any client would.
"""

from __future__ import annotations

import shutil
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path

import httpx

from sla_management.devstack.processes import LOOPBACK, Service, spawn, wait_for_http

# The demo story is told from an anchor; restarts within this age keep it, so the SLO workflows'
# state in Temporal's persisted history stays consistent with the regenerated metrics.
ANCHOR_MAX_AGE_SECONDS = 24 * 3600

Echo = Callable[[str], None]


def sla_command() -> list[str]:
    """How to run `sla` with this interpreter, installed or not."""
    script = Path(sys.executable).parent / "sla"
    if script.is_file():
        return [str(script)]
    return [sys.executable, "-m", "sla_management.cli"]


def demo_anchor(workdir: Path, now: float | None = None) -> float:
    """The moment the demo story is told from: kept for a day across restarts, on the minute."""
    current = time.time() if now is None else now
    path = workdir / "demo-anchor"
    try:
        anchor = float(path.read_text().strip())
    except (OSError, ValueError):
        anchor = 0.0
    if not 0 < current - anchor < ANCHOR_MAX_AGE_SECONDS:
        anchor = float(int(current // 60) * 60)
        path.write_text(f"{anchor:.0f}\n")
    return anchor


def start_exporter(workdir: Path, port: int, anchor: float, env: Mapping[str, str]) -> Service:
    """`sla demo exporter` on loopback, ready when it serves /metrics."""
    exporter = spawn(
        "exporter",
        [*sla_command(), "demo", "exporter", "--port", str(port), "--anchor", str(anchor)],
        workdir,
        address=f"http://{LOOPBACK}:{port}",
        env=env,
    )
    began = time.monotonic()
    try:
        wait_for_http(f"{exporter.address}/metrics", 30, service=exporter)
    except BaseException:
        exporter.stop()
        raise
    exporter.startup_seconds = time.monotonic() - began
    return exporter


def backfill_history(data: Path, anchor: float, exporter_port: int, scratch_dir: Path) -> str:
    """Write the demo's history into Prometheus's (not yet open) data directory; a report line."""
    from sla_management.demo.backfill import backfill

    # Regenerated on every start: the exporter forgot its incidents when it stopped, and
    # old live samples next to a fresh backfill would make counters jump back and forth.
    shutil.rmtree(data, ignore_errors=True)
    report = backfill(data, anchor=anchor, instance=f"{LOOPBACK}:{exporter_port}", scratch_dir=scratch_dir)
    return (
        f"{report.samples:,} samples, 31 days, in "
        f"{report.write_seconds + report.promtool_seconds:.1f} s "
        f"(file {report.write_seconds:.1f} s, promtool {report.promtool_seconds:.1f} s)"
    )


def create_demo_objects(api_url: str, token: str | None, echo: Echo) -> None:
    """POST the demo SLOs and policies; those there from an earlier run are left as they are."""
    from sla_management.demo.scenario import demo_policies, demo_slos

    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        with httpx.Client(base_url=api_url, trust_env=False, timeout=30, headers=headers) as client:
            _post_all(client, "/api/v1/slos", demo_slos(), "demo SLOs", echo)
            _post_all(client, "/api/v1/policies", demo_policies(), "policies", echo)
    except httpx.HTTPError as exc:
        # The API crashed or hung meanwhile; the supervisor reports and restarts it next.
        echo(f"  (demo SLOs not all created: {exc}; the next start creates the missing ones)")


def _post_all(
    client: httpx.Client, path: str, bodies: list[dict[str, object]], what: str, echo: Echo
) -> None:
    """POST each body; 409 means it is there from an earlier run, which is fine."""
    created, existing = [], []
    for body in bodies:
        name = str(body["name"])
        response = client.post(path, json=body)
        if response.status_code in (200, 201):
            created.append(name)
        elif response.status_code == 409:
            existing.append(name)
        else:
            echo(f"  ({what} {name}: HTTP {response.status_code} {response.text[:300]})")
    if created:
        echo(f"  {what:<13} created: {', '.join(created)}")
    if existing:
        echo(f"  {what:<13} already there: {', '.join(existing)}")
