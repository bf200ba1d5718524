"""SLOs from a Prometheus rule file (the spec's `POST /api/v1/slos/import/alerts`).

An alert becomes an SLO when it carries SLO information: an `slo` label or SLO annotations
(`slo_name`, `slo_target`, Sloth's `sloth_*` labels ...), or a recognisable burn-rate expression
(a bound written `factor * budget`, or a recorded `...:ratio_rate<w>` / `...:burnrate<w>`
series). What the alert compares decides the SLI:

- `errors / total > bound` (or `good / total < bound`), both sides over the same range: an
  event SLI. Ranges of that length become {{.window}}; the objective is `1 - bound` (or
  `bound`), with `*100` scales and `1 - x` taken into account. A bound `14.4 * 0.001` is a burn
  rate: the budget is 0.001, the objective 99.9 %.
- a recorded series: its recording rule from the same file is read instead, so files written by
  Sloth, Pyrra, SRE-workbook style generators, or `sla rules` itself come back as the SLOs they
  were made from. Comparisons wrapped in aggregations (Sloth's `max(... > bound) without
  (sloth_window)`) are read inside.
- anything else compared with a constant (`histogram_quantile(...) > 0.2`): a timeslice SLI
  with that threshold; a slice is good when the alert would not fire. Its objective comes from
  an `slo_objective`/`objective`/`slo_target` label or annotation, else the default target.

Multi-window alerts (`A and B`, `(A and B) or (C and D)`) are read from their first condition.
The alerts of one SLO become its alerting settings: a fast burn (factor 6 and up, Sloth's
`sloth_severity: page`, a `critical`/`page` severity) is the page alert, a slow one the ticket
alert, with their names, `severity` and routing labels, and annotations. In files a generator
wrote (Sloth, Pyrra, `sla rules`), a missing page or ticket alert was turned off, and stays off.

With no alerts at all (Sloth's `disable: true`, Pyrra's `burnrates: false`), SLOs are recovered
from the recorded series when the file says their objective: Sloth's `slo:objective:ratio` or
`sloth_slo_info`, Pyrra's `pyrra_objective`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import promql_parser
from pydantic import ValidationError

from sla_management.domain.interop import promqltext as pq
from sla_management.domain.interop.common import (
    DEFAULT_NAMESPACE,
    Conversion,
    InteropError,
    alert_map,
    alert_name,
    guess_type,
    make_spec,
    parse_days,
    parse_ratio,
    parse_type,
    validation_reason,
)
from sla_management.domain.interop.yamlio import YAMLError, load_all
from sla_management.domain.limits import TARGET_MAX, QueryTooComplex, echo
from sla_management.domain.rules import BURN_ALERTS, BurnAlert, default_annotations
from sla_management.domain.slo import Comparison, SLIKind, SLOAlerting, SLOSpec

# Labels and annotations that say an alert is about an SLO.
SLO_KEYS = frozenset(
    {"slo", "slo_name", "sloth_slo", "sloth_id", "slo_target", "slo_objective", "objective", "slo_type"}
)
_SERVICE_KEYS = ("service", "sloth_service", "service_name", "neural_hive_component", "app", "job")
_LAYER_KEYS = ("layer", "slo_layer", "neural_hive_layer")
_OBJECTIVE_KEYS = ("slo_objective", "objective", "slo_target")
_SLOTH_LABELS = frozenset(
    {
        "sloth_id",
        "sloth_service",
        "sloth_slo",
        "sloth_window",
        "sloth_severity",
        "sloth_mode",
        "sloth_spec",
        "sloth_version",
        "sloth_objective",
    }
)
# Labels Pyrra puts on each of its alerts, describing that alert's windows.
_PYRRA_ALERT_LABELS = frozenset({"long", "short", "exhaustion"})
# Labels that describe the alert or were read into SLO fields; the rest become SLO labels.
_CONSUMED = frozenset(
    {"slo", "service", "namespace", "severity", "alertname", "slo_type", "slo_window", *_LAYER_KEYS}
    | _SLOTH_LABELS
)
_CONSUMED_ANNOTATIONS = frozenset(
    {"slo_name", "slo_type", "slo_window", "slo_layer", "slo_description", "slo_sli", *_OBJECTIVE_KEYS}
)
# `a > x` fires when the value is high: the value counts errors. `a < x`: it counts good.
_FLIP = {">": "<", ">=": "<=", "<": ">", "<=": ">="}
# The timeslice SLI is good when the alert would not fire.
_GOOD_WHEN = {">": Comparison.LTE, ">=": Comparison.LT, "<": Comparison.GTE, "<=": Comparison.GT}
_COMPARISON_OP = {Comparison.LT: "<", Comparison.LTE: "<=", Comparison.GT: ">", Comparison.GTE: ">="}
_FROM_OP = {v: k for k, v in _COMPARISON_OP.items()}
# `slo:sli_error:ratio_rate5m`, `job:slo_errors_per_request:ratio_rate1h`, Pyrra's
# `http_requests:burnrate5m`: an error ratio over 5m / 1h.
_RATIO_RECORD = re.compile(r":(?:ratio_rate|burnrate)(\w+)$")
_PYRRA_INCREASE = re.compile(r":increase(\w+)$")
# `sla rules` writes user text in annotations as Go-template literals.
_TEMPLATE_BRACES = '{{ "{{" }}'
_VALUE_TEMPLATE = re.compile(r"\{\{[^}]*(\$value|\.Value)")
# Severities that page someone; others (warning, ticket, info ...) are the slow-burn alert.
_PAGING = frozenset({"page", "critical", "error", "high", "p1", "sev1", "emergency", "pageteam"})
_BY_SEVERITY = {alert.severity: alert for alert in BURN_ALERTS}
_SEVERITIES = tuple(_BY_SEVERITY)
# Burn factors of the page alert start here (the SRE workbook's 6x over 6h).
_PAGE_FACTOR = 6.0


@dataclass(frozen=True)
class _Rule:
    item: str
    alert: str
    expr: str
    labels: dict[str, str]
    annotations: dict[str, str]
    has_for: bool = False


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
    factor: float | None = None

    @property
    def on_errors(self) -> bool:
        return self.op in (">", ">=")


@dataclass(frozen=True)
class _SLI:
    fields: dict[str, Any]
    kind: SLIKind
    via_record: bool = False


@dataclass
class _Alert:
    """One alert read as an SLO, before the alerts of the same SLO are put together."""

    item: str
    spec: SLOSpec
    notes: list[str]
    severity: str
    name: str
    # The alert's own labels (routing: severity, team keys) and annotations.
    labels: dict[str, str]
    annotations: dict[str, str]
    generator: str | None  # "sloth", "pyrra", "sla": a missing page/ticket alert was turned off
    sloth_id: str | None = None
    slo_label: str | None = None
    folded: list[str] = field(default_factory=list)
    factors: list[float] = field(default_factory=list)


def _strings(value: object) -> dict[str, str]:
    if not isinstance(value, dict):
        return {}
    return {str(k): _scalar(v) for k, v in value.items() if v is not None}


def _scalar(value: object) -> str:
    # YAML reads `true` as a boolean; Prometheus reads every label value as text.
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


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
            if not isinstance(group, dict) or not isinstance(group.get("rules") or [], list):
                raise InteropError(f"rule group {str(group)[:80]!r} is not a mapping with a list of `rules`")
            groups.append(group)
    if not groups:
        raise InteropError("the file has no rule groups")
    return groups


def _read(text: str) -> tuple[list[_Rule], dict[str, list[_Record]]]:
    alerts: list[_Rule] = []
    records: dict[str, list[_Record]] = {}
    seen: dict[str, int] = {}
    for group in _groups(text):
        group_name = str(group.get("name", "?"))[:200]
        for rule in group.get("rules") or []:
            if not isinstance(rule, dict) or "expr" not in rule:
                raise InteropError(f"a rule in group {group_name!r} has no `expr`")
            if "record" in rule:
                record = _Record(str(rule["record"]), str(rule["expr"]), _strings(rule.get("labels")))
                records.setdefault(record.name, []).append(record)
            elif "alert" in rule:
                item = f"{group_name}/{str(rule['alert'])[:200]}"
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
                        has_for=bool(rule.get("for")),
                    )
                )
            else:
                raise InteropError(f"a rule in group {group_name!r} is neither `alert` nor `record`")
    return alerts, records


def _first_comparison(node: Any) -> Any | None:
    """The first comparison of the condition, looking through `and`/`or` and through
    aggregations (`max(x > bound) without (sloth_window)`)."""
    node = pq.strip_parens(node)
    match pq.kind(node):
        case "AggregateExpr" if node.param is None:
            return _first_comparison(node.expr)
        case "BinaryExpr":
            op = str(node.op)
            if op in ("and", "or", "unless"):
                return _first_comparison(node.lhs)
            return node if op in pq.COMPARISONS else None
    return None


def _comparisons(node: Any) -> list[Any]:
    """Every comparison joined by `and`/`or` in the condition (each window pair's bounds)."""
    node = pq.strip_parens(node)
    match pq.kind(node):
        case "AggregateExpr" if node.param is None:
            return _comparisons(node.expr)
        case "BinaryExpr":
            op = str(node.op)
            if op in ("and", "or", "unless"):
                return _comparisons(node.lhs) + _comparisons(node.rhs)
            return [node] if op in pq.COMPARISONS else []
    return []


def _burn(node: Any) -> tuple[float, float] | None:
    """(factor, budget) from `14.4 * 0.001` or `(14.4 * (1 - 0.999))`: a burn-rate bound."""
    node = pq.strip_parens(node)
    if pq.kind(node) != "BinaryExpr" or str(node.op) != "*":
        return None
    a, b = pq.constant(node.lhs), pq.constant(node.rhs)
    if a is None or b is None:
        return None
    factor, budget = max(a, b), min(a, b)
    return (factor, budget) if factor >= 1 and 0 < budget < 1 else None


def _bound(comparison: Any) -> _Bound | str:
    op = str(comparison.op)
    if comparison.modifier is not None and comparison.modifier.return_bool:
        return "a `bool` comparison never fires on its own"
    if op not in _FLIP:
        return f"`{op}` compares for equality, which says nothing about an objective"
    lhs, rhs = pq.constant(comparison.lhs), pq.constant(comparison.rhs)
    if rhs is not None and lhs is None:
        burn = _burn(comparison.rhs)
        return _Bound(comparison.lhs, op, rhs, burn and burn[1], burn and burn[0])
    if lhs is not None and rhs is None:
        burn = _burn(comparison.lhs)
        return _Bound(comparison.rhs, _FLIP[op], lhs, burn and burn[1], burn and burn[0])
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
            value,
            bound.op,
            bound.bound / scale,
            None if bound.budget is None else bound.budget / scale,
            bound.factor,
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


def _fitting(records: list[_Record], wanted: dict[str, str]) -> _Record | None:
    # A recording rule without a label can still produce it (`sum by (job)`); one that sets
    # it to another value cannot. The rule that sets the most of the wanted labels wins.
    fitting = [r for r in records if all(r.labels.get(k, v) == v for k, v in wanted.items())]
    return max(fitting, key=lambda r: sum(k in r.labels for k in wanted)) if fitting else None


def _resolve(node: Any, records: dict[str, list[_Record]]) -> _Record | str | None:
    """The recording rule behind a selector; a reason when it looks recorded but is missing."""
    node = pq.strip_parens(node)
    if pq.kind(node) != "VectorSelector" or not node.name:
        return None
    found = _fitting(records.get(node.name, []), _equalities(node))
    if found is not None:
        return found
    if ":" in node.name:
        return (
            f"the alert reads the recorded series `{node.name}`, but the file has no matching recording rule"
        )
    return None


def _recorded(record: _Record, on_errors: bool, kind: str | None = None) -> _SLI | str:
    """The SLI in a recorded ratio: its range length becomes {{.window}}. `kind`: the SLI shape
    the file states (our `slo_sli` annotation), for `1 - (x)`, which may be either."""
    try:
        node = pq.parse(record.expr)
    except QueryTooComplex as exc:
        return f"recording rule {echo(record.name)} is over a limit: {exc}"
    except ValueError as exc:
        return f"recording rule {echo(record.name)} does not parse: {exc}"
    if (sli := _slices(node)) is not None:
        return sli
    good = _one_minus(node)
    windows = pq.range_seconds(node)
    if kind == SLIKind.RATIO.value and good is not None and on_errors and len(windows) == 1:
        [window] = windows
        return _SLI({"query": pq.windowed(pq.strip_parens(good), window)}, SLIKind.RATIO, via_record=True)
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


def _vector_value(records: dict[str, list[_Record]], name: str, wanted: dict[str, str]) -> float | None:
    """The constant of a metadata record (`slo:objective:ratio` = `vector(0.999)`) for one SLO."""
    record = _fitting([r for r in records.get(name, []) if r.labels], wanted)
    if record is None:
        return None
    try:
        node = pq.strip_parens(pq.parse(record.expr))
    except ValueError:
        return None
    if pq.kind(node) == "Call" and node.func.name == "vector":
        return pq.constant(node.args[0])
    return pq.constant(node)


def _window_days(
    records: dict[str, list[_Record]], labels: dict[str, str], both: dict[str, str]
) -> tuple[int | None, str | None]:
    """The SLO window a file states: our `slo_window` annotation, Sloth's `slo:time_period:days`,
    Pyrra's `<metric>:increase<window>` record. (days, where it came from)."""
    if (days := parse_days(both.get("slo_window", ""))) is not None:
        return days, None
    sloth = {k: labels[k] for k in ("sloth_id",) if k in labels}
    if sloth and (value := _vector_value(records, "slo:time_period:days", sloth)) is not None:
        return (int(value), None) if value == int(value) else (None, None)
    if "slo" in labels:
        for name, candidates in records.items():
            match = _PYRRA_INCREASE.search(name)
            if match is None or not any(r.labels.get("slo") == labels["slo"] for r in candidates):
                continue
            seconds = pq.duration_seconds(match.group(1))
            if seconds is not None and seconds % 86400 == 0:
                return seconds // 86400, f"Pyrra's `{name}`"
        seconds_value = _vector_value(records, "pyrra_window", {"slo": labels["slo"]})
        if seconds_value is not None and seconds_value > 0 and seconds_value % 86400 == 0:
            return int(seconds_value // 86400), "Pyrra's `pyrra_window`"
    return None, None


def _generator(rule: _Rule, labels: dict[str, str], record: _Record | None) -> str | None:
    if labels.keys() & {"sloth_severity", "sloth_id"}:
        return "sloth"
    if rule.labels.keys() >= _PYRRA_ALERT_LABELS and record is not None and ":burnrate" in record.name:
        return "pyrra"
    if "slo_window" in rule.annotations and record is not None and record.name.startswith("slo:"):
        return "sla"
    return None


def _severity(rule: _Rule, bound: _Bound | None) -> str:
    """page or ticket: which of our two alerts this alert is."""
    sloth = rule.labels.get("sloth_severity")
    if sloth in _SEVERITIES:
        return sloth
    for alert in BURN_ALERTS:
        if rule.alert == alert.alertname:
            return alert.severity
    if bound is not None and bound.factor is not None:
        return "page" if bound.factor >= _PAGE_FACTOR else "ticket"
    severity = rule.labels.get("severity", "").lower()
    return "page" if not severity or severity in _PAGING else "ticket"


_NO_SLO = "carries no SLO information: no `slo` or `sloth_*` label and no SLO annotation"


def _no_slo(rule: _Rule, found: _Bound | None) -> str:
    """Why an alert is not an SLO, saying what it does compare."""
    base = _NO_SLO
    if found is None:
        return f"{base}, and it compares nothing with a bound"
    value = pq.text(pq.strip_parens(found.value))
    if len(value) > 120:
        value = value[:117] + "..."
    return (
        f"{base}, and it compares `{value}` {found.op} {pq.number(found.bound)}, which is no "
        "burn-rate bound (factor * budget) and no recorded error ratio"
    )


def _annotations_of(
    rule: _Rule, annotations: dict[str, str], error_ratio: bool, notes: list[str]
) -> dict[str, str]:
    kept: dict[str, str] = {}
    for key, value in annotations.items():
        if key in _CONSUMED_ANNOTATIONS:
            continue
        # Our alerts' value is the error ratio; text about another value would be wrong there.
        if not error_ratio and _VALUE_TEMPLATE.search(value):
            notes.append(
                f"annotation {key} of {rule.alert} is not carried: its {{{{ $value }}}} is this rule's "
                "value, while the alerts `sla rules` writes have the error ratio as value"
            )
            continue
        kept[key] = value
    return kept


def _convert(
    rule: _Rule, records: dict[str, list[_Record]], namespace: str, default_target: float
) -> _Alert | str:
    annotations = {k: v.replace(_TEMPLATE_BRACES, "{{") for k, v in rule.annotations.items()}
    described = bool((set(rule.labels) | set(annotations)) & SLO_KEYS)

    def unless_described(reason: str) -> str:
        # For an alert that says nothing about an SLO, that is the reason worth reporting.
        return reason if described else f"{_NO_SLO}, and {reason.removeprefix('the alert ')}"

    try:
        tree = pq.parse(rule.expr)
    except QueryTooComplex as exc:
        return f"the expression is over a limit: {exc}"
    except ValueError as exc:
        return f"the expression does not parse: {exc}"
    comparison = _first_comparison(tree)
    if comparison is None:
        return unless_described("the alert compares nothing with a bound (no >, <, >= or <=)")
    tested = pq.strip_parens(comparison.lhs)
    if pq.kind(tested) == "Call" and tested.func.name in ("absent", "absent_over_time"):
        return (
            "an absent-metric alert (Pyrra's SLOMetricAbsent, for one): no data is NO_DATA here, "
            "never an alert, so it describes no SLO"
        )
    found = _bound(comparison)
    if isinstance(found, str):
        return unless_described(found)
    bound = _unscaled(found)
    record = _resolve(bound.value, records)
    if isinstance(record, str):
        return record
    series_labels: dict[str, str] = {}
    sli: _SLI | str | None
    if record is not None:
        sli = _recorded(record, bound.on_errors, annotations.get("slo_sli"))
        # The recorded series carries the selector's labels (the SRE workbook's `job`) too.
        series_labels = {**_equalities(pq.strip_parens(bound.value)), **record.labels}
    else:
        sli = _events(bound.value, bound.on_errors)
    if isinstance(sli, str):
        return sli
    labels = {**series_labels, **rule.labels}
    described = described or bool(series_labels.keys() & SLO_KEYS)
    if not described and bound.budget is None and record is None:
        return _no_slo(rule, found)
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
            return (
                f"the alert's bound gives an objective of {target * 100:.10g} %; objectives are above 0 "
                f"and at most {TARGET_MAX * 100:g} %"
            )
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
    window, window_from = _window_days(records, labels, both)
    if window_from:
        notes.append(f"the window is read from {window_from}")
    # The names, not the metrics: `*_duration_seconds_count` counts any request.
    slo_type = parse_type(both.get("slo_type", "")) or guess_type(kind, [name, rule.item])
    generator = _generator(rule, labels, record if isinstance(record, _Record) else None)
    consumed = _CONSUMED | ({service[0]} if service else set())
    if generator == "pyrra":
        consumed |= _PYRRA_ALERT_LABELS
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
        return spec
    if rule.has_for:
        notes.append(f"the `for` of {rule.alert} is not carried: the burn-rate windows already debounce")
    severity = _severity(rule, bound)
    # The rule's other labels are the SLO's (and so on both alerts); labels that differ between
    # its page and ticket alert are told apart when the alerts are put together.
    own_labels = {"severity": rule.labels["severity"]} if "severity" in rule.labels else {}
    error_ratio = bound.budget is not None or (isinstance(sli, _SLI) and sli.via_record)
    return _Alert(
        item=rule.item,
        spec=spec,
        notes=notes,
        severity=severity,
        name=rule.alert,
        labels=own_labels,
        annotations=_annotations_of(rule, annotations, error_ratio, notes),
        generator=generator,
        sloth_id=labels.get("sloth_id"),
        slo_label=labels.get("slo"),
        factors=_factors(tree),
    )


def _factors(tree: Any) -> list[float]:
    """The burn factors of every window pair of the alert, in order, once each."""
    factors: list[float] = []
    for comparison in _comparisons(tree):
        found = _bound(comparison)
        if isinstance(found, _Bound) and found.factor is not None and found.factor not in factors:
            factors.append(found.factor)
    return factors


# --- putting the alerts of one SLO together ---------------------------------------------------------


def _same_definition(a: SLOSpec, b: SLOSpec) -> str | None:
    """The first field two readings of the same SLO disagree on (labels may differ: routing)."""
    for name in SLOSpec.model_fields:
        if name not in ("labels", "alerting") and getattr(a, name) != getattr(b, name):
            return name
    return None


def _shared(dicts: list[dict[str, str]]) -> dict[str, str]:
    first = dicts[0]
    return {k: v for k, v in first.items() if all(d.get(k) == v for d in dicts[1:])}


def _defaults_dropped(alert: _Alert, spec: SLOSpec, burn: BurnAlert) -> tuple[dict[str, str], dict[str, str]]:
    """The alert's labels and annotations minus what `sla rules` writes anyway for this SLO, so
    a file it wrote comes back without settings."""
    labels = dict(alert.labels)
    if labels.get("severity") == burn.severity:
        del labels["severity"]
    defaults = {k: v.replace(_TEMPLATE_BRACES, "{{") for k, v in default_annotations(spec, burn).items()}
    annotations = {k: v for k, v in alert.annotations.items() if defaults.get(k) != v}
    return labels, annotations


def _alerting(
    alerts: dict[str, _Alert], spec: SLOSpec, sloth_metadata: bool, notes: list[str]
) -> tuple[SLOAlerting | None, SLOSpec]:
    """The SLO's alerting settings from its page and ticket alerts; labels both alerts share
    stay the SLO's own labels, as they were before the alerts were put together. What a file
    says that `sla rules` could not write (a label name Prometheus refuses ...) is left out,
    with a note."""
    present = list(alerts.values())
    shared_labels = _shared([a.spec.labels for a in present])
    settings: dict[str, dict[str, Any]] = {}
    for severity, alert in alerts.items():
        labels, annotations = _defaults_dropped(alert, spec, _BY_SEVERITY[severity])
        own = {k: v for k, v in alert.spec.labels.items() if k not in shared_labels}
        settings[severity] = {
            "labels": alert_map({**own, **labels}, f"{severity} alert label", notes),
            "annotations": alert_map(annotations, f"{severity} alert annotation", notes, annotations=True),
        }
    names = {alert_name(a.name, notes) for a in present}
    common: dict[str, Any] = {}
    if len(names) == 1 and len(present) > 1:
        [name] = names
        if not all(alert.name == _BY_SEVERITY[sev].alertname for sev, alert in alerts.items()):
            common["name"] = name
    else:
        for severity, alert in alerts.items():
            if alert.name != _BY_SEVERITY[severity].alertname:
                settings[severity]["name"] = alert_name(alert.name, [])
    if len(present) > 1:
        for key in ("labels", "annotations"):
            shared = _shared([s[key] for s in settings.values()])
            common[key] = shared
            for slot in settings.values():
                slot[key] = {k: v for k, v in slot[key].items() if k not in shared}
    generated = any(a.generator for a in present)
    for severity in _SEVERITIES:
        if severity not in alerts and generated:
            settings[severity] = {"enabled": False}
    try:
        alerting = SLOAlerting.model_validate({**common, **settings, "sloth_metadata": sloth_metadata})
    except ValidationError as exc:
        notes.append(f"the alerts' settings are not carried: {validation_reason(exc)}")
        return None, spec
    return alerting, spec.model_copy(update={"labels": shared_labels})


def _has_sloth_metadata(records: dict[str, list[_Record]], spec_id: dict[str, str]) -> bool:
    return any(
        _fitting([r for r in records.get(name, []) if r.labels], spec_id) is not None
        for name in ("slo:objective:ratio", "sloth_slo_info")
    )


def _factor_note(severity: str, alert: _Alert) -> list[str]:
    """Say so when the file burns at other factors than the alerts `sla rules` writes."""
    ours = _BY_SEVERITY[severity]
    if not alert.factors or sorted(alert.factors) == sorted(c.factor for c in ours.conditions):
        return []
    theirs = ", ".join(f"{f:g}x" for f in alert.factors)
    pairs = ", ".join(f"{c.factor:g}x over {c.long}/{c.short}" for c in ours.conditions)
    return [f"the {severity} alert burns at {theirs} in the file; `sla rules` writes ours: {pairs}"]


def _combine(
    found: list[_Alert], records: dict[str, list[_Record]], namespace_default: str, out: Conversion
) -> None:
    by_slo: dict[tuple[str, str], list[_Alert]] = {}
    for alert in found:
        by_slo.setdefault((alert.spec.name, alert.spec.namespace), []).append(alert)
    for alerts in by_slo.values():
        first = alerts[0]
        slots: dict[str, _Alert] = {}
        for alert in alerts:
            differs = _same_definition(first.spec, alert.spec)
            if differs is not None:
                out.skip(
                    alert.item,
                    f"same SLO name {alert.spec.name!r} as {first.item!r}, but a different {differs}",
                )
                continue
            held = slots.get(alert.severity)
            if held is None:
                slots[alert.severity] = alert
            elif (held.name, held.labels, held.annotations) == (alert.name, alert.labels, alert.annotations):
                # Pyrra writes each window pair as its own alert: the same alert, twice.
                held.folded.append(alert.item)
                held.factors += [f for f in alert.factors if f not in held.factors]
            else:
                out.skip(
                    alert.item,
                    f"a second {alert.severity} alert for SLO {alert.spec.name!r} (the first is "
                    f"{held.item!r}): `sla rules` writes one page and one ticket alert per SLO",
                )
        if not slots:
            continue
        ordered = {sev: slots[sev] for sev in _SEVERITIES if sev in slots}
        lead = min(slots.values(), key=alerts.index)
        sloth_id = {"sloth_id": lead.sloth_id} if lead.sloth_id else {"slo": lead.spec.name}
        sloth = lead.generator in ("sloth", "sla") and _has_sloth_metadata(records, sloth_id)
        notes = list(dict.fromkeys(note for alert in ordered.values() for note in alert.notes))
        alerting, spec = _alerting(ordered, lead.spec, sloth, notes)
        for severity, alert in ordered.items():
            if alert is not lead:
                notes.append(f"its {severity} alert is {alert.item}")
            notes += [f"{item} is another window pair of {alert.item}" for item in alert.folded]
            notes += _factor_note(severity, alert)
        if lead.generator:
            for severity in _SEVERITIES:
                if severity not in ordered:
                    notes.append(f"the file has no {severity} alert for it: its {severity} alert is off")
        spec = spec.model_copy(update={"alerting": None if alerting == SLOAlerting() else alerting})
        try:
            checked = SLOSpec.model_validate(spec.model_dump())
        except ValidationError as exc:
            out.skip(lead.item, f"not a valid SLO: {validation_reason(exc)}")
            continue
        out.add(lead.item, checked, notes)


# --- SLOs from recorded series alone ---------------------------------------------------------------


def _sloth_from_records(
    records: dict[str, list[_Record]], namespace: str, taken: set[str], out: Conversion
) -> None:
    """SLOs whose alerts were disabled, written by Sloth (or by `sla rules`, whose records carry
    `slo`): the 5m error ratio, and the objective from the metadata series."""
    for record in records.get("slo:sli_error:ratio_rate5m", []):
        sloth_id = record.labels.get("sloth_id")
        ours = record.labels.get("slo")
        key = sloth_id or ours
        if not key or key in taken or (ours and ours in taken):
            continue
        taken.add(key)
        item = f"recorded SLO {key}"
        wanted = {"sloth_id": sloth_id} if sloth_id else {"slo": key}
        objective = _vector_value(records, "slo:objective:ratio", wanted)
        if objective is None:
            info = _fitting(records.get("sloth_slo_info", []), wanted)
            percent = parse_ratio(info.labels.get("sloth_objective", "")) if info else None
            objective = percent
        if objective is None or not sloth_id:
            out.skip(
                item,
                "its error ratio is recorded, but the file has no alert for it and no objective "
                "(`slo:objective:ratio`, `sloth_slo_info` with `sloth_objective`)"
                + (": export it with `sla export openslo` or `sla export sloth` instead" if ours else ""),
            )
            continue
        sli = _recorded(record, on_errors=True)
        if isinstance(sli, str):
            out.skip(item, sli)
            continue
        days = _vector_value(records, "slo:time_period:days", wanted)
        labels = {k: v for k, v in sorted(record.labels.items()) if k not in _CONSUMED}
        service = record.labels.get("sloth_service") or sloth_id
        spec = make_spec(
            {
                "name": sloth_id,
                "slo_type": guess_type(sli.kind, [sloth_id]),
                "service_name": service,
                "namespace": record.labels.get("namespace") or namespace,
                "labels": labels,
                "target": round(objective, 12),
                "window_days": int(days) if days is not None and days == int(days) else None,
                "sli_query": {k: v for k, v in sli.fields.items() if k.endswith("query")},
                **{k: v for k, v in sli.fields.items() if not k.endswith("query")},
                "alerting": {
                    "page": {"enabled": False},
                    "ticket": {"enabled": False},
                    "slothMetadata": True,
                },
            }
        )
        if isinstance(spec, str):
            out.skip(item, spec)
            continue
        out.add(
            item,
            spec,
            ["the file has no alerts for it (Sloth's `disable: true`): its page and ticket alerts are off"],
        )


def _pyrra_from_records(
    records: dict[str, list[_Record]], namespace: str, taken: set[str], out: Conversion
) -> None:
    """Pyrra SLOs without burn-rate alerts: recorded ratios, and the objective only if Pyrra's
    generic rules (`pyrra_objective`) are in the file too."""
    shortest: dict[str, tuple[int, _Record]] = {}
    for name, candidates in records.items():
        match = re.search(r":burnrate(\w+)$", name)
        if match is None:
            continue
        seconds = pq.duration_seconds(match.group(1))
        if seconds is None:
            continue
        for record in candidates:
            slo = record.labels.get("slo")
            if slo and slo not in taken and (slo not in shortest or seconds < shortest[slo][0]):
                shortest[slo] = (seconds, record)
    for slo, (_, record) in shortest.items():
        taken.add(slo)
        item = f"recorded SLO {slo}"
        objective = _vector_value(records, "pyrra_objective", {"slo": slo})
        if objective is None:
            out.skip(
                item,
                f"Pyrra's burn-rate series `{record.name}` are recorded, but its objective is only in "
                "Pyrra's alerts or `pyrra_objective`, neither in the file: import the "
                "ServiceLevelObjective itself (`sla import pyrra`)",
            )
            continue
        sli = _recorded(record, on_errors=True)
        if isinstance(sli, str):
            out.skip(item, sli)
            continue
        days, _ = _window_days(records, {"slo": slo}, {})
        service = _first(record.labels, _SERVICE_KEYS)
        spec = make_spec(
            {
                "name": slo,
                "slo_type": guess_type(sli.kind, [slo]),
                "service_name": service[1] if service else slo,
                "namespace": record.labels.get("namespace") or namespace,
                "labels": {k: v for k, v in sorted(record.labels.items()) if k not in _CONSUMED},
                "target": round(objective, 12),
                "window_days": days,
                "sli_query": {k: v for k, v in sli.fields.items() if k.endswith("query")},
                "alerting": {"page": {"enabled": False}, "ticket": {"enabled": False}},
            }
        )
        if isinstance(spec, str):
            out.skip(item, spec)
            continue
        out.add(item, spec, ["the file has no alerts for it (Pyrra's `burnrates: false`): alerts are off"])


def import_alerts(
    text: str, *, namespace: str = DEFAULT_NAMESPACE, default_target: float = 0.99
) -> Conversion:
    """SLOs from the alert rules of a Prometheus rule file. InteropError: not a rule file."""
    rules, records = _read(text)
    out = Conversion()
    found: list[_Alert] = []
    for rule in rules:
        result = _convert(rule, records, namespace, default_target)
        if isinstance(result, str):
            out.skip(rule.item, result)
        else:
            found.append(result)
    _combine(found, records, namespace, out)
    taken = {a.sloth_id for a in found if a.sloth_id} | {a.slo_label for a in found if a.slo_label}
    taken |= {a.spec.name for a in found}
    recover: list[Callable[[dict[str, list[_Record]], str, set[str], Conversion], None]] = [
        _sloth_from_records,
        _pyrra_from_records,
    ]
    for step in recover:
        step(records, namespace, taken, out)
    return out
