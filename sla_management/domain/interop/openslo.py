"""OpenSLO v1 (https://github.com/OpenSLO/OpenSLO) in and out.

Import reads `SLO` objects (with an inline `indicator` or an `indicatorRef` to an `SLI` in the
same file) whose metric sources are Prometheus, directly or through a `DataSource`. One SLO is
created per objective. How OpenSLO maps to our SLIs:

- ratioMetric good/bad + total, Occurrences -> goodQuery/errorQuery + totalQuery. OpenSLO
  queries usually have no window: a `counter: true` query gets `increase(...[{{.window}}])`
  around each selector (only sums and +/- of counters can be turned into counts that way); a
  gauge (`counter: false`) is summed over the window, as Sloth does with gauges. Queries that
  already contain {{.window}} are used as written.
- ratioMetric raw (rawType success/failure) -> `query`, the good ratio over {{.window}}.
- thresholdMetric, Timeslices -> `query` + threshold (`op`, `value`), one judgement per
  `timeSliceWindow`. Our slices are judged by one evaluation, so `timeSliceTarget` < 1 has no
  equivalent (noted).
- thresholdMetric, Occurrences: every sample of the query is an event, good when it meets
  `op value`: `count_over_time((q op value)[{{.window}}:]) / count_over_time(q[{{.window}}:])`.
- ratioMetric, Timeslices: a slice is good when its good/total ratio meets `timeSliceTarget`.

Not imported (skipped with the reason): other apiVersions, non-Prometheus sources, calendar
windows (ours are rolling), RatioTimeslices, composite SLOs. Alert policies are ignored:
`sla rules` writes the alerts.

Export writes one `SLO` per definition, the indicator inline, queries as they are (with
{{.window}}), and our own fields (namespace, type, layer, id) as `neural-hive.io/` annotations
so an export imports back to the same definition.
"""

from __future__ import annotations

import math
import re
from typing import Any

import promql_parser

from sla_management.domain import promql
from sla_management.domain.interop import promqltext as pq
from sla_management.domain.interop.common import (
    DEFAULT_NAMESPACE,
    Conversion,
    InteropError,
    guess_type,
    make_spec,
    number,
    parse_type,
    percent_target,
    ratio_target,
    slug,
)
from sla_management.domain.interop.sloth import complement
from sla_management.domain.interop.yamlio import YAMLError, dump_all, load_all
from sla_management.domain.limits import echo
from sla_management.domain.slo import (
    SLO,
    WINDOW_PLACEHOLDER,
    BudgetingMethod,
    Comparison,
    SLIKind,
    SLOSpec,
)

API_VERSION = "openslo/v1"
ANNOTATION = "neural-hive.io/"
_WINDOW = WINDOW_PLACEHOLDER
_SHORTHAND = re.compile(r"^\s*(\d+)\s*([mhdwMQY])\s*$")
_MINUTES = {"m": 1, "h": 60, "d": 1440, "w": 10080}
_OPS = {"lt": Comparison.LT, "lte": Comparison.LTE, "gt": Comparison.GT, "gte": Comparison.GTE}
_PROMQL_OP = {Comparison.LT: "<", Comparison.LTE: "<=", Comparison.GT: ">", Comparison.GTE: ">="}
# Sums and differences of counters can be read as counts by putting increase() on each counter.
_LINEAR = {"VectorSelector", "AggregateExpr", "BinaryExpr", "ParenExpr", "NumberLiteral"}


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
    return objects


def _name(obj: dict[str, Any]) -> str:
    metadata = obj.get("metadata") if isinstance(obj.get("metadata"), dict) else {}
    return str((metadata or {}).get("name") or "?")


