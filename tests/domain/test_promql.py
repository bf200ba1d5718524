from __future__ import annotations

import pytest

from sla_management.domain.promql import detect_unit
from sla_management.domain.slo import QueryUnit


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        pytest.param("sum(rate(http_requests_total[{{.window}}]))", QueryUnit.RATE, id="rate is per second"),
        pytest.param(
            "sum(irate(http_requests_total[{{.window}}]))", QueryUnit.RATE, id="irate is per second"
        ),
        pytest.param(
            'sum(rate(http_requests_total{code=~"5.."}[{{.window}}]))'
            " / sum(rate(http_requests_total[{{.window}}]))",
            QueryUnit.RATE,
            id="a ratio of two rates is still per second",
        ),
        pytest.param(
            "sum by (route) (rate(http_requests_total[{{.window}}] offset 1h))",
            QueryUnit.RATE,
            id="rate under an aggregation with offset is per second",
        ),
        pytest.param(
            "-(sum(rate(x[{{.window}}])))", QueryUnit.RATE, id="rate under a unary minus and parentheses"
        ),
        pytest.param(
            "sum(increase(http_requests_total[{{.window}}]))", QueryUnit.COUNT, id="increase is a count"
        ),
        pytest.param(
            "sum(count_over_time(up[{{.window}}]))", QueryUnit.COUNT, id="count_over_time is a count"
        ),
        pytest.param(
            "sum(rate(a[{{.window}}])) + sum(increase(b[{{.window}}]))",
            QueryUnit.COUNT,
            id="rate mixed with increase over the window is taken as a count",
        ),
        pytest.param(
            "sum(increase(a[{{.window}}])) * on() group_left sum(rate(b[5m]))",
            QueryUnit.COUNT,
            id="a rate over a fixed range does not make the window a rate",
        ),
        pytest.param(
            "sum(rate(http_requests_total[5m]))",
            QueryUnit.COUNT,
            id="a query without the placeholder is a count",
        ),
        pytest.param("up", QueryUnit.COUNT, id="a bare selector is a count"),
    ],
)
def test_detect_unit(query: str, expected: QueryUnit) -> None:
    assert detect_unit(query) is expected


@pytest.mark.parametrize(
    "query",
    [
        pytest.param("sum(rate(x[{{.window}}])", id="an unclosed parenthesis"),
        pytest.param("sum(rate(x[{{.window}}])) by", id="a dangling by"),
        pytest.param("rate(x[{{.window}}]", id="an unclosed call"),
    ],
)
def test_detect_unit_raises_value_error_on_invalid_promql(query: str) -> None:
    with pytest.raises(ValueError):
        detect_unit(query)
