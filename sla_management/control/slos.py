"""SLO use cases: create, update, apply (from a resource), retire, preview, read."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from enum import StrEnum

from pydantic import Field

from sla_management.control import audit
from sla_management.control.audit import Actor
from sla_management.control.clients import Clients
from sla_management.control.lifecycle import store_then_announce
from sla_management.domain.budget import BudgetStatus, ErrorBudget, budget_of
from sla_management.domain.plan import fold_results, plan_queries, render
from sla_management.domain.promql import detect_unit
from sla_management.domain.slo import SLO, CamelModel, ManagedBy, QueryUnit, SLOSpec
from sla_management.errors import (
    Conflict,
    Invalid,
    NotFound,
    QueryRejected,
    ResultShapeError,
    Unavailable,
    echo,
)
from sla_management.workflows import client as loops


class Applied(StrEnum):
    CREATED = "Created"
    UPDATED = "Updated"
    UNCHANGED = "Unchanged"


def with_defaults(clients: Clients, spec: SLOSpec) -> SLOSpec:
    if "window_days" not in spec.model_fields_set:
        spec = spec.model_copy(update={"window_days": clients.settings.calculator.error_budget_window_days})
    return spec


async def check_queries(clients: Clients, spec: SLOSpec) -> dict[str, QueryUnit]:
    """Ask Prometheus whether each query runs (its own error text on failure) and learn each
    event query's unit. Raises Invalid (naming the field) or PrometheusUnavailable."""
    units: dict[str, QueryUnit] = {}
    for field, query in spec.event_queries().items():
        where = f"sliQuery.{field}"
        try:
            await clients.prometheus.instant(render(query, 300))
        except QueryRejected as exc:
            raise Invalid(where, f"Prometheus rejected the query: {exc}", query) from exc
        except ResultShapeError as exc:
            raise Invalid(where, str(exc), query) from exc
        try:
            units[field] = detect_unit(query)
        except ValueError as exc:
            raise Invalid(where, f"the query could not be analysed: {exc}", query) from exc
    return units


async def get_slo(clients: Clients, slo_id: str) -> SLO:
    slo = await clients.slos.get(slo_id)
    if slo is None:
        raise NotFound(f"no SLO with id {echo(slo_id)}")
    return slo


async def list_slos(
    clients: Clients,
    *,
    service: str | None = None,
    namespace: str | None = None,
    layer: str | None = None,
    status: BudgetStatus | None = None,
    limit: int = 1000,
    offset: int = 0,
) -> list[SLO]:
    return await clients.slos.page(
        service=service,
        namespace=namespace,
        layer=layer,
        status=status.value if status else None,
        limit=limit,
        offset=offset,
    )


async def all_slos(
    clients: Clients, *, namespace: str | None = None, service: str | None = None
) -> list[SLO]:
    """Every SLO that matches, however many (rule files and exports)."""
    return await clients.slos.all(namespace=namespace, service=service)


def _same(a: SLO, b: SLO) -> bool:
    """Whether two definitions differ in anything but their timestamps."""
    skip = {"created_at", "updated_at"}
    return a.model_dump(mode="json", exclude=skip) == b.model_dump(mode="json", exclude=skip)


async def _forget_everywhere(clients: Clients, slo_id: str) -> None:
    # Policies that watched the old definition drop it; the next pass tells those that watch
    # the new one.
    temporal = await clients.temporal()
    for policy in await clients.policies.all():
        await loops.forget_slo(temporal, policy.id, slo_id)


async def _start(clients: Clients, slo: SLO) -> None:
    await loops.start_slo(await clients.temporal(), slo, clients.settings)


async def _make_heard(clients: Clients, slo: SLO) -> None:
    """Make sure the loop runs the stored definition: start it if it is gone, and announce the
    definition again only when the loop holds another one (a change whose announcement failed
    after the store). A query adds nothing to the loop's history; a loop that cannot be asked
    is announced to, which it ignores if it already has the definition."""
    temporal = await clients.temporal()
    await loops.start_slo(temporal, slo, clients.settings)
    try:
        running = await loops.slo_definition(temporal, slo.id)
    except (NotFound, Unavailable):
        running = None
    if running != slo:
        await loops.start_slo(temporal, slo, clients.settings, announce=True)


async def _changed(clients: Clients, slo: SLO) -> None:
    await _forget_everywhere(clients, slo.id)
    await loops.start_slo(await clients.temporal(), slo, clients.settings, announce=True)


async def create_slo(clients: Clients, spec: SLOSpec, actor: Actor) -> SLO:
    """Check the queries with Prometheus, store the definition, start its loop."""
    spec = with_defaults(clients, spec)
    units = await check_queries(clients, spec)
    now = datetime.now(UTC)
    slo = SLO(
        **spec.model_dump(),
        id=str(uuid.uuid4()),
        managed_by=ManagedBy.API,
        query_units=units,
        created_at=now,
        updated_at=now,
    )
    await clients.temporal()  # fail before writing if the loop cannot start
    saved = await store_then_announce(
        lambda: clients.slos.insert(slo),
        lambda s: _start(clients, s),
        # No loop means no budget: do not leave a definition behind that nothing computes.
        undo=lambda s: clients.slos.delete(s.id),
    )
    await audit.record(clients, actor, "slo.create", "slo", saved.id, after=saved)
    return saved