def _minutes(value: object, what: str) -> int:
    """A duration shorthand (`5m`, `1h`, `2w`) or a bare number of minutes."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        if not math.isfinite(value):
            raise _Skip(f"{what} {value!r} is not a duration this system can use")
        return int(value)
    match = _SHORTHAND.match(str(value))
    if match is None or match.group(2) not in _MINUTES:
        raise _Skip(f"{what} {value!r} is not a duration this system can use")
    return int(match.group(1)) * _MINUTES[match.group(2)]


def _window_days(spec: dict[str, Any], notes: list[str]) -> int | None:
    windows = spec.get("timeWindow")
    if not windows:
        return None  # the system's default window
    if not isinstance(windows, list) or len(windows) != 1 or not isinstance(windows[0], dict):
        raise _Skip("timeWindow must hold exactly one window")
    window = windows[0]
    if window.get("calendar") is not None or window.get("isRolling") is False:
        raise _Skip("calendar-aligned windows are not supported: SLO windows here are rolling")
    match = _SHORTHAND.match(str(window.get("duration", "")))
    if match is None:
        raise _Skip(f"timeWindow duration {window.get('duration')!r} is not a duration shorthand")
    count, unit = int(match.group(1)), match.group(2)
    if unit in ("M", "Q"):
        days = count * (30 if unit == "M" else 90)
        note = f"a rolling {count}{unit} window is taken as {days} days"
    else:
        minutes = count * _MINUTES.get(unit, 0)
        if unit == "Y" or minutes % 1440:
            raise _Skip(f"a {count}{unit} window is not a whole number of days (1 to 90)")
        days, note = minutes // 1440, ""
    if not 1 <= days <= 90:
        raise _Skip(f"a {count}{unit} window is {days} days; windows here are 1 to 90 days")
    if note:
        notes.append(note)
    return days


def _mapping(value: object) -> dict[str, Any]:
    """A mapping from the file, or an empty one where the file has something else."""
    return value if isinstance(value, dict) else {}


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
            raise _Skip(f"{role} refers to DataSource {echo(ref)}, which the file does not define")
        kind = _mapping(data_source.get("spec")).get("type")
    if str(kind).lower() != "prometheus":
        raise _Skip(f"{role} reads from {str(kind)[:80] if kind else 'an untyped source'}, not Prometheus")
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
        raise _Skip(f"{echo(query)} has a fixed range: write {_WINDOW} where the SLO window goes")
    for node in pq.walk(tree):
        kind = pq.kind(node)
        linear = kind in _LINEAR and (
            (kind != "AggregateExpr" or str(node.op) == "sum")
            and (kind != "BinaryExpr" or str(node.op) in ("+", "-"))
            and (kind != "VectorSelector" or (node.offset is None and node.at is None))
        )
        if not linear:
            raise _Skip(
                f"counter query {echo(query)} is not a sum of counters, so it cannot be counted over a "
                f"window; write it with {_WINDOW}"
            )

    def wrap(node: Any) -> Any:
        if pq.kind(node) == "VectorSelector":
            return promql.parse(f"increase({node.prettify()}[{pq.SENTINEL_SECONDS}s])")
        return None

    return pq.text(promql_parser.transform(tree, None, wrap))


def _events_query(query: str, counter: bool, notes: list[str]) -> str:
    if pq.has_placeholder(query):
        return query
    if counter:
        return _increase(query)
    note = "gauge queries (counter: false) are summed over the window"
    if note not in notes:
        notes.append(note)
    return f"sum_over_time(({query})[{_WINDOW}:])"


def _number(value: object, what: str) -> float:
    found = number(value)
    if found is None:
        raise _Skip(f"{what} {echo(value)} is not a number")
    return found


def _comparison(objective: dict[str, Any], default: Comparison | None = None) -> Comparison:
    op = objective.get("op")
    if op is None and default is not None:
        return default
    if str(op) not in _OPS:
        raise _Skip(f"objective op {op!r} is not one of lt, lte, gt, gte")
    return _OPS[str(op)]


def _slice_minutes(objective: dict[str, Any], notes: list[str]) -> int | None:
    window = objective.get("timeSliceWindow")
    if window is None:
        notes.append("no timeSliceWindow: the default slice length is used")
        return None
    return _minutes(window, "timeSliceWindow")


def _sli_fields(
    sli: dict[str, Any],
    objective: dict[str, Any],
    method: BudgetingMethod,
    sources: dict[str, dict[str, Any]],
    notes: list[str],
) -> tuple[dict[str, Any], SLIKind]:
    if isinstance(sli.get("ratioMetric"), dict):
        ratio = sli["ratioMetric"]
        counter = bool(ratio.get("counter", False))
        if ratio.get("raw") is not None:
            raw = _query(ratio["raw"], sources, "raw")
            if not pq.has_placeholder(raw):
                raw = f"avg_over_time(({raw})[{_WINDOW}:])"
                notes.append("a raw ratio without a window is averaged over the window")
            good_ratio = complement(raw) if ratio.get("rawType") == "failure" else raw
            if method is BudgetingMethod.TIMESLICES:
                return _slice_fields(good_ratio, objective, notes), SLIKind.THRESHOLD
            return {"query": good_ratio}, SLIKind.RATIO
        total = _events_query(_query(ratio.get("total"), sources, "total"), counter, notes)
        if ratio.get("good") is not None:
            field, role = "good_query", "good"
        elif ratio.get("bad") is not None:
            field, role = "error_query", "bad"
        else:
            raise _Skip("ratioMetric needs good or bad with total, or raw")
        events = _events_query(_query(ratio[role], sources, role), counter, notes)
        if method is BudgetingMethod.TIMESLICES:
            good = f"({events}) / ({total})" if role == "good" else f"1 - ({events}) / ({total})"
            return _slice_fields(good, objective, notes), SLIKind.THRESHOLD
        kind = SLIKind.GOOD_TOTAL if role == "good" else SLIKind.ERROR_TOTAL
        return {field: events, "total_query": total}, kind
    if isinstance(sli.get("thresholdMetric"), dict):
        query = _query(sli["thresholdMetric"], sources, "thresholdMetric")
        if "value" not in objective:
            raise _Skip("a thresholdMetric objective needs `op` and `value`")
        comparison = _comparison(objective)
        value = _number(objective["value"], "objective value")
        if method is BudgetingMethod.TIMESLICES:
            target = objective.get("timeSliceTarget")
            if target is not None and _number(target, "timeSliceTarget") < 1:
                notes.append(
                    f"timeSliceTarget {target} has no equivalent: each slice is judged by one evaluation"
                )
            fields = {"query": query, "threshold": value, "comparison": comparison}
            return {**fields, "timeslice_minutes": _slice_minutes(objective, notes)}, SLIKind.THRESHOLD
        if pq.has_placeholder(query):
            raise _Skip("Occurrences over a thresholdMetric needs an instant query (without {{.window}})")
        notes.append("Occurrences over a thresholdMetric: every sample of the query is an event")
        bound = f"{_PROMQL_OP[comparison]} {pq.number(value)}"
        return {
            "good_query": f"count_over_time((({query}) {bound})[{_WINDOW}:])",
            "total_query": f"count_over_time(({query})[{_WINDOW}:])",
        }, SLIKind.GOOD_TOTAL
    raise _Skip("the SLI has neither ratioMetric nor thresholdMetric")


def _slice_fields(good_ratio: str, objective: dict[str, Any], notes: list[str]) -> dict[str, Any]:
    """Timeslices over a ratio: a slice is good when its good ratio meets timeSliceTarget."""
    target = objective.get("timeSliceTarget")
    if target is None:
        raise _Skip("Timeslices over a ratioMetric needs timeSliceTarget")
    return {
        "query": good_ratio,
        "threshold": _number(target, "timeSliceTarget"),
        "comparison": _comparison(objective, Comparison.GTE),
        "timeslice_minutes": _slice_minutes(objective, notes),
    }


def _labels(value: object) -> dict[str, str]:
    if not isinstance(value, dict):
        return {}
    # OpenSLO label values may be lists of strings.
    return {str(k): ",".join(map(str, v)) if isinstance(v, list) else str(v) for k, v in value.items()}


def _convert(
    slo: dict[str, Any],
    slis: dict[str, dict[str, Any]],
    sources: dict[str, dict[str, Any]],
    namespace: str,
    out: Conversion,
) -> None:
    item = f"SLO {_name(slo)}"
    metadata = slo.get("metadata") if isinstance(slo.get("metadata"), dict) else {}
    metadata = metadata or {}
    spec = slo.get("spec")
    if not isinstance(spec, dict):
        out.skip(item, "no spec")
        return
    annotations = _labels(metadata.get("annotations"))
    try:
        objectives = spec.get("objectives")
        if not isinstance(objectives, list) or not objectives:
            raise _Skip("no objectives")
        if any(isinstance(o, dict) and ("indicator" in o or "indicatorRef" in o) for o in objectives):
            raise _Skip("composite SLOs (an indicator per objective) are not supported")
        if isinstance(spec.get("indicator"), dict):
            sli = spec["indicator"].get("spec")
        elif spec.get("indicatorRef"):
            ref = str(spec["indicatorRef"])
            if ref not in slis:
                raise _Skip(f"indicatorRef {ref!r}: no SLI of that name in the file")
            sli = slis[ref].get("spec")
        else:
            raise _Skip("neither indicator nor indicatorRef")
        if not isinstance(sli, dict):
            raise _Skip("the indicator has no spec")
        method_name = spec.get("budgetingMethod")
        if method_name not in ("Occurrences", "Timeslices"):
            raise _Skip(f"budgetingMethod {method_name!r} is not supported (Occurrences or Timeslices)")
        method = BudgetingMethod(method_name)
        if not spec.get("service"):
            raise _Skip("no service")
        window_notes: list[str] = []
        window_days = _window_days(spec, window_notes)
    except _Skip as why:
        out.skip(item, str(why))
        return
    base_name = str(metadata.get("displayName") or metadata.get("name") or "").strip()
    for i, objective in enumerate(objectives, start=1):
        where = item if len(objectives) == 1 else f"{item} objective {i}"
        notes = list(window_notes)
        if not isinstance(objective, dict):
            out.skip(where, "objective is not a mapping")
            continue
        try:
            fields, kind = _sli_fields(sli, objective, method, sources, notes)
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
        result = make_spec(
            {
                "name": name,
                "slo_type": parse_type(annotations.get(f"{ANNOTATION}slo-type", ""))
                or guess_type(kind, [name, str(spec.get("description") or "")], list(sli_query.values())),
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
                **fields,
            }
        )
        if isinstance(result, str):
            out.skip(where, result)
        else:
            out.add(where, result, notes)


def import_openslo(text: str, *, namespace: str = DEFAULT_NAMESPACE) -> Conversion:
    """SLOs from OpenSLO v1 objects. InteropError: no OpenSLO object in the text."""
    objects = _objects(text)
    out = Conversion()
    supported = [o for o in objects if o.get("apiVersion") == API_VERSION]
    for obj in objects:
        if obj.get("apiVersion") != API_VERSION and obj.get("kind") == "SLO":
            out.skip(
                f"SLO {_name(obj)}",
                f"apiVersion {obj.get('apiVersion')} is not supported, only {API_VERSION}",
            )
    slis = {_name(o): o for o in supported if o.get("kind") == "SLI"}
    sources = {_name(o): o for o in supported if o.get("kind") == "DataSource"}
    for obj in supported:
        if obj.get("kind") == "SLO":
            _convert(obj, slis, sources, namespace, out)
    return out


# --- export --------------------------------------------------------------------------------------


def _source(query: str) -> dict[str, Any]:
    return {"metricSource": {"type": "Prometheus", "spec": {"query": query}}}


def _duration(minutes: int) -> str:
    for unit, size in (("d", 1440), ("h", 60)):
        if minutes % size == 0:
            return f"{minutes // size}{unit}"
    return f"{minutes}m"


def to_openslo(slo: SLOSpec) -> dict[str, Any]:
    """One OpenSLO v1 `SLO` object, the indicator inline."""
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
    return {"apiVersion": API_VERSION, "kind": "SLO", "metadata": metadata, "spec": spec}


def export_openslo(slos: list[SLO] | list[SLOSpec]) -> str:
    """OpenSLO YAML, one document per SLO."""
    return dump_all([to_openslo(slo) for slo in slos])
