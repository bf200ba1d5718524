"""SLOs from a Prometheus rule file (the spec's `POST /api/v1/slos/import/alerts`).

An alert becomes an SLO when it carries SLO information: an `slo` label or SLO annotations
(`slo_name`, `slo_target`, Sloth's `sloth_slo` ...), or a recognisable burn-rate expression (a
bound written `factor * budget`, or a recorded `slo:sli_error:ratio_rate<w>` series). What the
alert compares decides the SLI:

- `errors / total > bound` (or `good / total < bound`), both sides over the same range: an
  event SLI. Ranges of that length become {{.window}}; the objective is `1 - bound` (or
  `bound`), with `*100` scales and `1 - x` taken into account. A bound `14.4 * 0.001` is a burn
  rate: the budget is 0.001, the objective 99.9 %.
- a recorded series: its recording rule from the same file is read instead, so files written by
  Sloth, Pyrra-style generators, or `sla rules` itself come back as the SLOs they were made from.
- anything else compared with a constant (`histogram_quantile(...) > 0.2`): a timeslice SLI
  with that threshold; a slice is good when the alert would not fire. Its objective comes from
  an `slo_objective`/`objective`/`slo_target` label or annotation, else the default target.

Multi-window alerts (`A and B`, `(A and B) or (C and D)`) are read from their first condition.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Any

import promql_parser

from sla_management.domain.interop import promqltext as pq
from sla_management.domain.interop.common import (
    DEFAULT_NAMESPACE,
    Conversion,
    InteropError,
    guess_type,
    make_spec,
    parse_days,
    parse_ratio,
    parse_type,
)
from sla_management.domain.interop.yamlio import YAMLError, load_all
from sla_management.domain.limits import TARGET_MAX, QueryTooComplex, echo
from sla_management.domain.slo import Comparison, SLIKind

# Labels and annotations that say an alert is about an SLO.
SLO_KEYS = frozenset(
    {"slo", "slo_name", "sloth_slo", "sloth_id", "slo_target", "slo_objective", "objective", "slo_type"}
)
_SERVICE_KEYS = ("service", "sloth_service", "service_name", "neural_hive_component", "app", "job")
_LAYER_KEYS = ("layer", "slo_layer", "neural_hive_layer")
_OBJECTIVE_KEYS = ("slo_objective", "objective", "slo_target")
# Labels that describe the alert or were read into SLO fields; the rest become SLO labels.
_CONSUMED = frozenset(
    {
        "slo",
        "service",
        "namespace",
        "severity",
        "alertname",
        "slo_type",
        "slo_window",
        "sloth_id",
        "sloth_service",
        "sloth_slo",
        "sloth_window",
        "sloth_severity",
        *_LAYER_KEYS,
    }
)
# `a > x` fires when the value is high: the value counts errors. `a < x`: it counts good.
_FLIP = {">": "<", ">=": "<=", "<": ">", "<=": ">="}
# The timeslice SLI is good when the alert would not fire.
_GOOD_WHEN = {">": Comparison.LTE, ">=": Comparison.LT, "<": Comparison.GTE, "<=": Comparison.GT}
_COMPARISON_OP = {Comparison.LT: "<", Comparison.LTE: "<=", Comparison.GT: ">", Comparison.GTE: ">="}
_FROM_OP = {v: k for k, v in _COMPARISON_OP.items()}
# `slo:sli_error:ratio_rate5m`, `job:slo_errors_per_request:ratio_rate1h`: a ratio over 5m / 1h.
_RATIO_RECORD = re.compile(r":ratio_rate(\w+)$")
_NO_SLO = "carries no SLO information: no `slo` label or SLO annotation, and no burn-rate expression"
# `sla rules` writes user text in annotations as Go-template literals.
_TEMPLATE_BRACES = '{{ "{{" }}'


@dataclass(frozen=True)
class _Rule:
    item: str
    alert: str
    expr: str
    labels: dict[str, str]
    annotations: dict[str, str]


@dataclass(frozen=True)
class _Record:
    name: str
    expr: str
    labels: dict[str, str]


@dataclass(frozen=True)
class _Bound:
    """`value op bound`, the alert's firing condition, with the bound's parts when it is a
    burn rate (`factor * budget`)."""

    value: Any
    op: str
    bound: float
    budget: float | None

    @property
    def on_errors(self) -> bool:
        return self.op in (">", ">=")


@dataclass(frozen=True)
class _SLI:
    fields: dict[str, Any]
    kind: SLIKind
    via_record: bool = False


def _strings(value: object) -> dict[str, str]:
    if not isinstance(value, dict):
        return {}
    return {str(k): str(v) for k, v in value.items() if v is not None}


def _groups(text: str) -> list[dict[str, Any]]:
    try:
        documents = load_all(text)
    except YAMLError as exc:
        raise InteropError(str(exc)) from exc
    groups: list[dict[str, Any]] = []
    for doc in documents:
        # A PrometheusRule resource (prometheus-operator) keeps the same groups under `spec`.
        if isinstance(doc, dict) and doc.get("kind") == "PrometheusRule":
            doc = doc.get("spec")
        if not isinstance(doc, dict) or not isinstance(doc.get("groups"), list):
            raise InteropError("not a Prometheus rule file: expected `groups:` with a list of rule groups")
        for group in doc["groups"]:
            if not isinstance(group, dict) or not isinstance(group.get("rules", []), list):
                raise InteropError(f"rule group {group!r} is not a mapping with a list of `rules`")
            groups.append(group)
    if not groups:
        raise InteropError("the file has no rule groups")
    return groups


def _read(text: str) -> tuple[list[_Rule], dict[str, list[_Record]]]:
    alerts: list[_Rule] = []
    records: dict[str, list[_Record]] = {}
    seen: dict[str, int] = {}
    for group in _groups(text):
        group_name = str(group.get("name", "?"))
        for rule in group.get("rules") or []:
            if not isinstance(rule, dict) or "expr" not in rule:
                raise InteropError(f"a rule in group {group_name!r} has no `expr`")
            if "record" in rule:
                record = _Record(str(rule["record"]), str(rule["expr"]), _strings(rule.get("labels")))
                records.setdefault(record.name, []).append(record)
            elif "alert" in rule:
                item = f"{group_name}/{rule['alert']}"
                seen[item] = seen.get(item, 0) + 1
                if seen[item] > 1:
                    item = f"{item} #{seen[item]}"
                alerts.append(
                    _Rule(
                        item,
                        str(rule["alert"]),
                        str(rule["expr"]),
                        _strings(rule.get("labels")),
                        _strings(rule.get("annotations")),
                    )
                )
            else:
                raise InteropError(f"a rule in group {group_name!r} is neither `alert` nor `record`")
    return alerts, records


def _first_comparison(node: Any) -> Any | None:
    node = pq.strip_parens(node)
    if pq.kind(node) != "BinaryExpr":
        return None
    op = str(node.op)
    if op in ("and", "or", "unless"):
        return _first_comparison(node.lhs)
    return node if op in pq.COMPARISONS else None


def _budget(node: Any) -> float | None:
    """0.001 from `14.4 * 0.001` or `(14.4 * (1 - 0.999))`: the budget in a burn-rate bound."""
    node = pq.strip_parens(node)
    if pq.kind(node) != "BinaryExpr" or str(node.op) != "*":
        return None
    a, b = pq.constant(node.lhs), pq.constant(node.rhs)
    if a is None or b is None:
        return None
    factor, budget = max(a, b), min(a, b)
    return budget if factor >= 1 and 0 < budget < 1 else None


def _bound(comparison: Any) -> _Bound | str:
    op = str(comparison.op)
    if comparison.modifier is not None and comparison.modifier.return_bool:
        return "a `bool` comparison never fires on its own"
    if op not in _FLIP:
        return f"`{op}` compares for equality, which says nothing about an objective"
    lhs, rhs = pq.constant(comparison.lhs), pq.constant(comparison.rhs)
    if rhs is not None and lhs is None:
        return _Bound(comparison.lhs, op, rhs, _budget(comparison.rhs))
    if lhs is not None and rhs is None:
        return _Bound(comparison.rhs, _FLIP[op], lhs, _budget(comparison.lhs))
    return "the alert does not compare a query with a constant, so no objective can be read from it"


def _unscaled(bound: _Bound) -> _Bound:
    """`ratio * 100 < 99.9` is `ratio < 0.999`."""
    value = pq.strip_parens(bound.value)
    while pq.kind(value) == "BinaryExpr" and str(value.op) in ("*", "/"):
        op = str(value.op)
        left, right = pq.constant(value.lhs), pq.constant(value.rhs)
        if op == "*" and right is not None and right > 0:
            value, scale = value.lhs, right
        elif op == "*" and left is not None and left > 0:
            value, scale = value.rhs, left
        elif op == "/" and right is not None and right > 0:
            value, scale = value.lhs, 1 / right
        else:
            break
        bound = _Bound(
            value, bound.op, bound.bound / scale, None if bound.budget is None else bound.budget / scale
        )
        value = pq.strip_parens(value)
    return replace(bound, value=value)


def _one_minus(node: Any) -> Any | None:
    node = pq.strip_parens(node)
    if pq.kind(node) == "BinaryExpr" and str(node.op) == "-" and pq.constant(node.lhs) == 1:
        return node.rhs
    return None


def _per_window(node: Any, window: int) -> Any:
    """The event query inside what `sla rules` wrote around it: `sum(rate(x[1h])) * 3600` turns a
    rate into a count over 1h (the factor belongs to the window, not to the query)."""
    node = pq.strip_parens(node)
    if pq.kind(node) == "BinaryExpr" and str(node.op) == "*":
        if pq.constant(node.rhs) == window:
            node = pq.strip_parens(node.lhs)
        elif pq.constant(node.lhs) == window:
            node = pq.strip_parens(node.rhs)
    # `vector(scalar_query)`: how `sla rules` sums a scalar event query.
    if pq.kind(node) == "Call" and node.func.name == "vector" and pq.is_scalar(node.args[0]):
        node = pq.strip_parens(node.args[0])
    return node


def _events(node: Any, on_errors: bool) -> _SLI | None:
    """`errors / total` (or `1 - good / total`) with one range length on both sides."""
    if (inner := _one_minus(node)) is not None:
        return _events(inner, not on_errors)
    node = pq.strip_parens(node)
    if pq.kind(node) != "BinaryExpr" or str(node.op) != "/":
        return None
    windows = pq.range_seconds(node.lhs)
    if len(windows) != 1 or pq.range_seconds(node.rhs) != windows:
        return None
    [window] = windows
    events, total = (
        pq.windowed(_per_window(node.lhs, window), window),
        pq.windowed(_per_window(node.rhs, window), window),
    )
    if on_errors:
        return _SLI({"error_query": events, "total_query": total}, SLIKind.ERROR_TOTAL)
    return _SLI({"good_query": events, "total_query": total}, SLIKind.GOOD_TOTAL)


def _slices(node: Any) -> _SLI | None:
    """`1 - avg_over_time(((q) <= bool 0.5)[w:5m])`, the timeslice error ratio `sla rules` writes."""
    inner = _one_minus(node)
    call = pq.strip_parens(inner) if inner is not None else None
    if call is None or pq.kind(call) != "Call" or call.func.name != "avg_over_time":
        return None
    sub = call.args[0]
    if pq.kind(sub) != "SubqueryExpr" or sub.step is None:
        return None
    good = pq.strip_parens(sub.expr)
    if pq.kind(good) != "BinaryExpr" or good.modifier is None or not good.modifier.return_bool:
        return None
    threshold = pq.constant(good.rhs)
    comparison = _FROM_OP.get(str(good.op))
    if threshold is None or comparison is None:
        return None
    fields = {
        "query": pq.text(pq.strip_parens(good.lhs)),
        "threshold": threshold,
        "comparison": comparison,
        "timeslice_minutes": max(1, int(sub.step.total_seconds()) // 60),
    }
    return _SLI(fields, SLIKind.THRESHOLD, via_record=True)


def _equalities(selector: Any) -> dict[str, str]:
    """`{job="myjob"}` -> {"job": "myjob"}: what a selector pins down."""
    return {
        m.name: m.value
        for m in selector.matchers.matchers
        if m.op == promql_parser.MatchOp.Equal and m.name != "__name__"
    }


def _resolve(node: Any, records: dict[str, list[_Record]]) -> _Record | str | None:
    """The recording rule behind a selector; a reason when it looks recorded but is missing."""
    node = pq.strip_parens(node)
    if pq.kind(node) != "VectorSelector" or not node.name:
        return None
    candidates = records.get(node.name, [])
    wanted = _equalities(node)
    # A recording rule without a label can still produce it (`sum by (job)`); one that sets
    # it to another value cannot. The rule that sets the most of the wanted labels wins.
    fitting = [r for r in candidates if all(r.labels.get(k, v) == v for k, v in wanted.items())]
    if fitting:
        return max(fitting, key=lambda r: sum(k in r.labels for k in wanted))
    if ":" in node.name:
        return (
            f"the alert reads the recorded series `{node.name}`, but the file has no matching recording rule"
        )
    return None


def _recorded(record: _Record, on_errors: bool) -> _SLI | str:
    """The SLI in a recorded ratio: its range length becomes {{.window}}."""
    try:
        node = pq.parse(record.expr)
    except QueryTooComplex as exc:
        return f"recording rule {echo(record.name)} is over a limit: {exc}"
    except ValueError as exc:
        return f"recording rule {echo(record.name)} does not parse: {exc}"
    if (sli := _slices(node)) is not None:
        return sli
    if (sli := _events(node, on_errors)) is not None:
        return replace(sli, via_record=True)
    match = _RATIO_RECORD.search(record.name)
    windows = pq.range_seconds(node)
    if match is None or len(windows) != 1:
        return f"recording rule {record.name} is not a ratio over one window the importer can read"
    [window] = windows
    # A ratio query returns the good ratio; a recorded error ratio is one minus it.
    good = _one_minus(node)
    if good is not None and on_errors:
        return _SLI({"query": pq.windowed(pq.strip_parens(good), window)}, SLIKind.RATIO, via_record=True)
    query = pq.windowed(node, window)
    if on_errors:
        query = f"1 - ({query})"
    return _SLI({"query": query}, SLIKind.RATIO, via_record=True)


def _first(mapping: dict[str, str], keys: tuple[str, ...]) -> tuple[str, str] | None:
    for key in keys:
        if mapping.get(key):
            return key, mapping[key]
    return None


def _convert(
    rule: _Rule, records: dict[str, list[_Record]], namespace: str, default_target: float, out: Conversion
) -> None:
    annotations = {k: v.replace(_TEMPLATE_BRACES, "{{") for k, v in rule.annotations.items()}
    described = bool((set(rule.labels) | set(annotations)) & SLO_KEYS)

    def skip(reason: str) -> None:
        # For an alert that says nothing about an SLO, that is the reason worth reporting.
        out.skip(rule.item, reason if described else _NO_SLO)

    try:
        tree = pq.parse(rule.expr)
    except QueryTooComplex as exc:
        out.skip(rule.item, f"the expression is over a limit: {exc}")
        return
    except ValueError as exc:
        out.skip(rule.item, f"the expression does not parse: {exc}")
        return
    comparison = _first_comparison(tree)
    if comparison is None:
        skip("the alert compares nothing with a bound (no >, <, >= or <=)")
        return
    found = _bound(comparison)
    if isinstance(found, str):
        skip(found)
        return
    bound = _unscaled(found)
    record = _resolve(bound.value, records)
    if isinstance(record, str):
        out.skip(rule.item, record)
        return
    labels = dict(rule.labels)
    sli: _SLI | str | None
    if record is not None:
        sli = _recorded(record, bound.on_errors)
        # The recorded series carries the selector's labels (the SRE workbook's `job`) too.
        labels = {**_equalities(pq.strip_parens(bound.value)), **record.labels, **labels}
    else:
        sli = _events(bound.value, bound.on_errors)
    if isinstance(sli, str):
        out.skip(rule.item, sli)
        return
    if not described and bound.budget is None and record is None:
        out.skip(rule.item, _NO_SLO)
        return
    notes: list[str] = []
    fields: dict[str, Any] = {}
    if sli is None:
        # Compared with a constant but not a ratio of events: one judgement per timeslice.
        fields["query"] = pq.text(pq.strip_parens(found.value))
        fields["threshold"] = found.bound
        fields["comparison"] = _GOOD_WHEN[found.op]
        kind = SLIKind.THRESHOLD
        explicit = _first({**labels, **annotations}, _OBJECTIVE_KEYS)
        target = parse_ratio(explicit[1]) if explicit else None
        if target is None:
            target = default_target
            notes.append(f"no objective in the rule: target set to the default {default_target}")
        notes.append(
            f"timeslice SLI: a slice is good when `{fields['query']} {_COMPARISON_OP[fields['comparison']]} "
            f"{pq.number(found.bound)}`"
        )
    else:
        fields.update(sli.fields)
        kind = sli.kind
        if bound.on_errors:
            target = 1 - (bound.budget if bound.budget is not None else bound.bound)
        else:
            target = bound.bound
        if not 0 < target <= TARGET_MAX:
            skip(
                f"the alert's bound gives an objective of {target * 100:.10g} %; objectives are above 0 "
                f"and at most {TARGET_MAX * 100:g} %"
            )
            return
    both = {**labels, **annotations}
    name = (
        annotations.get("slo_name")
        or labels.get("sloth_id")
        or ("-".join((labels["sloth_service"], labels["sloth_slo"])) if "sloth_slo" in labels else None)
        or labels.get("slo")
        or rule.alert
    )
    service = _first(labels, _SERVICE_KEYS)
    if service is None:
        notes.append("no service label: the SLO's name is used as its service")
    layer = _first(both, _LAYER_KEYS)
    window = parse_days(both.get("slo_window", ""))
    slo_type = parse_type(both.get("slo_type", "")) or guess_type(kind, [name, rule.item], [rule.expr])
    consumed = _CONSUMED | ({service[0]} if service else set())
    spec = make_spec(
        {
            "name": name,
            "slo_type": slo_type,
            "service_name": service[1] if service else name,
            "namespace": labels.get("namespace") or namespace,
            "layer": layer[1] if layer else None,
            "description": annotations.get("slo_description"),
            "labels": {k: v for k, v in sorted(labels.items()) if k not in consumed},
            "target": round(target, 12),
            "window_days": window,
            "sli_query": {
                k: fields.pop(k) for k in ("query", "error_query", "good_query", "total_query") if k in fields
            },
            **fields,
        }
    )
    if isinstance(spec, str):
        out.skip(rule.item, spec)
        return
    out.add(rule.item, spec, notes)


def import_alerts(
    text: str, *, namespace: str = DEFAULT_NAMESPACE, default_target: float = 0.99
) -> Conversion:
    """SLOs from the alert rules of a Prometheus rule file. InteropError: not a rule file."""
    alerts, records = _read(text)
    out = Conversion()
    for rule in alerts:
        _convert(rule, records, namespace, default_target, out)
    return out
