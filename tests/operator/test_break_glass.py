"""Break glass, recorded: a workload that carries `neural-hive.io/freeze-override` while a freeze
blocks it is seen by the operator and written to the audit trail and `sla.freeze.events`, once."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from tests.api.test_slos_api import body
from tests.conftest import Runtime, Stack
from tests.operator.conftest import Kube, OperatorThread, unique
from tests.policies.test_freeze_flow import LOW, frozen, policy_body
from tests.support.kafka import read_events
from tests.support.waiting import eventually


def _deployment(ns: str, name: str, annotations: dict[str, str]) -> dict[str, Any]:
    labels = {"app": name}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": ns, "annotations": annotations},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {"containers": [{"name": name, "image": f"registry.example/{name}:2.0"}]},
            },
        },
    }


async def test_a_break_glass_deploy_during_a_freeze_is_recorded_once(
    operator: OperatorThread, kube: Kube, api: httpx.AsyncClient, runtime: Runtime, stack: Stack
) -> None:
    ns = unique("glass")
    kube.cluster.add_namespace(ns)
    policy = (await api.post("/api/v1/policies", json=policy_body(ns))).json()
    await api.post("/api/v1/slos", json=body("burning", namespace=ns, target=LOW))
    freeze = await eventually(lambda: frozen(api, policy["id"]), timeout=60)

    override = {"neural-hive.io/freeze-override": "INC-77, approved by carol"}
    path = f"/apis/apps/v1/namespaces/{ns}/deployments"
    created = await kube.http.post(path, json=_deployment(ns, "burning", override))
    assert created.status_code in (200, 201), created.text
    # An ordinary workload in the same namespace is no break-glass use.
    await kube.http.post(path, json=_deployment(ns, "quiet", {}))

    async def recorded() -> list[dict[str, Any]]:
        entries = (await api.get("/api/v1/audit", params={"resourceId": freeze["id"]})).json()
        return [e for e in entries if e["action"] == "freeze.break-glass"]

    [entry] = await eventually(recorded, timeout=60)
    assert entry["after"]["override"] == "INC-77, approved by carol"
    assert entry["after"]["workload"]["name"] == "burning" and entry["actor"] == "kubernetes-operator"

    # Seen again (a later update of the same object): still one record.
    patched = await kube.http.patch(
        f"{path}/burning",
        json={"metadata": {"labels": {"touched": "yes"}}},
        headers={"Content-Type": "application/merge-patch+json"},
    )
    assert patched.status_code == 200, patched.text
    await asyncio.sleep(2)  # the operator's watch delivers the update meanwhile
    events = await read_events(
        stack.kafka_address,
        runtime.settings.kafka.freeze_topic,
        lambda e: (
            e.headers.get("event_type") == "FREEZE_OVERRIDDEN" and e.payload.get("freezeId") == freeze["id"]
        ),
    )
    assert len(events) == 1 and events[0].payload["workload"]["name"] == "burning"
    assert len(await recorded()) == 1
