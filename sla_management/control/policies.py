"""Freeze-policy use cases: create, update, apply (from a resource), retire, read."""

from __future__ import annotations

import contextlib
import uuid
from datetime import UTC, datetime

from sla_management.control import audit
from sla_management.control.audit import Actor
from sla_management.control.clients import Clients
from sla_management.control.lifecycle import store_then_announce
from sla_management.control.slos import Applied
from sla_management.domain.freeze import ExceptionEnd, ExceptionEnding
from sla_management.domain.policy import Policy, PolicySpec
from sla_management.domain.slo import ManagedBy
from sla_management.errors import Conflict, Invalid, NotFound, TemporalUnavailable, Unavailable, echo
from sla_management.workflows import client as loops
from sla_management.workflows.models import PolicyState, ResolveRequest

# Longest minFreezeMinutes: how long a lifted freeze keeps the retiring policy from freezing again.
_HOLD_MINUTES = 10080


def with_defaults(clients: Clients, spec: PolicySpec) -> PolicySpec:
    """Omitted thresholds from POLICY__ settings; Invalid when they end up inconsistent."""
    p = clients.settings.policy
    try:
        return spec.with_defaults(
            p.freeze_threshold_percent, p.unfreeze_threshold_percent, p.auto_unfreeze_enabled
        )
    except ValueError as exc:
        raise Invalid("unfreezeThresholdPercent", str(exc)) from exc


async def get_policy(clients: Clients, policy_id: str) -> Policy:
    policy = await clients.policies.get(policy_id)
    if policy is None:
        raise NotFound(f"no policy with id {echo(policy_id)}")
    return policy


async def list_policies(clients: Clients) -> list[Policy]:
    return await clients.policies.all()


def _same(a: Policy, b: Policy) -> bool:
    skip = {"created_at", "updated_at"}
    return a.model_dump(mode="json", exclude=skip) == b.model_dump(mode="json", exclude=skip)


async def _start(clients: Clients, policy: Policy) -> None:
    await loops.start_policy(await clients.temporal(), policy, clients.task_queue)


async def _announce(clients: Clients, policy: Policy) -> None:
    await loops.start_policy(await clients.temporal(), policy, clients.task_queue, announce=True)


async def _make_heard(clients: Clients, policy: Policy) -> None:
    """Start the workflow if it is gone; announce the stored policy only when the workflow
    holds another one (or cannot be asked)."""
    temporal = await clients.temporal()
    await loops.start_policy(temporal, policy, clients.task_queue)
    try:
        running = await loops.policy_definition(temporal, policy.id)
    except (NotFound, Unavailable):
        running = None
    if running != policy:
        await _announce(clients, policy)


async def create_policy(clients: Clients, spec: PolicySpec, actor: Actor) -> Policy:
    spec = with_defaults(clients, spec)
    now = datetime.now(UTC)
    policy = Policy(
        **spec.model_dump(), id=str(uuid.uuid4()), managed_by=ManagedBy.API, created_at=now, updated_at=now
    )
    await clients.temporal()  # fail before writing if the workflow cannot start
    saved = await store_then_announce(
        lambda: clients.policies.insert(policy),
        lambda p: _start(clients, p),
        undo=lambda p: clients.policies.delete(p.id),
    )
    await audit.record(clients, actor, "policy.create", "policy", saved.id, after=saved)
    return saved


async def update_policy(clients: Clients, policy_id: str, spec: PolicySpec, actor: Actor) -> Policy:
    current = await get_policy(clients, policy_id)
    if current.managed_by is ManagedBy.KUBERNETES:
        raise Conflict(f"policy {policy_id!r} is managed by Kubernetes: edit the SLAPolicy resource instead")
    spec = with_defaults(clients, spec)
    await clients.temporal()  # fail before writing if the workflow cannot be told
    updated = Policy(
        **spec.model_dump(),
        id=current.id,
        managed_by=current.managed_by,
        created_at=current.created_at,
        updated_at=datetime.now(UTC),
    )

    async def store() -> Policy:
        saved = await clients.policies.update(updated)
        if saved is None:
            raise NotFound(f"no policy with id {echo(policy_id)}")
        return saved

    saved = await store_then_announce(store, lambda p: _announce(clients, p))
    await audit.record(clients, actor, "policy.update", "policy", saved.id, before=current, after=saved)
    return saved


