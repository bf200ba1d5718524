"""Sloth `prometheus/v1` specs in and out, so teams can move over without rewriting SLOs.

Sloth's spec (https://sloth.dev, `pkg/prometheus/api/v1`) maps almost one to one:

- `sli.events` (error_query + total_query, both with {{.window}}) -> errorQuery + totalQuery;
- `sli.raw.error_ratio_query` (an error ratio over {{.window}}) -> `query`, the good ratio, as
  `1 - (error ratio)` (or the inner ratio when the query already is `1 - (...)`);
- `objective` is a percentage; the SLO is named `<service>-<name>`, Sloth's own SLO id, which keeps
  names unique when several services of a file share SLO names;
- service and SLO labels are merged, as Sloth merges them into its rules.

Not imported: `sli.plugin` (the plugin's code runs inside Sloth), and the `alerting` block:
`sla rules` writes the burn-rate alerts, with the same windows Sloth uses for 30 days. Sloth's
Kubernetes resource (`PrometheusServiceLevel`, camelCase fields) is read as well.
"""

from __future__ import annotations

import re
import textwrap
from collections import defaultdict
from typing import Any

from sla_management.domain.interop import promqltext as pq
from sla_management.domain.interop.common import (
    DEFAULT_NAMESPACE,
    Conversion,
    InteropError,
    Skipped,
    guess_type,
    make_spec,
    percent_target,
)
from sla_management.domain.interop.yamlio import YAMLError, dump_all, load_all
from sla_management.domain.slo import SLIKind, SLOSpec

VERSION = "prometheus/v1"
K8S_KIND = "PrometheusServiceLevel"
_ONE_MINUS = re.compile(r"^\s*1\s*-\s*\((.*)\)\s*$", re.DOTALL)


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
    return {str(k): str(v) for k, v in value.items()} if isinstance(value, dict) else {}


def _documents(text: str) -> list[tuple[str, dict[str, Any] | None, str]]:
    """(where, Sloth spec or None, why not) for each document."""
    try:
        documents = load_all(text)
    except YAMLError as exc:
        raise InteropError(str(exc)) from exc
    found: list[tuple[str, dict[str, Any] | None, str]] = []
    for i, doc in enumerate(documents, start=1):
        where = f"document {i}"
        if isinstance(doc, dict) and doc.get("kind") == K8S_KIND and isinstance(doc.get("spec"), dict):
            metadata = doc.get("metadata")
            name = metadata.get("name") if isinstance(metadata, dict) else None
            found.append((f"{K8S_KIND} {name}" if name else where, doc["spec"], ""))
        elif isinstance(doc, dict) and doc.get("version") == VERSION:
            found.append((where, doc, ""))
        else:
            version = doc.get("version") or doc.get("apiVersion") if isinstance(doc, dict) else None
            found.append((where, None, f"not a Sloth {VERSION} spec (version {version!r})"))
    if not any(spec is not None for _, spec, _ in found):
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
        plugin = sli["plugin"].get("id", "?")
        return f"SLI plugin {plugin!r} runs inside Sloth; write its queries as `sli.events` or `sli.raw`"
    return "`sli` has none of events, raw, plugin"


def import_sloth(text: str, *, namespace: str = DEFAULT_NAMESPACE) -> Conversion:
    """SLOs from Sloth specs (one or more YAML documents). InteropError: not a Sloth spec."""
    out = Conversion()
    for where, doc, why in _documents(text):
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
            item = f"{service}/{name or f'slos[{i}]'}"
            if not isinstance(slo, dict) or not name:
                out.skip(item, "an SLO needs a `name`")
                continue
            sli = _sli(slo.get("sli"))
            if isinstance(sli, str):
                out.skip(item, sli)
                continue
            target = percent_target(slo.get("objective"), "objective")
            if isinstance(target, str):
                out.skip(item, target)
                continue
            kind = SLIKind.ERROR_TOTAL if "error_query" in sli else SLIKind.RATIO
            notes = []
            if slo.get("plugins") or doc.get("slo_plugins"):
                notes.append("Sloth SLO plugins are not imported")
            spec = make_spec(
                {
                    "name": f"{service}-{name}",
                    "slo_type": guess_type(
                        kind, [name, str(slo.get("description") or "")], list(sli.values())
                    ),
                    "service_name": service,
                    "namespace": namespace,
                    "description": slo.get("description"),
                    "labels": {**_labels(doc.get("labels")), **_labels(slo.get("labels"))},
                    "target": target,
                    "sli_query": sli,
                }
            )
            if isinstance(spec, str):
                out.skip(item, spec)
            else:
                out.add(item, spec, notes)
    return out


def export_sloth(slos: list[SLOSpec]) -> tuple[str, list[Skipped]]:
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
        # Sloth requires an alert name; `sla rules` writes the alerts, so Sloth's are off.
        entry["alerting"] = {
            "name": _alert_name(slo.name),
            "page_alert": {"disable": True},
            "ticket_alert": {"disable": True},
        }
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
