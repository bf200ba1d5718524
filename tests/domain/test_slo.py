from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import ValidationError

from sla_management.domain.limits import query_shape
from sla_management.domain.slo import (
    SLO,
    BudgetingMethod,
    Comparison,
    SLIKind,
    SLOSpec,
)

ERRORS = "sum(increase(http_requests_total{code=~'5..'}[{{.window}}]))"
GOOD = "sum(increase(http_requests_total{code!~'5..'}[{{.window}}]))"
TOTAL = "sum(increase(http_requests_total[{{.window}}]))"
RATIO = "avg_over_time(checkout:good_ratio[{{.window}}])"
TARGET_RULE = "target\n  must be the objective as a ratio (0.999 for 99.9 %), above 0 and at most 0.99999"
NAMESPACE_RULE = "namespace\n  must be a Kubernetes namespace name (DNS-1123 label)"
LATENCY = "histogram_quantile(0.99, sum by (le) (rate(http_duration_seconds_bucket[{{.window}}])))"


def body(**changes: Any) -> dict[str, Any]:
    """A valid camelCase REST body; `changes` overrides top-level keys (None removes one)."""
    spec: dict[str, Any] = {
        "name": "checkout availability",
        "sloType": "AVAILABILITY",
        "serviceName": "checkout",
        "target": 0.999,
        "windowDays": 30,
        "sliQuery": {"errorQuery": ERRORS, "totalQuery": TOTAL},
    }
    spec.update(changes)
    return {k: v for k, v in spec.items() if v is not None}


