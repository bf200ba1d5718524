"""Freeze lifecycle on the real stack: budgets from backfilled Prometheus drive the policy
workflow; records in PostgreSQL, events on Kafka, the gate, manual resolve."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from tests.api.test_slos_api import body
from tests.conftest import Runtime, Stack
from tests.support.kafka import read_events
from tests.support.waiting import eventually

# "burning" spent 0.554 % of its events on errors over 30 days: against 99.5 % that is 111 % of
# the budget (frozen), against 98 % only 28 % (recovered).
LOW, RECOVERED = 0.995, 0.98


def policy_body(namespace: str, **overrides: Any) -> dict[str, Any]:
    return {
        "name": f"freeze {namespace} {uuid.uuid4().hex[:4]}",
        "scope": "NAMESPACE",
        "target": namespace,
        "actions": ["BLOCK_DEPLOY"],
        "triggerThresholdPercent": 20,
        "autoUnfreeze": True,
        "unfreezeThresholdPercent": 50,
        "minFreezeMinutes": 0,
        **overrides,
    }


async def active_for(api: httpx.AsyncClient, policy_id: str) -> list[dict[str, Any]]:
    freezes = (await api.get("/api/v1/policies/freezes/active")).json()
    return [f for f in freezes if f["policyId"] == policy_id]


async def frozen(api: httpx.AsyncClient, policy_id: str) -> dict[str, Any] | None:
    found = await active_for(api, policy_id)
    return found[0] if found else None


async def unfrozen(api: httpx.AsyncClient, policy_id: str) -> bool:
    return not await active_for(api, policy_id)


async def set_target(api: httpx.AsyncClient, slo: dict[str, Any], target: float) -> None:
    spec = {
        k: slo[k] for k in ("name", "sloType", "serviceName", "namespace", "target", "windowDays", "sliQuery")
    }
    response = await api.put(f"/api/v1/slos/{slo['id']}", json={**spec, "target": target})
    assert response.status_code == 200, response.text


async def test_low_budget_freezes_and_recovery_unfreezes(
    api: httpx.AsyncClient, stack: Stack, runtime: Runtime
) -> None:
    ns = f"frz-{uuid.uuid4().hex[:6]}"
    policy = (await api.post("/api/v1/policies", json=policy_body(ns))).json()
    slo = (await api.post("/api/v1/slos", json=body("burning", namespace=ns, target=LOW))).json()

    freeze = await eventually(lambda: frozen(api, policy["id"]))
    assert freeze["scope"] == "NAMESPACE" and freeze["target"] == ns and freeze["namespaces"] == [ns]
    [trigger] = freeze["triggering"]
    assert trigger["sloId"] == slo["id"] and trigger["remainingPercent"] < 20
    assert slo["name"] in freeze["reason"]

    gate = (await api.get("/api/v1/gate", params={"namespace": ns, "service": "burning"})).json()
    assert gate["allowed"] is False and gate["freezes"][0]["id"] == freeze["id"]
    assert (await api.get("/api/v1/gate", params={"namespace": "elsewhere"})).json()["allowed"] is True

    await set_target(api, slo, RECOVERED)
    await eventually(lambda: unfrozen(api, policy["id"]))
    assert (await api.get("/api/v1/gate", params={"namespace": ns})).json()["allowed"] is True
    [record] = (await api.get("/api/v1/policies/freezes/history", params={"policy": policy["id"]})).json()
    assert record["id"] == freeze["id"] and record["resolvedBy"] == "auto-unfreeze"
    assert record["resolvedAt"] is not None

    events = await read_events(
        stack.kafka_address,
        runtime.settings.kafka.freeze_topic,
        lambda e: e.key == policy["id"],
        at_least=2,
    )
    assert [e.headers["event_type"] for e in events] == ["FREEZE_ACTIVATED", "FREEZE_RESOLVED"]
    assert events[0].headers["severity"] == "critical"
    assert events[0].payload["freeze"]["id"] == freeze["id"]
    assert len({e.headers["event_id"] for e in events}) == 2

    described = await runtime.client.get_workflow_handle(f"policy-{policy['id']}").describe()
    assert described.typed_search_attributes is not None


async def test_minimum_freeze_time_holds_a_recovered_freeze(api: httpx.AsyncClient) -> None:
    ns = f"min-{uuid.uuid4().hex[:6]}"
    policy = (await api.post("/api/v1/policies", json=policy_body(ns, minFreezeMinutes=1))).json()
    slo = (await api.post("/api/v1/slos", json=body("burning", namespace=ns, target=LOW))).json()
    freeze = await eventually(lambda: frozen(api, policy["id"]))
    await set_target(api, slo, RECOVERED)

    async def recovered_but_held() -> bool:
        budget = (await api.get(f"/api/v1/budgets/{slo['id']}")).json()
        return bool(budget["target"] == RECOVERED and budget["remainingPercent"] > 50)

    await eventually(recovered_but_held)
    assert await frozen(api, policy["id"]) is not None  # < 1 minute since activation
    await eventually(lambda: unfrozen(api, policy["id"]), timeout=90)
    [record] = (await api.get("/api/v1/policies/freezes/history", params={"policy": policy["id"]})).json()
    assert record["id"] == freeze["id"]
    from datetime import datetime

    held = datetime.fromisoformat(record["resolvedAt"]) - datetime.fromisoformat(record["activatedAt"])
    assert held.total_seconds() >= 60


async def test_two_slos_one_policy_one_freeze_until_both_recover(
    api: httpx.AsyncClient, stack: Stack, runtime: Runtime
) -> None:
    ns = f"two-{uuid.uuid4().hex[:6]}"
    policy = (await api.post("/api/v1/policies", json=policy_body(ns))).json()
    first = (await api.post("/api/v1/slos", json=body("burning", namespace=ns, target=LOW))).json()
    second = (await api.post("/api/v1/slos", json=body("burning", namespace=ns, target=LOW))).json()

    async def both_seen() -> dict[str, Any] | None:
        state = await runtime.client.get_workflow_handle(f"policy-{policy['id']}").query("state")
        return state if len(state["observations"]) == 2 and state["freeze"] else None

    await eventually(both_seen)
    assert len(await active_for(api, policy["id"])) == 1

    await set_target(api, first, RECOVERED)

    async def first_recovered_seen() -> bool:
        state = await runtime.client.get_workflow_handle(f"policy-{policy['id']}").query("state")
        obs = state["observations"].get(first["id"])
        return bool(obs and obs["remainingPercent"] and obs["remainingPercent"] > 50)

    await eventually(first_recovered_seen)
    assert len(await active_for(api, policy["id"])) == 1  # the second still holds it

    await set_target(api, second, RECOVERED)
    await eventually(lambda: unfrozen(api, policy["id"]))
    history = (await api.get("/api/v1/policies/freezes/history", params={"policy": policy["id"]})).json()
    assert len(history) == 1
    events = await read_events(
        stack.kafka_address, runtime.settings.kafka.freeze_topic, lambda e: e.key == policy["id"], at_least=2
    )
    assert [e.headers["event_type"] for e in events].count("FREEZE_ACTIVATED") == 1


async def test_manual_resolve_records_who_and_why(api: httpx.AsyncClient) -> None:
    ns = f"man-{uuid.uuid4().hex[:6]}"
    policy = (await api.post("/api/v1/policies", json=policy_body(ns))).json()
    await api.post("/api/v1/slos", json=body("burning", namespace=ns, target=LOW))
    freeze = await eventually(lambda: frozen(api, policy["id"]))

    url = f"/api/v1/policies/freezes/{freeze['id']}/resolve"
    assert (await api.post(url, json={})).status_code == 422
    assert (await api.post(url, json={"resolvedBy": "alice", "reason": ""})).status_code == 422
    resolved = await api.post(url, json={"resolvedBy": "alice", "reason": "hotfix for INC-42"})
    assert resolved.status_code == 200, resolved.text
    assert resolved.json()["resolvedBy"] == "alice" and resolved.json()["resolution"] == "hotfix for INC-42"
    again = await api.post(url, json={"resolvedBy": "bob", "reason": "twice"})
    assert again.status_code == 409
    missing = await api.post(
        f"/api/v1/policies/freezes/{uuid.uuid4()}/resolve", json={"resolvedBy": "a", "reason": "b"}
    )
    assert missing.status_code == 404
    # The budget is still low and minFreezeMinutes is 0: the policy freezes again, anew.
    refrozen = await eventually(lambda: frozen(api, policy["id"]), timeout=30)
    assert refrozen["id"] != freeze["id"]


async def test_alert_only_records_but_never_blocks(api: httpx.AsyncClient) -> None:
    ns = f"alert-{uuid.uuid4().hex[:6]}"
    policy = (await api.post("/api/v1/policies", json=policy_body(ns, actions=["ALERT_ONLY"]))).json()
    await api.post("/api/v1/slos", json=body("burning", namespace=ns, target=LOW))
    freeze = await eventually(lambda: frozen(api, policy["id"]))
    assert freeze["blocks"] is False
    assert (await api.get("/api/v1/gate", params={"namespace": ns})).json()["allowed"] is True


async def test_no_data_never_freezes(api: httpx.AsyncClient, runtime: Runtime) -> None:
    ns = f"quiet-{uuid.uuid4().hex[:6]}"
    policy = (
        await api.post(
            "/api/v1/policies",
            json=policy_body(ns, triggerThresholdPercent=99.9, unfreezeThresholdPercent=99.9),
        )
    ).json()
    slo = (await api.post("/api/v1/slos", json=body("quiet", namespace=ns))).json()

    async def seen_no_data() -> bool:
        state = await runtime.client.get_workflow_handle(f"policy-{policy['id']}").query("state")
        obs = state["observations"].get(slo["id"])
        return bool(obs and obs["status"] == "NO_DATA")

    await eventually(seen_no_data)
    assert await active_for(api, policy["id"]) == []


async def test_global_policy_freezes_the_namespaces_it_watches(api: httpx.AsyncClient) -> None:
    tag = uuid.uuid4().hex[:6]
    policy = (
        await api.post(
            "/api/v1/policies",
            json=policy_body("", scope="GLOBAL", sloSelector={"labels": {"team": tag}}),
        )
    ).json()
    await api.post(
        "/api/v1/slos", json=body("burning", namespace=f"g1-{tag}", target=LOW, labels={"team": tag})
    )
    await api.post("/api/v1/slos", json=body("steady", namespace=f"g2-{tag}", labels={"team": tag}))
    await api.post("/api/v1/slos", json=body("burning", namespace=f"g3-{tag}", target=LOW))  # not selected

    async def frozen_both() -> dict[str, Any] | None:
        freeze = await frozen(api, policy["id"])
        return freeze if freeze and len(freeze["namespaces"]) == 2 else None

    freeze = await eventually(frozen_both)
    assert freeze["namespaces"] == sorted([f"g1-{tag}", f"g2-{tag}"])
    assert (await api.get("/api/v1/gate", params={"namespace": f"g2-{tag}"})).json()["allowed"] is False
    assert (await api.get("/api/v1/gate", params={"namespace": f"g3-{tag}"})).json()["allowed"] is True


@pytest.mark.parametrize(
    ("change", "field"),
    [
        pytest.param({"scope": "GLOBAL", "target": "x"}, "body", id="GLOBAL with a target"),
        pytest.param({"target": ""}, "body", id="NAMESPACE without a target"),
        pytest.param({"scope": "CLUSTER"}, "scope", id="unknown scope"),
        pytest.param({"actions": []}, "actions", id="no action"),
        pytest.param({"triggerThresholdPercent": 120}, "triggerThresholdPercent", id="threshold over 100"),
        pytest.param(
            {"triggerThresholdPercent": 60, "unfreezeThresholdPercent": 40},
            "body",
            id="unfreeze below trigger",
        ),
        pytest.param(
            {"triggerThresholdPercent": 60, "unfreezeThresholdPercent": None},
            "unfreezeThresholdPercent",
            id="trigger above the default unfreeze",
        ),
    ],
)
async def test_invalid_policies_are_422(api: httpx.AsyncClient, change: dict[str, Any], field: str) -> None:
    response = await api.post("/api/v1/policies", json={**policy_body("ns"), **change})
    assert response.status_code == 422
    assert any(field in e["loc"] for e in response.json()["errors"]), response.json()


async def test_policy_crud(api: httpx.AsyncClient) -> None:
    spec = policy_body("crud-ns", minFreezeMinutes=15)
    del spec["triggerThresholdPercent"]
    created = await api.post("/api/v1/policies", json=spec)
    assert created.status_code == 201
    policy = created.json()
    assert policy["triggerThresholdPercent"] == 20  # POLICY__FREEZE_THRESHOLD_PERCENT
    assert (await api.post("/api/v1/policies", json=spec)).status_code == 409
    assert (await api.get(f"/api/v1/policies/{policy['id']}")).json()["name"] == spec["name"]
    assert any(p["id"] == policy["id"] for p in (await api.get("/api/v1/policies")).json())
    updated = await api.put(f"/api/v1/policies/{policy['id']}", json={**spec, "minFreezeMinutes": 5})
    assert updated.status_code == 200 and updated.json()["minFreezeMinutes"] == 5
    assert (await api.delete(f"/api/v1/policies/{policy['id']}")).status_code == 204
    missing = f"/api/v1/policies/{policy['id']}"
    assert (await api.get(missing)).status_code == 404
    assert (await api.put(missing, json=spec)).status_code == 404
    assert (await api.delete(missing)).status_code == 404
    assert (await api.get("/api/v1/gate")).status_code == 422
