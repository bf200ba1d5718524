"""OpenTelemetry traces: API request -> Temporal update/signal -> workflow -> activities ->
Prometheus (httpx), PostgreSQL (asyncpg) and Kafka (the outbox relay).

Off unless the standard variables ask for it: `OTEL_EXPORTER_OTLP_ENDPOINT` (or
`OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) or `OTEL_TRACES_EXPORTER` (`otlp`, `console`; `none`
disables). Every other `OTEL_*` variable (headers, sampler, resource attributes, service name)
is read by the SDK itself. OTLP goes over HTTP/protobuf unless `OTEL_EXPORTER_OTLP_PROTOCOL=grpc`,
which needs the `opentelemetry-exporter-otlp-proto-grpc` package.

The Temporal client always carries the tracing interceptor: without a configured tracer
provider its spans are non-recording and nothing is propagated, so it costs next to nothing.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any, NoReturn

import opentelemetry.context
import opentelemetry.trace
import temporalio.worker
import temporalio.workflow
from fastapi import FastAPI
from opentelemetry.context import Context
from opentelemetry.propagate import extract, inject
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor, SpanExporter
from opentelemetry.trace import SpanKind
from temporalio.contrib.opentelemetry import TracingInterceptor, TracingWorkflowInboundInterceptor

# Private parts of the SDK's interceptor, reused rather than copied: its attach/detach wrapper
# tolerates the detach of a context an evicted workflow abandoned (plain `detach` logs an error),
# and its outbound interceptor traces everything this module does not change.
from temporalio.contrib.opentelemetry._context import attached_context
from temporalio.contrib.opentelemetry._interceptor import _TracingWorkflowOutboundInterceptor

from sla_management import __version__

_provider: TracerProvider | None = None


def tracing_requested(env: Mapping[str, str] | None = None) -> bool:
    env = os.environ if env is None else env
    if env.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    exporters = {e.strip().lower() for e in env.get("OTEL_TRACES_EXPORTER", "").split(",") if e.strip()}
    if exporters == {"none"}:
        return False
    endpoint = env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or env.get("OTEL_EXPORTER_OTLP_ENDPOINT")
    return bool(exporters or endpoint)


def _exporters_from_env() -> list[SpanExporter]:
    names = [
        e.strip().lower() for e in os.environ.get("OTEL_TRACES_EXPORTER", "otlp").split(",") if e.strip()
    ]
    exporters: list[SpanExporter] = []
    for name in names:
        if name == "none":
            continue
        if name == "console":
            from opentelemetry.sdk.trace.export import ConsoleSpanExporter

            exporters.append(ConsoleSpanExporter())
        elif name == "otlp":
            exporters.append(_otlp_exporter())
        else:
            raise RuntimeError(f"OTEL_TRACES_EXPORTER={name!r} is not supported here (otlp, console, none)")
    return exporters


def _otlp_exporter() -> SpanExporter:
    protocol = (
        os.environ.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
        or os.environ.get("OTEL_EXPORTER_OTLP_PROTOCOL")
        or "http/protobuf"
    ).lower()
    if protocol == "grpc":
        try:
            from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import (  # type: ignore[import-not-found]
                OTLPSpanExporter as GRPCExporter,
            )
        except ImportError as exc:
            # Failing loudly beats sending HTTP to a gRPC port and dropping every span.
            raise RuntimeError(
                "OTEL_EXPORTER_OTLP_PROTOCOL=grpc needs `pip install opentelemetry-exporter-otlp-proto-grpc`"
            ) from exc
        exporter: SpanExporter = GRPCExporter()
        return exporter
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    return OTLPSpanExporter()


def configure_tracing(service_name: str, *, exporter: SpanExporter | None = None) -> bool:
    """Install the tracer provider and the httpx/asyncpg instrumentation; True when tracing is on.

    A no-op unless the `OTEL_*` variables ask for tracing or an exporter is given (tests). The
    first successful call wins: the API and a worker in one process share one provider.
    """
    global _provider
    if _provider is not None:
        return True
    processors: list[SpanProcessor]
    if exporter is not None:
        # Tests read spans right after the request: export each one as it ends.
        processors = [SimpleSpanProcessor(exporter)]
    elif tracing_requested():
        processors = [BatchSpanProcessor(e) for e in _exporters_from_env()]
    else:
        return False
    resource = Resource.create(
        {
            "service.name": os.environ.get("OTEL_SERVICE_NAME") or service_name,
            "service.version": __version__,
        }
    )
    # The sampler comes from OTEL_TRACES_SAMPLER / _ARG (parent-based always-on by default).
    provider = TracerProvider(resource=resource)
    for processor in processors:
        provider.add_span_processor(processor)
    opentelemetry.trace.set_tracer_provider(provider)
    _provider = provider

    from opentelemetry.instrumentation.asyncpg import AsyncPGInstrumentor
    from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor

    HTTPXClientInstrumentor().instrument()
    AsyncPGInstrumentor().instrument()  # type: ignore[no-untyped-call]
    return True


def tracing_enabled() -> bool:
    return _provider is not None


def shutdown_tracing() -> None:
    """Flush spans and undo the instrumentation (process exit, tests)."""
    global _provider
    if _provider is None:
        return
    from opentelemetry.instrumentation.asyncpg import AsyncPGInstrumentor
    from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor

    HTTPXClientInstrumentor().uninstrument()
    AsyncPGInstrumentor().uninstrument()  # type: ignore[no-untyped-call]
    _provider.shutdown()
    _provider = None


def instrument_app(app: FastAPI) -> None:
    """Server spans for API requests; scrapes and probes are left out, they would drown the rest."""
    if _provider is None:
        return
    from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

    FastAPIInstrumentor.instrument_app(
        app, excluded_urls="/metrics,/health,/ready", exclude_spans=["receive", "send"]
    )


# Outbox events carry the trace across Kafka ----------------------------------------------------


def with_trace_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """The event's headers plus W3C `traceparent` of the current span: the relay publishes in
    the trace that wrote the event, and Kafka consumers can continue it."""
    carrier: dict[str, str] = {}
    inject(carrier)
    return {**headers, **carrier}


@contextmanager
def producer_span(topic: str, headers: Mapping[str, str]) -> Iterator[None]:
    tracer = opentelemetry.trace.get_tracer(__name__)
    with tracer.start_as_current_span(
        f"{topic} publish",
        context=extract(dict(headers)),
        kind=SpanKind.PRODUCER,
        attributes={"messaging.system": "kafka", "messaging.destination.name": topic},
    ):
        yield


# Temporal --------------------------------------------------------------------------------------

_CarrierDict = dict[str, Any]
_IN_HANDLER = opentelemetry.context.create_key("sla-management-update-handler")


class WorkflowTracingInterceptor(TracingInterceptor):
    """Temporal's TracingInterceptor, with the trace following what caused each pass.

    The stock interceptor parents everything a workflow does to the request that *started* it.
    The SLO and policy loops run for months, so every periodic pass would pile into the trace of
    the `POST /slos` that created them, and a recalculation asked for later would not be in its
    caller's trace at all. Here:
    - an update handler (`recalculate_now`) runs in the caller's trace;
    - a signal (`recalculate` from the webhook, `observe` from an SLO pass) puts the activities of
      the pass it wakes into the sender's trace;
    - the first run's first pass stays in the starting request's trace;
    - any other pass starts no workflow span: each of its activities is a trace of its own.
    """

    def workflow_interceptor_class(
        self, input: temporalio.worker.WorkflowInterceptorClassInput
    ) -> type[TracingWorkflowInboundInterceptor]:
        super().workflow_interceptor_class(input)  # registers the span-creating extern function
        return _WorkflowInbound


class _WorkflowInbound(TracingWorkflowInboundInterceptor):
    def __init__(self, next: temporalio.worker.WorkflowInboundInterceptor) -> None:
        super().__init__(next)
        # The trace of whatever woke the loop, and the activity types already run in it: the
        # pass ends when an activity type repeats.
        self._cause: _CarrierDict | None = None
        self._cause_used: set[str] = set()

    def init(self, outbound: temporalio.worker.WorkflowOutboundInterceptor) -> None:
        # Skips the parent's init on purpose: it would wrap `outbound` in its own interceptor.
        temporalio.worker.WorkflowInboundInterceptor.init(self, _WorkflowOutbound(outbound, self))

    def _header_carrier(self, headers: Mapping[str, Any]) -> _CarrierDict | None:
        payload = headers.get(self.header_key)
        if not payload:
            return None
        carrier: _CarrierDict | None = self.payload_converter.from_payloads([payload])[0]
        return carrier or None

    async def execute_workflow(self, input: temporalio.worker.ExecuteWorkflowInput) -> Any:
        # A signal delivered with the start (signal-with-start) already set the cause.
        if self._cause is None and temporalio.workflow.info().continued_run_id is None:
            self._cause = self._load_workflow_context_carrier()
        return await super().execute_workflow(input)

    async def handle_signal(self, input: temporalio.worker.HandleSignalInput) -> None:
        carrier = self._header_carrier(input.headers)
        if carrier is None:
            await super().handle_signal(input)
            return
        self._cause, self._cause_used = carrier, set()
        with attached_context(self._set_on_context(self.text_map_propagator.extract(carrier))):
            self._completed_span(f"HandleSignal:{input.signal}", kind=SpanKind.SERVER)
            await self.next.handle_signal(input)

    def _caller_context(self, input: temporalio.worker.HandleUpdateInput) -> Context:
        # A caller that sent no trace gets none: no span, and the activities the handler starts
        # become traces of their own instead of joining the workflow creator's.
        carrier = self._header_carrier(input.headers)
        context = self.text_map_propagator.extract(carrier) if carrier else Context()
        return opentelemetry.context.set_value(_IN_HANDLER, True, self._set_on_context(context))

    def handle_update_validator(self, input: temporalio.worker.HandleUpdateInput) -> None:
        with attached_context(self._caller_context(input)):
            self._completed_span(f"ValidateUpdate:{input.update}", kind=SpanKind.SERVER)
            self.next.handle_update_validator(input)

    async def handle_update_handler(self, input: temporalio.worker.HandleUpdateInput) -> Any:
        with attached_context(self._caller_context(input)):
            self._completed_span(f"HandleUpdate:{input.update}", kind=SpanKind.SERVER)
            return await self.next.handle_update_handler(input)

    def pass_context(self, activity_type: str) -> Context | None:
        """The context an activity of the main loop is started in; None keeps the current one."""
        if opentelemetry.context.get_value(_IN_HANDLER):
            return None  # an update handler: its caller's trace is already current
        if self._cause is not None and activity_type not in self._cause_used:
            self._cause_used.add(activity_type)
            return self._set_on_context(self.text_map_propagator.extract(self._cause))
        self._cause = None
        # No parent: the outbound interceptor then adds no span and no header.
        return self._set_on_context(Context())


class _WorkflowOutbound(_TracingWorkflowOutboundInterceptor):
    """The stock outbound interceptor, with activities started in the context of their pass."""

    root: _WorkflowInbound

    def start_activity(
        self, input: temporalio.worker.StartActivityInput
    ) -> temporalio.workflow.ActivityHandle[Any]:
        with attached_context(self.root.pass_context(input.activity)):
            return super().start_activity(input)

    def start_local_activity(
        self, input: temporalio.worker.StartLocalActivityInput
    ) -> temporalio.workflow.ActivityHandle[Any]:
        with attached_context(self.root.pass_context(input.activity)):
            return super().start_local_activity(input)

    def continue_as_new(self, input: temporalio.worker.ContinueAsNewInput) -> NoReturn:
        # The stock interceptor hands the creator's trace on to every later run; the next run
        # starts without one, its passes are periodic.
        with attached_context(Context()):
            super().continue_as_new(input)


def temporal_interceptor() -> WorkflowTracingInterceptor:
    return WorkflowTracingInterceptor()