@pytest.mark.parametrize(
    ("raw", "kind", "method", "comparison"),
    [
        pytest.param(
            body(),
            SLIKind.ERROR_TOTAL,
            BudgetingMethod.OCCURRENCES,
            None,
            id="errorQuery + totalQuery counts occurrences",
        ),
        pytest.param(
            body(sliQuery={"goodQuery": GOOD, "totalQuery": TOTAL}),
            SLIKind.GOOD_TOTAL,
            BudgetingMethod.OCCURRENCES,
            None,
            id="goodQuery + totalQuery counts occurrences",
        ),
        pytest.param(
            body(sliQuery={"query": RATIO}),
            SLIKind.RATIO,
            BudgetingMethod.OCCURRENCES,
            None,
            id="a single query over {{.window}} is a good ratio",
        ),
        pytest.param(
            body(sloType="LATENCY", sliQuery={"query": LATENCY}, threshold=0.3),
            SLIKind.THRESHOLD,
            BudgetingMethod.TIMESLICES,
            Comparison.LTE,
            id="a latency query + threshold is timeslices, good when at most the threshold",
        ),
        pytest.param(
            body(sliQuery={"query": "avg(up{job='checkout'})"}, threshold=0.99),
            SLIKind.THRESHOLD,
            BudgetingMethod.TIMESLICES,
            Comparison.GTE,
            id="a non-latency query + threshold is good when at least the threshold",
        ),
        pytest.param(
            body(sloType="LATENCY", sliQuery={"query": LATENCY}, threshold=0.3, comparison="lt"),
            SLIKind.THRESHOLD,
            BudgetingMethod.TIMESLICES,
            Comparison.LT,
            id="an explicit comparison is kept",
        ),
        pytest.param(
            body(sliQuery={"query": LATENCY}, threshold=0.3, budgetingMethod="Timeslices"),
            SLIKind.THRESHOLD,
            BudgetingMethod.TIMESLICES,
            Comparison.GTE,
            id="an explicit Timeslices with a threshold is accepted",
        ),
        pytest.param(
            body(budgetingMethod="Occurrences"),
            SLIKind.ERROR_TOTAL,
            BudgetingMethod.OCCURRENCES,
            None,
            id="an explicit Occurrences with event queries is accepted",
        ),
        pytest.param(
            body(windowDays=1),
            SLIKind.ERROR_TOTAL,
            BudgetingMethod.OCCURRENCES,
            None,
            id="a one-day window is the shortest",
        ),
        pytest.param(
            body(windowDays=90),
            SLIKind.ERROR_TOTAL,
            BudgetingMethod.OCCURRENCES,
            None,
            id="a ninety-day window is the longest",
        ),
        pytest.param(
            body(windowDays=1, sliQuery={"query": LATENCY}, threshold=0.3, timesliceMinutes=1440),
            SLIKind.THRESHOLD,
            BudgetingMethod.TIMESLICES,
            Comparison.GTE,
            id="a one-day slice fits exactly in a one-day window",
        ),
    ],
)
def test_valid_spec(
    raw: dict[str, Any], kind: SLIKind, method: BudgetingMethod, comparison: Comparison | None
) -> None:
    spec = SLOSpec.model_validate(raw)
    assert spec.kind is kind
    assert spec.budgeting_method is method
    assert spec.comparison is comparison


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        pytest.param(body(target=0), TARGET_RULE, id="target 0 is refused"),
        pytest.param(body(target=1), TARGET_RULE, id="target 1 leaves no budget"),
        pytest.param(body(target=1.5), TARGET_RULE, id="target 1.5 is not a ratio"),
        pytest.param(body(target=99.9), TARGET_RULE, id="a percentage is not a ratio"),
        pytest.param(body(target=0.999991), TARGET_RULE, id="more than five nines is refused"),
        pytest.param(
            body(target=0.9999999999999999), TARGET_RULE, id="a target a float away from 1 is refused"
        ),
        pytest.param(body(target=float("nan")), "target\n  Input should be a finite number", id="target NaN"),
        pytest.param(body(target=True), "target\n  Input should be a valid number", id="target true"),
        pytest.param(
            body(target="0.99"), "target\n  Input should be a valid number", id="target as a string"
        ),
        pytest.param(
            body(windowDays="30"),
            "windowDays\n  Input should be a valid integer",
            id="windowDays as a string",
        ),
        pytest.param(
            body(windowDays=True), "windowDays\n  Input should be a valid integer", id="windowDays true"
        ),
        pytest.param(
            body(windowDays=30.0), "windowDays\n  Input should be a valid integer", id="windowDays 30.0"
        ),
        pytest.param(
            body(sliQuery={"query": LATENCY}, threshold="0.3"),
            "threshold\n  Input should be a valid number",
            id="threshold as a string",
        ),
        pytest.param(
            body(sliQuery={"query": LATENCY}, threshold=True),
            "threshold\n  Input should be a valid number",
            id="threshold true",
        ),
        pytest.param(
            body(sliQuery={"query": LATENCY}, threshold=float("nan")),
            "threshold\n  Input should be a finite number",
            id="threshold NaN",
        ),
        pytest.param(
            body(sliQuery={"query": LATENCY}, threshold=float("-inf")),
            "threshold\n  Input should be a finite number",
            id="threshold -Inf",
        ),
        pytest.param(
            body(sliQuery={"query": LATENCY}, threshold=0.3, timesliceMinutes="5"),
            "timesliceMinutes\n  Input should be a valid integer",
            id="timesliceMinutes as a string",
        ),
        pytest.param(
            body(namespace="Probe NS/../!"), NAMESPACE_RULE, id="a namespace with spaces and slashes"
        ),
        pytest.param(body(namespace="Shop"), NAMESPACE_RULE, id="a namespace in upper case"),
        pytest.param(body(namespace="-shop"), NAMESPACE_RULE, id="a namespace starting with a dash"),
        pytest.param(body(namespace=""), NAMESPACE_RULE, id="an empty namespace"),
        pytest.param(body(name="   "), "name\n  must not be empty or blank", id="a whitespace-only name"),
        pytest.param(
            body(serviceName="\t \n"),
            "serviceName\n  must not be empty or blank",
            id="a whitespace-only service",
        ),
        pytest.param(body(layer="  "), "layer\n  must not be empty or blank", id="a whitespace-only layer"),
        pytest.param(
            body(name="a" * 201), "name\n  String should have at most 200 characters", id="a long name"
        ),
        pytest.param(
            body(name="check\x00out"), "name\n  must not contain control characters", id="NUL in a name"
        ),
        pytest.param(
            body(name="check\nout"),
            "name\n  must not contain control characters",
            id="a line break in a name",
        ),
        pytest.param(
            body(description="x\x00"), "description\n  must not contain NUL", id="NUL in the description"
        ),
        pytest.param(
            body(description="x" * 4097),
            "description\n  String should have at most 4096 characters",
            id="a description over 4 KB",
        ),
        pytest.param(
            body(labels={f"k{i}": "v" for i in range(33)}),
            "labels\n  Dictionary should have at most 32 items",
            id="more than 32 labels",
        ),
        pytest.param(
            body(labels={"k": "v" * 257}),
            "String should have at most 256 characters",
            id="a long label value",
        ),
        pytest.param(
            body(labels={"": "v"}), "String should have at least 1 character", id="an empty label key"
        ),
        pytest.param(body(labels={"k": "\x00"}), "must not contain control characters", id="NUL in a label"),
        pytest.param(
            body(sliQuery={"errorQuery": ERRORS + "\x00", "totalQuery": TOTAL}),
            "sliQuery.errorQuery\n  the query contains NUL",
            id="NUL in a query",
        ),
        pytest.param(
            body(sliQuery={"errorQuery": "sum(rate(up[{{.window}}]))" + " + 0" * 5000, "totalQuery": TOTAL}),
            "sliQuery.errorQuery\n  the query is 20,026 characters long; the limit is 8,192",
            id="a 20 KB query",
        ),
        pytest.param(
            body(sliQuery={"errorQuery": "sum(rate(up[{{.window}}]))" + " + 0" * 1500, "totalQuery": TOTAL}),
            "sliQuery.errorQuery\n  the query has 1,500 operators; the limit is 128",
            id="a chain of 1,500 additions",
        ),
        pytest.param(
            body(sliQuery={"errorQuery": ERRORS, "totalQuery": "(" * 40 + TOTAL + ")" * 40}),
            "sliQuery.totalQuery\n  the query nests brackets 43 deep; the limit is 32",
            id="brackets 43 deep",
        ),
        pytest.param(
            body(sliQuery={"query": "-" * 200 + "1"}, threshold=1),
            "sliQuery.query\n  the query has 200 operators",
            id="200 unary minuses",
        ),
        pytest.param(
            body(windowDays=0),
            "windowDays\n  Input should be greater than or equal to 1",
            id="windowDays 0 is refused",
        ),
        pytest.param(
            body(windowDays=91),
            "windowDays\n  Input should be less than or equal to 90",
            id="windowDays 91 is refused",
        ),
        pytest.param(
            body(sliQuery={"errorQuery": ERRORS}),
            "errorQuery/goodQuery needs totalQuery",
            id="errorQuery without totalQuery",
        ),
        pytest.param(
            body(sliQuery={"goodQuery": GOOD}),
            "errorQuery/goodQuery needs totalQuery",
            id="goodQuery without totalQuery",
        ),
        pytest.param(
            body(sliQuery={"totalQuery": TOTAL}),
            "totalQuery needs errorQuery or goodQuery",
            id="totalQuery alone",
        ),
        pytest.param(
            body(sliQuery={"errorQuery": ERRORS, "goodQuery": GOOD, "totalQuery": TOTAL}),
            "give errorQuery or goodQuery, not both",
            id="errorQuery and goodQuery together",
        ),
        pytest.param(
            body(sliQuery={"query": RATIO, "errorQuery": ERRORS, "totalQuery": TOTAL}),
            "give either query or errorQuery/goodQuery + totalQuery, not both",
            id="query and event queries together",
        ),
        pytest.param(body(sliQuery={}), "one of query, errorQuery + totalQuery", id="no query at all"),
        pytest.param(body(sliQuery={"query": "   "}), "query must not be empty", id="a blank query"),
        pytest.param(
            body(sliQuery={"query": "avg(checkout:good_ratio)"}),
            "so it must contain {{.window}}",
            id="a query without {{.window}} and without threshold",
        ),
        pytest.param(
            body(sliQuery={"errorQuery": "sum(increase(errors[5m]))", "totalQuery": TOTAL}),
            "errorQuery must contain {{.window}}",
            id="an errorQuery with a fixed range",
        ),
        pytest.param(
            body(sliQuery={"goodQuery": GOOD, "totalQuery": "sum(increase(requests[1h]))"}),
            "totalQuery must contain {{.window}}",
            id="a totalQuery with a fixed range",
        ),
        pytest.param(
            body(threshold=0.3), "threshold applies only to a single `query`", id="threshold with errorQuery"
        ),
        pytest.param(
            body(budgetingMethod="Timeslices"),
            "Timeslices needs `query` + `threshold`",
            id="Timeslices with event queries",
        ),
        pytest.param(
            body(sliQuery={"query": RATIO}, budgetingMethod="Timeslices"),
            "Timeslices needs `query` + `threshold`",
            id="Timeslices with a ratio query and no threshold",
        ),
        pytest.param(
            body(sliQuery={"query": LATENCY}, threshold=0.3, budgetingMethod="Occurrences"),
            "budgetingMethod must be Timeslices",
            id="Occurrences with a threshold",
        ),
        pytest.param(body(comparison="lte"), "comparison needs threshold", id="comparison without threshold"),
        pytest.param(body(sloType="SATURATION"), "sloType\n  Input should be", id="an unknown sloType"),
        pytest.param(
            body(sloType="availability"), "sloType\n  Input should be", id="sloType is case-sensitive"
        ),
        pytest.param(body(owner="team-a"), "owner\n  Extra inputs are not permitted", id="an unknown field"),
        pytest.param(
            body(sliQuery={"errorQuery": ERRORS, "totalQuery": TOTAL, "window": "5m"}),
            "sliQuery.window\n  Extra inputs are not permitted",
            id="an unknown field inside sliQuery",
        ),
        pytest.param(body(name=""), "name\n  must not be empty or blank", id="an empty name"),
        pytest.param(body(serviceName=None), "serviceName\n  Field required", id="a missing serviceName"),
        pytest.param(body(namespace="n" * 64), NAMESPACE_RULE, id="a namespace too long for Kubernetes"),
        pytest.param(
            body(sliQuery={"query": LATENCY}, threshold=0.3, timesliceMinutes=0),
            "timesliceMinutes\n  Input should be greater than or equal to 1",
            id="a zero-minute slice",
        ),
    ],
)
def test_invalid_spec(raw: dict[str, Any], reason: str) -> None:
    with pytest.raises(ValidationError, match=re.escape(reason)):
        SLOSpec.model_validate(raw)


