"""OpenSLO v1 and v1alpha (https://github.com/OpenSLO/OpenSLO) in and out.

Import reads `SLO` objects with an inline `indicator` or an `indicatorRef` to an `SLI`, whose
metric sources are Prometheus, directly or through a `DataSource`. All objects of the text are
read together, so an SLO, its SLI, DataSource and alert policies may come from several files
(the CLI sends a directory as one multi-document body). One SLO is created per objective. How
OpenSLO maps to our SLIs:

- ratioMetric good/bad + total, Occurrences -> goodQuery/errorQuery + totalQuery. OpenSLO
  queries usually have no window: a `counter: true` query gets `increase(...[{{.window}}])`
  around each selector (only sums and +/- of counters can be turned into counts that way); a
  gauge (`counter: false`, or no `counter`, noted) is summed over the window, as Sloth does
  with gauges. Queries that already contain {{.window}} are used as written.
- ratioMetric raw (rawType success/failure) -> `query`, the good ratio over {{.window}}.
- thresholdMetric, Timeslices -> `query` + threshold (`op`, `value`), one judgement per
  `timeSliceWindow`. Our slices are judged by one evaluation, so `timeSliceTarget` < 1 has no
  equivalent (noted).
- thresholdMetric, Occurrences: every sample of the query is an event, good when it meets
  `op value`: `count_over_time((q op value)[{{.window}}:]) / count_over_time(q[{{.window}}:])`.
- ratioMetric, Timeslices: a slice is good when its good/total ratio is at least
  `timeSliceTarget` (`op` is for threshold metrics; given here, it is noted and not used).
- ratioMetric, RatioTimeslices: the SLI is the mean of the slices' good ratios,
  `avg_over_time((good_slice / total_slice)[{{.window}}:slice])`.
- calendar-aligned windows: this system has rolling windows only (calendar windows are planned),
  so a calendar month is a rolling 30 days, a quarter 90, with a note.
- alertPolicies (inline or `alertPolicyRef`, conditions inline or `conditionRef`): a burn-rate
  condition of factor 6 or more is our page alert, a slower one the ticket alert, with the
  condition's severity as `severity` label and the notification targets as the
  `notification_target` label; alert kinds we do not write are off, and what does not map is
  noted. `dimensions` are noted: one SLO here is one series.
- v1alpha (Sloth's OpenSLO examples): `timeWindows` count + unit, `ratioMetrics` per objective,
  `thresholdMetric` with `source`/`query`, read as the v1 equivalents.

Not imported (skipped with the reason): other apiVersions, non-Prometheus sources, windows over
90 days, composite SLOs (an indicator per objective in v1).

Export writes one `SLO` per definition, the indicator inline, queries as they are (with
{{.window}}), the alerts as inline alert policies, and our own fields (namespace, type, layer,
id, the exact alerting settings) as `neural-hive.io/` annotations so an export imports back to
the same definition.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

import promql_parser
from pydantic import ValidationError

from sla_management.domain import promql
from sla_management.domain.interop import promqltext as pq
from sla_management.domain.interop.common import (
    DEFAULT_NAMESPACE,
    Conversion,
    InteropError,
    alert_name,
    make_spec,
    parse_type,
    percent_target,
    ratio_target,
    scalar,
    slug,
    type_from_names,
)
from sla_management.domain.interop.sloth import complement
from sla_management.domain.interop.yamlio import YAMLError, dump_all, load_all
from sla_management.domain.rules import BURN_ALERTS
from sla_management.domain.slo import (
    SLO,
    WINDOW_PLACEHOLDER,
    BudgetingMethod,
    Comparison,
    SLIKind,
    SLOAlerting,
    SLOSpec,
    SLOType,
)

API_VERSION = "openslo/v1"
V1ALPHA = "openslo/v1alpha"
ANNOTATION = "neural-hive.io/"
_WINDOW = WINDOW_PLACEHOLDER
_SHORTHAND = re.compile(r"^\s*(\d{1,6})\s*([mhdwMQY])\s*$")
_MINUTES = {"m": 1, "h": 60, "d": 1440, "w": 10080}
_CALENDAR_DAYS = {"M": 30, "Q": 90, "Y": 365}
_OPS = {"lt": Comparison.LT, "lte": Comparison.LTE, "gt": Comparison.GT, "gte": Comparison.GTE}
_PROMQL_OP = {Comparison.LT: "<", Comparison.LTE: "<=", Comparison.GT: ">", Comparison.GTE: ">="}
# Sums and differences of counters can be read as counts by putting increase() on each counter.
_LINEAR = {"VectorSelector", "AggregateExpr", "BinaryExpr", "ParenExpr", "NumberLiteral"}
_V1ALPHA_UNITS = {"Day": "d", "Week": "w", "Month": "M", "Quarter": "Q", "Year": "Y"}
# Burn-rate conditions at or above this factor are fast burns: our page alert.
_PAGE_FACTOR = 6.0
_MAX_OBJECTS = 10_000


class _Skip(Exception):
    """This SLO (or objective) cannot be imported; the message says why."""


def _objects(text: str) -> list[dict[str, Any]]:
    try:
        documents = load_all(text)
    except YAMLError as exc:
        raise InteropError(str(exc)) from exc
    objects: list[dict[str, Any]] = []
    for doc in documents:
        # The OpenSLO SDK also writes a file as one YAML list of objects.
        for obj in doc if isinstance(doc, list) else [doc]:
            if isinstance(obj, dict) and str(obj.get("apiVersion", "")).startswith("openslo/"):
                objects.append(obj)
    if not objects:
        raise InteropError("not an OpenSLO file: no object with `apiVersion: openslo/...`")
    if len(objects) > _MAX_OBJECTS:
        raise InteropError(f"more than {_MAX_OBJECTS} OpenSLO objects in one import")
    return objects


def _mapping(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: object) -> list[Any]:
    return value if isinstance(value, list) else []


def _name(obj: dict[str, Any]) -> str:
    return str(_mapping(obj.get("metadata")).get("name") or "?")[:255]


def _minutes(value: object, what: str) -> int:
    """A duration shorthand (`5m`, `1h`, `2w`) or a bare number of minutes."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        return int(value)
    match = _SHORTHAND.match(str(value))
    if match is None or match.group(2) not in _MINUTES:
        raise _Skip(f"{what} {str(value)[:40]!r} is not a duration this system can use")
    return int(match.group(1)) * _MINUTES[match.group(2)]


