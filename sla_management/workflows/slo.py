"""One long-running workflow per SLO: query -> calculate -> record, then wait.

The wait is a timer that `recalculate` or `definition_updated` cuts short; `recalculate_now`
runs a pass and answers with its budget. History stays bounded with continue-as-new, carrying
the ledger of completed buckets so Prometheus is never asked for the whole window again.
"""

from __future__ import annotations

import asyncio
import zlib
from datetime import timedelta
from typing import Any, TypeVar, cast

from temporalio import workflow
from temporalio.common import RetryPolicy, SearchAttributeKey
from temporalio.exceptions import ActivityError, ApplicationError, is_cancelled_exception

with workflow.unsafe.imports_passed_through():
    from sla_management.domain.budget import BudgetStatus, ErrorBudget, Measurements, compute_budget
    from sla_management.domain.plan import QueryResults, fold_results, plan_queries
    from sla_management.domain.policy import Observation
    from sla_management.domain.slo import SLO, BudgetingMethod
    from sla_management.workflows.models import (
        LoopParams,
        LoopState,
        QuerySLIInput,
        RecordBudgetInput,
        SLOWorkflowInput,
    )

T = TypeVar("T")

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
        slo, params, state = self._slo, self._params, self._state
        now = workflow.now()
        plan = plan_queries(slo, state.ledger, int(now.timestamp()), params.settle_seconds)
        try:
            results = await self._activity(
                "query_sli",
                QuerySLIInput(slo_id=slo.id, plan=plan),
                timeout=params.query_timeout_seconds,
                retry=RetryPolicy(
                    maximum_attempts=params.query_attempts, initial_interval=timedelta(seconds=1)
                ),
                result_type=QueryResults,
            )
            ledger, measurements = fold_results(slo, slo.query_units, state.ledger, plan, results)
            state.ledger = ledger
        except ActivityError as err:
            if is_cancelled_exception(err):
                raise  # the SLO was deleted: end the loop, do not record a failure
            # Missing data is not an incident: keep the error, report UNKNOWN, freeze nothing.
            cause = err.cause
            message = cause.message if isinstance(cause, ApplicationError) else str(cause or err)
            measurements = Measurements(
                budgeting_method=slo.budgeting_method or BudgetingMethod.OCCURRENCES, error=message
            )

        budget = compute_budget(
            slo_id=slo.id,
            service_name=slo.service_name,
            namespace=slo.namespace,
            target=slo.target,
            window_days=slo.window_days,
            measurements=measurements,
            thresholds=params.thresholds,
            now=now,
        )
        previous = state.budget
        changed = previous is None or (previous.status, previous.burn_level) != (
            budget.status,
            budget.burn_level,
        )
        due = state.last_history_at is None or (
            now - state.last_history_at >= timedelta(seconds=params.history_interval_seconds)
        )
        write_history = changed or due
        await self._activity(
            "record_budget",
            RecordBudgetInput(
                budget=budget,
                event_id=str(workflow.uuid4()),
                write_history=write_history,
                previous=Observation.of(previous, slo.name) if previous else None,
                slo_name=slo.name,
                layer=slo.layer,
                labels=slo.labels,
                notify_policies=notify_policies,
            ),
            timeout=30,
            retry=RECORD_RETRY,
            result_type=type(None),
        )
        state.budget = budget
        state.passes += 1
        if write_history:
            state.last_history_at = now
        self._publish_search_attributes(budget.status, budget)
        return budget

    def _publish_search_attributes(self, status: BudgetStatus, budget: ErrorBudget) -> None:
        # Upserts are history events: only write when the Web UI would show something new.
        state = self._state
        if (state.search_status, state.search_level) == (status, budget.burn_level):
            return
        workflow.upsert_search_attributes(
            [
                SERVICE_NAME.value_set(self._slo.service_name),
                SLO_ID.value_set(self._slo.id),
                BUDGET_STATUS.value_set(status.value),
                BURN_LEVEL.value_set(budget.burn_level.value),
            ]
        )
        state.search_status, state.search_level = status, budget.burn_level

    async def _activity(
        self, name: str, arg: Any, *, timeout: float, retry: RetryPolicy, result_type: type[T]
    ) -> T:
        if self._params.activity_mode == "local":
            result = await workflow.execute_local_activity(
                name,
                arg,
                start_to_close_timeout=timedelta(seconds=timeout),
                retry_policy=retry,
                result_type=result_type,
            )
        else:
            result = await workflow.execute_activity(
                name,
                arg,
                start_to_close_timeout=timedelta(seconds=timeout),
                retry_policy=retry,
                result_type=result_type,
            )
        return cast(T, result)
