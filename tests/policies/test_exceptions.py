"""Freeze exceptions on the real stack: a responder lets one service deploy through a freeze;
the gate and the Kubernetes annotations follow; the policy's workflow ends it on time, even
across a worker restart."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from sla_management.adapters.kubernetes import KubernetesEnforcer
from tests.api.test_slos_api import body
from tests.conftest import ADMIN_HEADERS, TOKENS, Runtime, Stack, running_worker
from tests.policies.test_freeze_flow import LOW, frozen, policy_body
from tests.support.k8s import FakeCluster, k8s_fixture  # noqa: F401 - registers the fixture
from tests.support.kafka import read_events
from tests.support.waiting import eventually

RESPONDER = {"Authorization": f"Bearer {TOKENS['responder']}"}
VIEWER = {"Authorization": f"Bearer {TOKENS['viewer']}"}
UNTIL = "neural-hive.io/freeze-exception-until"


@pytest.fixture
async def enforcer(runtime: Runtime, k8s: FakeCluster) -> AsyncIterator[KubernetesEnforcer]:
    enforcer = KubernetesEnforcer.from_config(k8s.url, verify_ssl=False)
    runtime.enforcer = enforcer
    yield enforcer
    enforcer.close()


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://api", headers=ADMIN_HEADERS) as c:
        yield c


async def _frozen_namespace(
    api: httpx.AsyncClient, k8s: FakeCluster, **policy: Any
) -> tuple[str, dict[str, Any]]:
    ns = f"exc-{uuid.uuid4().hex[:6]}"
    k8s.add_namespace(ns)
    for service in ("burning", "neighbour"):
        k8s.add_workload("Deployment", ns, service)
    created = (await api.post("/api/v1/policies", json=policy_body(ns, **policy))).json()
    await api.post("/api/v1/slos", json=body("burning", namespace=ns, target=LOW))
    await eventually(lambda: frozen(api, created["id"]), timeout=60)
    return ns, created


async def _gate(api: httpx.AsyncClient, ns: str, service: str) -> dict[str, Any]:
    answer = await api.get("/api/v1/gate", params={"namespace": ns, "service": service}, headers=VIEWER)
    assert answer.status_code == 200, answer.text
    result: dict[str, Any] = answer.json()
    return result


async def test_an_exception_lets_one_service_through_and_ends_on_time_across_a_worker_restart(
    runtime: Runtime, enforcer: KubernetesEnforcer, client: httpx.AsyncClient, k8s: FakeCluster, stack: Stack
) -> None:
    api = client
    async with running_worker(runtime):
        ns, policy = await _frozen_namespace(api, k8s)
        assert not (await _gate(api, ns, "burning"))["allowed"]

        grant = {"namespace": ns, "service": "burning", "reason": "P0: checkout down", "durationMinutes": 1}
        assert (await api.post("/api/v1/freezes/exceptions", json=grant, headers=VIEWER)).status_code == 403
        response = await api.post(
            "/api/v1/freezes/exceptions", json={**grant, "ticket": "INC-42"}, headers=RESPONDER
        )
        assert response.status_code == 201, response.text
        exception = response.json()
        assert exception["grantedBy"] == "test-responder" and exception["policyId"] == policy["id"]

        allowed = await _gate(api, ns, "burning")
        assert allowed["allowed"] and allowed["exceptions"][0]["id"] == exception["id"]
        assert allowed["exceptions"][0]["reason"] == "P0: checkout down" and allowed["freezes"]
        assert not (await _gate(api, ns, "neighbour"))["allowed"]  # its neighbour stays frozen
        assert (await api.get("/api/v1/policies/freezes/active")).json()  # the freeze stays on record

        async def annotated() -> bool:
            return k8s.annotations("Deployment", ns, "burning").get(UNTIL) is not None

        await eventually(annotated)
        assert UNTIL not in k8s.annotations("Deployment", ns, "neighbour")
        assert UNTIL not in k8s.namespace_annotations(ns)
    # The worker is gone for part of the exception: its timer is in Temporal, not in the worker.
    await asyncio.sleep(15)
    async with running_worker(runtime):

        async def ended() -> dict[str, Any] | None:
            found = (await api.get("/api/v1/freezes/exceptions", params={"namespace": ns})).json()
            return found[0] if found and found[0]["endedAt"] else None

        record = await eventually(ended, timeout=90)
        assert record["ending"] == "expired" and record["endedBy"] == "system"
        late = datetime.fromisoformat(record["endedAt"]) - datetime.fromisoformat(record["expiresAt"])
        assert late.total_seconds() < 10, late  # not extended by the restart
        assert record["deploys"] >= 1  # the gate's pass above

        async def cleared() -> bool:
            return UNTIL not in k8s.annotations("Deployment", ns, "burning")

        await eventually(cleared)
        assert not (await _gate(api, ns, "burning"))["allowed"]

    actions = [
        e["action"] for e in (await api.get("/api/v1/audit", params={"resourceId": exception["id"]})).json()
    ]
    assert sorted(actions) == ["exception.expire", "exception.grant"]
    events = await read_events(
        stack.kafka_address,
        runtime.settings.kafka.freeze_topic,
        lambda e: e.payload.get("exception", {}).get("id") == exception["id"],
        at_least=2,
    )
    assert sorted(e.headers["event_type"] for e in events) == ["EXCEPTION_EXPIRED", "EXCEPTION_GRANTED"]


async def test_exceptions_are_bounded_by_the_policy_and_revocable(
    runtime: Runtime, client: httpx.AsyncClient, k8s: FakeCluster, enforcer: KubernetesEnforcer
) -> None:
    api = client
    async with running_worker(runtime):
        ns, _ = await _frozen_namespace(api, k8s, maxExceptionMinutes=30)
        too_long = {"namespace": ns, "reason": "security fix", "durationMinutes": 31}
        refused = await api.post("/api/v1/freezes/exceptions", json=too_long, headers=RESPONDER)
        assert refused.status_code == 422 and "at most 30 minutes" in refused.text
        nothing_frozen = {"namespace": "not-frozen", "reason": "x", "durationMinutes": 5}
        assert (
            await api.post("/api/v1/freezes/exceptions", json=nothing_frozen, headers=RESPONDER)
        ).status_code == 409
        # A responder may grant exceptions and nothing else an editor can.
        assert (await api.post("/api/v1/slos", json=body(namespace=ns), headers=RESPONDER)).status_code == 403

        whole = await api.post(
            "/api/v1/freezes/exceptions", json={**too_long, "durationMinutes": 30}, headers=RESPONDER
        )
        assert whole.status_code == 201, whole.text
        granted = whole.json()
        assert (await _gate(api, ns, "anything"))["allowed"]  # the whole namespace

        async def on_namespace() -> bool:
            return k8s.namespace_annotations(ns).get("neural-hive.io/freeze-exception-id") == granted["id"]

        await eventually(on_namespace)
        revoked = await api.delete(f"/api/v1/freezes/exceptions/{granted['id']}", headers=RESPONDER)
        assert revoked.status_code == 200 and revoked.json()["ending"] == "revoked"
        assert not (await _gate(api, ns, "anything"))["allowed"]

        async def removed() -> bool:
            return UNTIL not in k8s.namespace_annotations(ns)

        await eventually(removed)
        again = await api.delete(f"/api/v1/freezes/exceptions/{granted['id']}", headers=RESPONDER)
        assert again.status_code == 409
        missing = await api.delete(f"/api/v1/freezes/exceptions/{uuid.uuid4()}", headers=RESPONDER)
        assert missing.status_code == 404