def _window_days(spec: dict[str, Any], notes: list[str]) -> int | None:
    windows = spec.get("timeWindow")
    if not windows:
        return None  # the system's default window
    if not isinstance(windows, list) or len(windows) != 1 or not isinstance(windows[0], dict):
        raise _Skip("timeWindow must hold exactly one window")
    window = windows[0]
    duration = str(window.get("duration", ""))
    match = _SHORTHAND.match(duration)
    if match is None:
        raise _Skip(f"timeWindow duration {duration[:40]!r} is not a duration shorthand")
    count, unit = int(match.group(1)), match.group(2)
    calendar = window.get("calendar") is not None or window.get("isRolling") is False
    if unit in _CALENDAR_DAYS:
        days = count * _CALENDAR_DAYS[unit]
    else:
        minutes = count * _MINUTES[unit]
        if minutes % 1440:
            raise _Skip(f"a {count}{unit} window is not a whole number of days (1 to 90)")
        days = minutes // 1440
    if not 1 <= days <= 90:
        raise _Skip(f"a {count}{unit} window is {days} days; windows here are 1 to 90 days")
    if calendar:
        cal = _mapping(window.get("calendar"))
        since = f" from {cal.get('startTime')} {cal.get('timeZone') or ''}".rstrip() if cal else ""
        notes.append(
            f"the calendar-aligned {count}{unit} window{since} is taken as a rolling {days}-day window: "
            "calendar windows do not exist here yet"
        )
    elif unit in ("M", "Q"):
        notes.append(f"a rolling {count}{unit} window is taken as {days} days")
    return days


def _query(metric: object, sources: dict[str, dict[str, Any]], role: str) -> str:
    """The PromQL of a metric (`{metricSource: {type, metricSourceRef, spec: {query}}}`)."""
    source = metric.get("metricSource") if isinstance(metric, dict) else None
    if not isinstance(source, dict):
        raise _Skip(f"{role} has no metricSource")
    kind = source.get("type")
    ref = source.get("metricSourceRef")
    if not kind and ref:
        data_source = sources.get(str(ref))
        if data_source is None:
            raise _Skip(f"{role} refers to DataSource {str(ref)[:80]!r}, which no file defines")
        kind = _mapping(data_source.get("spec")).get("type")
    if str(kind).lower() != "prometheus":
        raise _Skip(f"{role} reads from {str(kind or 'an untyped source')[:80]}, not Prometheus")
    spec = source.get("spec")
    query = spec if isinstance(spec, str) else _mapping(spec).get("query") or _mapping(spec).get("promql")
    if not query or not str(query).strip():
        raise _Skip(f"{role} has no `query` in its metricSource spec")
    return pq.normalize_placeholder(str(query)).strip()


