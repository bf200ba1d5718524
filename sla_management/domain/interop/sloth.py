"""Sloth `prometheus/v1` specs in and out, so teams can move over without rewriting SLOs.

Sloth's spec (https://sloth.dev, `pkg/prometheus/api/v1`) maps almost one to one:

- `sli.events` (error_query + total_query, both with {{.window}}) -> errorQuery + totalQuery;
- `sli.raw.error_ratio_query` (an error ratio over {{.window}}) -> `query`, the good ratio, as
  `1 - (error ratio)` (or the inner ratio when the query already is `1 - (...)`);
- `objective` is a percentage; the SLO is named `<service>-<name>`, Sloth's own SLO id, which keeps
  names unique when several services of a file share SLO names;
- service and SLO labels are merged, as Sloth merges them into its rules;
- `alerting` -> the SLO's alerting settings: the alert name, shared and per-alert labels
  (`severity`, routing keys) and annotations, `disable: true`. Sloth writes its metadata series
  (`sloth.dev/core/metadata_rules/v1`), so `slothMetadata` is on and its dashboards keep working.
- Sloth has no SLO types: the SLO's own name or description decides (`...-latency`), else
  AVAILABILITY, with a note.

Not imported: `sli.plugin` (the plugin's code runs inside Sloth: skipped), SLO plugins
(`slo_plugins` / `sloPlugins` / `plugins`: a note names each one not applied), MetricsQL
(VictoriaMetrics) queries, which Prometheus cannot run (skipped, naming the construct). Sloth's
Kubernetes resource (`PrometheusServiceLevel`, camelCase fields) is read as well.
"""

from __future__ import annotations

import re
import textwrap
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from sla_management.domain.interop import promqltext as pq
from sla_management.domain.interop.common import (
    DEFAULT_NAMESPACE,
    Conversion,
    InteropError,
    Skipped,
    alert_map,
    alert_name,
    make_spec,
    percent_target,
    scalar,
    type_from_names,
)
from sla_management.domain.interop.yamlio import YAMLError, dump_all, load_all
from sla_management.domain.rules import BURN_ALERTS
from sla_management.domain.slo import SLIKind, SLOAlerting, SLOSpec, SLOType

VERSION = "prometheus/v1"
K8S_KIND = "PrometheusServiceLevel"
_ONE_MINUS = re.compile(r"^\s*1\s*-\s*\((.*)\)\s*$", re.DOTALL)
# The plugins whose work `sla rules` does itself (SLI ratios, alerts, metadata series), and the
# ones that change no rule.
_CORE = {
    "sloth.dev/core/sli_rules/v1": "sli",
    "sloth.dev/core/alert_rules/v1": "alerts",
    "sloth.dev/core/metadata_rules/v1": "metadata",
    "sloth.dev/core/validate/v1": "validate",
}
_NO_RULES = frozenset({"sloth.dev/core/debug/v1", "sloth.dev/core/noop/v1"})
_VICTORIA_METRICS = "sloth.dev/contrib/validate_victoria_metrics/v1"
# What the known contrib plugins would have changed, for the note.
_CONTRIB = {
    "sloth.dev/contrib/denominator_corrected_rules/v1": "its denominator-corrected SLI rules",
    "sloth.dev/contrib/sli_total_amount_rules/v1": "its recorded total-events series",
    "sloth.dev/contrib/alert_for/v1": "the `for` it adds to the alerts",
    "sloth.dev/contrib/error_budget_exhausted_alert/v1": "its error-budget-exhausted alert",
    "sloth.dev/contrib/info_labels/v1": "the labels it adds to `sloth_slo_info`",
    "sloth.dev/contrib/remove_labels/v1": "the labels it removes from the rules",
    "sloth.dev/contrib/rule_intervals/v1": "its rule group intervals",
}


def _balanced(text: str) -> bool:
    depth = 0
    for char in text:
        depth += {"(": 1, ")": -1}.get(char, 0)
        if depth < 0:
            return False
    return depth == 0


def complement(query: str) -> str:
    """`1 - (query)`, or X when the query already is `1 - (X)`: a good ratio from an error ratio
    and back, without piling up `1 - (1 - (...))`."""
    match = _ONE_MINUS.match(query)
    if match and _balanced(match.group(1)):
        return textwrap.dedent(match.group(1)).strip()
    return f"1 - ({query.strip()})"


