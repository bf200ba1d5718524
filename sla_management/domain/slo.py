"""SLO definitions: the `spec` of the `SLODefinition` CRD, which is also the REST body.

Everything here is pure: it validates shape and consistency. Whether a query parses is asked of
Prometheus itself at the edge (the API), so users see Prometheus's own error text.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Self

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator
from pydantic.alias_generators import to_camel
from pydantic_core import PydanticCustomError

from sla_management.domain.limits import (
    TARGET_MAX,
    Description,
    Finite,
    Labels,
    MetricName,
    Name,
    Namespace,
    Query,
    StrictInt,
)

WINDOW_PLACEHOLDER = "{{.window}}"


class CamelModel(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")


class SLOType(StrEnum):
    AVAILABILITY = "AVAILABILITY"
    LATENCY = "LATENCY"
    ERROR_RATE = "ERROR_RATE"
    THROUGHPUT = "THROUGHPUT"
    CUSTOM = "CUSTOM"


class Comparison(StrEnum):
    LT = "lt"
    LTE = "lte"
    GT = "gt"
    GTE = "gte"

    def holds(self, value: float, threshold: float) -> bool:
        match self:
            case Comparison.LT:
                return value < threshold
            case Comparison.LTE:
                return value <= threshold
            case Comparison.GT:
                return value > threshold
            case Comparison.GTE:
                return value >= threshold


class BudgetingMethod(StrEnum):
    OCCURRENCES = "Occurrences"
    TIMESLICES = "Timeslices"


class SLIKind(StrEnum):
    """Which of the accepted `sliQuery` shapes a definition uses."""

    ERROR_TOTAL = "error_total"  # errorQuery + totalQuery (Sloth)
    GOOD_TOTAL = "good_total"  # goodQuery + totalQuery
    RATIO = "ratio"  # query alone: good ratio over {{.window}}
    THRESHOLD = "threshold"  # query + threshold: one value per timeslice


class QueryUnit(StrEnum):
    """What an event query returns; decides how partial windows are added up."""

    COUNT = "count"  # increase(...), count_over_time(...): events in the window
    RATE = "rate"  # rate(...): events per second, so count = value x window seconds


class SLIQuery(CamelModel):
    metric_name: MetricName | None = Field(default=None, description="Descriptive only.")
    query: Query | None = None
    error_query: Query | None = None
    good_query: Query | None = None
    total_query: Query | None = None

    @model_validator(mode="after")
    def _one_shape(self) -> Self:
        events = self.error_query or self.good_query
        if self.error_query and self.good_query:
            raise ValueError("give errorQuery or goodQuery, not both")
        if events and not self.total_query:
            raise ValueError("errorQuery/goodQuery needs totalQuery")
        if self.total_query and not events:
            raise ValueError("totalQuery needs errorQuery or goodQuery")
        if events and self.query:
            raise ValueError("give either query or errorQuery/goodQuery + totalQuery, not both")
        if not events and not self.query:
            raise ValueError("one of query, errorQuery + totalQuery, goodQuery + totalQuery is required")
        for name in ("query", "error_query", "good_query", "total_query"):
            value = getattr(self, name)
            if value is not None and not value.strip():
                raise ValueError(f"{to_camel(name)} must not be empty")
        return self

    def kind(self, threshold: float | None) -> SLIKind:
        if self.error_query:
            return SLIKind.ERROR_TOTAL
        if self.good_query:
            return SLIKind.GOOD_TOTAL
        return SLIKind.THRESHOLD if threshold is not None else SLIKind.RATIO


def _objective(value: float) -> float:
    if not 0 < value <= TARGET_MAX:
        raise PydanticCustomError(
            "target",
            "must be the objective as a ratio (0.999 for 99.9 %), above 0 and at most {max} ({percent} %)",
            {"max": TARGET_MAX, "percent": f"{TARGET_MAX * 100:g}"},
        )
    return value


# At most five nines: see TARGET_MAX for why.
Target = Annotated[
    Finite,
    Field(
        description=f"Objective as a ratio, 0 < t <= {TARGET_MAX} (99.9 % is 0.999).",
        json_schema_extra={"exclusiveMinimum": 0, "maximum": TARGET_MAX},
    ),
    AfterValidator(_objective),
]


class SLOSpec(CamelModel):
    """The user-owned part of an SLO: REST body and CRD spec."""

    name: Name
    slo_type: SLOType
    service_name: Name
    namespace: Namespace = "default"
    layer: Name | None = None
    description: Description | None = None
    labels: Labels = Field(default_factory=dict)
    target: Target
    window_days: Annotated[StrictInt, Field(ge=1, le=90)] = 30
    sli_query: SLIQuery
    threshold: Finite | None = None
    comparison: Comparison | None = None
    timeslice_minutes: Annotated[StrictInt, Field(ge=1, le=1440)] = 5
    budgeting_method: BudgetingMethod | None = None

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        kind = self.sli_query.kind(self.threshold)
        if self.comparison is not None and self.threshold is None:
            raise ValueError("comparison needs threshold")
        if kind is SLIKind.THRESHOLD:
            if self.comparison is None:
                self.comparison = Comparison.LTE if self.slo_type is SLOType.LATENCY else Comparison.GTE
            if self.budgeting_method is BudgetingMethod.OCCURRENCES:
                raise ValueError("query + threshold is a timeslice SLI: budgetingMethod must be Timeslices")
            self.budgeting_method = BudgetingMethod.TIMESLICES
        else:
            if self.threshold is not None:
                raise ValueError("threshold applies only to a single `query` (timeslices)")
            if self.budgeting_method is BudgetingMethod.TIMESLICES:
                raise ValueError("Timeslices needs `query` + `threshold`")
            self.budgeting_method = BudgetingMethod.OCCURRENCES
            if kind is SLIKind.RATIO and WINDOW_PLACEHOLDER not in (self.sli_query.query or ""):
                raise ValueError(
                    "a single `query` either returns the good ratio over {{.window}} "
                    "(so it must contain {{.window}}), or comes with `threshold` for timeslices"
                )
        if kind in (SLIKind.ERROR_TOTAL, SLIKind.GOOD_TOTAL):
            for field, query in self.event_queries().items():
                if WINDOW_PLACEHOLDER not in query:
                    raise ValueError(f"{field} must contain {{{{.window}}}} in its range selector")
        if self.timeslice_minutes * 60 > self.window_days * 86400:
            raise ValueError("timesliceMinutes must be shorter than the window")
        return self

    @property
    def kind(self) -> SLIKind:
        return self.sli_query.kind(self.threshold)

    def event_queries(self) -> dict[str, str]:
        q = self.sli_query
        if q.error_query and q.total_query:
            return {"errorQuery": q.error_query, "totalQuery": q.total_query}
        if q.good_query and q.total_query:
            return {"goodQuery": q.good_query, "totalQuery": q.total_query}
        return {"query": q.query or ""}


class ManagedBy(StrEnum):
    API = "api"
    KUBERNETES = "kubernetes"


class SLO(SLOSpec):
    """A stored SLO: the spec plus what the system owns."""

    model_config = ConfigDict(extra="ignore")

    id: str
    managed_by: ManagedBy = ManagedBy.API
    query_units: dict[str, QueryUnit] = Field(default_factory=dict)
    created_at: datetime
    updated_at: datetime

    @property
    def workflow_id(self) -> str:
        return workflow_id_for(self.id)


def workflow_id_for(slo_id: str) -> str:
    return f"slo-{slo_id}"