def test_camel_case_json_in_and_out() -> None:
    spec = SLOSpec.model_validate(
        body(
            sloType="LATENCY",
            sliQuery={"metricName": "p99", "query": LATENCY},
            threshold=0.3,
            timesliceMinutes=10,
        )
    )

    assert spec.slo_type == "LATENCY"
    assert spec.service_name == "checkout"
    assert spec.sli_query.metric_name == "p99"
    assert spec.timeslice_minutes == 10
    out = spec.model_dump(by_alias=True, mode="json")
    assert out["sloType"] == "LATENCY"
    assert out["serviceName"] == "checkout"
    assert out["windowDays"] == 30
    assert out["timesliceMinutes"] == 10
    assert out["budgetingMethod"] == "Timeslices"
    assert out["comparison"] == "lte"
    assert out["sliQuery"] == {
        "metricName": "p99",
        "query": LATENCY,
        "errorQuery": None,
        "goodQuery": None,
        "totalQuery": None,
    }
    assert not any("_" in key for key in out)
    # What was filled in (comparison, budgetingMethod) validates again to the same spec.
    assert SLOSpec.model_validate(json.loads(spec.model_dump_json(by_alias=True))) == spec


def test_snake_case_names_are_accepted_too() -> None:
    spec = SLOSpec.model_validate(
        {
            "name": "n",
            "slo_type": "AVAILABILITY",
            "service_name": "checkout",
            "target": 0.99,
            "sli_query": {"error_query": ERRORS, "total_query": TOTAL},
        }
    )
    assert spec.event_queries() == {"errorQuery": ERRORS, "totalQuery": TOTAL}