def _get(mapping: dict[str, Any], *keys: str) -> Any:
    """The first key present: Sloth's YAML spec is snake_case, its CRD camelCase."""
    for key in keys:
        if key in mapping:
            return mapping[key]
    return None


def _labels(value: object) -> dict[str, str]:
    return {str(k): scalar(v) for k, v in value.items()} if isinstance(value, dict) else {}


def _documents(text: str) -> list[tuple[str, dict[str, Any] | None, str, str | None]]:
    """(where, Sloth spec or None, why not, the resource's namespace) for each document."""
    try:
        documents = load_all(text)
    except YAMLError as exc:
        raise InteropError(str(exc)) from exc
    found: list[tuple[str, dict[str, Any] | None, str, str | None]] = []
    for i, doc in enumerate(documents, start=1):
        where = f"document {i}"
        if isinstance(doc, dict) and doc.get("kind") == K8S_KIND and isinstance(doc.get("spec"), dict):
            metadata = doc.get("metadata")
            metadata = metadata if isinstance(metadata, dict) else {}
            name, namespace = metadata.get("name"), metadata.get("namespace")
            found.append(
                (
                    f"{K8S_KIND} {str(name)[:200]}" if name else where,
                    doc["spec"],
                    "",
                    str(namespace) if namespace else None,
                )
            )
        elif isinstance(doc, dict) and doc.get("version") == VERSION:
            found.append((where, doc, "", None))
        else:
            version = (doc.get("version") or doc.get("apiVersion")) if isinstance(doc, dict) else None
            found.append((where, None, f"not a Sloth {VERSION} spec (version {str(version)[:80]!r})", None))
    if not any(spec is not None for _, spec, _, _ in found):
        raise InteropError(f"not a Sloth spec: no document has `version: {VERSION}` or kind {K8S_KIND}")
    return found


def _sli(sli: object) -> dict[str, str] | str:
    if not isinstance(sli, dict):
        return "no `sli`"
    events = sli.get("events")
    raw = sli.get("raw")
    if isinstance(events, dict):
        error = _get(events, "error_query", "errorQuery")
        total = _get(events, "total_query", "totalQuery")
        if not error or not total:
            return "`sli.events` needs error_query and total_query"
        return {
            "error_query": pq.normalize_placeholder(str(error)).strip(),
            "total_query": pq.normalize_placeholder(str(total)).strip(),
        }
    if isinstance(raw, dict):
        ratio = _get(raw, "error_ratio_query", "errorRatioQuery")
        if not ratio:
            return "`sli.raw` needs error_ratio_query"
        return {"query": complement(pq.normalize_placeholder(str(ratio)))}
    if isinstance(sli.get("plugin"), dict):
        plugin = str(sli["plugin"].get("id", "?"))[:200]
        return f"SLI plugin {plugin!r} runs inside Sloth; write its queries as `sli.events` or `sli.raw`"
    return "`sli` has none of events, raw, plugin"


def _chain(value: object) -> tuple[bool, list[str]]:
    """(overridePrevious, plugin ids) of a plugins block."""
    if not isinstance(value, dict):
        return False, []
    chain = value.get("chain")
    ids = (
        [str(p.get("id", "?"))[:200] for p in chain if isinstance(p, dict)] if isinstance(chain, list) else []
    )
    return bool(value.get("overridePrevious") or value.get("override_previous")), ids


