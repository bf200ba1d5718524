"""Property-based fuzz of the pure layer (issue 9): whatever SLO or policy body, PromQL text or
import file comes in, the models and importers answer with their own errors only
(`ValidationError`, `InteropError`, a skip with a reason, `ValueError` from PromQL analysis), never
anything else, and never a crash. What they accept reads back the same from its JSON.

Derandomized with a fixed example budget, so a run takes seconds and a failure reproduces.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from sla_management.domain.interop.common import Conversion, InteropError
from sla_management.domain.interop.openslo import export_openslo, import_openslo
from sla_management.domain.interop.prom_alerts import import_alerts
from sla_management.domain.interop.sloth import export_sloth, import_sloth
from sla_management.domain.policy import PolicySpec
from sla_management.domain.promql import detect_unit
from sla_management.domain.rules import error_ratio_expr
from sla_management.domain.slo import SLOSpec

FUZZ = settings(
    max_examples=150,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

# Values of every JSON/YAML type, the odd ones included: NaN, ±Inf, NUL, huge and empty strings.
scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=20)
    | st.sampled_from(["", " ", "\x00", "\t\n", "Probe NS/../!", "SHOP", "x" * 5000, "99.9%", "30", "true"])
)
junk = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)

TOKENS = [
    "sum", "rate", "increase", "avg_over_time", "histogram_quantile", "by", "(le)", "(", ")", "[", "]",
    "{", "}", "{{.window}}", "{{ .window }}", "5m", "1h:5m", "+", "-", "*", "/", "%", "^", " ", "up",
    "http_requests_total", 'code=~"5.."', '"', "'", "`", ",", "and", "or", "unless", "1", "0.99", "1e-3",
    "NaN", "Inf", "offset", "@", ":", "=", "!=", "#", "\n", "bool", ">", "<", ">=", "\\", "vector(1)",
    "scalar(", "\x00",
]  # fmt: skip
fragments = st.lists(st.sampled_from(TOKENS), max_size=40).map("".join)
VALID = [
    "sum(rate(http_requests_total[{{.window}}]))",
    'sum(increase(http_requests_total{code=~"5.."}[{{.window}}]))',
    "avg_over_time(up[{{.window}}])",
    "histogram_quantile(0.99, sum by (le) (rate(d_bucket[{{.window}}])))",
]
valid_queries = st.sampled_from(VALID)
# Mostly queries that work, then noise around them, and the shapes that once killed the process:
# long chains and deep nesting.
promql = st.one_of(
    valid_queries,
    valid_queries,
    valid_queries,
    fragments,
    st.tuples(valid_queries, fragments).map("".join),
    st.tuples(valid_queries, st.sampled_from([" + 0", "+0", " + -", " or up"]), st.integers(0, 3000)).map(
        lambda t: t[0] + t[1] * t[2]
    ),
    st.tuples(st.sampled_from(["(", "abs(", "sum(", "-("]), st.integers(0, 3000), valid_queries).map(
        lambda t: t[0] * t[1] + t[2] + ")" * t[1]
    ),
)


labels = st.dictionaries(st.text(max_size=10), st.text(max_size=10), max_size=5)


def maybe(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Mostly a plausible value, about one time in eight anything at all."""
    coins = st.tuples(st.booleans(), st.booleans(), st.booleans())
    return coins.flatmap(lambda flips: junk if all(flips) else strategy)


def mutated(valid: list[dict[str, Any]], fields: dict[str, st.SearchStrategy[Any]]) -> st.SearchStrategy[Any]:
    """A valid body with up to three fields replaced by generated values, or removed."""
    change = st.one_of(*[st.tuples(st.just(k), v | st.just(REMOVE)) for k, v in fields.items()])

    def apply(base: dict[str, Any], changes: list[tuple[str, Any]]) -> dict[str, Any]:
        body = dict(base)
        for key, value in changes:
            if value is REMOVE:
                body.pop(key, None)
            else:
                body[key] = value
        return body

    return st.builds(apply, st.sampled_from(valid), st.lists(change, max_size=3))


