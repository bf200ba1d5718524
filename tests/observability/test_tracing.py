"""Traces on the real stack, read from an in-memory exporter: an API call or a webhook is one
trace through Temporal, the workflow, its activities, Prometheus, PostgreSQL and Kafka; the
periodic passes of a loop are traces of their own; log lines carry the trace id."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator, Sequence

import httpx
import pytest
import structlog
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from sla_management.config import Settings
from sla_management.observability.logs import add_trace_context
from sla_management.observability.tracing import configure_tracing, shutdown_tracing, tracing_requested
from tests.api.test_budgets_api import created_with_budget
from tests.api.test_slos_api import body
from tests.conftest import WEBHOOK_HEADERS, Runtime, Stack
from tests.policies.test_alertmanager_webhook import alert, payload
from tests.support.waiting import eventually


@pytest.fixture(scope="module")
def spans() -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    assert configure_tracing("sla-management-test", exporter=exporter)
    try:
        yield exporter
    finally:
        shutdown_tracing()


@pytest.fixture
def settings(stack: Stack, request: pytest.FixtureRequest) -> Settings:
    # An hour between passes unless a test asks otherwise: only what the test does is traced.
    return stack.settings(calculation_interval_seconds=getattr(request, "param", 3600))


def trace_of(all_spans: Sequence[ReadableSpan], span: ReadableSpan) -> list[ReadableSpan]:
    assert span.context is not None
    return [s for s in all_spans if s.context is not None and s.context.trace_id == span.context.trace_id]


def server_span(all_spans: Sequence[ReadableSpan], method: str, path: str) -> ReadableSpan | None:
    for span in all_spans:
        attrs = span.attributes or {}
        target = attrs.get("url.path") or attrs.get("http.target")
        verb = attrs.get("http.request.method") or attrs.get("http.method")
        if span.kind is SpanKind.SERVER and target == path and verb == method:
            return span
    return None


def names(spans: Sequence[ReadableSpan]) -> list[str]:
    return [s.name for s in spans]


def ancestors(trace: Sequence[ReadableSpan], span: ReadableSpan) -> Iterator[ReadableSpan]:
    by_id = {s.context.span_id: s for s in trace if s.context is not None}
    while span.parent is not None and (parent := by_id.get(span.parent.span_id)) is not None:
        yield parent
        span = parent


def calls_to(trace: Sequence[ReadableSpan], fragment: str) -> list[ReadableSpan]:
    found = []
    for span in trace:
        attrs = span.attributes or {}
        url = str(attrs.get("url.full") or attrs.get("http.url") or "")
        if span.kind is SpanKind.CLIENT and fragment in url:
            found.append(span)
    return found


def database_spans(trace: Sequence[ReadableSpan]) -> list[ReadableSpan]:
    return [
        s for s in trace if (s.attributes or {}).get("db.system", (s.attributes or {}).get("db.system.name"))
    ]


async def complete_trace(
    exporter: InMemorySpanExporter,
    root: Callable[[Sequence[ReadableSpan]], ReadableSpan | None],
    *needed: str,
) -> tuple[ReadableSpan, list[ReadableSpan]]:
    """Spans end (and are exported) as the work finishes: wait until the trace has them all."""

    async def probe() -> tuple[ReadableSpan, list[ReadableSpan]] | None:
        finished = exporter.get_finished_spans()
        top = root(finished)
        if top is None:
            return None
        trace = trace_of(finished, top)
        return (top, trace) if set(needed) <= set(names(trace)) else None

    return await eventually(probe)


def test_off_unless_the_standard_variables_ask() -> None:
    assert not tracing_requested({})
    assert not tracing_requested({"OTEL_SERVICE_NAME": "x"})
    assert tracing_requested({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"})
    assert tracing_requested({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://127.0.0.1:4318/v1/traces"})
    assert tracing_requested({"OTEL_TRACES_EXPORTER": "console"})
    assert not tracing_requested({"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://x"})
    assert not tracing_requested({"OTEL_SDK_DISABLED": "true", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://x"})


async def test_a_recalculation_is_one_trace_from_the_api_to_kafka(
    api: httpx.AsyncClient, runtime: Runtime, spans: InMemorySpanExporter
) -> None:
    budget = await created_with_budget(api)
    slo_id = str(budget["sloId"])
    path = f"/api/v1/budgets/{slo_id}/recalculate"
    spans.clear()
    processors = [structlog.contextvars.merge_contextvars, add_trace_context]
    with structlog.testing.capture_logs(processors=processors) as logs:
        response = await api.post(path)
        assert response.status_code == 200, response.text
        publish = f"{runtime.settings.kafka.budget_topic} publish"
        server, trace = await complete_trace(
            spans,
            lambda s: server_span(s, "POST", path),
            "StartWorkflowUpdate:recalculate_now",
            "HandleUpdate:recalculate_now",
            "StartActivity:query_sli",
            "RunActivity:query_sli",
            "StartActivity:record_budget",
            "RunActivity:record_budget",
            publish,
        )
    # The pass the update ran, once: no periodic pass wandered into this trace.
    assert names(trace).count("RunActivity:query_sli") == 1
    assert names(trace).count("RunActivity:record_budget") == 1
    run_query = next(s for s in trace if s.name == "RunActivity:query_sli")
    assert server in list(ancestors(trace, run_query))
    assert (run_query.attributes or {})["temporalWorkflowID"] == f"slo-{slo_id}"
    prometheus = calls_to(trace, "/api/v1/query")
    assert prometheus and all(run_query in list(ancestors(trace, s)) for s in prometheus)
    assert database_spans(trace), "no PostgreSQL span in the trace"
    kafka = next(s for s in trace if s.name == publish)
    assert kafka.kind is SpanKind.PRODUCER
    assert next(s for s in trace if s.name == "RunActivity:record_budget") in list(ancestors(trace, kafka))

    assert server.context is not None
    trace_id = format(server.context.trace_id, "032x")
    recorded = [e for e in logs if e["event"] == "budget recorded" and e.get("trace_id") == trace_id]
    assert recorded, [e for e in logs if e["event"] == "budget recorded"]
    assert recorded[0]["slo_id"] == slo_id and recorded[0]["workflow_id"] == f"slo-{slo_id}"
    assert recorded[0]["activity"] == "record_budget"


async def test_a_webhook_signal_puts_the_pass_it_wakes_in_its_trace(
    api: httpx.AsyncClient, runtime: Runtime, spans: InMemorySpanExporter
) -> None:
    budget = await created_with_budget(api)
    slo_id = str(budget["sloId"])
    spans.clear()
    response = await api.post("/webhooks/alertmanager", json=payload(alert(slo_id)), headers=WEBHOOK_HEADERS)
    assert response.status_code == 200, response.text
    server, trace = await complete_trace(
        spans,
        lambda s: server_span(s, "POST", "/webhooks/alertmanager"),
        "SignalWorkflow:recalculate",
        "HandleSignal:recalculate",
        "RunActivity:query_sli",
        "RunActivity:record_budget",
        f"{runtime.settings.kafka.violations_topic} publish",
        f"{runtime.settings.kafka.budget_topic} publish",
    )
    assert names(trace).count("RunActivity:query_sli") == 1
    record = next(s for s in trace if s.name == "RunActivity:record_budget")
    assert server in list(ancestors(trace, record))
    assert calls_to(trace, "/api/v1/query") and database_spans(trace)


@pytest.mark.parametrize("settings", [1.0], indirect=True)
async def test_periodic_passes_are_traces_of_their_own(
    api: httpx.AsyncClient, runtime: Runtime, spans: InMemorySpanExporter
) -> None:
    spans.clear()
    slo = (await api.post("/api/v1/slos", json=body(f"obs{uuid.uuid4().hex[:4]}"))).json()
    workflow_id = f"slo-{slo['id']}"

    def passes(finished: Sequence[ReadableSpan]) -> list[ReadableSpan]:
        return [
            s
            for s in finished
            if s.name == "RunActivity:query_sli"
            and (s.attributes or {}).get("temporalWorkflowID") == workflow_id
        ]

    async def three_passes() -> list[ReadableSpan] | None:
        found = passes(spans.get_finished_spans())
        return found if len(found) >= 3 else None

    await eventually(three_passes)
    finished = spans.get_finished_spans()
    creation = server_span(finished, "POST", "/api/v1/slos")
    assert creation is not None
    # The first pass belongs to the request that created the loop; the others do not.
    assert len(passes(trace_of(finished, creation))) == 1
    periodic = [
        s
        for s in passes(finished)
        if s.context and creation.context and s.context.trace_id != creation.context.trace_id
    ]
    assert len(periodic) >= 2
    assert len({s.context.trace_id for s in periodic if s.context}) == len(periodic)
    for span in periodic:
        assert span.parent is None  # a root: no workflow span claims it
        assert calls_to(trace_of(finished, span), "/api/v1/query")