def _plugins(doc: dict[str, Any], slo: dict[str, Any], notes: list[str]) -> tuple[set[str], bool]:
    """The rule kinds Sloth would write after the plugin chains (sli, alerts, metadata), and
    whether the chains validate for VictoriaMetrics. A note for each plugin not applied."""
    writes = {"sli", "alerts", "metadata"}
    victoria = False
    seen: set[str] = set()
    blocks = [_chain(_get(doc, "slo_plugins", "sloPlugins")), _chain(slo.get("plugins"))]
    # `overridePrevious` drops what came before it (Sloth's defaults, the service's chain).
    if blocks[1][0]:
        blocks = blocks[1:]
    for override, ids in blocks:
        if override:
            writes = {_CORE[i] for i in ids if i in _CORE}
        for plugin in ids:
            if plugin in seen:
                continue
            seen.add(plugin)
            if plugin in _CORE:
                writes.add(_CORE[plugin])
            elif plugin == _VICTORIA_METRICS:
                victoria = True
            elif plugin in _NO_RULES:
                notes.append(f"SLO plugin {plugin} is not applied (it changes no rule)")
            else:
                what = _CONTRIB.get(plugin, "whatever it changes in the rules")
                notes.append(f"SLO plugin {plugin} is not applied (not reproduced: {what})")
    return writes, victoria


def _alert(value: object, severity: str, notes: list[str]) -> dict[str, Any]:
    if not isinstance(value, dict):
        return {}
    settings: dict[str, Any] = {}
    if value.get("disable") is True:
        settings["enabled"] = False
    labels = alert_map(value.get("labels"), f"{severity} alert label", notes)
    # `severity: page` on the page alert is what `sla rules` writes anyway.
    if labels.get("severity") == severity:
        del labels["severity"]
    settings["labels"] = labels
    settings["annotations"] = alert_map(
        value.get("annotations"), f"{severity} alert annotation", notes, annotations=True
    )
    if value.get("for"):
        notes.append(
            f"the {severity} alert's `for: {str(value['for'])[:20]}` is not carried: the burn-rate "
            "windows already debounce"
        )
    return settings


def _alerting(slo: dict[str, Any], writes: set[str], notes: list[str]) -> dict[str, Any]:
    """Sloth's `alerting` block as our alerting settings."""
    block = slo.get("alerting")
    block = block if isinstance(block, dict) else {}
    settings: dict[str, Any] = {
        "name": alert_name(block.get("name"), notes),
        "labels": alert_map(block.get("labels"), "alert label", notes),
        "annotations": alert_map(block.get("annotations"), "alert annotation", notes, annotations=True),
        "page": _alert(_get(block, "page_alert", "pageAlert"), "page", notes),
        "ticket": _alert(_get(block, "ticket_alert", "ticketAlert"), "ticket", notes),
        "sloth_metadata": "metadata" in writes,
    }
    if "alerts" not in writes:
        notes.append("the SLO plugins leave out Sloth's alert rules: its page and ticket alerts are off")
        for severity in ("page", "ticket"):
            settings[severity] = {**settings[severity], "enabled": False}
    if all(settings[severity].get("enabled") is False for severity in ("page", "ticket")):
        settings["name"] = None  # the name of no alert (Sloth requires one all the same)
    return settings


def _metricsql(sli: dict[str, str]) -> str | None:
    for query in sli.values():
        if (construct := pq.metricsql(query)) is not None:
            return construct
    return None


def import_sloth(text: str, *, namespace: str = DEFAULT_NAMESPACE) -> Conversion:
    """SLOs from Sloth specs (one or more YAML documents). InteropError: not a Sloth spec."""
    out = Conversion()
    for where, doc, why, resource_namespace in _documents(text):
        if doc is None:
            out.skip(where, why)
            continue
        service = str(doc.get("service") or "").strip()
        if not service:
            out.skip(where, "the spec has no `service`")
            continue
        slos = doc.get("slos")
        if not isinstance(slos, list) or not slos:
            out.skip(where, "the spec has no `slos`")
            continue
        for i, slo in enumerate(slos, start=1):
            name = str(slo.get("name") or "").strip() if isinstance(slo, dict) else ""
            item = f"{service[:200]}/{name[:200] or f'slos[{i}]'}"
            if not isinstance(slo, dict) or not name:
                out.skip(item, "an SLO needs a `name`")
                continue
            sli = _sli(slo.get("sli"))
            if isinstance(sli, str):
                out.skip(item, sli)
                continue
            notes: list[str] = []
            writes, victoria = _plugins(doc, slo, notes)
            if (construct := _metricsql(sli)) is not None:
                out.skip(
                    item, f"the SLI is MetricsQL (VictoriaMetrics), which Prometheus cannot run: {construct}"
                )
                continue
            if victoria:
                notes.append(
                    f"the spec is validated for VictoriaMetrics ({_VICTORIA_METRICS}); its queries parse "
                    "as PromQL and Prometheus checks them on import"
                )
            target = percent_target(slo.get("objective"), "objective")
            if isinstance(target, str):
                out.skip(item, target)
                continue
            for extra in ("infoLabels", "interval"):
                if slo.get(extra):
                    notes.append(f"`{extra}` is not carried: `sla rules` has no such setting")
            description = str(slo.get("description") or "")
            slo_type = type_from_names([name, description], SLOType.AVAILABILITY, notes)
            spec = make_spec(
                {
                    "name": f"{service}-{name}",
                    "slo_type": slo_type,
                    "service_name": service,
                    "namespace": resource_namespace or namespace,
                    "description": slo.get("description"),
                    "labels": {**_labels(doc.get("labels")), **_labels(slo.get("labels"))},
                    "target": target,
                    "sli_query": sli,
                    "alerting": _alerting(slo, writes, notes),
                }
            )
            if isinstance(spec, str):
                out.skip(item, spec)
            else:
                out.add(item, spec, notes)
    return out