REMOVE = object()
SLOS = [
    {
        "name": "checkout availability",
        "sloType": "AVAILABILITY",
        "serviceName": "checkout",
        "target": 0.999,
        "sliQuery": {"errorQuery": VALID[1], "totalQuery": VALID[0]},
    },
    {
        "name": "latency",
        "sloType": "LATENCY",
        "serviceName": "checkout",
        "namespace": "shop",
        "target": 0.99,
        "windowDays": 7,
        "sliQuery": {"query": VALID[3]},
        "threshold": 0.3,
        "timesliceMinutes": 5,
    },
    {"name": "up", "sloType": "CUSTOM", "serviceName": "s", "target": 0.9, "sliQuery": {"query": VALID[2]}},
]
sli_queries = maybe(
    st.fixed_dictionaries(
        {},
        optional={
            "query": maybe(promql),
            "errorQuery": maybe(promql),
            "goodQuery": maybe(promql),
            "totalQuery": maybe(promql),
            "metricName": maybe(st.text(max_size=30)),
        },
    )
)
slo_bodies = mutated(
    SLOS,
    {
        "name": maybe(st.text(max_size=40)),
        "sloType": maybe(st.sampled_from(["AVAILABILITY", "LATENCY", "ERROR_RATE", "THROUGHPUT", "CUSTOM"])),
        "serviceName": maybe(st.text(max_size=40)),
        "namespace": maybe(st.from_regex(r"[a-z0-9][-a-z0-9]{0,10}", fullmatch=True)),
        "layer": maybe(st.text(max_size=20)),
        "description": maybe(st.text(max_size=100)),
        "labels": maybe(st.dictionaries(st.text(max_size=10), st.text(max_size=10), max_size=5)),
        "target": maybe(st.floats(min_value=0.5, max_value=1)),
        "windowDays": maybe(st.integers(0, 100)),
        "sliQuery": sli_queries,
        "threshold": maybe(st.floats(allow_nan=True, allow_infinity=True)),
        "comparison": maybe(st.sampled_from(["lt", "lte", "gt", "gte"])),
        "timesliceMinutes": maybe(st.integers(0, 2000)),
        "budgetingMethod": maybe(st.sampled_from(["Occurrences", "Timeslices"])),
    },
)
POLICIES = [
    {"name": "orchestration", "scope": "NAMESPACE", "target": "shop"},
    {"name": "all", "scope": "GLOBAL", "actions": ["ALERT_ONLY"], "triggerOnBurnLevel": "FAST"},
    {"name": "svc", "scope": "SERVICE", "target": "checkout", "triggerThresholdPercent": 10},
]
policy_bodies = mutated(
    POLICIES,
    {
        "name": maybe(st.text(max_size=40)),
        "scope": maybe(st.sampled_from(["NAMESPACE", "SERVICE", "GLOBAL"])),
        "target": maybe(st.text(max_size=20)),
        "actions": maybe(st.lists(st.sampled_from(["BLOCK_DEPLOY", "ALERT_ONLY"]), max_size=3)),
        "triggerThresholdPercent": maybe(st.floats(allow_nan=True, allow_infinity=True)),
        "unfreezeThresholdPercent": maybe(st.floats(allow_nan=True, allow_infinity=True)),
        "autoUnfreeze": maybe(st.booleans()),
        "sloSelector": maybe(
            st.fixed_dictionaries(
                {},
                optional={
                    "serviceNames": maybe(st.lists(st.text(max_size=10), max_size=3)),
                    "namespaces": maybe(st.lists(st.text(max_size=10), max_size=3)),
                    "layers": maybe(st.lists(st.text(max_size=10), max_size=3)),
                    "labels": maybe(st.dictionaries(st.text(max_size=5), st.text(max_size=5), max_size=3)),
                },
            )
        ),
        "triggerOnBurnLevel": maybe(st.sampled_from(["ELEVATED", "FAST", "CRITICAL", "NORMAL"])),
        "minFreezeMinutes": maybe(st.integers(-5, 20000)),
        "description": maybe(st.text(max_size=50)),
    },
)


@FUZZ
@given(slo_bodies)
def test_slo_bodies_give_a_spec_or_a_validation_error(body: dict[str, Any]) -> None:
    try:
        spec = SLOSpec.model_validate(body)
    except ValidationError as exc:
        # Our own messages, never a traceback or a database's words.
        assert all(isinstance(e["msg"], str) and e["msg"] for e in exc.errors())
        return
    assert SLOSpec.model_validate_json(spec.model_dump_json(by_alias=True)) == spec
    for query in spec.event_queries().values():
        try:
            detect_unit(query)
        except ValueError:
            pass  # Prometheus is asked first at the edge; its error is what users see
    assert error_ratio_expr(spec, {}, 3600)


