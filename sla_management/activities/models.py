"""Inputs and results of the activities (one pydantic model each), shared with the workflows
that call them."""

from __future__ import annotations

from datetime import datetime

from pydantic import Field

from sla_management.domain.budget import ErrorBudget
from sla_management.domain.freeze import ExceptionEnding
from sla_management.domain.plan import QueryPlan
from sla_management.domain.policy import Observation
from sla_management.domain.slo import CamelModel


class QuerySLIInput(CamelModel):
    slo_id: str
    plan: QueryPlan


class RecordBudgetInput(CamelModel):
    budget: ErrorBudget
    event_id: str
    write_history: bool
    previous: Observation | None = None
    # What freeze policies need to know whether they watch this SLO.
    slo_name: str = ""
    layer: str | None = None
    labels: dict[str, str] = Field(default_factory=dict)
    # After a definition change every watching policy hears the new budget, band change or not.
    notify_policies: bool = False


class EnforceInput(CamelModel):
    namespaces: list[str]
    service: str | None = None


class EnforceResult(CamelModel):
    touched: list[str] = Field(default_factory=list)
    skipped: str | None = None


class ExceptionClosing(CamelModel):
    exception_id: str
    ended_by: str
    ending: ExceptionEnding
    ended_at: datetime
