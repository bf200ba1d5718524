"""How `sla dev` wires its parts: the webhook token from its file to Alertmanager's requests, the
env file other shells (and `sla gate`) read, and the database it must never drop.

Real Alertmanager, Temporal and PostgreSQL (an embedded one on a free port, so nothing on the
machine's own server is touched); the whole stack is not started.
"""

from __future__ import annotations

import json
import stat
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import psycopg
import pytest

from sla_management.devstack import configs, stack
from sla_management.devstack.processes import LOOPBACK, free_port
from sla_management.devstack.stack import DevStack

STACK_VARIABLES = (
    "ALERTMANAGER__URL",
    "ALERTMANAGER__WEBHOOK_TOKEN",
    "ALERTMANAGER__WEBHOOK_AUTH",
    "ALERTMANAGER__WEBHOOK_PATH",
    "API__PORT",
    "AUTH__ENABLED",
    "AUTH__STATIC_TOKENS",
    "POSTGRESQL__HOST",
    "POSTGRESQL__PORT",
    "POSTGRESQL__DATABASE",
    "TEMPORAL__ADDRESS",
    "WORKER__METRICS_PORT",
)


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """No stack setting inherited from the shell running the tests; no default port used."""
    for name in STACK_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    for name in stack.PORTS:
        monkeypatch.setitem(stack.PORTS, name, free_port())
    return monkeypatch


@pytest.fixture
def dev(tmp_path: Path) -> Iterator[DevStack]:
    lines: list[str] = []
    started = DevStack(tmp_path, echo=lines.append)
    yield started
    started.stop()


def _private(path: Path) -> bool:
    return stat.S_IMODE(path.stat().st_mode) == 0o600


def test_the_webhook_token_is_generated_once_kept_private_and_given_to_the_api(
    clean_env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    first = DevStack(tmp_path, echo=lambda _: None)
    first._prepare_env()
    token = first.env["ALERTMANAGER__WEBHOOK_TOKEN"]
    kept = tmp_path / "webhook-token"
    assert len(token) >= 32 and kept.read_text().strip() == token
    assert _private(kept)

    again = DevStack(tmp_path, echo=lambda _: None)
    again._prepare_env()
    assert again.env["ALERTMANAGER__WEBHOOK_TOKEN"] == token, "a restart keeps Alertmanager's token valid"


def test_a_webhook_token_from_the_environment_wins(clean_env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    clean_env.setenv("ALERTMANAGER__WEBHOOK_TOKEN", "from-the-shell")
    dev = DevStack(tmp_path, echo=lambda _: None)
    dev._prepare_env()
    assert dev.env["ALERTMANAGER__WEBHOOK_TOKEN"] == "from-the-shell"
    assert not (tmp_path / "webhook-token").exists()


def test_webhook_auth_none_means_no_token(clean_env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    clean_env.setenv("ALERTMANAGER__WEBHOOK_AUTH", "none")
    lines: list[str] = []
    dev = DevStack(tmp_path, echo=lines.append)
    dev._prepare_env()
    assert "ALERTMANAGER__WEBHOOK_TOKEN" not in dev.env
    assert any("webhook auth  off" in line for line in lines)


def test_the_env_file_is_private_and_reads_back_as_written(tmp_path: Path) -> None:
    path = tmp_path / "env"
    env = {
        "ALERTMANAGER__WEBHOOK_TOKEN": "tok'en with $pace",
        "AUTH__STATIC_TOKENS": json.dumps([{"name": "dev-admin", "role": "admin", "token": "t"}]),
        "HOME": "/not/ours",
    }
    configs.write_env_file(path, env, api_url="http://127.0.0.1:8123", api_token="admin-token")
    assert _private(path)
    assert configs.read_env_file(path) == {
        "ALERTMANAGER__WEBHOOK_TOKEN": "tok'en with $pace",
        "AUTH__STATIC_TOKENS": env["AUTH__STATIC_TOKENS"],
        "SLA_API_URL": "http://127.0.0.1:8123",
        "SLA_API_TOKEN": "admin-token",
    }


class _Hook(BaseHTTPRequestHandler):
    seen: list[tuple[str, str | None]] = []

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        type(self).seen.append((self.path, self.headers.get("Authorization")))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


def test_alertmanager_sends_the_generated_token_to_the_api(
    clean_env: pytest.MonkeyPatch, dev: DevStack
) -> None:
    # A stand-in for the API's webhook, to see the very header Alertmanager sends.
    _Hook.seen = []
    hook = ThreadingHTTPServer((LOOPBACK, free_port()), _Hook)
    threading.Thread(target=hook.serve_forever, daemon=True).start()
    clean_env.setenv("API__PORT", str(hook.server_address[1]))
    try:
        dev._prepare_env()
        dev._start_alertmanager()
        token = (dev.workdir / "webhook-token").read_text().strip()
        alert = {"labels": {"alertname": "SLOErrorBudgetBurn", "slo": "wiring"}}
        url = f"{dev.env['ALERTMANAGER__URL']}/api/v2/alerts"
        assert httpx.post(url, json=[alert], trust_env=False).status_code == 200
        deadline = time.monotonic() + 60  # the stack's config groups alerts for 10 s first
        while not _Hook.seen and time.monotonic() < deadline:
            time.sleep(0.2)
    finally:
        hook.shutdown()
        hook.server_close()
    assert _Hook.seen == [("/webhooks/alertmanager", f"Bearer {token}")]


def test_a_new_temporal_history_leaves_the_database_as_it_was(
    clean_env: pytest.MonkeyPatch, dev: DevStack
) -> None:
    # PostgreSQL on a free port (embedded, in the test's workdir): the stack's own database name
    # is used, as on a developer's machine, without touching the machine's server.
    pg_port = free_port()
    clean_env.setenv("POSTGRESQL__PORT", str(pg_port))
    dev._prepare_env()
    dev._start_postgres()
    database = dev.env["POSTGRESQL__DATABASE"]
    with psycopg.connect(
        host=LOOPBACK, port=pg_port, user="postgres", dbname=database, autocommit=True
    ) as conn:
        conn.execute("CREATE TABLE kept (note text)")
        conn.execute("INSERT INTO kept VALUES ('written before this run')")

    # A later run: its Temporal history file is new (the old one was deleted), the rows are not.
    assert not (dev.workdir / "temporal.db").exists()
    later = DevStack(dev.workdir, echo=lambda _: None)
    try:
        later._prepare_env()
        later._start_temporal()
        later._start_postgres()
    finally:
        later.stop()
    with psycopg.connect(host=LOOPBACK, port=pg_port, user="postgres", dbname=database) as conn:
        assert conn.execute("SELECT note FROM kept").fetchall() == [("written before this run",)]