@pytest.mark.parametrize(
    ("sli_query", "expected"),
    [
        pytest.param(
            {"errorQuery": ERRORS, "totalQuery": TOTAL},
            {"errorQuery": ERRORS, "totalQuery": TOTAL},
            id="error and total",
        ),
        pytest.param(
            {"goodQuery": GOOD, "totalQuery": TOTAL},
            {"goodQuery": GOOD, "totalQuery": TOTAL},
            id="good and total",
        ),
        pytest.param({"query": RATIO}, {"query": RATIO}, id="a single ratio query"),
    ],
)
def test_event_queries_are_named_by_their_camel_case_field(
    sli_query: dict[str, str], expected: dict[str, str]
) -> None:
    assert SLOSpec.model_validate(body(sliQuery=sli_query)).event_queries() == expected


def test_stored_slo_ignores_unknown_fields_and_names_its_workflow() -> None:
    now = datetime(2024, 5, 1, tzinfo=UTC)
    slo = SLO.model_validate(body(id="abc", createdAt=now, updatedAt=now, status={"phase": "Ready"}))
    assert slo.workflow_id == "slo-abc"
    assert "status" not in slo.model_dump(by_alias=True)


@pytest.mark.parametrize(
    ("comparison", "value", "threshold", "holds"),
    [
        pytest.param(Comparison.LT, 0.2, 0.3, True, id="lt holds below"),
        pytest.param(Comparison.LT, 0.3, 0.3, False, id="lt fails at equality"),
        pytest.param(Comparison.LTE, 0.3, 0.3, True, id="lte holds at equality"),
        pytest.param(Comparison.LTE, 0.31, 0.3, False, id="lte fails above"),
        pytest.param(Comparison.GT, 0.99, 0.99, False, id="gt fails at equality"),
        pytest.param(Comparison.GT, 0.995, 0.99, True, id="gt holds above"),
        pytest.param(Comparison.GTE, 0.99, 0.99, True, id="gte holds at equality"),
        pytest.param(Comparison.GTE, 0.98, 0.99, False, id="gte fails below"),
    ],
)
def test_comparison_holds(comparison: Comparison, value: float, threshold: float, holds: bool) -> None:
    assert comparison.holds(value, threshold) is holds


