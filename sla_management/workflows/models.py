"""Inputs and state of the workflows (one pydantic model each); the activities' own inputs are
in `activities/models.py`."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import Field, model_validator

from sla_management.config import Settings
from sla_management.domain.budget import BudgetStatus, BurnLevel, ErrorBudget
from sla_management.domain.freeze import FreezeEvent, FreezeException
from sla_management.domain.plan import Ledger
from sla_management.domain.policy import Decision, Observation, Policy
from sla_management.domain.slo import SLO, CamelModel
from sla_management.domain.windows import Thresholds


class LoopParams(CamelModel):
    """Settings the workflow needs, copied in at start so the workflow never reads the
    environment (that would break determinism on replay)."""

    interval_seconds: float = 30
    thresholds: Thresholds = Field(default_factory=Thresholds)
    settle_seconds: int = 300
    history_interval_seconds: int = 300
    activity_mode: str = "local"
    passes_per_run: int = 500
    query_timeout_seconds: float = 30
    query_attempts: int = 2

    @model_validator(mode="before")
    @classmethod
    def _flat_thresholds(cls, data: Any) -> Any:
        # Histories recorded before `thresholds` was one value carry its four fields flat.
        if isinstance(data, dict) and any(k in data for k in _FLAT_THRESHOLDS):
            data = dict(data)
            flat = {new: data.pop(old) for old, new in _FLAT_THRESHOLDS.items() if old in data}
            data["thresholds"] = {**flat, **(data.get("thresholds") or {})}
        return data

    @classmethod
    def from_settings(cls, settings: Settings) -> LoopParams:
        c = settings.calculator
        return cls(
            interval_seconds=c.calculation_interval_seconds,
            thresholds=settings.thresholds(),
            settle_seconds=c.settle_seconds,
            history_interval_seconds=c.history_interval_seconds,
            activity_mode=c.activity_mode,
            passes_per_run=c.passes_per_run,
            # The adapter retries inside the activity; this bounds the whole attempt.
            query_timeout_seconds=settings.prometheus.timeout_seconds * (settings.prometheus.max_retries + 1),
        )


_FLAT_THRESHOLDS = {
    "burnFast": "burnFast",
    "burnSlow": "burnSlow",
    "freezePercent": "freezePercent",
    "unfreezePercent": "unfreezePercent",
    "burn_fast": "burnFast",
    "burn_slow": "burnSlow",
    "freeze_percent": "freezePercent",
    "unfreeze_percent": "unfreezePercent",
}


class LoopState(CamelModel):
    """What the loop carries across passes and across continue-as-new."""

    ledger: Ledger | None = None
    budget: ErrorBudget | None = None
    passes: int = 0
    last_history_at: datetime | None = None
    search_status: BudgetStatus | None = None
    search_level: BurnLevel | None = None


class SLOWorkflowInput(CamelModel):
    slo: SLO
    params: LoopParams = Field(default_factory=LoopParams)
    state: LoopState | None = None


class PolicyState(CamelModel):
    observations: dict[str, Observation] = Field(default_factory=dict)
    freeze: FreezeEvent | None = None
    suppressed_until: datetime | None = None
    loaded: bool = False
    last_decision: Decision | None = None
    # Freeze exceptions granted against this policy's freezes and not ended yet, by id: the
    # workflow ends each at its expiry, on a durable timer.
    exceptions: dict[str, FreezeException] = Field(default_factory=dict)


class PolicyWorkflowInput(CamelModel):
    policy: Policy
    state: PolicyState | None = None


class ResolveRequest(CamelModel):
    resolved_by: Annotated[str, Field(min_length=1, max_length=200)]
    reason: Annotated[str, Field(min_length=1, max_length=2000)]
    event_id: str | None = None
    # How long the policy may not freeze again; None: its minFreezeMinutes.
    hold_minutes: Annotated[int | None, Field(ge=0, le=10080)] = None