@FUZZ
@given(policy_bodies)
def test_policy_bodies_give_a_spec_or_a_validation_error(body: dict[str, Any]) -> None:
    try:
        spec = PolicySpec.model_validate(body)
    except ValidationError:
        return
    assert PolicySpec.model_validate_json(spec.model_dump_json(by_alias=True)) == spec


@FUZZ
@given(promql)
def test_promql_analysis_raises_only_value_errors(query: str) -> None:
    try:
        detect_unit(query)
    except ValueError:
        pass


# Import files -----------------------------------------------------------------------------------

sloth_files = st.fixed_dictionaries(
    {
        "version": maybe(st.just("prometheus/v1")),
        "service": maybe(st.text(min_size=1, max_size=20)),
        "slos": maybe(
            st.lists(
                maybe(
                    st.fixed_dictionaries(
                        {
                            "name": maybe(st.text(min_size=1, max_size=20)),
                            "objective": maybe(
                                st.sampled_from([99, 99.9, 99.999, 99.9999, 150, 0]) | st.floats()
                            ),
                            "sli": maybe(
                                st.one_of(
                                    st.fixed_dictionaries(
                                        {
                                            "events": maybe(
                                                st.fixed_dictionaries(
                                                    {"error_query": promql, "total_query": promql}
                                                )
                                            )
                                        }
                                    ),
                                    st.fixed_dictionaries(
                                        {"raw": maybe(st.fixed_dictionaries({"error_ratio_query": promql}))}
                                    ),
                                    st.fixed_dictionaries({"plugin": junk}),
                                )
                            ),
                        },
                        optional={"description": maybe(st.text(max_size=50)), "labels": maybe(labels)},
                    )
                ),
                min_size=1,
                max_size=3,
            )
        ),
    },
    optional={"labels": maybe(labels)},
)
# Sloth's Kubernetes resource carries the same spec.
sloth_files = sloth_files | st.fixed_dictionaries(
    {
        "apiVersion": st.just("sloth.slok.dev/v1"),
        "kind": st.just("PrometheusServiceLevel"),
        "metadata": maybe(st.fixed_dictionaries({"name": maybe(st.text(max_size=10))})),
        "spec": sloth_files,
    }
)
source = st.fixed_dictionaries(
    {
        "metricSource": maybe(
            st.fixed_dictionaries(
                {
                    "type": maybe(st.just("Prometheus")),
                    "spec": maybe(st.fixed_dictionaries({"query": maybe(promql)})),
                }
            )
        )
    }
)
objective = st.fixed_dictionaries(
    {"target": maybe(st.sampled_from([0.99, 0.999, 0.99999, 0.999999, 1, 1.5, 99.9]) | st.floats(0, 1))},
    optional={
        "targetPercent": maybe(st.floats(min_value=0, max_value=150)),
        "op": maybe(st.sampled_from(["lt", "lte", "gt", "gte", "eq"])),
        "value": maybe(st.floats() | st.integers()),
        "timeSliceTarget": maybe(st.floats(0, 1)),
        "timeSliceWindow": maybe(st.sampled_from(["5m", "1h", "1d", 5, 1e308, float("inf")])),
        "displayName": maybe(st.text(max_size=10)),
    },
)
ratio_metric = st.one_of(
    st.fixed_dictionaries({"good": source, "total": source}, optional={"counter": maybe(st.booleans())}),
    st.fixed_dictionaries({"bad": source, "total": source}, optional={"counter": maybe(st.booleans())}),
    st.fixed_dictionaries({"raw": source, "rawType": maybe(st.sampled_from(["success", "failure"]))}),
)
indicator = st.one_of(
    st.fixed_dictionaries({"ratioMetric": maybe(ratio_metric)}),
    st.fixed_dictionaries({"thresholdMetric": maybe(source)}),
)
openslo_files = st.fixed_dictionaries(
    {
        "apiVersion": maybe(st.just("openslo/v1")),
        "kind": maybe(st.just("SLO")),
        "metadata": maybe(
            st.fixed_dictionaries(
                {"name": maybe(st.text(min_size=1, max_size=20))}, optional={"annotations": junk}
            )
        ),
        "spec": maybe(
            st.fixed_dictionaries(
                {
                    "service": maybe(st.text(min_size=1, max_size=20)),
                    "budgetingMethod": maybe(
                        st.sampled_from(["Occurrences", "Timeslices", "RatioTimeslices"])
                    ),
                    "objectives": maybe(st.lists(maybe(objective), min_size=1, max_size=3)),
                    "indicator": maybe(st.fixed_dictionaries({"spec": maybe(indicator)})),
                },
                optional={
                    "timeWindow": maybe(
                        st.lists(
                            st.fixed_dictionaries(
                                {
                                    "duration": maybe(
                                        st.sampled_from(["28d", "1M", "120d", "0d", "36h", "1w"])
                                    ),
                                    "isRolling": maybe(st.booleans()),
                                }
                            ),
                            min_size=1,
                            max_size=2,
                        )
                    ),
                    "description": maybe(st.text(max_size=50)),
                },
            )
        ),
    }
)
RATIOS = [
    "sum(rate(e[5m])) / sum(rate(t[5m]))",
    "1 - sum(rate(g[1h])) / sum(rate(t[1h]))",
    "slo:sli_error:ratio_rate5m",
    "histogram_quantile(0.99, sum by (le) (rate(d_bucket[5m])))",
    '100 * (sum(rate(g{job="a"}[5m])) / sum(rate(t{job="a"}[5m])))',
]
alert_exprs = st.builds(
    lambda lhs, op, bound: f"{lhs} {op} {bound}",
    st.sampled_from(RATIOS) | promql,
    st.sampled_from([">", "<", ">=", "<=", "==", "> bool"]),
    st.sampled_from(["0.001", "14.4 * 0.001", "(14.4 * (1 - 0.995))", "99", "0", "NaN", "Inf", "1e-9", "2"]),
)
alert_labels = st.fixed_dictionaries(
    {"slo": maybe(st.text(min_size=1, max_size=10))},
    optional={
        "service": maybe(st.text(max_size=10)),
        "namespace": maybe(st.sampled_from(["shop", "Probe NS", "", "a" * 70])),
        "slo_window": maybe(st.sampled_from(["30d", "120d", "x"])),
        "slo_objective": maybe(st.sampled_from(["99.9%", "150", "0.99999999", "abc"])),
        "team": maybe(st.text(max_size=10)),
    },
)
rule = st.one_of(
    st.fixed_dictionaries(
        {"alert": maybe(st.text(min_size=1, max_size=10)), "expr": maybe(alert_exprs)},
        optional={"labels": maybe(alert_labels), "annotations": maybe(labels)},
    ),
    st.fixed_dictionaries(
        {
            "record": maybe(st.sampled_from(["slo:sli_error:ratio_rate5m", "x"])),
            "expr": maybe(st.sampled_from(RATIOS) | promql),
        }
    ),
)
alert_files = st.fixed_dictionaries(
    {
        "groups": maybe(
            st.lists(
                maybe(
                    st.fixed_dictionaries(
                        {"name": maybe(st.text(max_size=5)), "rules": maybe(st.lists(rule, max_size=4))}
                    )
                ),
                min_size=1,
                max_size=2,
            )
        )
    }
)