def _increase(query: str) -> str:
    """`sum(http_requests{code="2xx"})` -> `sum(increase(http_requests{code="2xx"}[{{.window}}]))`."""
    try:
        tree = pq.parse(query)
    except ValueError as exc:
        raise _Skip(f"query does not parse: {exc}") from exc
    if pq.range_seconds(tree):
        raise _Skip(f"{query!r} has a fixed range: write {_WINDOW} where the SLO window goes")
    for node in pq.walk(tree):
        kind = pq.kind(node)
        linear = kind in _LINEAR and (
            (kind != "AggregateExpr" or str(node.op) == "sum")
            and (kind != "BinaryExpr" or str(node.op) in ("+", "-"))
            and (kind != "VectorSelector" or (node.offset is None and node.at is None))
        )
        if not linear:
            raise _Skip(
                f"counter query {query!r} is not a sum of counters, so it cannot be counted over a "
                f"window; write it with {_WINDOW}"
            )

    def wrap(node: Any) -> Any:
        if pq.kind(node) == "VectorSelector":
            return promql.parse(f"increase({node.prettify()}[{pq.SENTINEL_SECONDS}s])")
        return None

    return pq.text(promql_parser.transform(tree, None, wrap))


def _events_query(query: str, counter: bool | None, notes: list[str]) -> str:
    if pq.has_placeholder(query):
        return query
    if counter:
        return _increase(query)
    note = (
        "gauge queries (counter: false) are summed over the window"
        if counter is False
        else "the ratioMetric does not say `counter`: its queries are read as gauges (as with "
        "counter: false) and summed over the window; set counter: true for counters"
    )
    if note not in notes:
        notes.append(note)
    return f"sum_over_time(({query})[{_WINDOW}:])"


def _comparison(objective: dict[str, Any]) -> Comparison:
    op = objective.get("op")
    if str(op) not in _OPS:
        raise _Skip(f"objective op {str(op)[:20]!r} is not one of lt, lte, gt, gte")
    return _OPS[str(op)]


def _slice_minutes(objective: dict[str, Any], notes: list[str], required: bool = False) -> int | None:
    window = objective.get("timeSliceWindow")
    if window is None:
        if required:
            raise _Skip("RatioTimeslices needs timeSliceWindow")
        notes.append("no timeSliceWindow: the default slice length is used")
        return None
    minutes = _minutes(window, "timeSliceWindow")
    if not 1 <= minutes <= 1440:
        raise _Skip(f"timeSliceWindow {window} is not between 1m and 1d")
    return minutes


def _per_slice(query: str, minutes: int) -> str:
    return query.replace(_WINDOW, f"{minutes}m")


def _ratio_op_unused(objective: dict[str, Any], method: str, notes: list[str]) -> None:
    if objective.get("op") is not None:
        why = (
            "the SLI is the mean of the slices' ratios"
            if method == "RatioTimeslices"
            else "a slice is good when its ratio is at least timeSliceTarget"
        )
        notes.append(
            f"objective op {str(objective['op'])[:20]} is not used: OpenSLO reserves op for threshold metrics; {why}"
        )


