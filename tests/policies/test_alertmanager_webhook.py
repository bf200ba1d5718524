"""Alertmanager intake: the webhook alone, then a real Prometheus rule through a real
Alertmanager to the API served over HTTP."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import uvicorn

from sla_management.api.app import create_app
from sla_management.config import Settings
from sla_management.devstack import processes, servers
from tests.api.test_slos_api import body
from tests.conftest import ADMIN_HEADERS, WEBHOOK_HEADERS, WEBHOOK_TOKEN, Runtime, Stack, running_worker
from tests.policies.test_freeze_flow import LOW, frozen, policy_body
from tests.support.kafka import read_events
from tests.support.waiting import eventually


def alert(slo: str | None, status: str = "firing", **labels: str) -> dict[str, Any]:
    all_labels = {"alertname": "SLOErrorBudgetBurn", "severity": "page", **labels}
    if slo is not None:
        all_labels["slo"] = slo
    return {
        "status": status,
        "labels": all_labels,
        "annotations": {"summary": "burning"},
        "startsAt": "2026-11-27T10:00:00Z",
        "endsAt": "0001-01-01T00:00:00Z",
        "generatorURL": "http://prometheus/graph",
        "fingerprint": uuid.uuid4().hex[:16],
    }


def payload(*alerts: dict[str, Any]) -> dict[str, Any]:
    return {
        "version": "4",
        "groupKey": '{}:{alertname="SLOErrorBudgetBurn"}',
        "truncatedAlerts": 0,
        "status": "firing",
        "receiver": "sla",
        "groupLabels": {},
        "commonLabels": {},
        "commonAnnotations": {},
        "externalURL": "http://alertmanager",
        "alerts": list(alerts),
    }


async def test_alerts_are_correlated_recorded_and_published(
    api: httpx.AsyncClient, runtime: Runtime, stack: Stack
) -> None:
    slo = (await api.post("/api/v1/slos", json=body())).json()
    firing = alert(slo["id"])
    by_name = alert(slo["name"], namespace=slo["namespace"])
    response = await api.post(
        "/webhooks/alertmanager",
        json=payload(firing, by_name, alert(None), alert("no-such-slo")),
        headers=WEBHOOK_HEADERS,
    )
    assert response.status_code == 200
    assert response.json() == {"received": 4, "correlated": 2, "recorded": 2, "ignored": 2}
    # Alertmanager repeats notifications: the same alert is not counted twice.
    again = await api.post("/webhooks/alertmanager", json=payload(firing), headers=WEBHOOK_HEADERS)
    assert again.json()["recorded"] == 0
    resolved = await api.post(
        "/webhooks/alertmanager", json=payload({**firing, "status": "resolved"}), headers=WEBHOOK_HEADERS
    )
    assert resolved.json()["recorded"] == 1

    counts = await runtime.clients.violations.counts(slo["id"])
    assert counts == {"firing": 2, "resolved": 1}
    events = await read_events(
        stack.kafka_address, runtime.settings.kafka.violations_topic, lambda e: e.key == slo["id"], at_least=3
    )
    assert sorted(e.headers["event_type"] for e in events) == [
        "SLO_VIOLATION_FIRING",
        "SLO_VIOLATION_FIRING",
        "SLO_VIOLATION_RESOLVED",
    ]
    assert events[0].headers["service_name"] == "steady"


@pytest.mark.parametrize(
    "bad",
    [
        pytest.param({"version": "3", "status": "firing", "alerts": []}, id="wrong payload version"),
        pytest.param({"version": "4", "status": "firing"}, id="no alerts list"),
        pytest.param(
            {"version": "4", "status": "firing", "alerts": [{"status": "burning", "labels": {}}]},
            id="bad alert status",
        ),
        pytest.param([1, 2, 3], id="not an object"),
    ],
)
async def test_malformed_payloads_are_422(api: httpx.AsyncClient, bad: Any) -> None:
    assert (await api.post("/webhooks/alertmanager", json=bad, headers=WEBHOOK_HEADERS)).status_code == 422


async def _posts(settings: Settings, *attempts: tuple[dict[str, str], Any]) -> list[httpx.Response]:
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
            return [await client.post("/webhooks/alertmanager", json=body, headers=h) for h, body in attempts]


async def test_webhook_token(runtime: Runtime, settings: Settings) -> None:
    settings.alertmanager.webhook_token = "s3cret"
    missing, wrong, right = await _posts(
        settings,
        ({}, payload()),
        ({"Authorization": "Bearer nope"}, payload()),
        ({"Authorization": "Bearer s3cret"}, payload()),
    )
    assert missing.status_code == 401 and wrong.status_code == 401
    assert missing.headers["www-authenticate"] == "Bearer"
    assert right.status_code == 200


async def test_without_a_token_the_webhook_refuses_everyone_unless_told_otherwise(
    runtime: Runtime, settings: Settings
) -> None:
    settings.alertmanager.webhook_token = None
    refused, with_any_token = await _posts(
        settings, ({}, payload()), ({"Authorization": "Bearer anything"}, payload())
    )
    assert refused.status_code == 401 and with_any_token.status_code == 401
    settings.alertmanager.webhook_auth = "none"
    (open_on_purpose,) = await _posts(settings, ({}, payload()))
    assert open_on_purpose.status_code == 200


async def test_the_token_is_checked_before_the_body_is_read(runtime: Runtime, settings: Settings) -> None:
    # A caller without the token learns nothing about the payload's schema.
    unauthenticated, authenticated = await _posts(
        settings, ({}, {"version": "3"}), (WEBHOOK_HEADERS, {"version": "3"})
    )
    assert unauthenticated.status_code == 401 and "version" not in unauthenticated.text
    assert authenticated.status_code == 422


@pytest.fixture
async def served_api(runtime: Runtime) -> AsyncIterator[str]:
    """The API on a real loopback port, as Alertmanager needs to reach it."""
    port = processes.free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(runtime.settings), host="127.0.0.1", port=port, log_level="warning")
    )
    task = asyncio.create_task(server.serve())
    await eventually(lambda: asyncio.to_thread(processes.port_is_open, "127.0.0.1", port))
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    await task


async def test_real_alertmanager_alert_reaches_the_loop_and_the_freeze_follows(
    runtime: Runtime, stack: Stack, served_api: str, tmp_path: Any
) -> None:
    runtime.settings.calculator.calculation_interval_seconds = 3600  # only the alert wakes the loop
    ns = f"am-{uuid.uuid4().hex[:6]}"
    async with running_worker(runtime), httpx.AsyncClient(base_url=served_api, headers=ADMIN_HEADERS) as api:
        policy = (await api.post("/api/v1/policies", json=policy_body(ns))).json()
        slo = (await api.post("/api/v1/slos", json=body("burning", namespace=ns, target=LOW))).json()
        handle = runtime.client.get_workflow_handle(f"slo-{slo['id']}")

        async def passes() -> int:
            return int((await handle.query("state"))["passes"])

        await eventually(passes)
        first_passes = await passes()

        am_port = processes.free_port()
        alertmanager = servers.start_alertmanager(
            tmp_path,
            am_port,
            f"""
