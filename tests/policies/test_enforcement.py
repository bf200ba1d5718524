"""The freeze reaches Kubernetes: a budget below the trigger annotates the namespace (or the
service's workloads) in the emulated API server, and recovery removes the annotations."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI

from sla_management.adapters.kubernetes import KubernetesEnforcer
from tests.api.test_slos_api import body
from tests.conftest import ADMIN_HEADERS, Runtime, running_worker
from tests.policies.test_freeze_flow import LOW, RECOVERED, frozen, policy_body, set_target, unfrozen
from tests.support.k8s import FakeCluster, k8s_fixture  # noqa: F401 - registers the fixture
from tests.support.waiting import eventually


@pytest.fixture
async def enforced_api(runtime: Runtime, app: FastAPI, k8s: FakeCluster) -> AsyncIterator[httpx.AsyncClient]:
    enforcer = KubernetesEnforcer.from_config(k8s.url, verify_ssl=False)
    runtime.enforcer = enforcer
    async with running_worker(runtime):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://api", headers=ADMIN_HEADERS
        ) as client:
            yield client
    enforcer.close()


async def test_namespace_freeze_annotates_and_recovery_removes(
    enforced_api: httpx.AsyncClient, k8s: FakeCluster
) -> None:
    api = enforced_api
    ns = f"k8s-{uuid.uuid4().hex[:6]}"
    k8s.add_namespace(ns, annotations={"team": "orchestration"})
    policy = (await api.post("/api/v1/policies", json=policy_body(ns))).json()
    slo = (await api.post("/api/v1/slos", json=body("burning", namespace=ns, target=LOW))).json()

    freeze = await eventually(lambda: frozen(api, policy["id"]))

    async def annotated() -> dict[str, str] | None:
        found = k8s.namespace_annotations(ns)
        return found if found.get("neural-hive.io/sla-freeze") == "true" else None

    annotations = await eventually(annotated)
    assert annotations["neural-hive.io/freeze-policy-id"] == policy["id"]
    assert annotations["neural-hive.io/freeze-event-id"] == freeze["id"]
    assert slo["name"] in annotations["neural-hive.io/freeze-reason"]
    assert annotations["team"] == "orchestration"

    await set_target(api, slo, RECOVERED)
    await eventually(lambda: unfrozen(api, policy["id"]))

    async def cleared() -> bool:
        return "neural-hive.io/sla-freeze" not in k8s.namespace_annotations(ns)

    await eventually(cleared)
    assert k8s.namespace_annotations(ns) == {"team": "orchestration"}


async def test_service_freeze_annotates_only_that_services_workloads(
    enforced_api: httpx.AsyncClient, k8s: FakeCluster
) -> None:
    api = enforced_api
    policy = (await api.post("/api/v1/policies", json=policy_body("cart", scope="SERVICE"))).json()
    slo_body = body("burning", namespace="shop", target=LOW)
    slo_body["serviceName"] = "cart"
    # The SLI reads the "burning" series; the SLO belongs to service "cart".
    slo_body["sliQuery"] = body("burning")["sliQuery"]
    await api.post("/api/v1/slos", json=slo_body)
    await eventually(lambda: frozen(api, policy["id"]))

    async def cart_frozen() -> bool:
        # One enforcement activity patches the workloads one after another.
        return all(
            k8s.annotations(kind, "shop", name).get("neural-hive.io/sla-freeze") == "true"
            for kind, name in (
                ("Deployment", "cart"),
                ("Deployment", "cart-worker"),
                ("StatefulSet", "cart-cache"),
            )
        )

    await eventually(cart_frozen)
    assert "neural-hive.io/sla-freeze" not in k8s.annotations("Deployment", "shop", "checkout")
    assert "neural-hive.io/sla-freeze" not in k8s.namespace_annotations("shop")