def dumped(document: Any) -> str:
    return yaml.safe_dump(document, allow_unicode=True)


def check_conversion(result: Conversion) -> None:
    for converted in result.converted:
        spec = SLOSpec.model_validate_json(converted.spec.model_dump_json(by_alias=True))
        assert spec == converted.spec
    for skipped in result.skipped:
        assert skipped.reason and len(skipped.reason) <= 1000 and len(skipped.item) <= 200
    json.dumps(result.model_dump(mode="json"))


IMPORTERS = [
    pytest.param(import_sloth, sloth_files, id="Sloth"),
    pytest.param(import_openslo, openslo_files, id="OpenSLO"),
    pytest.param(import_alerts, alert_files, id="Prometheus alert rules"),
]


@pytest.mark.parametrize(("importer", "files"), IMPORTERS)
def test_import_files_give_a_report_or_an_interop_error(importer: Any, files: st.SearchStrategy[Any]) -> None:
    @FUZZ
    @given(
        st.one_of(files.map(dumped), files.map(dumped).map(lambda t: t[: len(t) // 2]), st.text(max_size=200))
    )
    def run(text: str) -> None:
        try:
            result = importer(text)
        except InteropError:
            return
        check_conversion(result)
        # What was imported exports and imports back without an error of another kind.
        specs = [c.spec for c in result.converted]
        if specs:
            check_conversion(import_openslo(export_openslo(specs)))
            sloth, not_exported = export_sloth(specs)
            if len(not_exported) < len(specs):
                check_conversion(import_sloth(sloth))

    run()
