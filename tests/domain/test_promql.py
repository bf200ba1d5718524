from __future__ import annotations

import json
import subprocess
import sys
import threading

import promql_parser
import pytest

from sla_management.domain.interop import promqltext
from sla_management.domain.limits import QueryTooComplex
from sla_management.domain.promql import PARSER_STACK_BYTES, detect_unit, walk
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


PATHOLOGICAL = [
    pytest.param("sum(rate(up[{{.window}}]))" + " + 0" * 5000, "characters long", id="20 KB of additions"),
    pytest.param(
        "sum(rate(up[{{.window}}]))" + "+0" * 1200, "1,200 operators", id="1,200 additions in 2.4 KB"
    ),
    pytest.param("(" * 2000 + "up" + ")" * 2000, "nests brackets 2000 deep", id="2,000 parentheses"),
    pytest.param("abs(" * 1000 + "up" + ")" * 1000, "nests brackets 1000 deep", id="1,000 nested calls"),
    pytest.param("-" * 4000 + "1", "4,000 operators", id="4,000 unary minuses"),
]


@pytest.mark.parametrize(("query", "limit"), PATHOLOGICAL)
def test_a_pathological_query_is_refused_before_parsing(query: str, limit: str) -> None:
    with pytest.raises(QueryTooComplex, match=limit):
        detect_unit(query)
    with pytest.raises(QueryTooComplex, match=limit):
        promqltext.parse(query)


def test_pathological_queries_do_not_kill_the_process() -> None:
    """In a child process, so that a crash (the parser's SIGSEGV, or a RecursionError) shows up
    as what it is instead of taking the test run down."""
    queries = [param.values[0] for param in PATHOLOGICAL]
    script = (
        "import json, sys\n"
        "from sla_management.domain.promql import detect_unit\n"
        "out = []\n"
        "for q in json.load(sys.stdin):\n"
        "    try:\n"
        "        detect_unit(q)\n"
        "        out.append('parsed')\n"
        "    except ValueError as exc:\n"
        "        out.append(type(exc).__name__)\n"
        "print(json.dumps(out))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], input=json.dumps(queries), capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(done.stdout) == ["QueryTooComplex"] * len(queries)


def test_the_deepest_query_within_the_limits_parses() -> None:
    deepest = "(" * 29 + "sum(rate(up[{{.window}}]))" + ")" * 29 + " + 1" * 128
    assert detect_unit(deepest) is QueryUnit.RATE
    assert len(list(walk(promqltext.parse(deepest)))) > 128


def test_parsing_runs_on_a_thread_with_a_large_stack() -> None:
    seen: list[str] = []
    original = promql_parser.parse

    def spy(text: str) -> object:
        seen.append(threading.current_thread().name)
        return original(text)

    promql_parser.parse = spy
    try:
        detect_unit("sum(rate(up[{{.window}}]))")
    finally:
        promql_parser.parse = original
    assert seen == ["promql-parser"]
    assert PARSER_STACK_BYTES >= 64 * 1024 * 1024


def test_walk_visits_what_promql_parser_walk_visits() -> None:
    query = 'topk(3, sum by (a) (rate(x{a="b"}[5m] offset 1m))) / on(a) group_left -y > bool scalar(z)'
    tree = promql_parser.parse(query)
    theirs: list[object] = []
    promql_parser.walk(tree, theirs.append)
    assert sorted(type(n).__name__ for n in walk(tree)) == sorted(type(n).__name__ for n in theirs)
