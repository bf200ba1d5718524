"""One long-running workflow per SLO: query -> calculate -> record, then wait.

The wait is a timer that `recalculate` or `definition_updated` cuts short; `recalculate_now`
runs a pass and answers with its budget. History stays bounded with continue-as-new, carrying
the ledger of completed buckets so Prometheus is never asked for the whole window again.
"""

from __future__ import annotations

import asyncio
import zlib
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any, TypeVar

from temporalio import workflow
from temporalio.common import RetryPolicy, SearchAttributeKey
from temporalio.exceptions import ActivityError, ApplicationError, is_cancelled_exception

with workflow.unsafe.imports_passed_through():
    from sla_management.activities.budget import BudgetActivities, SLIActivities
    from sla_management.activities.models import QuerySLIInput, RecordBudgetInput
    from sla_management.domain.budget import ErrorBudget, Measurements, budget_of, unreadable
    from sla_management.domain.plan import fold_results, plan_queries
    from sla_management.domain.policy import Observation
    from sla_management.domain.slo import SLO
    from sla_management.workflows.models import (
        LoopParams,
        LoopState,
        SLOWorkflowInput,
    )

A = TypeVar("A")
R = TypeVar("R")

SERVICE_NAME = SearchAttributeKey.for_keyword("ServiceName")
BUDGET_STATUS = SearchAttributeKey.for_keyword("BudgetStatus")
BURN_LEVEL = SearchAttributeKey.for_keyword("BurnLevel")
SLO_ID = SearchAttributeKey.for_keyword("SloId")

# Writes must land eventually: keep retrying with a capped backoff rather than give up.
RECORD_RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(seconds=30))


