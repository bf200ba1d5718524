"""What to ask Prometheus on each pass, and how to fold the answers into window totals.

Querying a 30- or 90-day range every 30 s makes Prometheus read the whole window each time, so
its cost grows with `windowDays`. Instead the loop keeps a ledger of *completed* buckets (one
hour of event counts, or one verdict per timeslice) and asks only for what is new:

    window  = head (window start .. first full bucket)
            + completed buckets (kept by the loop, fetched once)
            + tail (end of the last completed bucket .. now)

Head and tail are each shorter than a bucket plus `settle`, so a pass reads about the same
amount of data for 7 days as for 90. The ledger is rebuilt with one range query on the first
pass, after a definition change, or when it fell out of the window.

Trade-off: a bucket is read once, `settle` seconds after it closed. Samples that arrive later
than that (a long remote-write backlog) are not counted until the ledger is rebuilt, e.g. by a
definition update; a bucket with no answer counts as no traffic.
"""

from __future__ import annotations

import math
from typing import Annotated, Literal

from pydantic import Field

from sla_management.domain.budget import Measurements
from sla_management.domain.slo import (
    WINDOW_PLACEHOLDER,
    BudgetingMethod,
    CamelModel,
    QueryUnit,
    SLIKind,
    SLOSpec,
)
from sla_management.domain.windows import BURN_WINDOWS, format_duration

BUCKET_SECONDS = 3600
# Prometheus refuses range queries of more than 11,000 points per series.
MAX_RANGE_POINTS = 10_000


