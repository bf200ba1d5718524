"""PromQL inspection with `promql-parser` (no I/O).

Prometheus itself judges whether a query is valid (its error text is what users see); this
module only reads a parsed query to learn what it returns, so partial windows add up right.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import promql_parser

from sla_management.domain.slo import WINDOW_PLACEHOLDER, QueryUnit

# An unusual range no one writes by hand marks where {{.window}} went.
_SENTINEL_SECONDS = 7_777_777
_PER_SECOND = {"rate", "irate"}


def _children(node: Any) -> Iterator[Any]:
    for attr in ("lhs", "rhs", "expr", "param", "vector_selector"):
        child = getattr(node, attr, None)
        if child is not None and not isinstance(child, (str, int, float)):
            yield child
    yield from getattr(node, "args", None) or []


def _walk(node: Any) -> Iterator[Any]:
    yield node
    for child in _children(node):
        yield from _walk(child)


def detect_unit(query: str) -> QueryUnit:
    """RATE when every function applied to the {{.window}} range is rate()/irate(), else COUNT.

    Raises ValueError (the parser's message) when the query does not parse locally.
    """
    rendered = query.replace(WINDOW_PLACEHOLDER, f"{_SENTINEL_SECONDS}s")
    tree = promql_parser.parse(rendered)
    sentinel = timedelta(seconds=_SENTINEL_SECONDS)
    funcs: set[str] = set()
    for node in _walk(tree):
        if type(node).__name__ != "Call":
            continue
        for arg in node.args or []:
            if getattr(arg, "range", None) == sentinel:
                funcs.add(node.func.name)
    if funcs and funcs <= _PER_SECOND:
        return QueryUnit.RATE
    return QueryUnit.COUNT
