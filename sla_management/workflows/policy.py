"""One workflow per freeze policy: the single writer of that policy's freezes.

SLO loops signal `observe` when a budget crosses something the policy cares about; this
workflow decides (pure `domain.policy.decide`), records the freeze, enforces it in Kubernetes
and, with `autoUnfreeze`, lifts it on a durable timer once every watched SLO has recovered and
`minFreezeMinutes` have passed. Two SLOs under one policy can therefore never race.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any, TypeVar

from temporalio import workflow
from temporalio.common import RetryPolicy, SearchAttributeKey
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from sla_management.activities.exceptions import ExceptionActivities
    from sla_management.activities.freeze import FreezeActivities
    from sla_management.activities.models import EnforceInput, ExceptionClosing
    from sla_management.domain.freeze import (
        ExceptionEnd,
        ExceptionEnding,
        FreezeEvent,
        FreezeException,
        freeze_namespaces,
    )
    from sla_management.domain.policy import Decision, Observation, Policy, Scope, Verdict, decide
    from sla_management.workflows.models import (
        PolicyState,
        PolicyWorkflowInput,
        ResolveRequest,
    )

A = TypeVar("A")
R = TypeVar("R")

FREEZE_ACTIVE = SearchAttributeKey.for_bool("FreezeActive")
# Records and annotations must land: retry with a capped backoff for as long as it takes.
DURABLE = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(seconds=30))


@workflow.defn(name="PolicyWorkflow")
class PolicyWorkflow:
    @workflow.init
    def __init__(self, inp: PolicyWorkflowInput) -> None:
        self._policy: Policy = inp.policy
        self._state: PolicyState = inp.state or PolicyState()
        self._dirty = True
        self._reload = not self._state.loaded
        # Evaluation and a manual resolve both await activities on the same freeze.
        self._lock = asyncio.Lock()

    @workflow.run
    async def run(self, inp: PolicyWorkflowInput) -> None:
        while True:
            if self._reload:
                self._reload = False
                loaded = await self._call(FreezeActivities.load_observations, self._policy, timeout=60)
                known = self._state.observations
                for obs in loaded:
                    # A signal may have brought something newer while the activity ran.
                    if obs.slo_id not in known or known[obs.slo_id].calculated_at <= obs.calculated_at:
                        known[obs.slo_id] = obs
                self._state.loaded = True
            self._dirty = False
            async with self._lock:
                await self._expire_exceptions()
                decision = await self._evaluate()
            if workflow.info().is_continue_as_new_suggested():
                await workflow.wait_condition(workflow.all_handlers_finished)
                workflow.continue_as_new(PolicyWorkflowInput(policy=self._policy, state=self._state))
            timeout: timedelta | None = None
            wake_at = [decision.recheck_at] if decision.recheck_at is not None else []
            wake_at += [e.expires_at for e in self._state.exceptions.values()]
            if wake_at:
                timeout = max(min(wake_at) - workflow.now(), timedelta(seconds=1))
            try:
                await workflow.wait_condition(lambda: self._dirty or self._reload, timeout=timeout)
            except TimeoutError:
                pass

    # Messages -------------------------------------------------------------------------------

    @workflow.signal
    def observe(self, obs: Observation) -> None:
        known = self._state.observations.get(obs.slo_id)
        if known is None or known.calculated_at <= obs.calculated_at:
            self._state.observations[obs.slo_id] = obs
            self._dirty = True

    @workflow.signal
    def forget(self, slo_id: str) -> None:
        if self._state.observations.pop(slo_id, None) is not None:
            self._dirty = True

    @workflow.signal
    def policy_updated(self, policy: Policy) -> None:
        # Announced after every write and again on a retry or an operator restart: the same
        # definition arriving twice changes nothing.
        if workflow.patched("policy-announced-idempotently") and policy == self._policy:
            return
        self._policy = policy
        # Another selector may watch other SLOs: start again from what PostgreSQL knows.
        self._state.observations = {}
        self._reload = True

    @workflow.update
    async def resolve(self, request: ResolveRequest) -> FreezeEvent:
        async with self._lock:
            freeze = self._state.freeze
            if freeze is None:
                raise ApplicationError("the policy has no active freeze", type="NoActiveFreeze")
            if request.event_id and request.event_id != freeze.id:
                raise ApplicationError(
                    f"freeze {request.event_id} is not the policy's active freeze", type="NotTheActiveFreeze"
                )
            closed = await self._release(request.resolved_by, request.reason)
            # Resolved by hand: let the team deploy for a while before re-checking the budget.
            hold = (
                request.hold_minutes if request.hold_minutes is not None else self._policy.min_freeze_minutes
            )
            self._state.suppressed_until = workflow.now() + timedelta(minutes=hold)
            self._dirty = True
            return closed

    @resolve.validator
    def _validate_resolve(self, request: ResolveRequest) -> None:
        # A freeze being opened right now (its row is visible, the activity has not returned yet)
        # is not refused here: the handler waits for the evaluation's lock and checks again.
        if self._lock.locked():
            return
        freeze = self._state.freeze
        if freeze is None:
            raise ValueError("the policy has no active freeze")
        if request.event_id and request.event_id != freeze.id:
            raise ValueError(f"freeze {request.event_id} is not the policy's active freeze")

    @workflow.update
    async def grant_exception(self, exception: FreezeException) -> FreezeException:
        """Record the exception and let its deploys through in Kubernetes; it ends by itself at
        `expiresAt` (the run loop's timer), or earlier by `end_exception`."""
        async with self._lock:
            stored = await self._call(ExceptionActivities.open_exception, exception, timeout=30)
            self._state.exceptions[stored.id] = stored
            await self._enforce_exception(stored)
            self._dirty = True  # the loop re-arms its timer for the new expiry
            return stored

    @grant_exception.validator
    def _validate_grant(self, exception: FreezeException) -> None:
        longest = timedelta(minutes=self._policy.max_exception_minutes)
        if exception.expires_at - exception.granted_at > longest:
            raise ValueError(f"an exception may last at most {self._policy.max_exception_minutes} minutes")
        if exception.policy_id != self._policy.id:
            raise ValueError("the exception belongs to another policy")

    @workflow.update
    async def end_exception(self, end: ExceptionEnd) -> FreezeException:
        async with self._lock:
            return await self._end_exception(end.exception_id, end.ended_by, end.ending)

    @end_exception.validator
    def _validate_end(self, end: ExceptionEnd) -> None:
        if end.exception_id not in self._state.exceptions:
            raise ValueError(f"exception {end.exception_id} is not in force under this policy")

    @workflow.query
    def state(self) -> PolicyState:
        return self._state

    @workflow.query
    def policy(self) -> Policy:
        return self._policy

    # Decisions ------------------------------------------------------------------------------

    async def _evaluate(self) -> Decision:
        state, policy, now = self._state, self._policy, workflow.now()
        observations = list(state.observations.values())
        decision = decide(
            policy,
            observations,
            frozen_since=state.freeze.activated_at if state.freeze else None,
            now=now,
            suppressed_until=state.suppressed_until,
        )
        state.last_decision = decision
        if decision.verdict is Verdict.FREEZE:
            event = FreezeEvent(
                id=str(workflow.uuid4()),
                policy_id=policy.id,
                policy_name=policy.name,
                scope=policy.scope,
                target=policy.target,
                namespaces=freeze_namespaces(policy, observations),
                blocks=policy.blocks,
                triggering=decision.triggering,
                reason=decision.reason,
                activated_at=now,
            )
            state.freeze = await self._call(FreezeActivities.open_freeze, event, timeout=30)
            state.suppressed_until = None
            workflow.upsert_search_attributes([FREEZE_ACTIVE.value_set(True)])
            await self._enforce(event)
        elif decision.verdict is Verdict.UNFREEZE:
            await self._release("auto-unfreeze", decision.reason)
        elif decision.verdict is Verdict.HOLD and state.freeze is not None:
            await self._follow_scope(observations)
        return decision

    async def _follow_scope(self, observations: list[Observation]) -> None:
        """A SERVICE or GLOBAL freeze covers the namespaces of the SLOs it watches, and those
        can appear (or go) while it lasts."""
        freeze = self._state.freeze
        assert freeze is not None
        wanted = freeze_namespaces(self._policy, observations)
        if not wanted or wanted == freeze.namespaces:
            return
        before = set(freeze.namespaces)
        moved = freeze.model_copy(update={"namespaces": wanted})
        self._state.freeze = await self._call(FreezeActivities.rescope_freeze, moved, timeout=30)
        await self._enforce(moved.model_copy(update={"namespaces": sorted(before | set(wanted))}))

    async def _release(self, by: str, why: str) -> FreezeEvent:
        freeze = self._state.freeze
        assert freeze is not None
        closing = freeze.model_copy(
            update={"resolved_at": workflow.now(), "resolved_by": by, "resolution": why}
        )
        closed = await self._call(FreezeActivities.close_freeze, closing, timeout=30)
        self._state.freeze = None
        workflow.upsert_search_attributes([FREEZE_ACTIVE.value_set(False)])
        await self._enforce(closed)
        return closed

    async def _expire_exceptions(self) -> None:
        now = workflow.now()
        for exception in sorted(self._state.exceptions.values(), key=lambda e: e.expires_at):
            if exception.expires_at <= now:
                await self._end_exception(exception.id, "system", ExceptionEnding.EXPIRED)

    async def _end_exception(self, exception_id: str, by: str, ending: ExceptionEnding) -> FreezeException:
        exception = self._state.exceptions[exception_id]
        closing = ExceptionClosing(
            exception_id=exception_id, ended_by=by, ending=ending, ended_at=workflow.now()
        )
        closed = await self._call(ExceptionActivities.close_exception, closing, timeout=30)
        del self._state.exceptions[exception_id]
        await self._enforce_exception(exception)
        return closed or exception.model_copy(
            update={"ended_at": closing.ended_at, "ended_by": by, "ending": ending}
        )

    async def _enforce_exception(self, exception: FreezeException) -> None:
        await self._call(
            FreezeActivities.enforce_freezes,
            EnforceInput(namespaces=[exception.namespace], service=exception.service),
            timeout=60,
        )

    async def _enforce(self, event: FreezeEvent) -> None:
        if not event.blocks:
            return  # ALERT_ONLY: recorded and published, never enforced
        service = event.target if event.scope is Scope.SERVICE else None
        await self._call(
            FreezeActivities.enforce_freezes,
            EnforceInput(namespaces=event.namespaces, service=service),
            timeout=60,
        )

    async def _call(self, method: Callable[[Any, A], Awaitable[R]], arg: A, *, timeout: float) -> R:
        return await workflow.execute_activity_method(
            method, arg, start_to_close_timeout=timedelta(seconds=timeout), retry_policy=DURABLE
        )
