"""The one ordering rule, store then announce: what happens when the announcement fails, and how
a retry repairs it, on real PostgreSQL and a real Temporal worker."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import pytest

from sla_management.control.audit import OPERATOR
from sla_management.control.lifecycle import store_then_announce
from sla_management.control.slos import Applied, apply_slo
from sla_management.domain.slo import SLO, ManagedBy, SLOSpec
from sla_management.errors import TemporalUnavailable
from sla_management.workflows import client as loops
from tests.conftest import Runtime
from tests.support.waiting import eventually
from tests.workflows.test_slo_workflow import stored_slo


async def test_a_failed_announcement_takes_back_only_what_it_was_told_to() -> None:
    stored: list[str] = []

    async def store() -> str:
        stored.append("row")
        return "row"

    async def announce(_: str) -> None:
        raise TemporalUnavailable("Temporal is down")

    async def undo(row: str) -> None:
        stored.remove(row)

    with pytest.raises(TemporalUnavailable):
        await store_then_announce(store, announce, undo=undo)
    assert stored == []  # a REST create is taken back
    with pytest.raises(TemporalUnavailable):
        await store_then_announce(store, announce)
    assert stored == ["row"]  # an update stays stored, for a retry to announce


def _spec(slo: SLO, **changes: Any) -> SLOSpec:
    return SLOSpec.model_validate({**slo.model_dump(include=set(SLOSpec.model_fields)), **changes})


async def test_a_retried_apply_makes_the_loop_run_what_is_stored(runtime: Runtime, worker: Any) -> None:
    # A resource applied once: stored, and its loop runs that definition.
    template = await stored_slo(runtime, namespace="shop")
    await runtime.clients.slos.delete(template.id)
    applied, slo = await apply_slo(runtime.clients, str(uuid.uuid4()), _spec(template), OPERATOR)
    assert applied is Applied.CREATED
    await eventually(lambda: loops.slo_budget(runtime.client, slo.id))

    # An edit was stored, but its announcement never reached the loop (Temporal failed after the
    # write): the row and the loop disagree.
    edited = slo.model_copy(update={"target": 0.995, "updated_at": datetime.now(UTC)})
    assert await runtime.clients.slos.update(edited) is not None
    assert (await loops.slo_definition(runtime.client, slo.id)).target == 0.99

    # The operator's retry finds nothing to store, and still makes the loop hear the row.
    applied, again = await apply_slo(runtime.clients, slo.id, _spec(edited), OPERATOR)
    assert applied is Applied.UNCHANGED and again.target == 0.995

    async def heard() -> bool:
        return (await loops.slo_definition(runtime.client, slo.id)).target == 0.995

    await eventually(heard)
    # And the loop's next budget is computed against the stored objective.
    assert (await eventually(lambda: _budget_for(runtime, slo.id, 0.995))).target == 0.995
    assert again.managed_by is ManagedBy.KUBERNETES


async def _budget_for(runtime: Runtime, slo_id: str, target: float) -> Any:
    budget = await loops.slo_budget(runtime.client, slo_id)
    return budget if budget is not None and budget.target == target else None
