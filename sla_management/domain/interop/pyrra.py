"""Pyrra `ServiceLevelObjective` resources (`pyrra.dev/v1alpha1`) in.

Pyrra (https://github.com/pyrra-dev/pyrra, `kubernetes/api/v1alpha1`) keeps one SLO per
resource; its indicators map onto our SLI shapes, with the queries Pyrra itself records:

- `ratio` (errors and total counters) -> errorQuery + totalQuery,
  `sum(rate(<metric>[{{.window}}]))` each;
- `latency` (success = histogram bucket `le`, total = its `_count`) -> goodQuery + totalQuery;
- `latencyNative` (a native histogram and a `latency` duration) -> `query`, the good ratio
  `histogram_fraction(0, <seconds>, sum(rate(<metric>[{{.window}}])))`;
- `bool_gauge` (a 0/1 gauge) -> goodQuery `sum(sum_over_time(m[{{.window}}]))` + totalQuery
  `sum(count_over_time(m[{{.window}}]))`.

`target` is a percentage string (`"99.5"`); `window` a Prometheus duration (`4w`, `2w`, `28d`)
of whole days up to 90. Our page and ticket alerts keep Pyrra's names (`alerting.name`, else
ErrorBudgetBurn) and severities (critical, warning); `alerting.disabled`/`burnrates: false` turn
them off. The SLO's namespace is the resource's; its service is the
`pyrra.dev/service` label, else the indicator's `job`, else the SLO's name (noted). `pyrra.dev/`
labels and annotations, which Pyrra copies onto its rules and alerts, become the SLO's labels and
its alerts' annotations.

Skipped with the reason: `grouping` (one SLO per label value; this system has no per-label SLO
groups yet). Noted: absent-metric alerts, dynamic burn rates, Pyrra's own window table.
"""

from __future__ import annotations

import json
from typing import Any

import promql_parser

from sla_management.domain.interop import promqltext as pq
from sla_management.domain.interop.common import (
    DEFAULT_NAMESPACE,
    Conversion,
    InteropError,
    alert_map,
    alert_name,
    alerting_or_none,
    make_spec,
    scalar,
)
from sla_management.domain.interop.yamlio import YAMLError, load_all
from sla_management.domain.slo import WINDOW_PLACEHOLDER, SLOType
from sla_management.domain.windows import format_duration

API_VERSION = "pyrra.dev/v1alpha1"
KIND = "ServiceLevelObjective"
PREFIX = "pyrra.dev/"
_W = WINDOW_PLACEHOLDER
_MAX_RESOURCES = 10_000
# The name Pyrra gives its burn-rate alerts unless `alerting.name` says otherwise.
PYRRA_ALERT = "ErrorBudgetBurn"


