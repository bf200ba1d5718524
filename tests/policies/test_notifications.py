"""Notifications on the real stack: a freeze and its end reach a signed webhook and a Slack
incoming webhook (both served here, on loopback) through a 30-second receiver outage, each
event exactly once after deduplication; undeliverable ones become dead letters."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import os
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import aiohttp.web
import httpx
import pytest

from sla_management.adapters.notify import NotificationRelay, Secrets
from sla_management.adapters.postgres import PendingNotice
from sla_management.config import NotificationSettings
from sla_management.devstack.processes import free_port
from tests.api.test_slos_api import body
from tests.conftest import Runtime
from tests.policies.test_freeze_flow import LOW, frozen, policy_body
from tests.support.waiting import eventually

SECRET = "hook-secret-for-tests"


@dataclass
class Receiver:
    url: str
    down_until: float = 0.0
    refused: int = 0
    webhook: list[dict[str, Any]] = field(default_factory=list)
    slack: list[dict[str, Any]] = field(default_factory=list)
    bad_signatures: int = 0

    def ids(self) -> list[str]:
        return [b["id"] for b in self.webhook]


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    port = free_port()
    found = Receiver(url=f"http://127.0.0.1:{port}")

    async def webhook(request: aiohttp.web.Request) -> aiohttp.web.Response:
        if time.monotonic() < found.down_until:
            found.refused += 1
            return aiohttp.web.Response(status=503)
        raw = await request.read()
        expected = "sha256=" + hmac.new(SECRET.encode(), raw, hashlib.sha256).hexdigest()
        doc = json.loads(raw)
        fresh = abs(time.time() - int(request.headers["X-SLA-Timestamp"])) < 300
        if not hmac.compare_digest(expected, request.headers.get("X-SLA-Signature", "")) or not fresh:
            found.bad_signatures += 1
            return aiohttp.web.Response(status=401)
        assert doc["timestamp"] == int(request.headers["X-SLA-Timestamp"])
        found.webhook.append(doc)
        return aiohttp.web.Response(status=204)

    async def slack(request: aiohttp.web.Request) -> aiohttp.web.Response:
        if time.monotonic() < found.down_until:
            found.refused += 1
            return aiohttp.web.Response(status=503)
        found.slack.append(await request.json())
        return aiohttp.web.Response(text="ok")

    app = aiohttp.web.Application()
    app.router.add_post("/hook", webhook)
    app.router.add_post("/slack", slack)
    runner = aiohttp.web.AppRunner(app)
    await runner.setup()
    await aiohttp.web.TCPSite(runner, "127.0.0.1", port).start()
    yield found
    await runner.cleanup()


def _relay(runtime: Runtime, **settings: Any) -> NotificationRelay:
    tuned = NotificationSettings(
        backoff_initial_seconds=0.5, backoff_max_seconds=4, poll_interval_seconds=0.2, **settings
    )
    return NotificationRelay(runtime.clients.notifications, tuned, Secrets(None))


@pytest.fixture
async def relay(runtime: Runtime) -> AsyncIterator[NotificationRelay]:
    relay = _relay(runtime, max_attempts=100)
    task = asyncio.create_task(relay.run())
    yield relay
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    await relay.aclose()


async def test_every_event_reaches_each_receiver_once_through_an_outage(
    api: httpx.AsyncClient, receiver: Receiver, relay: NotificationRelay, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TEST_HOOK_SECRET", SECRET)
    monkeypatch.setenv("TEST_SLACK_URL", f"{receiver.url}/slack")
    receiver.down_until = time.monotonic() + 30
    ns = f"ntf-{uuid.uuid4().hex[:6]}"
    notify = [
        {"type": "webhook", "url": f"{receiver.url}/hook", "secret": {"env": "TEST_HOOK_SECRET"}},
        {"type": "slack", "urlSecret": {"env": "TEST_SLACK_URL"}},
    ]
    policy = (await api.post("/api/v1/policies", json=policy_body(ns, notify=notify))).json()
    assert policy["notify"][1] == {
        "type": "slack",
        "url": None,
        "urlSecret": {"env": "TEST_SLACK_URL", "secretKeyRef": None},
        "secret": None,
    }
    await api.post("/api/v1/slos", json=body("burning", namespace=ns, target=LOW))
    freeze = await eventually(lambda: frozen(api, policy["id"]), timeout=60)
    resolved = await api.post(
        f"/api/v1/policies/freezes/{freeze['id']}/resolve",
        json={"resolvedBy": "alice", "reason": "INC-9 mitigated", "holdMinutes": 60},
    )
    assert resolved.status_code == 200 and resolved.json()["holdsUntil"]

    def kinds(bodies: list[dict[str, Any]]) -> list[str]:
        return sorted(b["kind"] for b in bodies if b.get("policyId") == policy["id"])

    async def all_three() -> bool:
        mine = [b for b in receiver.webhook if b["policyId"] == policy["id"]]
        return len({b["id"] for b in mine}) == 3 and len(receiver.slack) >= 3

    await eventually(all_three, timeout=120)
    assert receiver.refused > 0  # the outage was real, and delivery went on after it
    assert receiver.bad_signatures == 0
    mine = [b for b in receiver.webhook if b["policyId"] == policy["id"]]
    assert len(mine) == len({b["id"] for b in mine})  # at most once each here: leased, then marked
    assert kinds(mine) == ["FREEZE_OPENED", "FREEZE_RESOLVED", "SLO_STATUS"]
    opened = next(b for b in mine if b["kind"] == "FREEZE_OPENED")
    assert "budget left" in opened["summary"] and opened["figures"] and "namespace " + ns in opened["blocked"]
    assert "sla exception grant" in opened["action"]
    # Slack: an incoming-webhook body with Block Kit blocks.
    message = receiver.slack[0]
    assert isinstance(message["text"], str) and message["text"]
    types = [b["type"] for b in message["blocks"]]
    assert types[0] == "header" and "section" in types and types[-1] == "context"
    assert all(b["text"]["type"] in ("plain_text", "mrkdwn") for b in message["blocks"] if "text" in b)
    # Secrets are referenced, never shown: the API answers the reference only.
    listed = (await api.get("/api/v1/notifications", params={"status": "sent"})).json()
    assert any(n["policyId"] == policy["id"] for n in listed)
    assert SECRET not in json.dumps(listed) and receiver.url + "/slack" not in json.dumps(listed)


async def test_an_undeliverable_notification_becomes_a_dead_letter(
    api: httpx.AsyncClient, runtime: Runtime
) -> None:
    closed = f"http://127.0.0.1:{free_port()}/nobody"
    notice_id = uuid.uuid4()
    await runtime.clients.notifications.add(
        [
            PendingNotice(
                id=notice_id,
                kind="FREEZE_OPENED",
                policy_id="p-dead",
                channel="webhook",
                target={"type": "webhook", "url": closed, "secret": {"env": "NOT_SET_ANYWHERE_1234"}},
                notice={
                    "kind": "FREEZE_OPENED",
                    "title": "t",
                    "summary": "s",
                    "policyId": "p-dead",
                    "policyName": "p",
                    "occurredAt": "2026-11-30T00:00:00+00:00",
                },
            )
        ]
    )
    relay = _relay(runtime, max_attempts=2)
    try:

        async def dead() -> dict[str, Any] | None:
            await relay.deliver_once()
            found = (await api.get("/api/v1/notifications", params={"status": "dead"})).json()
            return next((n for n in found if n["id"] == str(notice_id)), None)

        letter = await eventually(dead, timeout=30, every=0.5)
    finally:
        await relay.aclose()
    assert letter["attempts"] == 2 and "NOT_SET_ANYWHERE_1234" in letter["lastError"]
    again = await api.post(f"/api/v1/notifications/{notice_id}/retry")
    assert again.status_code == 200 and again.json()["status"] == "pending"
    assert (await api.post(f"/api/v1/notifications/{notice_id}/retry")).status_code == 409
    os.environ.pop("NOT_SET_ANYWHERE_1234", None)