class CountLedger(CamelModel):
    kind: Literal["counts"] = "counts"
    bucket_seconds: int = BUCKET_SECONDS
    first_start: int
    # bad[i], total[i] are the events of [first_start + i*bucket, first_start + (i+1)*bucket)
    bad: list[float] = Field(default_factory=list)
    total: list[float] = Field(default_factory=list)

    @property
    def end(self) -> int:
        return self.first_start + len(self.total) * self.bucket_seconds

    def prune(self, keep_from: int) -> None:
        drop = max(0, (keep_from - self.first_start) // self.bucket_seconds)
        if drop:
            del self.bad[:drop]
            del self.total[:drop]
            self.first_start += drop * self.bucket_seconds


class SliceLedger(CamelModel):
    kind: Literal["slices"] = "slices"
    slice_seconds: int
    first_start: int
    # One character per slice: g good, b bad, . no data. Compact in workflow history: 90 days
    # of 5-minute slices is 26 kB.
    marks: str = ""

    @property
    def end(self) -> int:
        return self.first_start + len(self.marks) * self.slice_seconds

    def prune(self, keep_from: int) -> None:
        drop = max(0, (keep_from - self.first_start) // self.slice_seconds)
        if drop:
            self.marks = self.marks[drop:]
            self.first_start += drop * self.slice_seconds

    def tally(self, since: int) -> tuple[int, int]:
        """(bad, with data) among slices that start at or after `since`."""
        skip = max(0, math.ceil((since - self.first_start) / self.slice_seconds))
        tail = self.marks[skip:]
        bad = tail.count("b")
        return bad, bad + tail.count("g")


Ledger = Annotated[CountLedger | SliceLedger, Field(discriminator="kind")]


class InstantQuery(CamelModel):
    key: str
    promql: str
    time: int
    window_seconds: int
    # Event counts add up across series; a ratio or a latency must come as one series.
    sum_series: bool = True


class RangeQuery(CamelModel):
    key: str
    promql: str
    start: int
    end: int
    step: int
    sum_series: bool = True


class QueryPlan(CamelModel):
    now: int
    instant: list[InstantQuery] = Field(default_factory=list)
    range: list[RangeQuery] = Field(default_factory=list)
    # Where the ledger stands after this pass: completed data is folded up to `fold_end`.
    window_start: int = 0
    ledger_start: int = 0
    fetch_from: int = 0
    fold_end: int = 0
    reset_ledger: bool = False


class QueryResults(CamelModel):
    """Raw answers: an instant query's value (None: no series, or NaN), a range query's
    points as [time, value]."""

    values: dict[str, float | None] = Field(default_factory=dict)
    series: dict[str, list[tuple[float, float]]] = Field(default_factory=dict)


def render(query: str, window_seconds: int) -> str:
    return query.replace(WINDOW_PLACEHOLDER, format_duration(window_seconds))


def _event_roles(spec: SLOSpec) -> dict[str, str]:
    """role -> query: `ev` is the error (or good) query, `total` the total."""
    q = spec.sli_query
    return {"ev": q.error_query or q.good_query or "", "total": q.total_query or ""}


def _role_field(spec: SLOSpec, role: str) -> str:
    if role == "total":
        return "totalQuery"
    return "errorQuery" if spec.sli_query.error_query else "goodQuery"


def plan_queries(
    spec: SLOSpec,
    ledger: CountLedger | SliceLedger | None,
    now: int,
    settle_seconds: int,
) -> QueryPlan:
    window = spec.window_days * 86400
    window_start = now - window
    kind = spec.kind
    plan = QueryPlan(now=now, window_start=window_start)

    if kind is SLIKind.RATIO:
        query = spec.sli_query.query or ""
        plan.instant.append(
            InstantQuery(
                key="ratio:window",
                promql=render(query, window),
                time=now,
                window_seconds=window,
                sum_series=False,
            )
        )
        for name, seconds in BURN_WINDOWS.items():
            plan.instant.append(
                InstantQuery(
                    key=f"ratio:burn:{name}",
                    promql=render(query, seconds),
                    time=now,
                    window_seconds=seconds,
                    sum_series=False,
                )
            )
        return plan

    step = BUCKET_SECONDS if kind is not SLIKind.THRESHOLD else spec.timeslice_minutes * 60
    ledger_start = math.ceil(window_start / step) * step
    target_end = (now - settle_seconds) // step * step
    expected = "slices" if kind is SLIKind.THRESHOLD else "counts"
    usable = (
        ledger is not None
        and ledger.kind == expected
        # A ledger that starts late (windowDays grew) would leave a gap after the head.
        and ledger.first_start <= ledger_start
        and ledger.end >= ledger_start
        and ledger.end <= now
        and (not isinstance(ledger, SliceLedger) or ledger.slice_seconds == step)
    )
    fetch_from = ledger.end if usable and ledger is not None else ledger_start
    fold_end = max(target_end, fetch_from)
    plan.ledger_start = ledger_start
    plan.fetch_from = fetch_from
    plan.fold_end = fold_end
    plan.reset_ledger = not usable

    if kind is SLIKind.THRESHOLD:
        query = spec.sli_query.query or ""
        if target_end > fetch_from:
            plan.range.append(
                RangeQuery(
                    key="slices",
                    promql=render(query, step),
                    start=fetch_from + step,
                    end=target_end,
                    step=step,
                    sum_series=False,
                )
            )
        return plan

    for role, query in _event_roles(spec).items():
        if target_end > fetch_from:
            plan.range.append(
                RangeQuery(
                    key=f"{role}:buckets",
                    promql=render(query, step),
                    start=fetch_from + step,
                    end=target_end,
                    step=step,
                )
            )
        if ledger_start > window_start:
            head = ledger_start - window_start
            plan.instant.append(
                InstantQuery(
                    key=f"{role}:head",
                    promql=render(query, head),
                    time=ledger_start,
                    window_seconds=head,
                )
            )
        if now > fold_end:
            tail = now - fold_end
            plan.instant.append(
                InstantQuery(key=f"{role}:tail", promql=render(query, tail), time=now, window_seconds=tail)
            )
        for name, seconds in BURN_WINDOWS.items():
            plan.instant.append(
                InstantQuery(
                    key=f"{role}:burn:{name}",
                    promql=render(query, seconds),
                    time=now,
                    window_seconds=seconds,
                )
            )
    return plan


def _count(value: float | None, unit: QueryUnit, seconds: int) -> float:
    if value is None or not math.isfinite(value):
        return 0.0
    return value * seconds if unit is QueryUnit.RATE else value


def fold_results(
    spec: SLOSpec,
    units: dict[str, QueryUnit],
    ledger: CountLedger | SliceLedger | None,
    plan: QueryPlan,
    results: QueryResults,
) -> tuple[CountLedger | SliceLedger | None, Measurements]:
    """Add this pass's answers to the ledger and return the window's measurements."""
    kind = spec.kind
    if kind is SLIKind.RATIO:
        errors: dict[str, float | None] = {}
        for name in BURN_WINDOWS:
            good = _clean(results.values.get(f"ratio:burn:{name}"))
            errors[name] = None if good is None else 1 - good
        return None, Measurements(
            budgeting_method=BudgetingMethod.OCCURRENCES,
            good_ratio=_clean(results.values.get("ratio:window")),
            error_ratios=errors,
        )

    if kind is SLIKind.THRESHOLD:
        return _fold_slices(spec, ledger, plan, results)
    return _fold_counts(spec, units, ledger, plan, results)


def _clean(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None


def _fold_counts(
    spec: SLOSpec,
    units: dict[str, QueryUnit],
    ledger: CountLedger | SliceLedger | None,
    plan: QueryPlan,
    results: QueryResults,
) -> tuple[CountLedger, Measurements]:
    book = ledger if isinstance(ledger, CountLedger) and not plan.reset_ledger else None
    if book is None:
        book = CountLedger(first_start=plan.ledger_start)
    else:
        book = book.model_copy(deep=True)
    unit = {role: units.get(_role_field(spec, role), QueryUnit.COUNT) for role in ("ev", "total")}

    new_buckets = (plan.fold_end - plan.fetch_from) // BUCKET_SECONDS
    if new_buckets > 0:
        per_role: dict[str, list[float]] = {}
        for role in ("ev", "total"):
            by_end = {int(t): v for t, v in results.series.get(f"{role}:buckets", [])}
            per_role[role] = [
                _count(
                    by_end.get(plan.fetch_from + (i + 1) * BUCKET_SECONDS),
                    unit[role],
                    BUCKET_SECONDS,
                )
                for i in range(new_buckets)
            ]
        good_is_ev = bool(spec.sli_query.good_query)
        for ev, total in zip(per_role["ev"], per_role["total"], strict=True):
            book.total.append(total)
            book.bad.append(_bad(ev, total, good_is_ev))
    book.prune(plan.ledger_start)

    def part(role: str, key: str, seconds: int) -> float:
        return _count(results.values.get(f"{role}:{key}"), unit[role], seconds)

    head_s = plan.ledger_start - plan.window_start
    tail_s = plan.now - plan.fold_end
    good_is_ev = bool(spec.sli_query.good_query)
    total = sum(book.total)
    bad = sum(book.bad)
    if head_s > 0:
        head_total = part("total", "head", head_s)
        total += head_total
        bad += _bad(part("ev", "head", head_s), head_total, good_is_ev)
    if tail_s > 0:
        tail_total = part("total", "tail", tail_s)
        total += tail_total
        bad += _bad(part("ev", "tail", tail_s), tail_total, good_is_ev)

    errors: dict[str, float | None] = {}
    for name, seconds in BURN_WINDOWS.items():
        w_total = part("total", f"burn:{name}", seconds)
        w_bad = _bad(part("ev", f"burn:{name}", seconds), w_total, good_is_ev)
        errors[name] = w_bad / w_total if w_total > 0 else None
    return book, Measurements(
        budgeting_method=BudgetingMethod.OCCURRENCES,
        total_events=total,
        bad_events=bad,
        error_ratios=errors,
    )


def _bad(ev: float, total: float, ev_is_good: bool) -> float:
    bad = total - ev if ev_is_good else ev
    # Counters scraped a moment apart can disagree slightly; never report more bad events
    # than events, nor fewer than none.
    return min(max(bad, 0.0), total) if total > 0 else max(bad, 0.0)


def _fold_slices(
    spec: SLOSpec,
    ledger: CountLedger | SliceLedger | None,
    plan: QueryPlan,
    results: QueryResults,
) -> tuple[SliceLedger, Measurements]:
    step = spec.timeslice_minutes * 60
    book = ledger if isinstance(ledger, SliceLedger) and not plan.reset_ledger else None
    book = (
        SliceLedger(slice_seconds=step, first_start=plan.ledger_start) if book is None else book.model_copy()
    )
    new_slices = (plan.fold_end - plan.fetch_from) // step
    if new_slices > 0:
        by_end = {int(t): v for t, v in results.series.get("slices", [])}
        comparison = spec.comparison
        threshold = spec.threshold
        assert comparison is not None and threshold is not None  # ensured by SLOSpec
        marks = []
        for i in range(new_slices):
            value = _clean(by_end.get(plan.fetch_from + (i + 1) * step))
            marks.append("." if value is None else ("g" if comparison.holds(value, threshold) else "b"))
        book.marks += "".join(marks)
    book.prune(plan.ledger_start)

    bad, with_data = book.tally(book.first_start)
    errors: dict[str, float | None] = {}
    for name, seconds in BURN_WINDOWS.items():
        # Windows shorter than a slice look at the last completed slice.
        w_bad, w_data = book.tally(book.end - max(seconds, step))
        errors[name] = w_bad / w_data if w_data else None
    return book, Measurements(
        budgeting_method=BudgetingMethod.TIMESLICES,
        total_slices=with_data,
        bad_slices=bad,
        error_ratios=errors,
    )