route: {{receiver: sla, group_wait: 1s, group_interval: 1s, repeat_interval: 1h}}
receivers:
  - name: sla
    webhook_configs:
      - url: {served_api}/webhooks/alertmanager
        send_resolved: true
        http_config: {{authorization: {{credentials: "{WEBHOOK_TOKEN}"}}}}
""",
        )
        rules = tmp_path / "rules.yml"
        rules.write_text(
            f"""
groups:
  - name: slo
    interval: 1s
    rules:
      - alert: SLOErrorBudgetBurn
        expr: sum(rate(t_errors_total{{svc="burning"}}[5m])) / sum(rate(t_requests_total{{svc="burning"}}[5m])) > 0.05
        labels: {{slo: "{slo["name"]}", namespace: "{ns}", severity: page}}
"""
        )
        prometheus = servers.start_prometheus(
            tmp_path,
            processes.free_port(),
            f"""
global: {{evaluation_interval: 1s}}
rule_files: [{rules}]
alerting:
  alertmanagers: [{{static_configs: [{{targets: ["127.0.0.1:{am_port}"]}}]}}]
remote_read: [{{url: "{stack.prometheus_url}/api/v1/read", read_recent: true}}]
""",
            # Alerts fired before the notifier found Alertmanager are re-sent after this delay.
            extra_args=["--rules.alert.resend-delay=1s"],
        )
        try:
            counts = await eventually(lambda: runtime.clients.violations.counts(slo["id"]), timeout=60)
            assert counts.get("firing", 0) >= 1
            await eventually(lambda: _more(passes, first_passes), timeout=30)  # the alert woke the loop
            freeze = await eventually(lambda: frozen(api, policy["id"]))
            assert slo["name"] in freeze["reason"]
        finally:
            prometheus.stop()
            alertmanager.stop()


async def _more(probe: Any, than: int) -> bool:
    return bool(await probe() > than)
