"""Freeze exceptions: grant one (responder or admin), list them, revoke one early.

The exception is recorded and timed by the workflow of the policy whose freeze it was granted
against (the earliest freeze in force that blocks the deploy): that workflow writes the
annotations the admission policy reads, and removes them at expiry even if the API is down.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Annotated

from pydantic import Field

from sla_management.control import audit
from sla_management.control.audit import Actor
from sla_management.control.clients import Clients
from sla_management.domain.freeze import ExceptionEnd, ExceptionEnding, FreezeException
from sla_management.domain.limits import Description, Name, Namespace, StrictInt
from sla_management.domain.slo import CamelModel
from sla_management.errors import Conflict, Invalid, NotFound, echo
from sla_management.workflows import client as loops


class ExceptionRequest(CamelModel):
    namespace: Namespace
    service: Name | None = None
    reason: Annotated[Description, Field(min_length=1)]
    ticket: Name | None = None
    duration_minutes: Annotated[StrictInt, Field(ge=1, le=10080)]


async def grant_exception(clients: Clients, request: ExceptionRequest, actor: Actor) -> FreezeException:
    if not request.reason.strip():
        raise Invalid("reason", "say why the deploy must go through the freeze")
    blocking = [
        f
        for f in await clients.freezes.active()
        if f.blocks and f.applies_to(request.namespace, request.service)
    ]
    what = (
        f"{request.service} in {request.namespace}" if request.service else f"namespace {request.namespace}"
    )
    if not blocking:
        raise Conflict(f"no freeze blocks deploys of {what}: no exception is needed")
    policies = {p.id: p for p in await clients.policies.all() if p.id in {f.policy_id for f in blocking}}
    cap = min((p.max_exception_minutes for p in policies.values()), default=0)
    if request.duration_minutes > cap:
        strictest = min(policies.values(), key=lambda p: p.max_exception_minutes)
        raise Invalid(
            "durationMinutes",
            f"at most {cap} minutes: policy {strictest.name!r} allows exceptions of up to {cap} minutes",
        )
    owner = min(blocking, key=lambda f: f.activated_at)
    now = datetime.now(UTC)
    exception = FreezeException(
        id=str(uuid.uuid4()),
        namespace=request.namespace,
        service=request.service,
        reason=request.reason.strip(),
        ticket=request.ticket,
        granted_by=actor.name,
        granted_at=now,
        expires_at=now + timedelta(minutes=request.duration_minutes),
        policy_id=owner.policy_id,
        freeze_id=owner.id,
    )
    stored = await loops.grant_exception(await clients.temporal(), owner.policy_id, exception)
    await audit.record(clients, actor, "exception.grant", "freeze-exception", stored.id, after=stored)
    return stored


async def revoke_exception(clients: Clients, exception_id: str, actor: Actor) -> FreezeException:
    exception = await clients.exceptions.get(exception_id)
    if exception is None:
        raise NotFound(f"no freeze exception with id {echo(exception_id)}")
    if exception.ended_at is not None:
        raise Conflict(f"exception {exception_id} already ended ({exception.ending}) at {exception.ended_at}")
    ended = await loops.end_exception(
        await clients.temporal(),
        exception.policy_id,
        ExceptionEnd(exception_id=exception_id, ended_by=actor.name, ending=ExceptionEnding.REVOKED),
    )
    await audit.record(
        clients, actor, "exception.revoke", "freeze-exception", exception_id, before=exception, after=ended
    )
    return ended


async def list_exceptions(
    clients: Clients, *, active: bool | None = None, namespace: str | None = None, limit: int = 500
) -> list[FreezeException]:
    found = await clients.exceptions.page(namespace=namespace, limit=limit)
    if active is None:
        return found
    now = datetime.now(UTC)
    return [e for e in found if e.active_at(now) == active]
