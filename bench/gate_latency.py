"""Deploy gate under load, beside a bare FastAPI endpoint in the same run (run by hand).

Starts `sla api` (auth on, PostgreSQL with a few active freezes) and a one-line FastAPI app, then
drives both with `wrk` (Debian package) for the same duration and connections. Prints requests/s
and latency percentiles of each, and the ratio.

    .venv/bin/python -m bench.gate_latency [--seconds 15] [--connections 16]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

from sla_management.adapters.migrations import upgrade
from sla_management.adapters.postgres import Database, FreezeRepository
from sla_management.config import PostgreSQLSettings
from sla_management.devstack.databases import create_database, drop_database
from sla_management.devstack.processes import free_port, port_is_open
from sla_management.domain.freeze import FreezeEvent
from sla_management.domain.policy import Scope

TOKEN = "bench-gate-token"
BARE = textwrap.dedent(
    """
    from fastapi import FastAPI
    app = FastAPI()

    @app.get("/bare")
    async def bare(namespace: str | None = None, service: str | None = None) -> dict[str, object]:
        return {"allowed": True, "namespace": namespace, "service": service, "freezes": []}
    """
)


async def seed(pg: PostgreSQLSettings) -> None:
    db = Database(pg)
    store = FreezeRepository(db)
    for i in range(5):
        await store.open(
            FreezeEvent(
                id=str(uuid.uuid4()),
                policy_id=f"p{i}",
                policy_name=f"policy {i}",
                scope=Scope.NAMESPACE,
                target=f"frozen-{i}",
                namespaces=[f"frozen-{i}"],
                blocks=True,
                triggering=[],
                reason="bench",
                activated_at=datetime.now(UTC),
            ),
            [],
        )
    await db.close()


def wrk(url: str, seconds: int, connections: int, headers: list[str]) -> dict[str, float]:
    argv = [
        "wrk",
        "-t2",
        f"-c{connections}",
        f"-d{seconds}s",
        "--latency",
        *[arg for h in headers for arg in ("-H", h)],
        url,
    ]
    out = subprocess.run(argv, capture_output=True, text=True, check=True).stdout
    result = {"rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))}  # type: ignore[union-attr]
    for pct in ("50", "90", "99"):
        m = re.search(rf"\s{pct}%\s+([\d.]+)(us|ms|s)", out)
        assert m, out
        value = float(m.group(1)) * {"us": 0.001, "ms": 1, "s": 1000}[m.group(2)]
        result[f"p{pct}_ms"] = value
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    result["non_2xx"] = float(non2xx.group(1)) if non2xx else 0.0
    return result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=15)
    parser.add_argument("--connections", type=int, default=16)
    args = parser.parse_args()
    if not shutil.which("wrk"):
        sys.exit("wrk is needed: apt-get install wrk")
    database = f"bench_gate_{uuid.uuid4().hex[:8]}"
    create_database("127.0.0.1", 5432, "postgres", database)
    pg = PostgreSQLSettings(host="127.0.0.1", database=database)
    upgrade(pg)
    asyncio.run(seed(pg))
    work = Path(tempfile.mkdtemp(prefix="bench-gate-"))
    (work / "bare.py").write_text(BARE)
    api_port, bare_port = free_port(), free_port()
    env = {
        **os.environ,
        "POSTGRESQL__HOST": "127.0.0.1",
        "POSTGRESQL__DATABASE": database,
        "AUTH__STATIC_TOKENS": f'[{{"name":"bench","role":"viewer","token":"{TOKEN}"}}]',
        "API__PORT": str(api_port),
        "LOG_LEVEL": "WARNING",
    }
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "sla_management.cli", "api"], env=env, stdout=subprocess.DEVNULL
        ),
        subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "bare:app", "--port", str(bare_port), "--log-level", "warning"],
            cwd=work,
            stdout=subprocess.DEVNULL,
        ),
    ]
    try:
        for port in (api_port, bare_port):
            deadline = time.monotonic() + 30
            while not port_is_open("127.0.0.1", port) and time.monotonic() < deadline:
                time.sleep(0.1)
        auth = [f"Authorization: Bearer {TOKEN}"]
        gate_url = f"http://127.0.0.1:{api_port}/api/v1/gate?namespace=frozen-3&service=cart"
        bare_url = f"http://127.0.0.1:{bare_port}/bare?namespace=frozen-3&service=cart"
        wrk(gate_url, 3, args.connections, auth)  # warm-up: pools, caches
        gate = wrk(gate_url, args.seconds, args.connections, auth)
        bare = wrk(bare_url, args.seconds, args.connections, auth)
        print(f"gate {gate}\nbare {bare}\nthroughput gate/bare = {gate['rps'] / bare['rps']:.2f}")
    finally:
        for proc in procs:
            proc.terminate()
            proc.wait(10)
        drop_database("127.0.0.1", 5432, "postgres", database)


if __name__ == "__main__":
    main()
