"""No input makes an importer raise anything but its own InteropError.

Three kinds of input, each bounded and derandomised so the run is short and the same every time:
any text; YAML documents built from the words the formats use (so the importers go deep); and
the fixtures of this directory with one value replaced by something else, at any depth.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sla_management.domain.interop.common import Conversion, InteropError
from sla_management.domain.interop.openslo import import_openslo
from sla_management.domain.interop.prom_alerts import import_alerts
from sla_management.domain.interop.pyrra import import_pyrra
from sla_management.domain.interop.sloth import import_sloth

IMPORTERS: dict[str, Callable[[str], Conversion]] = {
    "alerts": import_alerts,
    "sloth": import_sloth,
    "openslo": import_openslo,
    "pyrra": import_pyrra,
}
DATA = Path(__file__).parent / "data"
FIXTURES = sorted(p for p in DATA.rglob("*") if p.suffix in (".yaml", ".yml"))
BOUNDED = settings(
    max_examples=120,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

# The words of the four formats, so generated documents look enough like them to be read deeply.
WORDS = [
    *("apiVersion", "kind", "metadata", "name", "namespace", "labels", "annotations", "spec"),
    *("version", "service", "slos", "objective", "sli", "events", "error_query", "total_query", "raw"),
    *("error_ratio_query", "errorQuery", "alerting", "page_alert", "ticket_alert", "disable", "plugins"),
    *("slo_plugins", "sloPlugins", "chain", "id", "overridePrevious", "indicator", "ratio", "errors"),
    *("total", "metric", "latency", "success", "latencyNative", "bool_gauge", "grouping", "target"),
    *("window", "groups", "rules", "record", "expr", "alert", "objectives", "ratioMetric", "good", "bad"),
    *("thresholdMetric", "metricSource", "type", "query", "counter", "timeWindow", "duration"),
    *("isRolling", "calendar", "budgetingMethod", "indicatorRef", "alertPolicies", "conditions"),
    *("timeSliceWindow", "timeSliceTarget", "op", "value", "timeWindows", "ratioMetrics", "items"),
]
VALUES = [
    *("prometheus/v1", "openslo/v1", "openslo/v1alpha", "pyrra.dev/v1alpha1", "SLO", "SLI"),
    *("PrometheusServiceLevel", "ServiceLevelObjective", "List", "PrometheusRule", "DataSource"),
    *("Prometheus", "Occurrences", "Timeslices", "RatioTimeslices", "99.9", "4w", "1M", "2w", "5m"),
    "sum(rate(x[{{.window}}]))",
    'slo:sli_error:ratio_rate5m{sloth_id="a"} > (14.4 * 0.001)',
    "max(a:burnrate5m > (14 * (1-0.99))) without (w)",
    "1 - histogram_share(0.2, x)",
    "(" * 300 + "x" + ")" * 300,
    "+".join(["x"] * 300),
    "-" * 500 + "x",
]
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(VALUES),
    st.text(max_size=30),
)
keys = st.one_of(st.sampled_from(WORDS), st.text(max_size=10))
documents = st.recursive(
    scalars,
    lambda children: st.one_of(st.lists(children, max_size=4), st.dictionaries(keys, children, max_size=6)),
    max_leaves=40,
)


def _survives(importer: Callable[[str], Conversion], text: str) -> None:
    try:
        result = importer(text)
    except InteropError:
        return
    assert isinstance(result, Conversion)
    for item in [*result.converted, *result.skipped]:
        assert item.item


def _dump(doc: Any) -> str | None:
    try:
        return yaml.safe_dump_all(doc if isinstance(doc, list) and doc else [doc], allow_unicode=True)
    except yaml.YAMLError:
        return None


@pytest.mark.parametrize("name", IMPORTERS)
@BOUNDED
@given(text=st.text(max_size=400))
def test_any_text(name: str, text: str) -> None:
    _survives(IMPORTERS[name], text)


@pytest.mark.parametrize("name", IMPORTERS)
@BOUNDED
@given(doc=documents)
def test_documents_made_of_the_formats_words(name: str, doc: Any) -> None:
    text = _dump(doc)
    if text is not None:
        _survives(IMPORTERS[name], text)


def _paths(node: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [path]
    if isinstance(node, dict):
        for key, value in node.items():
            found += _paths(value, (*path, key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            found += _paths(value, (*path, i))
    return found


def _replace(doc: Any, path: tuple[Any, ...], value: Any) -> Any:
    if not path:
        return value
    doc = copy.deepcopy(doc)
    node = doc
    for step in path[:-1]:
        node = node[step]
    node[path[-1]] = value
    return doc


@pytest.mark.parametrize("name", IMPORTERS)
@settings(BOUNDED, max_examples=200)
@given(data=st.data())
def test_fixtures_with_one_value_replaced(name: str, data: st.DataObject) -> None:
    fixture = data.draw(st.sampled_from(FIXTURES), label="fixture")
    docs = [d for d in yaml.safe_load_all(fixture.read_text()) if d is not None]
    index = data.draw(st.integers(min_value=0, max_value=len(docs) - 1), label="document")
    path = data.draw(st.sampled_from(_paths(docs[index])), label="path")
    value = data.draw(documents, label="value")
    docs[index] = _replace(docs[index], path, value)
    text = _dump(docs)
    if text is not None:
        _survives(IMPORTERS[name], text)


@pytest.mark.parametrize("name", IMPORTERS)
@pytest.mark.parametrize(
    "text",
    [
        pytest.param("a: &a [*a]", id="a recursive alias"),
        pytest.param("[" * 5000 + "]" * 5000, id="YAML nested 5000 deep"),
        pytest.param(
            "a: &a [x, x, x, x, x, x, x, x, x, x]\n"
            + "".join(
                f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join([f'*{chr(97 + i)}'] * 10)}]\n" for i in range(8)
            ),
            id="a billion laughs",
        ),
        pytest.param(
            "groups: [{name: g, rules: [{alert: A, expr: '" + "(" * 20000 + "up" + ")" * 20000 + "'}]}]",
            id="PromQL nested 20000 deep, which would crash the parser",
        ),
        pytest.param(
            "groups: [{name: g, rules: [{alert: A, labels: {slo: x}, expr: '"
            + "+".join(["up"] * 3000)
            + " > 1'}]}]",
            id="3000 chained operators, which the parser's own walk takes minutes over",
        ),
        pytest.param(
            "groups: [{name: g, rules: [{alert: A, labels: {slo: x}, expr: 'rate(x[2800000y]) / rate(y[2800000y]) > 1'}]}]",
            id="a range the parser takes and Python's timedelta cannot hold",
        ),
        pytest.param(
            "apiVersion: pyrra.dev/v1alpha1\nkind: ServiceLevelObjective\nmetadata: {name: x}\n"
            "spec: {target: '99', window: 2800000y, indicator: {latencyNative: {total: {metric: h}, latency: 5000000y}}}",
            id="Pyrra durations too long to hold",
        ),
    ],
)
def test_hostile_files(name: str, text: str) -> None:
    _survives(IMPORTERS[name], text)
