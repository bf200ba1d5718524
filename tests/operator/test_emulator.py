"""What tests/support/k8s.py adds to kmock for an operator, held to a real API server's rules."""

from __future__ import annotations

from typing import Any

import httpx

from tests.operator.conftest import Kube

MERGE = {"Content-Type": "application/merge-patch+json"}
JSON_PATCH = {"Content-Type": "application/json-patch+json"}
SPEC = {"name": "n", "sloType": "CUSTOM", "serviceName": "s", "target": 0.9, "sliQuery": {"query": "q"}}


async def created(kube: Kube, name: str) -> tuple[str, dict[str, Any]]:
    obj = await kube.create("SLODefinition", "shop", name, SPEC)
    return kube.path("SLODefinition", "shop", name), obj


async def test_status_is_written_only_through_its_subresource(kube: Kube) -> None:
    path, _ = await created(kube, "status-split")
    await kube.http.patch(
        path, json={"status": {"frozen": True}, "metadata": {"labels": {"a": "b"}}}, headers=MERGE
    )
    await kube.http.patch(
        f"{path}/status", json={"status": {"status": "HEALTHY"}, "spec": {"target": 0.5}}, headers=MERGE
    )
    obj = kube.get("SLODefinition", "shop", "status-split")
    assert obj is not None
    assert obj["status"] == {"status": "HEALTHY"}
    assert obj["metadata"]["labels"] == {"a": "b"} and obj["spec"]["target"] == 0.9


async def test_generation_counts_spec_changes_only(kube: Kube) -> None:
    path, obj = await created(kube, "generations")
    assert obj["metadata"]["generation"] == 1
    await kube.http.patch(path, json={"metadata": {"annotations": {"x": "y"}}}, headers=MERGE)
    await kube.http.patch(f"{path}/status", json={"status": {"frozen": False}}, headers=MERGE)
    await kube.http.patch(path, json={"spec": {"target": 0.9}}, headers=MERGE)  # the same value
    assert kube.get("SLODefinition", "shop", "generations")["metadata"]["generation"] == 1  # type: ignore[index]
    await kube.http.patch(path, json={"spec": {"target": 0.95}}, headers=MERGE)
    ops = [{"op": "replace", "path": "/spec/target", "value": 0.96}]
    await kube.http.patch(path, json=ops, headers=JSON_PATCH)
    assert kube.get("SLODefinition", "shop", "generations")["metadata"]["generation"] == 3  # type: ignore[index]


async def test_a_failed_json_patch_test_is_422_and_changes_nothing(kube: Kube) -> None:
    path, obj = await created(kube, "optimistic")
    stale = [
        {"op": "test", "path": "/metadata/resourceVersion", "value": "0"},
        {"op": "add", "path": "/metadata/finalizers", "value": ["x"]},
    ]
    response = await kube.http.patch(path, json=stale, headers=JSON_PATCH)
    assert response.status_code == 422 and response.json()["reason"] == "Invalid"
    assert "finalizers" not in kube.get("SLODefinition", "shop", "optimistic")["metadata"]  # type: ignore[index]
    fresh = [{**stale[0], "value": obj["metadata"]["resourceVersion"]}, stale[1]]
    assert (await kube.http.patch(path, json=fresh, headers=JSON_PATCH)).status_code == 200


async def test_marking_for_deletion_is_a_write_and_events_get_names(kube: Kube) -> None:
    path, _ = await created(kube, "finalized")
    await kube.http.patch(path, json={"metadata": {"finalizers": ["x"]}}, headers=MERGE)
    before = kube.cluster.resource_version("SLODefinition", "shop", "finalized")
    assert (await kube.http.delete(path)).status_code == 200
    marked = kube.get("SLODefinition", "shop", "finalized")
    assert marked is not None and marked["metadata"]["deletionTimestamp"]
    assert int(marked["metadata"]["resourceVersion"]) > int(before)

    event = {
        "metadata": {"generateName": "finalized."},
        "reason": "R",
        "involvedObject": {"name": "finalized"},
    }
    async with httpx.AsyncClient(base_url=kube.cluster.url) as client:
        for _ in range(2):
            assert (await client.post("/api/v1/namespaces/shop/events", json=event)).status_code == 200
    names = [e["metadata"]["name"] for e in kube.events("shop", "finalized")]
    assert len(set(names)) == 2 and all(n.startswith("finalized.") for n in names)