# --- export --------------------------------------------------------------------------------------


def _alert_block(slo: SLOSpec) -> dict[str, Any]:
    """The SLO's alerting settings as Sloth's `alerting` block, so Sloth writes the same alerts:
    the same name (Sloth gives both alerts one), `severity` labels (ours by default), routing
    labels and annotations."""
    settings = slo.alerting or SLOAlerting()
    name = settings.name or settings.page.name or settings.ticket.name or _alert_name(slo.name)
    block: dict[str, Any] = {"name": name}
    if settings.labels:
        block["labels"] = dict(settings.labels)
    if settings.annotations:
        block["annotations"] = dict(settings.annotations)
    for key, own, default in zip(
        ("page_alert", "ticket_alert"), (settings.page, settings.ticket), BURN_ALERTS, strict=True
    ):
        alert: dict[str, Any] = {}
        if not own.enabled:
            alert["disable"] = True
        severity = {} if "severity" in settings.labels else {"severity": default.severity}
        alert["labels"] = {**severity, **own.labels}
        if own.annotations:
            alert["annotations"] = dict(own.annotations)
        block[key] = alert
    return block


def export_sloth(slos: Sequence[SLOSpec]) -> tuple[str, list[Skipped]]:
    """Sloth specs, one document per service. Timeslice SLOs have no Sloth form: skipped."""
    by_service: dict[str, list[dict[str, Any]]] = defaultdict(list)
    skipped: list[Skipped] = []
    for slo in slos:
        q = slo.sli_query
        sli: dict[str, Any]
        match slo.kind:
            case SLIKind.ERROR_TOTAL:
                sli = {"events": {"error_query": q.error_query, "total_query": q.total_query}}
            case SLIKind.GOOD_TOTAL:
                error = f"({q.total_query}) - ({q.good_query})"
                sli = {"events": {"error_query": error, "total_query": q.total_query}}
            case SLIKind.RATIO:
                sli = {"raw": {"error_ratio_query": complement(q.query or "")}}
            case SLIKind.THRESHOLD:
                skipped.append(
                    Skipped(item=slo.name, reason="timeslice SLIs (query + threshold) have no Sloth form")
                )
                continue
        entry: dict[str, Any] = {
            "name": slo.name.removeprefix(f"{slo.service_name}-"),
            "objective": round(slo.target * 100, 10),
        }
        if slo.description:
            entry["description"] = slo.description
        if slo.labels:
            entry["labels"] = dict(slo.labels)
        entry["sli"] = sli
        entry["alerting"] = _alert_block(slo)
        by_service[slo.service_name].append(entry)
    documents = [
        {"version": VERSION, "service": service, "slos": entries} for service, entries in by_service.items()
    ]
    return dump_all(documents), skipped


def _alert_name(name: str) -> str:
    """An alert name (a metric name) from an SLO name: `checkout availability` -> CheckoutAvailability."""
    words = re.findall(r"[A-Za-z0-9]+", name)
    camel = "".join(w[:1].upper() + w[1:] for w in words) or "SLO"
    return camel if camel[0].isalpha() else f"SLO{camel}"