async def apply_policy(
    clients: Clients, policy_id: str, spec: PolicySpec, actor: Actor
) -> tuple[Applied, Policy]:
    """Make the stored policy and its workflow match a resource's spec; safe to repeat."""
    await clients.temporal()
    current = await clients.policies.get(policy_id)
    now = datetime.now(UTC)
    policy = Policy(
        **spec.model_dump(),
        id=policy_id,
        managed_by=ManagedBy.KUBERNETES,
        created_at=current.created_at if current else now,
        updated_at=now,
    )
    if current is None:
        saved = await store_then_announce(
            lambda: clients.policies.insert(policy), lambda p: _start(clients, p)
        )
        await audit.record(clients, actor, "policy.create", "policy", saved.id, after=saved)
        return Applied.CREATED, saved
    if _same(current, policy):
        # Resumed or retried: nothing to store, but the workflow must run what is stored.
        await _make_heard(clients, current)
        return Applied.UNCHANGED, current

    async def store() -> Policy:
        return await clients.policies.update(policy) or await clients.policies.insert(policy)

    saved = await store_then_announce(store, lambda p: _announce(clients, p))
    await audit.record(clients, actor, "policy.update", "policy", saved.id, before=current, after=saved)
    return Applied.UPDATED, saved


async def retire_policy(clients: Clients, policy_id: str, actor: Actor, *, via: ManagedBy) -> None:
    """Stop the policy's workflow, lift the freeze it holds, remove it; safe to repeat.

    The workflow stops before its freeze is lifted. Lifted first, a policy with
    minFreezeMinutes 0 (or a budget dropping meanwhile) freezes again before the cancel lands,
    and that freeze outlives the policy. A freeze the stopped run still holds is lifted by a
    short run of the same workflow, given that freeze as its state and held back from freezing
    again, so annotations are removed and the end recorded as for any other freeze.
    """
    policy = await clients.policies.get(policy_id)
    if via is ManagedBy.API:
        if policy is None:
            raise NotFound(f"no policy with id {echo(policy_id)}")
        if policy.managed_by is ManagedBy.KUBERNETES:
            raise Conflict(
                f"policy {policy_id!r} is managed by Kubernetes: delete the SLAPolicy resource instead"
            )
    if policy is None:
        return  # never stored, or removed by an earlier attempt
    temporal = await clients.temporal()
    # Exceptions granted against its freezes end with it: their expiry timers live in its workflow.
    for exception in await clients.exceptions.open_ones():
        if exception.policy_id == policy.id:
            with contextlib.suppress(Conflict):  # ended meanwhile
                await loops.end_exception(
                    temporal,
                    policy.id,
                    ExceptionEnd(
                        exception_id=exception.id, ended_by=actor.name, ending=ExceptionEnding.POLICY_DELETED
                    ),
                )
    await loops.stop(temporal, policy.workflow_id)
    for _ in range(3):
        held = [f for f in await clients.freezes.active() if f.policy_id == policy.id]
        if not held:
            await clients.policies.delete(policy.id)
            await audit.record(clients, actor, "policy.delete", "policy", policy.id, before=policy)
            return
        await loops.start_policy(
            temporal,
            policy.model_copy(update={"min_freeze_minutes": _HOLD_MINUTES}),
            clients.task_queue,
            state=PolicyState(freeze=held[0], loaded=True),
        )
        # Already lifted by whatever run answered: nothing left to do there.
        with contextlib.suppress(Conflict):
            await loops.resolve_freeze(
                temporal, policy.id, ResolveRequest(resolved_by="system", reason="policy deleted")
            )
        await loops.stop(temporal, policy.workflow_id)
    raise TemporalUnavailable(f"the freeze of policy {policy.id} could not be lifted; try again")


async def policy_state(clients: Clients, policy_id: str) -> PolicyState:
    """Freeze, last decision and watched SLOs as the policy's workflow holds them now. Raises
    NotFound when it does not run, TemporalUnavailable when it cannot be asked."""
    return await loops.policy_state(await clients.temporal(), policy_id)