def _sli_fields(
    sli: dict[str, Any],
    objective: dict[str, Any],
    method: str,
    sources: dict[str, dict[str, Any]],
    notes: list[str],
) -> tuple[dict[str, Any], SLIKind]:
    if isinstance(sli.get("ratioMetric"), dict):
        ratio = sli["ratioMetric"]
        counter = ratio.get("counter")
        counter = bool(counter) if counter is not None else None
        if ratio.get("raw") is not None:
            raw = _query(ratio["raw"], sources, "raw")
            if not pq.has_placeholder(raw) and method != "RatioTimeslices":
                raw = f"avg_over_time(({raw})[{_WINDOW}:])"
                notes.append("a raw ratio without a window is averaged over the window")
            good_ratio = complement(raw) if ratio.get("rawType") == "failure" else raw
            return _ratio_method(good_ratio, objective, method, notes)
        total = _events_query(_query(ratio.get("total"), sources, "total"), counter, notes)
        if ratio.get("good") is not None:
            field, role = "good_query", "good"
        elif ratio.get("bad") is not None:
            field, role = "error_query", "bad"
        else:
            raise _Skip("ratioMetric needs good or bad with total, or raw")
        events = _events_query(_query(ratio[role], sources, role), counter, notes)
        if method != "Occurrences":
            good = f"({events}) / ({total})" if role == "good" else f"1 - ({events}) / ({total})"
            return _ratio_method(good, objective, method, notes)
        kind = SLIKind.GOOD_TOTAL if role == "good" else SLIKind.ERROR_TOTAL
        return {field: events, "total_query": total}, kind
    if isinstance(sli.get("thresholdMetric"), dict):
        query = _query(sli["thresholdMetric"], sources, "thresholdMetric")
        if "value" not in objective:
            raise _Skip("a thresholdMetric objective needs `op` and `value`")
        comparison = _comparison(objective)
        try:
            value = float(objective["value"])
        except (TypeError, ValueError) as exc:
            raise _Skip(f"objective value {str(objective['value'])[:40]!r} is not a number") from exc
        if method == "Timeslices":
            target = objective.get("timeSliceTarget")
            if isinstance(target, int | float) and target < 1:
                notes.append(
                    f"timeSliceTarget {target} has no equivalent: each slice is judged by one evaluation"
                )
            fields = {"query": query, "threshold": value, "comparison": comparison}
            return {**fields, "timeslice_minutes": _slice_minutes(objective, notes)}, SLIKind.THRESHOLD
        if method == "RatioTimeslices":
            raise _Skip("RatioTimeslices averages ratios; a thresholdMetric has none")
        if pq.has_placeholder(query):
            raise _Skip("Occurrences over a thresholdMetric needs an instant query (without {{.window}})")
        notes.append("Occurrences over a thresholdMetric: every sample of the query is an event")
        bound = f"{_PROMQL_OP[comparison]} {pq.number(value)}"
        return {
            "good_query": f"count_over_time((({query}) {bound})[{_WINDOW}:])",
            "total_query": f"count_over_time(({query})[{_WINDOW}:])",
        }, SLIKind.GOOD_TOTAL
    raise _Skip("the SLI has neither ratioMetric nor thresholdMetric")


def _ratio_method(
    good_ratio: str, objective: dict[str, Any], method: str, notes: list[str]
) -> tuple[dict[str, Any], SLIKind]:
    """A good ratio over {{.window}}, counted as the budgeting method says."""
    if method == "Occurrences":
        return {"query": good_ratio}, SLIKind.RATIO
    _ratio_op_unused(objective, method, notes)
    if method == "RatioTimeslices":
        minutes = _slice_minutes(objective, notes, required=True)
        assert minutes is not None  # required
        notes.append(f"RatioTimeslices: the SLI is the mean of the {minutes}m slices' good ratios")
        query = f"avg_over_time(({_per_slice(good_ratio, minutes)})[{_WINDOW}:{minutes}m])"
        return {"query": query}, SLIKind.RATIO
    # Timeslices over a ratio: a slice is good when its good ratio meets timeSliceTarget.
    target = objective.get("timeSliceTarget")
    if not isinstance(target, int | float) or isinstance(target, bool):
        raise _Skip("Timeslices over a ratioMetric needs timeSliceTarget")
    return {
        "query": good_ratio,
        "threshold": float(target),
        "comparison": Comparison.GTE,
        "timeslice_minutes": _slice_minutes(objective, notes),
    }, SLIKind.THRESHOLD


def _labels(value: object) -> dict[str, str]:
    if not isinstance(value, dict):
        return {}
    # OpenSLO label values may be lists of strings.
    return {str(k): ",".join(map(scalar, v)) if isinstance(v, list) else scalar(v) for k, v in value.items()}


# --- alert policies ------------------------------------------------------------------------------


def _resolve(entry: object, kind: str, key: str, objects: dict[tuple[str, str], dict[str, Any]]) -> Any:
    """An inline object, or the object of that kind a `...Ref` names."""
    if not isinstance(entry, dict):
        return None
    if key in entry:
        return objects.get((kind, str(entry[key])))
    return entry