def _mapping(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _resources(text: str) -> list[dict[str, Any]]:
    try:
        documents = load_all(text)
    except YAMLError as exc:
        raise InteropError(str(exc)) from exc
    found: list[dict[str, Any]] = []
    for doc in documents:
        # `kubectl get slo -o yaml` writes a List; a ServiceLevelObjectiveList has items too.
        items = doc.get("items") if isinstance(doc, dict) else None
        found += [
            i
            for i in (items if isinstance(items, list) else [doc])
            if isinstance(i, dict) and i.get("kind") == KIND
        ]
    if not found:
        raise InteropError(f"not a Pyrra file: no `kind: {KIND}` resource")
    if len(found) > _MAX_RESOURCES:
        raise InteropError(f"more than {_MAX_RESOURCES} resources in one import")
    return found


class _Skip(Exception):
    """This SLO cannot be imported; the message says why."""


def _selector(query: object, what: str) -> Any:
    """A Pyrra metric: a single vector selector, as Pyrra itself requires."""
    text = str(_mapping(query).get("metric") or "").strip()
    if not text:
        raise _Skip(f"{what} has no `metric`")
    try:
        node = pq.strip_parens(pq.parse(text))
    except ValueError as exc:
        raise _Skip(f"{what} metric does not parse: {exc}") from exc
    if pq.kind(node) != "VectorSelector":
        raise _Skip(f"{what} metric {text[:80]!r} is not a metric selector, as Pyrra requires")
    return node


# promql-parser's MatchOp is not hashable: matched by its printed name.
_MATCH_OPS = {"MatchOp.Equal": "=", "MatchOp.NotEqual": "!=", "MatchOp.Re": "=~", "MatchOp.NotRe": "!~"}


def _ranged(node: Any) -> str:
    """The selector over {{.window}}: `x{a="b"}[{{.window}}] offset 1m` (the offset, which Pyrra's
    examples use, goes after the range)."""
    matchers = ",".join(
        f"{m.name}{_MATCH_OPS[str(m.op)]}{json.dumps(m.value)}" for m in node.matchers.matchers
    )
    text = f"{node.name or ''}{{{matchers}}}" if matchers or not node.name else node.name
    text += f"[{_W}]"
    if node.at is not None:
        raise _Skip("an `@` modifier pins the metric to one instant, so it cannot be read over a window")
    if node.offset:
        seconds = int(node.offset.total_seconds())
        text += f" offset {'-' if seconds < 0 else ''}{format_duration(abs(seconds))}"
    return text


def _job(node: Any) -> str | None:
    for matcher in node.matchers.matchers:
        if matcher.name == "job" and matcher.op == promql_parser.MatchOp.Equal:
            return str(matcher.value)
    return None


def _indicator(indicator: dict[str, Any], notes: list[str]) -> tuple[dict[str, str], SLOType, Any]:
    """(sliQuery, type, a selector to read the job from)."""
    kinds = [k for k in ("ratio", "latency", "latencyNative", "bool_gauge") if indicator.get(k) is not None]
    if len(kinds) != 1:
        raise _Skip("the indicator needs exactly one of ratio, latency, latencyNative, bool_gauge")
    [kind] = kinds
    body = _mapping(indicator[kind])
    grouping = body.get("grouping")
    if grouping:
        shown = ", ".join(map(str, grouping))[:120] if isinstance(grouping, list) else str(grouping)[:120]
        raise _Skip(
            f"grouping by {shown} makes one SLO per label value; this system has no per-label SLO "
            "groups yet: import it once per value (with that value in the selectors), or without "
            "grouping for the SLO over all of them"
        )
    match kind:
        case "ratio":
            errors, total = (
                _selector(body.get("errors"), "ratio errors"),
                _selector(body.get("total"), "ratio total"),
            )
            sli = {
                "error_query": f"sum(rate({_ranged(errors)}))",
                "total_query": f"sum(rate({_ranged(total)}))",
            }
            notes.append(
                "Pyrra's ratio indicators have no SLO type: AVAILABILITY is used; set sloType to change it"
            )
            return sli, SLOType.AVAILABILITY, total
        case "latency":
            success = _selector(body.get("success"), "latency success")
            total = _selector(body.get("total"), "latency total")
            if not any(m.name == "le" for m in success.matchers.matchers):
                raise _Skip("latency success metric needs an `le` matcher (the latency bucket), as in Pyrra")
            sli = {
                "good_query": f"sum(rate({_ranged(success)}))",
                "total_query": f"sum(rate({_ranged(total)}))",
            }
            return sli, SLOType.LATENCY, total
        case "latencyNative":
            total = _selector(body.get("total"), "latencyNative total")
            seconds = pq.seconds_of(str(body.get("latency") or ""))
            if seconds is None:
                raise _Skip(f"latencyNative latency {str(body.get('latency'))[:40]!r} is not a duration")
            query = f"histogram_fraction(0, {pq.number(seconds)}, sum(rate({_ranged(total)})))"
            return {"query": query}, SLOType.LATENCY, total
    gauge = _selector(body, "bool_gauge")
    sli = {
        "good_query": f"sum(sum_over_time({_ranged(gauge)}))",
        "total_query": f"sum(count_over_time({_ranged(gauge)}))",
    }
    return sli, SLOType.AVAILABILITY, gauge


def _target(value: object, notes: list[str]) -> float:
    """Pyrra's target, a percentage string (`"99.5"`)."""
    try:
        percent = float(str(value).strip())
    except ValueError as exc:
        raise _Skip(f"target {str(value)[:40]!r} is not a number") from exc
    if 0 < percent < 1:
        # Pyrra warns about this too: the author most likely meant a ratio.
        notes.append(
            f"target {value} is read as {percent * 100:g} %: Pyrra reads targets as percentages, so it "
            f"would have meant {percent:g} %"
        )
        return percent
    return percent / 100


def _window(value: object) -> int:
    seconds = pq.duration_seconds(str(value or ""))
    if seconds is None:
        raise _Skip(f"window {str(value)[:40]!r} is not a duration")
    if seconds % 86400 or not 1 <= seconds // 86400 <= 90:
        raise _Skip(f"window {value} is not a whole number of days from 1 to 90")
    return seconds // 86400


def _alerting(spec: dict[str, Any], annotations: dict[str, str], notes: list[str]) -> dict[str, Any]:
    alerting = _mapping(spec.get("alerting"))
    # Pyrra's own alert name and severities, so Alertmanager routes written for them still match.
    settings: dict[str, Any] = {
        "name": alert_name(alerting.get("name"), notes) or PYRRA_ALERT,
        "annotations": annotations,
        "page": {"labels": {"severity": "critical"}},
        "ticket": {"labels": {"severity": "warning"}},
    }
    if alerting.get("disabled") is True or alerting.get("burnrates") is False:
        settings.update(name=None, page={"enabled": False}, ticket={"enabled": False})
        notes.append("Pyrra's burn-rate alerts are off for it: its page and ticket alerts are off")
    else:
        notes.append(
            "Pyrra's four burn-rate alerts (14x, 7x, 2x, 1x, windows scaled to the SLO window) are "
            "written as our page (14.4x 1h/5m, 6x 6h/30m) and ticket (3x 1d/2h, 1x 3d/6h) alerts"
        )
    if alerting.get("absent") is not False and alerting.get("disabled") is not True:
        notes.append("Pyrra's absent-metric alert is not written: no data here is NO_DATA, never an alert")
    if alerting.get("burnRateType") not in (None, "static"):
        notes.append(
            f"burnRateType {str(alerting['burnRateType'])[:20]} is not carried: burn factors here are static"
        )
    return settings


def _convert(resource: dict[str, Any], namespace: str, out: Conversion) -> None:
    metadata = _mapping(resource.get("metadata"))
    name = str(metadata.get("name") or "").strip()[:200]
    ns = str(metadata.get("namespace") or namespace)
    item = f"{KIND} {ns}/{name or '?'}"
    if resource.get("apiVersion") != API_VERSION:
        out.skip(item, f"apiVersion {str(resource.get('apiVersion'))[:40]} is not {API_VERSION}")
        return
    spec = _mapping(resource.get("spec"))
    notes: list[str] = []
    try:
        if not name:
            raise _Skip("the resource has no metadata.name")
        sli, slo_type, selector = _indicator(_mapping(spec.get("indicator")), notes)
        target = _target(spec.get("target"), notes)
        window = _window(spec.get("window"))
    except _Skip as why:
        out.skip(item, str(why))
        return
    labels = {str(k): scalar(v) for k, v in _mapping(metadata.get("labels")).items()}
    own = {k.removeprefix(PREFIX): v for k, v in labels.items() if k.startswith(PREFIX)}
    others = sorted(k for k in labels if not k.startswith(PREFIX))
    if others:
        notes.append(
            f"resource labels {', '.join(others)[:200]} are not carried: Pyrra copies only {PREFIX} labels "
            "onto its rules"
        )
    service = own.pop("service", None) or _job(selector)
    if service is None:
        notes.append("no pyrra.dev/service label and no job in the indicator: the SLO's name is its service")
    raw_annotations = {
        k.removeprefix(PREFIX): v
        for k, v in _mapping(metadata.get("annotations")).items()
        if str(k).startswith(PREFIX)
    }
    annotations = alert_map(raw_annotations, "annotation", notes, annotations=True)
    if spec.get("partial_response_strategy"):
        notes.append("partial_response_strategy is for Thanos Ruler: not carried")
    result = make_spec(
        {
            "name": name,
            "slo_type": slo_type,
            "service_name": service or name,
            "namespace": ns,
            "description": spec.get("description") or None,
            "labels": own,
            "target": round(target, 12),
            "window_days": window,
            "sli_query": sli,
            "alerting": alerting_or_none(_alerting(spec, annotations, notes)),
        }
    )
    if isinstance(result, str):
        out.skip(item, result)
    else:
        out.add(item, result, notes)


def import_pyrra(text: str, *, namespace: str = DEFAULT_NAMESPACE) -> Conversion:
    """SLOs from Pyrra ServiceLevelObjective resources. InteropError: none in the text."""
    out = Conversion()
    for resource in _resources(text):
        _convert(resource, namespace, out)
    return out
