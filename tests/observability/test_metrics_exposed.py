"""The system's own metrics on the real stack: what a pass, a freeze, a failure and a deletion
do to what /metrics says."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import httpx
import pytest
import structlog
from prometheus_client import REGISTRY, generate_latest, start_http_server
from temporalio import activity, workflow
from temporalio.common import RetryPolicy
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from sla_management.adapters.prometheus import PrometheusClient, PrometheusUnavailable, PromQLError
from sla_management.control.gauges import TelemetryRefresher, dependency_refresher
from sla_management.devstack.processes import free_port
from sla_management.domain.budget import BudgetStatus
from sla_management.observability.activities import ActivityTelemetryInterceptor
from tests.api.test_budgets_api import created_with_budget
from tests.api.test_slos_api import body
from tests.conftest import Runtime, Stack
from tests.observability.exposition import exposed_names, samples, value
from tests.policies.test_freeze_flow import LOW, RECOVERED, frozen, policy_body, set_target, unfrozen
from tests.support.waiting import eventually

SPEC = (
    "sla_calculations_total",
    "sla_calculation_duration_seconds_bucket",
    "sla_budget_remaining_percent",
    "sla_budget_consumed_percent",
    "sla_budget_status",
    "sla_burn_rate",
    "sla_freezes_active",
    "sla_freezes_activated_total",
    "sla_freezes_resolved_total",
    "sla_freeze_duration_seconds_bucket",
    "sla_slos_total",
    "sla_slo_violations_total",
    "sla_prometheus_queries_total",
    "sla_kafka_events_published_total",
    "sla_alertmanager_webhooks_received_total",
)

# Every label any sla_ metric may carry: each takes values from a bounded set.
BOUNDED_LABELS = {
    "slo", "service", "window", "outcome", "status", "scope", "by", "kind", "error", "topic",
    "reason", "activity", "method", "route", "dependency", "workflow", "state", "version",
    "python", "temporalio", "le",
}  # fmt: skip


def own_families() -> list[Any]:
    return [f for f in REGISTRY.collect() if f.name.startswith("sla_")]


async def scrape(api: httpx.AsyncClient) -> str:
    response = await api.get("/metrics")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain")
    return response.text


def test_twenty_plus_metrics_with_bounded_labels() -> None:
    families = own_families()
    assert len(families) >= 20, [f.name for f in families]
    exported = exposed_names(generate_latest(REGISTRY).decode())
    assert set(SPEC) <= exported, set(SPEC) - exported
    for family in families:
        for sample in family.samples:
            assert set(sample.labels) <= BOUNDED_LABELS, (family.name, sample.labels)


async def test_a_pass_and_a_freeze_move_the_spec_metrics(api: httpx.AsyncClient, runtime: Runtime) -> None:
    refresher = TelemetryRefresher(runtime.db)
    await refresher.refresh_once()
    before = await scrape(api)
    ns = f"obs-{uuid.uuid4().hex[:6]}"
    policy = (await api.post("/api/v1/policies", json=policy_body(ns))).json()
    slo = (await api.post("/api/v1/slos", json=body("burning", namespace=ns, target=LOW))).json()
    await eventually(lambda: frozen(api, policy["id"]))
    budget = (await api.get(f"/api/v1/budgets/{slo['id']}")).json()
    await refresher.refresh_once()
    after = await scrape(api)

    def grew(name: str, **labels: str) -> bool:
        return value(after, name, **labels) > value(before, name, **labels)

    one = {"slo": slo["id"], "service": "burning"}
    assert value(after, "sla_calculations_total", **one) >= 1
    assert samples(after, "sla_budget_status", **one) == [BudgetStatus(budget["status"]).gauge]
    assert samples(after, "sla_budget_remaining_percent", **one) == [
        pytest.approx(budget["remainingPercent"])
    ]
    assert samples(after, "sla_budget_consumed_percent", **one) == [pytest.approx(budget["consumedPercent"])]
    for window, rate in budget["burnRates"].items():
        if rate is not None:
            assert samples(after, "sla_burn_rate", **one, window=window) == [pytest.approx(rate)]
    assert value(after, "sla_budget_calculated_timestamp_seconds", **one) > 0
    assert value(after, "sla_slos_total") == await runtime.clients.slos.count()
    assert value(after, "sla_budgets_by_status") == value(after, "sla_slos_total")
    assert value(after, "sla_policies_total") >= 1
    # The gauge counts rows in PostgreSQL: other tests' freezes are in it too.
    assert (
        value(after, "sla_freezes_active", scope="NAMESPACE")
        == value(before, "sla_freezes_active", scope="NAMESPACE") + 1
    )
    assert grew("sla_freezes_activated_total", scope="NAMESPACE")
    assert grew("sla_policy_signals_total")
    assert grew("sla_calculation_duration_seconds_count")
    assert grew("sla_prometheus_queries_total", kind="range", outcome="ok")
    assert grew("sla_prometheus_query_duration_seconds_count", kind="range")
    for name in ("query_sli", "record_budget", "load_observations", "open_freeze"):
        assert grew("sla_activity_executions_total", activity=name, outcome="ok"), name
        assert grew("sla_activity_schedule_to_start_seconds_count", activity=name), name
    assert grew("sla_http_requests_total", method="POST", route="/api/v1/slos", status="201")
    assert value(after, "sla_db_pool_connections", state="max") >= runtime.settings.postgresql.pool_max_size
    assert samples(after, "sla_build_info") == [1.0]

    await set_target(api, slo, RECOVERED)
    await eventually(lambda: unfrozen(api, policy["id"]))
    await refresher.refresh_once()
    resolved = await scrape(api)
    assert value(resolved, "sla_freezes_active", scope="NAMESPACE") == value(
        before, "sla_freezes_active", scope="NAMESPACE"
    )
    assert value(resolved, "sla_freezes_resolved_total", scope="NAMESPACE", by="auto") > value(
        before, "sla_freezes_resolved_total", scope="NAMESPACE", by="auto"
    )
    assert value(resolved, "sla_freeze_duration_seconds_count") > value(
        before, "sla_freeze_duration_seconds_count"
    )

    freeze_topic = runtime.settings.kafka.freeze_topic

    async def published() -> bool:
        text = await scrape(api)
        ok = value(text, "sla_kafka_events_published_total", topic=freeze_topic, outcome="ok")
        return ok >= value(before, "sla_kafka_events_published_total", topic=freeze_topic, outcome="ok") + 2

    await eventually(published)


async def test_every_dependency_is_probed(api: httpx.AsyncClient, runtime: Runtime) -> None:
    await created_with_budget(api)
    refresher = dependency_refresher(runtime.clients)
    try:

        async def all_up_and_counted() -> str | None:
            await refresher.refresh_once()
            text = await scrape(api)
            running = value(text, "sla_workflows_running", workflow="SLOWorkflow")
            return text if running >= 1 else None

        text = await eventually(all_up_and_counted)
        for dependency in ("postgresql", "redis", "prometheus", "kafka", "temporal"):
            assert samples(text, "sla_dependency_up", dependency=dependency) == [1.0], dependency

        dead = PrometheusClient(f"http://127.0.0.1:{free_port()}", timeout_seconds=1, max_retries=0)
        try:
            await TelemetryRefresher(runtime.db, probes={"prometheus": dead.ready}).refresh_once()
            assert samples(await scrape(api), "sla_dependency_up", dependency="prometheus") == [0.0]
        finally:
            await dead.aclose()
            await refresher.refresh_once()  # leave the gauge as the real stack is
    finally:
        await refresher.aclose()


async def test_a_deleted_slo_leaves_no_series(api: httpx.AsyncClient, runtime: Runtime) -> None:
    budget = await created_with_budget(api)
    slo_id = str(budget["sloId"])
    refresher = TelemetryRefresher(runtime.db)
    await refresher.refresh_once()
    assert samples(await scrape(api), "sla_budget_remaining_percent", slo=slo_id)

    assert (await api.delete(f"/api/v1/slos/{slo_id}")).status_code == 204

    async def gone() -> bool:
        # A pass may still finish after the delete and set its gauges once more.
        await refresher.refresh_once()
        text = await scrape(api)
        return not any(f'slo="{slo_id}"' in line for line in text.splitlines())

    await eventually(gone)


async def test_prometheus_errors_are_counted_by_cause(stack: Stack) -> None:
    def errors(kind: str, error: str) -> float:
        return value(
            generate_latest(REGISTRY).decode(), "sla_prometheus_query_errors_total", kind=kind, error=error
        )

    rejected, unreachable = errors("instant", "rejected"), errors("instant", "unreachable")
    retries = value(generate_latest(REGISTRY).decode(), "sla_prometheus_query_retries_total", kind="instant")
    real = PrometheusClient(stack.prometheus_url, timeout_seconds=5, max_retries=1)
    dead = PrometheusClient(f"http://127.0.0.1:{free_port()}", timeout_seconds=1, max_retries=1)
    try:
        with pytest.raises(PromQLError):
            await real.instant("sum(rate(")
        with pytest.raises(PrometheusUnavailable):
            await dead.instant("vector(1)")
    finally:
        await real.aclose()
        await dead.aclose()
    assert errors("instant", "rejected") == rejected + 1
    assert errors("instant", "unreachable") == unreachable + 1
    assert (
        value(generate_latest(REGISTRY).decode(), "sla_prometheus_query_retries_total", kind="instant")
        > retries
    )


@activity.defn(name="obs_flaky_once")
async def flaky_once(note: str) -> str:
    structlog.get_logger("tests.flaky").info("flaky attempt", note=note)
    if activity.info().attempt == 1:
        raise RuntimeError("first attempt fails")
    return note


@workflow.defn(name="ObsFlakyWorkflow")
class FlakyWorkflow:
    @workflow.run
    async def run(self, note: str) -> str:
        result: str = await workflow.execute_activity(
            flaky_once,
            note,
            start_to_close_timeout=timedelta(seconds=10),
            retry_policy=RetryPolicy(initial_interval=timedelta(milliseconds=100), maximum_attempts=3),
        )
        return result


async def test_activity_retries_are_counted_and_logs_carry_the_ids(runtime: Runtime) -> None:
    def count(name: str, **labels: str) -> float:
        return value(generate_latest(REGISTRY).decode(), name, activity="obs_flaky_once", **labels)

    failed, ok, retried = (
        count("sla_activity_executions_total", outcome="failed"),
        count("sla_activity_executions_total", outcome="ok"),
        count("sla_activity_retries_total"),
    )
    queue = f"obs-{uuid.uuid4().hex[:8]}"
    workflow_id = f"slo-obs-{uuid.uuid4().hex[:8]}"  # shaped like an SLO loop's id
    with structlog.testing.capture_logs(processors=[structlog.contextvars.merge_contextvars]) as logs:
        async with Worker(
            runtime.client,
            task_queue=queue,
            workflows=[FlakyWorkflow],
            activities=[flaky_once],
            interceptors=[ActivityTelemetryInterceptor()],
            workflow_runner=UnsandboxedWorkflowRunner(),
        ):
            result = await runtime.client.execute_workflow(
                FlakyWorkflow.run, "hi", id=workflow_id, task_queue=queue
            )
    assert result == "hi"
    assert count("sla_activity_executions_total", outcome="failed") == failed + 1
    assert count("sla_activity_executions_total", outcome="ok") == ok + 1
    assert count("sla_activity_retries_total") == retried + 1
    attempts = [e for e in logs if e["event"] == "flaky attempt"]
    assert [e["attempt"] for e in attempts] == [1, 2]
    for entry in attempts:
        assert entry["workflow_id"] == workflow_id
        assert entry["slo_id"] == workflow_id.removeprefix("slo-")
        assert entry["activity"] == "obs_flaky_once"


async def test_route_templates_not_paths_label_api_requests(api: httpx.AsyncClient) -> None:
    missing = f"missing-{uuid.uuid4().hex[:6]}"
    assert (await api.get(f"/api/v1/budgets/{missing}")).status_code == 404
    assert (await api.get(f"/nowhere/{missing}")).status_code == 404
    assert (await api.request("BREW", "/api/v1/slos")).status_code == 405
    text = await scrape(api)
    assert missing not in text
    assert (
        value(text, "sla_http_requests_total", method="GET", route="/api/v1/budgets/{slo_id}", status="404")
        >= 1
    )
    assert value(text, "sla_http_requests_total", method="GET", route="unmatched", status="404") >= 1
    assert value(text, "sla_http_requests_total", method="OTHER", route="/api/v1/slos", status="405") >= 1
    assert value(text, "sla_http_requests_total", method="GET", route="/metrics", status="200") >= 1


def test_the_worker_endpoint_serves_the_same_registry() -> None:
    # What `sla worker` starts on WORKER__METRICS_PORT.
    port = free_port()
    server, thread = start_http_server(port, addr="127.0.0.1")
    try:
        response = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5)
    finally:
        server.shutdown()
        thread.join(timeout=5)
    assert response.status_code == 200
    assert set(SPEC) <= exposed_names(response.text)