@workflow.defn(name="SLOWorkflow")
class SLOWorkflow:
    @workflow.init
    def __init__(self, inp: SLOWorkflowInput) -> None:
        self._slo: SLO = inp.slo
        self._params: LoopParams = inp.params
        self._state: LoopState = inp.state or LoopState()
        self._pending: SLO | None = None
        self._wake = False
        # A pass awaits activities; the update handler may run one too, so passes take turns.
        self._lock = asyncio.Lock()

    @workflow.run
    async def run(self, inp: SLOWorkflowInput) -> None:
        passes_this_run = 0
        while True:
            async with self._lock:
                await self._pass()
            passes_this_run += 1
            if (
                passes_this_run >= self._params.passes_per_run
                or workflow.info().is_continue_as_new_suggested()
            ):
                await workflow.wait_condition(workflow.all_handlers_finished)
                workflow.continue_as_new(
                    SLOWorkflowInput(slo=self._slo, params=self._params, state=self._state)
                )
            wait = self._params.interval_seconds
            if self._state.passes == 1:
                # Loops started together (a deploy, a restore) would stay in lockstep, all
                # querying at once; the first wait spreads them over one interval,
                # deterministically from the SLO id.
                wait *= 1 + (zlib.crc32(self._slo.id.encode()) % 1000) / 1000
            try:
                await workflow.wait_condition(lambda: self._wake, timeout=timedelta(seconds=wait))
            except TimeoutError:
                pass
            self._wake = False

    # Message handlers -------------------------------------------------------------------

    @workflow.signal
    def recalculate(self) -> None:
        self._wake = True

    @workflow.signal
    def definition_updated(self, slo: SLO) -> None:
        # Callers announce the stored definition after every write, and again on a retry or an
        # operator restart, so the same definition may arrive twice: it changes nothing then.
        if workflow.patched("definition-announced-idempotently") and slo == (self._pending or self._slo):
            return
        self._pending = slo
        self._wake = True

    @workflow.update
    async def recalculate_now(self) -> ErrorBudget:
        async with self._lock:
            return await self._pass()

    @workflow.query
    def budget(self) -> ErrorBudget | None:
        return self._state.budget

    @workflow.query
    def definition(self) -> SLO:
        return self._pending or self._slo

    @workflow.query
    def state(self) -> LoopState:
        return self._state

    # The pass ------------------------------------------------------------------------------

    async def _pass(self) -> ErrorBudget:
        notify_policies = self._state.passes == 0
        if self._pending is not None:
            # A changed query invalidates every counted bucket: the ledger is rebuilt.
            self._slo, self._pending = self._pending, None
            self._state.ledger = None
            notify_policies = True
        now = workflow.now()
        budget = budget_of(self._slo, await self._measure(now), self._params.thresholds, now)
        await self._record(budget, notify_policies)
        return budget

    async def _measure(self, now: datetime) -> Measurements:
        """Ask Prometheus for what is new and fold it into the ledger; a failure is UNKNOWN."""
        slo, params, state = self._slo, self._params, self._state
        plan = plan_queries(slo, state.ledger, int(now.timestamp()), params.settle_seconds)
        try:
            results = await self._activity(
                SLIActivities.query_sli,
                QuerySLIInput(slo_id=slo.id, plan=plan),
                timeout=params.query_timeout_seconds,
                retry=RetryPolicy(
                    maximum_attempts=params.query_attempts, initial_interval=timedelta(seconds=1)
                ),
            )
        except ActivityError as err:
            if is_cancelled_exception(err):
                raise  # the SLO was deleted: end the loop, do not record a failure
            # Missing data is not an incident: keep the error, report UNKNOWN, freeze nothing.
            cause = err.cause
            return unreadable(
                slo, cause.message if isinstance(cause, ApplicationError) else str(cause or err)
            )
        state.ledger, measurements = fold_results(slo, slo.query_units, state.ledger, plan, results)
        return measurements

    async def _record(self, budget: ErrorBudget, notify_policies: bool) -> None:
        slo, params, state = self._slo, self._params, self._state
        now = budget.calculated_at
        previous = state.budget
        changed = previous is None or (previous.status, previous.burn_level) != (
            budget.status,
            budget.burn_level,
        )
        due = state.last_history_at is None or (
            now - state.last_history_at >= timedelta(seconds=params.history_interval_seconds)
        )
        await self._activity(
            BudgetActivities.record_budget,
            RecordBudgetInput(
                budget=budget,
                event_id=str(workflow.uuid4()),
                write_history=changed or due,
                previous=Observation.of(previous, slo.name) if previous else None,
                slo_name=slo.name,
                layer=slo.layer,
                labels=slo.labels,
                notify_policies=notify_policies,
            ),
            timeout=30,
            retry=RECORD_RETRY,
        )
        state.budget = budget
        state.passes += 1
        if changed or due:
            state.last_history_at = now
        self._publish_search_attributes(budget)

    def _publish_search_attributes(self, budget: ErrorBudget) -> None:
        # Upserts are history events: only write when the Web UI would show something new.
        state = self._state
        if (state.search_status, state.search_level) == (budget.status, budget.burn_level):
            return
        workflow.upsert_search_attributes(
            [
                SERVICE_NAME.value_set(self._slo.service_name),
                SLO_ID.value_set(self._slo.id),
                BUDGET_STATUS.value_set(budget.status.value),
                BURN_LEVEL.value_set(budget.burn_level.value),
            ]
        )
        state.search_status, state.search_level = budget.status, budget.burn_level

    async def _activity(
        self, method: Callable[[Any, A], Awaitable[R]], arg: A, *, timeout: float, retry: RetryPolicy
    ) -> R:
        """Run an activity method, as a local activity or a regular one (CALCULATOR__ACTIVITY_MODE)."""
        if self._params.activity_mode == "local":
            return await workflow.execute_local_activity_method(
                method, arg, start_to_close_timeout=timedelta(seconds=timeout), retry_policy=retry
            )
        return await workflow.execute_activity_method(
            method, arg, start_to_close_timeout=timedelta(seconds=timeout), retry_policy=retry
        )