async def update_slo(clients: Clients, slo_id: str, spec: SLOSpec, actor: Actor) -> SLO:
    current = await get_slo(clients, slo_id)
    if current.managed_by is ManagedBy.KUBERNETES:
        raise Conflict(f"SLO {slo_id!r} is managed by Kubernetes: edit the SLODefinition resource instead")
    spec = with_defaults(clients, spec)
    units = await check_queries(clients, spec)
    updated = SLO(
        **spec.model_dump(),
        id=current.id,
        managed_by=current.managed_by,
        query_units=units,
        created_at=current.created_at,
        updated_at=datetime.now(UTC),
    )
    await clients.temporal()  # fail before writing if the loop cannot be told

    async def store() -> SLO:
        saved = await clients.slos.update(updated)
        if saved is None:
            raise NotFound(f"no SLO with id {echo(slo_id)}")
        return saved

    saved = await store_then_announce(store, lambda s: _changed(clients, s))
    await audit.record(clients, actor, "slo.update", "slo", saved.id, before=current, after=saved)
    return saved


async def apply_slo(clients: Clients, slo_id: str, spec: SLOSpec, actor: Actor) -> tuple[Applied, SLO]:
    """Make the stored definition and its loop match a resource's spec; safe to repeat (the
    operator runs it again after a retry, a restart, or a watch that replays every object)."""
    await clients.temporal()  # before any write: without Temporal nothing runs
    current = await clients.slos.get(slo_id)
    if current is not None and current.model_dump(include=set(SLOSpec.model_fields)) == spec.model_dump():
        # Same queries as stored: their units are known, and an operator restart does not ask
        # Prometheus once per resource (nor fails them all while Prometheus is down).
        units = current.query_units
    else:
        units = await check_queries(clients, spec)
    now = datetime.now(UTC)
    slo = SLO(
        **spec.model_dump(),
        id=slo_id,
        managed_by=ManagedBy.KUBERNETES,
        query_units=units,
        created_at=current.created_at if current else now,
        updated_at=now,
    )
    if current is None:
        saved = await store_then_announce(lambda: clients.slos.insert(slo), lambda s: _start(clients, s))
        await audit.record(clients, actor, "slo.create", "slo", saved.id, after=saved)
        return Applied.CREATED, saved
    if _same(current, slo):
        # Resumed or retried: nothing to store, but the loop must run what is stored.
        await _make_heard(clients, current)
        return Applied.UNCHANGED, current

    async def store() -> SLO:
        return await clients.slos.update(slo) or await clients.slos.insert(slo)

    saved = await store_then_announce(store, lambda s: _changed(clients, s))
    await audit.record(clients, actor, "slo.update", "slo", saved.id, before=current, after=saved)
    return Applied.UPDATED, saved


async def retire_slo(clients: Clients, slo_id: str, actor: Actor, *, via: ManagedBy) -> None:
    """Stop the loop and remove the definition; safe to repeat after a partial failure. Over
    REST an unknown id is NotFound and a Kubernetes-managed SLO a Conflict; the operator retires
    whatever is left of its resource."""
    slo = await clients.slos.get(slo_id)
    if via is ManagedBy.API:
        if slo is None:
            raise NotFound(f"no SLO with id {echo(slo_id)}")
        if slo.managed_by is ManagedBy.KUBERNETES:
            raise Conflict(
                f"SLO {slo_id!r} is managed by Kubernetes: delete the SLODefinition resource instead"
            )
    await loops.cancel_slo(await clients.temporal(), slo_id)
    await clients.slos.delete(slo_id)
    await clients.cache.delete(slo_id)
    await _forget_everywhere(clients, slo_id)
    if slo is not None:
        await audit.record(clients, actor, "slo.delete", "slo", slo_id, before=slo)


# Preview ---------------------------------------------------------------------------------------


class QueryOutcome(CamelModel):
    key: str
    promql: str
    time: datetime | None = None
    value: float | None = None
    points: int | None = None
    first_value: float | None = None
    last_value: float | None = None


class SLOPreview(CamelModel):
    slo_id: str
    queries: list[QueryOutcome] = Field(default_factory=list)
    budget: ErrorBudget


async def preview_slo(clients: Clients, slo_id: str) -> SLOPreview:
    """A first pass of the SLO's loop, run now and saved nowhere: the same plan, fold and budget
    math the workflow runs, with the raw answers beside the budget they give. A query Prometheus
    rejects is Invalid (on the SLO), Prometheus down is PrometheusUnavailable."""
    slo = await get_slo(clients, slo_id)
    now = datetime.now(UTC)
    plan = plan_queries(slo, None, int(now.timestamp()), clients.settings.calculator.settle_seconds)
    try:
        results = await clients.prometheus.run_plan(plan)
    except (QueryRejected, ResultShapeError) as exc:
        raise Invalid("path.slo_id", f"the SLO's queries fail: {exc}") from exc
    _, measurements = fold_results(slo, slo.query_units, None, plan, results)
    budget = budget_of(slo, measurements, clients.settings.thresholds(), now)
    outcomes = [
        QueryOutcome(
            key=q.key,
            promql=q.promql,
            time=datetime.fromtimestamp(q.time, UTC),
            value=results.values.get(q.key),
        )
        for q in plan.instant
    ]
    for rq in plan.range:
        points = results.series.get(rq.key, [])
        outcomes.append(
            QueryOutcome(
                key=rq.key,
                promql=rq.promql,
                points=len(points),
                first_value=points[0][1] if points else None,
                last_value=points[-1][1] if points else None,
            )
        )
    return SLOPreview(slo_id=slo.id, queries=outcomes, budget=budget)


async def loop_budget(clients: Clients, slo_id: str) -> ErrorBudget | None:
    """The budget the SLO's loop holds now (None before its first pass). Raises NotFound when
    no loop runs, TemporalUnavailable when it cannot be asked."""
    return await loops.slo_budget(await clients.temporal(), slo_id)
