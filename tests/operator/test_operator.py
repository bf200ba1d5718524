"""The operator end to end: resources in kmock's emulator (real HTTP), rows in the real
PostgreSQL, loops on the real Temporal dev server, budgets from the backfilled Prometheus."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.worker import Worker

from sla_management.domain.slo import ManagedBy
from tests.api.test_slos_api import body
from tests.conftest import Runtime
from tests.operator.conftest import Kube, OperatorThread, Relay, operator_settings, running_operator, unique
from tests.operator.crds import crds, violations
from tests.policies.test_freeze_flow import LOW, policy_body
from tests.support.k8s import FakeCluster
from tests.support.waiting import eventually

SLO = "SLODefinition"
POLICY = "SLAPolicy"
FINALIZER = "neural-hive.io/sla-operator"


def slo_spec(svc: str = "steady", **overrides: Any) -> dict[str, Any]:
    """The REST API tests' body, as a CR spec (the namespace is the resource's)."""
    spec = body(svc, **overrides)
    del spec["namespace"]
    return spec


async def signals(client: Client, workflow_id: str, name: str) -> int:
    """How often the workflow was signalled `name`, from its history."""
    history = await client.get_workflow_handle(workflow_id).fetch_history()
    return sum(
        1
        for event in history.events
        if event.HasField("workflow_execution_signaled_event_attributes")
        and event.workflow_execution_signaled_event_attributes.signal_name == name
    )


async def workflow_status(client: Client, workflow_id: str) -> WorkflowExecutionStatus | None:
    return (await client.get_workflow_handle(workflow_id).describe()).status


# SLODefinition ---------------------------------------------------------------------------------


async def test_create_stores_the_slo_starts_its_loop_and_fills_status(
    operator: OperatorThread, kube: Kube, runtime: Runtime
) -> None:
    name = unique("steady")
    uid = (await kube.create(SLO, "shop", name, slo_spec()))["metadata"]["uid"]

    ready = await kube.wait_condition(SLO, "shop", name, "Ready", "True", "Applied")
    assert uid in ready["message"]
    slo = await runtime.clients.slos.get(uid)
    assert slo is not None
    assert slo.managed_by is ManagedBy.KUBERNETES and slo.namespace == "shop" and slo.service_name == "steady"
    assert await workflow_status(runtime.client, f"slo-{uid}") is WorkflowExecutionStatus.RUNNING

    await kube.wait_condition(SLO, "shop", name, "Degraded", "False", "Measured")
    status = kube.status(SLO, "shop", name)
    assert status["sloId"] == uid and status["workflowId"] == f"slo-{uid}"
    assert status["status"] == "HEALTHY" and status["burnLevel"] == "NORMAL"
    # steady: 0.1 % errors against a 1 % budget spends 10 % of it.
    assert 85 <= status["remainingPercent"] <= 95
    assert status["budget"]["budgetingMethod"] == "Occurrences"
    assert status["budget"]["sli"] > 0.99 and {"5m", "1h", "3d"} <= set(status["budget"]["burnRates"])
    assert status["lastCalculation"].endswith("Z")
    assert status["frozen"] is False and "activeFreeze" not in status
    assert status["observedGeneration"] == 1 and "error" not in status

    obj = kube.get(SLO, "shop", name)
    assert obj is not None and FINALIZER in obj["metadata"]["finalizers"]
    # kopf's bookkeeping stays in annotations of our prefix; status holds only declared fields.
    assert "sla.neural-hive.io/last-handled-configuration" in obj["metadata"]["annotations"]
    assert all(key.startswith("sla.neural-hive.io/") for key in obj["metadata"]["annotations"])
    assert "kopf" not in status
    assert violations(crds()[SLO], obj) == []  # nothing a real API server would prune
    [event] = kube.events("shop", name, "Created")
    assert event["type"] == "Normal" and uid in event["message"]


async def test_update_persists_and_signals_the_loop(
    operator: OperatorThread, kube: Kube, runtime: Runtime
) -> None:
    name = unique("steady")
    uid = (await kube.create(SLO, "shop", name, slo_spec()))["metadata"]["uid"]
    await kube.wait_condition(SLO, "shop", name, "Ready", "True")

    await kube.patch_spec(SLO, "shop", name, {"target": 0.995})

    async def stored() -> bool:
        slo = await runtime.clients.slos.get(uid)
        return slo is not None and slo.target == 0.995

    await eventually(stored)
    assert await eventually(lambda: signals(runtime.client, f"slo-{uid}", "definition_updated")) == 1
    definition = await runtime.client.get_workflow_handle(f"slo-{uid}").query("definition")
    assert definition["target"] == 0.995
    await eventually(lambda: _generation_observed(kube, name, 2))
    assert len(kube.events("shop", name, "Updated")) == 1
    # The same loop goes on: an update is a signal, never a second workflow.
    assert (await runtime.clients.slos.get(uid)) is not None
    assert await workflow_status(runtime.client, f"slo-{uid}") is WorkflowExecutionStatus.RUNNING


async def _generation_observed(kube: Kube, name: str, generation: int) -> bool:
    return kube.status(SLO, "shop", name).get("observedGeneration") == generation


async def test_delete_cancels_the_loop_removes_the_row_and_the_finalizer(
    operator: OperatorThread, kube: Kube, runtime: Runtime
) -> None:
    name = unique("steady")
    uid = (await kube.create(SLO, "shop", name, slo_spec()))["metadata"]["uid"]
    await kube.wait_condition(SLO, "shop", name, "Degraded", "False", "Measured")

    await kube.delete(SLO, "shop", name)

    async def gone() -> bool:
        return kube.get(SLO, "shop", name) is None

    await eventually(gone)
    assert await workflow_status(runtime.client, f"slo-{uid}") is WorkflowExecutionStatus.CANCELED
    assert await runtime.clients.slos.get(uid) is None
    assert await runtime.clients.budgets.current(uid) is None
    assert await runtime.cache.get(uid) is None
    [removed] = kube.events("shop", name, "Removed")
    assert f"slo-{uid}" in removed["message"]


async def test_an_invalid_resource_gets_a_condition_and_one_event_never_a_crash_loop(
    operator: OperatorThread, kube: Kube, runtime: Runtime
) -> None:
    # The CRD schema refuses this on a real API server; the operator must not rely on it.
    name = unique("invalid")
    uid = (await kube.create(SLO, "shop", name, slo_spec(target=1.5)))["metadata"]["uid"]
    refused = await kube.wait_condition(SLO, "shop", name, "Ready", "False", "InvalidSpec")
    assert (
        refused["message"]
        == "target: must be the objective as a ratio (0.999 for 99.9 %), above 0 and at most 0.99999 (99.999 %)"
    )
    assert kube.condition(SLO, "shop", name, "Degraded") == {
        **kube.condition(SLO, "shop", name, "Degraded"),
        "status": "Unknown",
    }
    await asyncio.sleep(2)  # four status passes, and retries had there been any
    [event] = kube.events("shop", name, "InvalidSpec")
    assert event["type"] == "Warning" and "target" in event["message"]
    assert await runtime.clients.slos.get(uid) is None

    # Valid for the schema, refused by Prometheus: its own parse error is shown.
    broken = 'sum(rate(t_errors_total{svc="steady"}[{{.window}}])'
    await kube.patch_spec(SLO, "shop", name, {"target": 0.99, "sliQuery": {"errorQuery": broken}})
    refused = await kube.wait_condition(SLO, "shop", name, "Ready", "False", "InvalidQuery")
    assert refused["message"].startswith("sliQuery.errorQuery: Prometheus rejected the query")
    assert "parse error" in refused["message"]
    assert await runtime.clients.slos.get(uid) is None

    await kube.patch_spec(
        SLO, "shop", name, {"sliQuery": {"errorQuery": slo_spec()["sliQuery"]["errorQuery"]}}
    )
    await kube.wait_condition(SLO, "shop", name, "Ready", "True", "Applied")
    assert "error" not in kube.status(SLO, "shop", name)
    assert await runtime.clients.slos.get(uid) is not None
    assert len(kube.events("shop", name, "InvalidSpec")) == 1
    assert len(kube.events("shop", name, "InvalidQuery")) == 1
    assert len(kube.events("shop", name, "Created")) == 1


async def test_an_slo_whose_queries_find_nothing_is_degraded(operator: OperatorThread, kube: Kube) -> None:
    name = unique("quiet")
    await kube.create(SLO, "shop", name, slo_spec("quiet"))
    degraded = await kube.wait_condition(SLO, "shop", name, "Degraded", "True", "NoData")
    assert "no traffic" in degraded["message"]
    assert kube.status(SLO, "shop", name)["status"] == "NO_DATA"
    assert kube.condition(SLO, "shop", name, "Ready")["status"] == "True"  # type: ignore[index]


async def test_status_is_patched_only_when_something_shown_changes(
    runtime: Runtime, worker: Worker, cluster: FakeCluster, kube: Kube
) -> None:
    settings = operator_settings(runtime.settings, cluster)
    settings.operator.status_max_age_seconds = 3600
    name = unique("steady")
    async with running_operator(settings):
        await kube.create(SLO, "shop", name, slo_spec())
        await kube.wait_condition(SLO, "shop", name, "Degraded", "False", "Measured")
        path = kube.path(SLO, "shop", name) + "/status"

        def patches() -> int:
            return sum(1 for r in cluster.requests if r.method == "PATCH" and r.path == path)

        await asyncio.sleep(1)
        before = patches()
        # Six status passes and at least one new calculation of the loop (every 2 s here).
        await asyncio.sleep(3)
        assert patches() == before


# REST and Kubernetes: one SLO, one source of truth -----------------------------------------------


async def test_a_managed_slo_or_policy_is_read_only_over_rest(
    operator: OperatorThread, kube: Kube, api: httpx.AsyncClient
) -> None:
    name = unique("steady")
    spec = slo_spec()
    uid = (await kube.create(SLO, "shop", name, spec))["metadata"]["uid"]
    await kube.wait_condition(SLO, "shop", name, "Ready", "True")
    over_rest = (await api.post("/api/v1/slos", json=body(namespace="shop"))).json()

    stored = (await api.get(f"/api/v1/slos/{uid}")).json()
    assert (
        stored["managedBy"] == "kubernetes"
        and stored["namespace"] == "shop"
        and stored["name"] == spec["name"]
    )
    listed = {
        s["id"]: s["managedBy"] for s in (await api.get("/api/v1/slos", params={"namespace": "shop"})).json()
    }
    assert listed[uid] == "kubernetes" and listed[over_rest["id"]] == "api"

    put = await api.put(f"/api/v1/slos/{uid}", json={**spec, "namespace": "shop", "target": 0.95})
    assert put.status_code == 409 and "edit the SLODefinition resource" in put.json()["detail"]
    deleted = await api.delete(f"/api/v1/slos/{uid}")
    assert deleted.status_code == 409 and "delete the SLODefinition resource" in deleted.json()["detail"]
    assert (await api.get(f"/api/v1/slos/{uid}")).json()["target"] == spec["target"]
    # One table, one name per namespace: REST cannot take the resource's name either.
    twin = await api.post("/api/v1/slos", json={**spec, "namespace": "shop"})
    assert twin.status_code == 409 and "already exists" in twin.json()["detail"]

    ns = unique("ro")
    policy_uid = (await kube.create(POLICY, ns, "freeze", policy_body(ns)))["metadata"]["uid"]
    await kube.wait_condition(POLICY, ns, "freeze", "Ready", "True")
    policy = (await api.get(f"/api/v1/policies/{policy_uid}")).json()
    assert policy["managedBy"] == "kubernetes"
    put = await api.put(f"/api/v1/policies/{policy_uid}", json=policy_body(ns))
    assert put.status_code == 409 and "edit the SLAPolicy resource" in put.json()["detail"]
    deleted = await api.delete(f"/api/v1/policies/{policy_uid}")
    assert deleted.status_code == 409 and "delete the SLAPolicy resource" in deleted.json()["detail"]


async def test_a_name_taken_over_rest_waits_until_it_is_free(
    operator: OperatorThread, kube: Kube, api: httpx.AsyncClient, runtime: Runtime
) -> None:
    spec = slo_spec()
    over_rest = (await api.post("/api/v1/slos", json={**spec, "namespace": "shop"})).json()
    name = unique("twin")
    uid = (await kube.create(SLO, "shop", name, spec))["metadata"]["uid"]
    taken = await kube.wait_condition(SLO, "shop", name, "Ready", "False", "NameTaken")
    assert "already exists" in taken["message"]
    assert (await api.get(f"/api/v1/slos/{over_rest['id']}")).json()["managedBy"] == "api"  # untouched

    assert (await api.delete(f"/api/v1/slos/{over_rest['id']}")).status_code == 204
    await kube.wait_condition(SLO, "shop", name, "Ready", "True", "Applied")
    slo = await runtime.clients.slos.get(uid)
    assert slo is not None and slo.managed_by is ManagedBy.KUBERNETES
    assert len(kube.events("shop", name, "NameTaken")) == 1


# Restarts and outages --------------------------------------------------------------------------


async def test_a_restart_resumes_without_duplicates_and_applies_what_changed_meanwhile(
    runtime: Runtime, worker: Worker, cluster: FakeCluster, kube: Kube
) -> None:
    settings = operator_settings(runtime.settings, cluster)
    kept, edited = unique("kept"), unique("edited")
    async with running_operator(settings):
        kept_uid = (await kube.create(SLO, "shop", kept, slo_spec()))["metadata"]["uid"]
        edited_uid = (await kube.create(SLO, "shop", edited, slo_spec()))["metadata"]["uid"]
        for name in (kept, edited):
            await kube.wait_condition(SLO, "shop", name, "Degraded", "False", "Measured")
    runs = {
        uid: (await runtime.client.get_workflow_handle(f"slo-{uid}").describe()).run_id
        for uid in (kept_uid, edited_uid)
    }

    # Git moves on while the operator is down.
    await kube.patch_spec(SLO, "shop", edited, {"target": 0.995})
    async with running_operator(settings):
        await eventually(lambda: _generation_observed(kube, edited, 2))
        await kube.wait_condition(SLO, "shop", edited, "Ready", "True")
        # Long enough for the resumed status passes too.
        await asyncio.sleep(1)

    for uid in (kept_uid, edited_uid):
        handle = runtime.client.get_workflow_handle(f"slo-{uid}")
        assert (await handle.describe()).run_id == runs[uid]
        started = [w async for w in runtime.client.list_workflows(f'WorkflowId = "slo-{uid}"')]
        assert len(started) == 1
    assert await signals(runtime.client, f"slo-{kept_uid}", "definition_updated") == 0
    assert await signals(runtime.client, f"slo-{edited_uid}", "definition_updated") == 1
    edited_slo = await runtime.clients.slos.get(edited_uid)
    assert edited_slo is not None and edited_slo.target == 0.995
    names = [s.name for s in await runtime.clients.slos.page(namespace="shop")]
    assert len(names) == len(set(names))
    assert [len(kube.events("shop", n, "Created")) for n in (kept, edited)] == [1, 1]
    assert len(kube.events("shop", kept, "Updated")) == 0
    assert len(kube.events("shop", edited, "Updated")) == 1


@pytest.mark.parametrize("dependency", ["postgresql", "temporal"])
async def test_a_dependency_down_is_retried_and_no_change_is_lost(
    dependency: str, runtime: Runtime, worker: Worker, cluster: FakeCluster, kube: Kube
) -> None:
    settings = runtime.settings
    if dependency == "postgresql":
        relay = Relay(settings.postgresql.host, settings.postgresql.port)
        overrides: dict[str, Any] = {
            "postgresql": settings.postgresql.model_copy(update={"port": relay.port})
        }
    else:
        host, port = settings.temporal.address.rsplit(":", 1)
        relay = Relay(host, int(port))
        overrides = {"temporal": settings.temporal.model_copy(update={"address": f"127.0.0.1:{relay.port}"})}
    name = unique("outage")
    try:
        async with running_operator(operator_settings(settings, cluster, **overrides)):
            uid = (await kube.create(SLO, "shop", name, slo_spec()))["metadata"]["uid"]
            waiting = await kube.wait_condition(SLO, "shop", name, "Ready", "False", "DependencyUnavailable")
            assert "unreachable" in waiting["message"] and "retrying" in waiting["message"]
            await asyncio.sleep(2)  # several retries
            assert len(kube.events("shop", name, "DependencyUnavailable")) == 1

            await relay.open()
            await kube.wait_condition(SLO, "shop", name, "Ready", "True", "Applied")
            await kube.wait_condition(SLO, "shop", name, "Degraded", "False", "Measured")
    finally:
        await relay.close()
    assert await runtime.clients.slos.get(uid) is not None
    assert await workflow_status(runtime.client, f"slo-{uid}") is WorkflowExecutionStatus.RUNNING
    assert len(kube.events("shop", name, "Created")) == 1


# SLAPolicy ---------------------------------------------------------------------------------------


async def test_policy_create_update_delete(operator: OperatorThread, kube: Kube, runtime: Runtime) -> None:
    ns = unique("pol")
    uid = (await kube.create(POLICY, ns, "freeze", policy_body(ns)))["metadata"]["uid"]
    await kube.wait_condition(POLICY, ns, "freeze", "Ready", "True", "Applied")
    policies = runtime.clients.policies
    policy = await policies.get(uid)
    assert policy is not None and policy.managed_by is ManagedBy.KUBERNETES and policy.target == ns
    assert await workflow_status(runtime.client, f"policy-{uid}") is WorkflowExecutionStatus.RUNNING
    await kube.wait_condition(POLICY, ns, "freeze", "Degraded", "False", "Evaluating")
    status = kube.status(POLICY, ns, "freeze")
    assert status["policyId"] == uid and status["frozen"] is False and status["watchedSLOs"] == 0

    await kube.patch_spec(POLICY, ns, "freeze", {"minFreezeMinutes": 15})
    assert await eventually(lambda: signals(runtime.client, f"policy-{uid}", "policy_updated")) == 1

    async def stored() -> bool:
        updated = await policies.get(uid)
        return updated is not None and updated.min_freeze_minutes == 15

    # The row is stored, then the workflow hears of it (control.lifecycle.store_then_announce).
    await eventually(stored)

    await kube.delete(POLICY, ns, "freeze")

    async def gone() -> bool:
        return kube.get(POLICY, ns, "freeze") is None

    await eventually(gone)
    assert await workflow_status(runtime.client, f"policy-{uid}") is WorkflowExecutionStatus.CANCELED
    assert await policies.get(uid) is None


async def test_a_freeze_shows_on_the_policy_and_on_the_slo_and_ends_with_the_policy(
    operator: OperatorThread, kube: Kube, runtime: Runtime
) -> None:
    ns = unique("frz")
    policy_uid = (await kube.create(POLICY, ns, "freeze", policy_body(ns)))["metadata"]["uid"]
    await kube.create(SLO, ns, "burning", slo_spec("burning", target=LOW))

    async def frozen(kind: str, name: str) -> dict[str, Any] | None:
        status = kube.status(kind, ns, name)
        return status if status.get("frozen") else None

    policy_status = await eventually(lambda: frozen(POLICY, "freeze"), timeout=60)
    freeze = policy_status["activeFreeze"]
    assert (
        freeze["namespaces"] == [ns]
        and freeze["scope"] == "NAMESPACE"
        and "% budget left" in freeze["reason"]
    )
    assert policy_status["watchedSLOs"] == 1
    slo_status = await eventually(lambda: frozen(SLO, "burning"), timeout=60)
    assert slo_status["activeFreeze"]["id"] == freeze["id"]
    for kind, name in ((POLICY, "freeze"), (SLO, "burning")):
        assert violations(crds()[kind], kube.get(kind, ns, name) or {}) == []
    assert slo_status["status"] == "EXHAUSTED" and slo_status["remainingPercent"] < 0

    # Deleting the policy lifts its freeze: nothing is left blocking deploys.
    await kube.delete(POLICY, ns, "freeze")

    async def thawed() -> bool:
        policy_gone = kube.get(POLICY, ns, "freeze") is None
        return policy_gone and kube.status(SLO, ns, "burning").get("frozen") is False

    await eventually(thawed)
    store = runtime.clients.freezes
    policies = runtime.clients.policies
    assert [f for f in await store.active() if f.policy_id == policy_uid] == []
    history = await store.history(policy_id=policy_uid)
    assert history and all(f.resolution == "policy deleted" and f.resolved_by == "system" for f in history)
    assert await workflow_status(runtime.client, f"policy-{policy_uid}") is WorkflowExecutionStatus.CANCELED
    assert await policies.get(policy_uid) is None