def test_names_and_services_are_trimmed() -> None:
    spec = SLOSpec.model_validate(body(name="  checkout  ", serviceName=" checkout\t", layer=" edge "))
    assert (spec.name, spec.service_name, spec.layer) == ("checkout", "checkout", "edge")
    with pytest.raises(ValidationError, match=re.escape(NAMESPACE_RULE)):
        SLOSpec.model_validate(body(namespace=" shop"))


def test_values_at_each_limit_are_accepted() -> None:
    at_the_limit = "(" * 29 + "sum(rate(up[{{.window}}]))" + ")" * 29 + " + 1" * 128
    spec = SLOSpec.model_validate(
        body(
            name="n" * 200,
            namespace="a" * 61 + "-1",
            target=0.99999,
            description="d" * 4096,
            labels={f"k{i:03d}" + "k" * 124: "v" * 256 for i in range(32)},
            sliQuery={"errorQuery": at_the_limit, "totalQuery": TOTAL},
        )
    )
    assert spec.target == 0.99999
    # The largest definition the limits allow stays far below Temporal's 512 KB payload warning.
    assert len(spec.model_dump_json(by_alias=True)) < 64_000


def test_integers_are_numbers() -> None:
    spec = SLOSpec.model_validate(body(sliQuery={"query": LATENCY}, threshold=250, sloType="LATENCY"))
    assert spec.threshold == 250.0


@pytest.mark.parametrize(
    ("query", "nesting", "operators"),
    [
        pytest.param(ERRORS, 3, 0, id="label matchers are not operators"),
        pytest.param("sum(rate(a[5m])) / sum(rate(b[5m])) > 1e-3", 3, 2, id="an exponent is no minus"),
        pytest.param('up{job="a+b(c"} - 1', 1, 1, id="strings are skipped"),
        pytest.param("a and b or c unless d", 0, 3, id="word operators"),
        pytest.param("a >= 1 == bool 2", 0, 2, id="two-character comparisons count once"),
        pytest.param("x # + - * (((\n+ 1", 0, 1, id="comments are skipped"),
        pytest.param("-1", 0, 1, id="a unary minus counts"),
        pytest.param("up[{{ .window }}]", 1, 0, id="the placeholder is no brace"),
    ],
)
def test_query_shape(query: str, nesting: int, operators: int) -> None:
    assert query_shape(query) == (nesting, operators)