def _alerting(
    slo_spec: dict[str, Any], objects: dict[tuple[str, str], dict[str, Any]], notes: list[str]
) -> dict[str, Any] | None:
    """Alert policies as our alerting settings; None when the SLO has none."""
    policies = slo_spec.get("alertPolicies")
    if not isinstance(policies, list) or not policies:
        return None
    slots: dict[str, dict[str, Any]] = {}
    for entry in policies[:32]:
        policy = _resolve(entry, "AlertPolicy", "alertPolicyRef", objects)
        ref = _mapping(entry).get("alertPolicyRef")
        if policy is None:
            notes.append(f"alert policy {str(ref)[:80]!r} is in no file: not carried")
            continue
        name = _name(policy)
        spec = _mapping(policy.get("spec"))
        if spec.get("alertWhenBreaching") is False:
            notes.append(f"alert policy {name} does not alert on breaches: not carried")
            continue
        if spec.get("alertWhenNoData"):
            notes.append(f"alert policy {name}: alerting on no data is not carried: no data is NO_DATA here")
        if spec.get("alertWhenResolved"):
            notes.append(
                f"alert policy {name}: alerting on resolution is not carried: Alertmanager's "
                "send_resolved tells when an alert resolves"
            )
        targets = []
        for target in _list(spec.get("notificationTargets"))[:32]:
            resolved = _resolve(target, "AlertNotificationTarget", "targetRef", objects)
            ref = _mapping(target).get("targetRef")
            targets.append(_name(resolved) if resolved else str(ref)[:80])
        for entry_condition in _list(spec.get("conditions"))[:8]:
            condition = _resolve(entry_condition, "AlertCondition", "conditionRef", objects)
            if condition is None:
                notes.append(f"alert policy {name}: its condition is in no file: not carried")
                continue
            cspec = _mapping(condition.get("spec"))
            rule = _mapping(cspec.get("condition"))
            kind = str(rule.get("kind") or "burnrate")
            threshold = rule.get("threshold")
            if kind != "burnrate" or not isinstance(threshold, int | float) or isinstance(threshold, bool):
                notes.append(f"alert policy {name}: a {kind[:40]} condition has no equivalent here")
                continue
            severity = "page" if threshold >= _PAGE_FACTOR else "ticket"
            burn = BURN_ALERTS[0] if severity == "page" else BURN_ALERTS[1]
            pairs = ", ".join(f"{c.factor:g}x over {c.long}/{c.short}" for c in burn.conditions)
            if severity in slots:
                notes.append(f"alert policy {name}: a second {severity} condition: only the first is carried")
                continue
            labels: dict[str, str] = {}
            if cspec.get("severity"):
                labels["severity"] = scalar(cspec["severity"])[:1024]
            if targets:
                labels["notification_target"] = ",".join(targets)[:1024]
            shown = _mapping(policy.get("metadata")).get("displayName")
            quiet: list[str] = []
            slots[severity] = {"name": alert_name(shown, quiet) or alert_name(name, notes), "labels": labels}
            notes.append(
                f"alert policy {name}: burn rate {threshold:g} over {rule.get('lookbackWindow')} is "
                f"taken as the {severity} alert ({pairs})"
            )
    settings: dict[str, Any] = {}
    for burn in BURN_ALERTS:
        if burn.severity in slots:
            settings[burn.severity] = slots[burn.severity]
        else:
            settings[burn.severity] = {"enabled": False}
            notes.append(f"no alert policy maps to the {burn.severity} alert: it is off")
    return settings


def _dimensions(slo_spec: dict[str, Any], sli: dict[str, Any], notes: list[str]) -> None:
    places = [slo_spec, sli]
    for metric in (sli.get("thresholdMetric"), *_mapping(sli.get("ratioMetric")).values()):
        source = _mapping(_mapping(metric).get("metricSource"))
        places.append(_mapping(source.get("spec")))
    for place in places:
        if place.get("dimensions"):
            shown = str(place["dimensions"])[:80]
            notes.append(f"dimensions {shown} are not applied: an SLO here is one series, not one per value")
            return


# --- v1alpha ------------------------------------------------------------------------------------


def _v1alpha_source(metric: object) -> dict[str, Any]:
    metric = _mapping(metric)
    query_type = str(metric.get("queryType") or "promql")
    if query_type.lower() != "promql":
        raise _Skip(f"queryType {query_type[:40]} is not promql")
    return {"metricSource": {"type": metric.get("source"), "spec": {"query": metric.get("query")}}}


def _from_v1alpha(spec: dict[str, Any], notes: list[str]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """A v1alpha SLO spec as a v1 one, and the v1 SLI of each objective."""
    windows = spec.get("timeWindows")
    v1: dict[str, Any] = {
        k: v for k, v in spec.items() if k not in ("timeWindows", "indicator", "objectives")
    }
    if isinstance(windows, list) and windows:
        window = _mapping(windows[0])
        unit = _V1ALPHA_UNITS.get(str(window.get("unit")))
        if unit is None:
            raise _Skip(
                f"timeWindows unit {str(window.get('unit'))[:20]!r} is not a day, week, month or quarter"
            )
        rolling = window.get("isRolling")
        v1["timeWindow"] = [
            {
                "duration": f"{window.get('count')}{unit}",
                "isRolling": rolling if rolling is not None else window.get("calendar") is None,
                **({"calendar": window["calendar"]} if window.get("calendar") is not None else {}),
            },
            *windows[1:],
        ]
    if not v1.get("budgetingMethod"):
        v1["budgetingMethod"] = "Occurrences"
        notes.append("no budgetingMethod (v1alpha): Occurrences is used")
    indicator = _mapping(spec.get("indicator"))
    shared = {"thresholdMetric": _v1alpha_source(indicator["thresholdMetric"])} if indicator else None
    slis: list[dict[str, Any]] = []
    objectives = _list(spec.get("objectives"))
    for objective in objectives:
        ratio = _mapping(_mapping(objective).get("ratioMetrics"))
        if ratio:
            counter = ratio.get("counter", ratio.get("incremental"))
            metric: dict[str, Any] = {
                "good": _v1alpha_source(ratio.get("good")),
                "total": _v1alpha_source(ratio.get("total")),
            }
            if counter is not None:
                metric["counter"] = counter
            slis.append({"ratioMetric": metric})
        elif shared is not None:
            slis.append(shared)
        else:
            raise _Skip("an objective has no ratioMetrics and the SLO no indicator")
    v1["objectives"] = objectives
    return v1, slis


# --- one SLO ------------------------------------------------------------------------------------


def _convert(
    slo: dict[str, Any],
    objects: dict[tuple[str, str], dict[str, Any]],
    namespace: str,
    out: Conversion,
) -> None:
    item = f"SLO {_name(slo)}"
    metadata = _mapping(slo.get("metadata"))
    spec = slo.get("spec")
    if not isinstance(spec, dict):
        out.skip(item, "no spec")
        return
    annotations = _labels(metadata.get("annotations"))
    sources = {name: obj for (kind, name), obj in objects.items() if kind == "DataSource"}
    slo_notes: list[str] = []
    try:
        if slo.get("apiVersion") == V1ALPHA:
            spec, slis = _from_v1alpha(spec, slo_notes)
        objectives = spec.get("objectives")
        if not isinstance(objectives, list) or not objectives:
            raise _Skip("no objectives")
        if slo.get("apiVersion") == API_VERSION:
            if any(isinstance(o, dict) and ("indicator" in o or "indicatorRef" in o) for o in objectives):
                raise _Skip("composite SLOs (an indicator per objective) are not supported")
            if isinstance(spec.get("indicator"), dict):
                sli = spec["indicator"].get("spec")
            elif spec.get("indicatorRef"):
                ref = str(spec["indicatorRef"])[:255]
                if ("SLI", ref) not in objects:
                    raise _Skip(f"indicatorRef {ref!r}: no SLI of that name in the files")
                sli = objects[("SLI", ref)].get("spec")
            else:
                raise _Skip("neither indicator nor indicatorRef")
            if not isinstance(sli, dict):
                raise _Skip("the indicator has no spec")
            slis = [sli] * len(objectives)
        method = spec.get("budgetingMethod")
        if method not in ("Occurrences", "Timeslices", "RatioTimeslices"):
            raise _Skip(
                f"budgetingMethod {str(method)[:40]!r} is not Occurrences, Timeslices or RatioTimeslices"
            )
        if not spec.get("service"):
            raise _Skip("no service")
        window_days = _window_days(spec, slo_notes)
        stored, alerting = _stored_alerting(annotations, slo_notes)
        if not stored:
            alerting = _alerting(spec, objects, slo_notes)
    except _Skip as why:
        out.skip(item, str(why))
        return
    base_name = str(metadata.get("displayName") or metadata.get("name") or "").strip()
    for i, (objective, sli) in enumerate(zip(objectives, slis, strict=True), start=1):
        where = item if len(objectives) == 1 else f"{item} objective {i}"
        notes = list(slo_notes)
        if not isinstance(objective, dict):
            out.skip(where, "objective is not a mapping")
            continue
        _dimensions(spec, sli, notes)
        try:
            fields, kind = _sli_fields(sli, objective, str(method), sources, notes)
        except _Skip as why:
            out.skip(where, str(why))
            continue
        if objective.get("target") is not None:
            target = ratio_target(objective["target"], "target")
        elif objective.get("targetPercent") is not None:
            target = percent_target(objective["targetPercent"], "targetPercent")
        else:
            target = "objective has neither target nor targetPercent"
        if isinstance(target, str):
            out.skip(where, target)
            continue
        name = base_name
        if len(objectives) > 1:
            name = f"{base_name} - {objective.get('displayName') or f'objective {i}'}"
        sli_query = {
            k: fields.pop(k) for k in ("query", "good_query", "error_query", "total_query") if k in fields
        }
        default = SLOType.CUSTOM if kind is SLIKind.THRESHOLD else SLOType.AVAILABILITY
        slo_type = parse_type(annotations.get(f"{ANNOTATION}slo-type", "")) or type_from_names(
            [name, str(metadata.get("name") or ""), str(spec.get("description") or "")], default, notes
        )
        result = make_spec(
            {
                "name": name,
                "slo_type": slo_type,
                "service_name": str(spec["service"]),
                "namespace": annotations.get(f"{ANNOTATION}namespace")
                or metadata.get("namespace")
                or namespace,
                "layer": annotations.get(f"{ANNOTATION}layer"),
                "description": spec.get("description"),
                "labels": _labels(metadata.get("labels")),
                "target": target,
                "window_days": window_days,
                "sli_query": sli_query,
                "alerting": alerting,
                **fields,
            }
        )
        if isinstance(result, str):
            out.skip(where, result)
        else:
            out.add(where, result, notes)


def _stored_alerting(annotations: dict[str, str], notes: list[str]) -> tuple[bool, dict[str, Any] | None]:
    """Our own exact alerting settings, as an export wrote them: (found, settings). `null`
    says the SLO had none, so the alert policies written beside it are not read again."""
    text = annotations.get(f"{ANNOTATION}alerting")
    if text is None:
        return False, None
    if text.strip() == "null":
        return True, None
    try:
        settings = SLOAlerting.model_validate_json(text)
    except ValidationError:
        notes.append(f"annotation {ANNOTATION}alerting is not valid alerting settings: alert policies read")
        return False, None
    return True, settings.model_dump()


def import_openslo(text: str, *, namespace: str = DEFAULT_NAMESPACE) -> Conversion:
    """SLOs from OpenSLO v1 and v1alpha objects, read together (an SLI, DataSource or alert
    policy may be in another document of the text). InteropError: no OpenSLO object in the text."""
    objects = _objects(text)
    out = Conversion()
    supported = (API_VERSION, V1ALPHA)
    for obj in objects:
        if obj.get("apiVersion") not in supported and obj.get("kind") == "SLO":
            out.skip(
                f"SLO {_name(obj)}",
                f"apiVersion {str(obj.get('apiVersion'))[:40]} is not supported, only {' and '.join(supported)}",
            )
    # Later objects of a kind and name replace earlier ones, as `kubectl apply` would.
    named = {
        (str(o.get("kind")), _name(o)): o
        for o in objects
        if o.get("apiVersion") == API_VERSION and o.get("kind") != "SLO"
    }
    for obj in objects:
        if obj.get("kind") == "SLO" and obj.get("apiVersion") in supported:
            _convert(obj, named, namespace, out)
    return out


# --- export --------------------------------------------------------------------------------------


def _source(query: str) -> dict[str, Any]:
    return {"metricSource": {"type": "Prometheus", "spec": {"query": query}}}


def _duration(minutes: int) -> str:
    for unit, size in (("d", 1440), ("h", 60)):
        if minutes % size == 0:
            return f"{minutes // size}{unit}"
    return f"{minutes}m"


def _policies(slo: SLOSpec) -> list[dict[str, Any]]:
    """The enabled alerts as inline OpenSLO alert policies (the fastest window pair of each)."""
    settings = slo.alerting or SLOAlerting()
    policies = []
    for burn, own in zip(BURN_ALERTS, (settings.page, settings.ticket), strict=True):
        if not own.enabled:
            continue
        name = slug(f"{slo.name}-{burn.severity}")
        severity = {**settings.labels, **own.labels}.get("severity", burn.severity)
        first = burn.conditions[0]
        policies.append(
            {
                "kind": "AlertPolicy",
                "metadata": {"name": name, "displayName": own.name or settings.name or burn.alertname},
                "spec": {
                    "alertWhenBreaching": True,
                    "alertWhenResolved": False,
                    "alertWhenNoData": False,
                    "conditions": [
                        {
                            "kind": "AlertCondition",
                            "metadata": {"name": slug(f"{name}-burn")},
                            "spec": {
                                "severity": severity,
                                "condition": {
                                    "kind": "burnrate",
                                    "threshold": first.factor,
                                    "lookbackWindow": first.long,
                                    "alertAfter": "0m",
                                },
                            },
                        }
                    ],
                    "notificationTargets": [],
                },
            }
        )
    return policies


def to_openslo(slo: SLOSpec) -> dict[str, Any]:
    """One OpenSLO v1 `SLO` object, the indicator and alert policies inline."""
    q = slo.sli_query
    objective: dict[str, Any] = {"displayName": slo.name, "target": slo.target}
    sli: dict[str, Any]
    match slo.kind:
        case SLIKind.ERROR_TOTAL:
            sli = {
                "ratioMetric": {"bad": _source(q.error_query or ""), "total": _source(q.total_query or "")}
            }
        case SLIKind.GOOD_TOTAL:
            sli = {
                "ratioMetric": {"good": _source(q.good_query or ""), "total": _source(q.total_query or "")}
            }
        case SLIKind.RATIO:
            sli = {"ratioMetric": {"rawType": "success", "raw": _source(q.query or "")}}
        case SLIKind.THRESHOLD:
            assert slo.comparison is not None and slo.threshold is not None  # ensured by SLOSpec
            sli = {"thresholdMetric": _source(q.query or "")}
            objective.update(
                op=slo.comparison.value,
                value=slo.threshold,
                # One evaluation judges a slice, so the whole slice is good or bad.
                timeSliceTarget=1,
                timeSliceWindow=_duration(slo.timeslice_minutes),
            )
    annotations = {f"{ANNOTATION}namespace": slo.namespace, f"{ANNOTATION}slo-type": slo.slo_type.value}
    if slo.layer:
        annotations[f"{ANNOTATION}layer"] = slo.layer
    if isinstance(slo, SLO):
        annotations[f"{ANNOTATION}slo-id"] = slo.id
    # Exactly, `null` included: the alert policies below are an approximation for other tools.
    annotations[f"{ANNOTATION}alerting"] = json.dumps(
        slo.alerting.model_dump(mode="json", by_alias=True) if slo.alerting else None,
        separators=(",", ":"),
        ensure_ascii=False,
    )
    metadata: dict[str, Any] = {"name": slug(slo.name), "displayName": slo.name}
    if slo.labels:
        metadata["labels"] = dict(slo.labels)
    metadata["annotations"] = annotations
    spec: dict[str, Any] = {}
    if slo.description:
        spec["description"] = slo.description
    spec.update(
        service=slo.service_name,
        indicator={"metadata": {"name": slug(f"{slo.name}-sli")}, "spec": sli},
        timeWindow=[{"duration": f"{slo.window_days}d", "isRolling": True}],
        budgetingMethod=(slo.budgeting_method or BudgetingMethod.OCCURRENCES).value,
        objectives=[objective],
    )
    if policies := _policies(slo):
        spec["alertPolicies"] = policies
    return {"apiVersion": API_VERSION, "kind": "SLO", "metadata": metadata, "spec": spec}


def export_openslo(slos: list[SLO] | list[SLOSpec]) -> str:
    """OpenSLO YAML, one document per SLO."""
    return dump_all([to_openslo(slo) for slo in slos])
