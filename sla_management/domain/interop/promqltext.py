"""PromQL as text: the `{{.window}}` placeholder, range rewriting and one-line printing.

`promql-parser` parses and prints PromQL but cannot parse the placeholder, so a query is parsed
with an unusual range (the sentinel) in its place, and the sentinel is turned back into the
placeholder in the printed text. Ranges are rewritten in the text, not in the tree: the parser's
nodes are copies, so changing a range on one does not change the tree it came from.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import promql_parser

from sla_management.domain import promql
from sla_management.domain.limits import QueryTooComplex, echo
from sla_management.domain.slo import WINDOW_PLACEHOLDER

# An unusual range no one writes by hand marks where {{.window}} went.
SENTINEL_SECONDS = 7_777_777
_SENTINEL = f"{SENTINEL_SECONDS}s"
# Sloth and hand-written files also write `{{ .window }}`.
_PLACEHOLDER_RE = re.compile(r"\{\{\s*\.window\s*\}\}")
COMPARISONS = frozenset({">", ">=", "<", "<=", "==", "!="})
_QUOTES = "\"'`"


def normalize_placeholder(query: str) -> str:
    return _PLACEHOLDER_RE.sub(WINDOW_PLACEHOLDER, query)


def has_placeholder(query: str) -> bool:
    return _PLACEHOLDER_RE.search(query) is not None


def parse(query: str) -> Any:
    """The parsed query, {{.window}} read as the sentinel range. ValueError: the parser's message,
    or QueryTooComplex naming the limit the query is over (then nothing was parsed)."""
    try:
        return promql.parse(normalize_placeholder(query).replace(WINDOW_PLACEHOLDER, _SENTINEL))
    except QueryTooComplex:
        raise
    except ValueError as exc:
        raise ValueError(f"{exc} in {echo(query.strip(), 200)}") from exc


def kind(node: Any) -> str:
    return type(node).__name__


def walk(node: Any) -> Iterator[Any]:
    return promql.walk(node)


def range_seconds(node: Any) -> set[int]:
    """The length, in seconds, of every range selector and subquery in the tree."""
    seconds: set[int] = set()
    for sub in walk(node):
        if kind(sub) in ("MatrixSelector", "SubqueryExpr"):
            rng: timedelta = sub.range
            seconds.add(int(rng.total_seconds()))
    return seconds


def _duration(text: str) -> int | None:
    try:
        return int(promql_parser.parse_duration(text.strip()).total_seconds())
    except ValueError:
        return None


def replace_ranges(query: str, seconds: int, replacement: str) -> str:
    """Write `replacement` for every range (`[d]`, `[d:step]`) of exactly `seconds`.

    String literals are copied untouched: a label value may well contain `[5m]`.
    """
    out: list[str] = []
    i, n = 0, len(query)
    while i < n:
        char = query[i]
        if char in _QUOTES:
            j = i + 1
            while j < n and query[j] != char:
                # Backquoted strings have no escapes.
                j += 2 if query[j] == "\\" and char != "`" else 1
            out.append(query[i : j + 1])
            i = j + 1
            continue
        if char == "[":
            end = query.find("]", i)
            if end < 0:
                out.append(query[i:])
                break
            length, colon, step = query[i + 1 : end].partition(":")
            if _duration(length) == seconds:
                out.append(f"[{replacement}{colon}{step}]")
            else:
                out.append(query[i : end + 1])
            i = end + 1
            continue
        out.append(char)
        i += 1
    return "".join(out)


def _one_line(pretty: str) -> str:
    lines = [line.strip() for line in pretty.splitlines() if line.strip()]
    out = lines[0] if lines else ""
    for line in lines[1:]:
        glued = out.endswith(("(", "[", "{")) or line.startswith((")", "]", "}", ","))
        out += line if glued else f" {line}"
    return out


def text(node: Any) -> str:
    """The node printed on one line, the sentinel range written as {{.window}} again."""
    return replace_ranges(_one_line(node.prettify()), SENTINEL_SECONDS, WINDOW_PLACEHOLDER)


def windowed(node: Any, seconds: int) -> str:
    """The node printed with every range of `seconds` turned into {{.window}}."""
    return replace_ranges(text(node), seconds, WINDOW_PLACEHOLDER)


def strip_parens(node: Any) -> Any:
    while kind(node) == "ParenExpr":
        node = node.expr
    return node


def constant(node: Any) -> float | None:
    """The value of an expression made only of numbers (`14.4 * (1 - 0.999)`), else None."""
    node = strip_parens(node)
    match kind(node):
        case "NumberLiteral":
            return float(node.val)
        case "UnaryExpr":
            inner = constant(node.expr)
            return None if inner is None else -inner
        case "BinaryExpr":
            lhs, rhs = constant(node.lhs), constant(node.rhs)
            if lhs is None or rhs is None:
                return None
            op = str(node.op)
            try:
                if op == "+":
                    return lhs + rhs
                if op == "-":
                    return lhs - rhs
                if op == "*":
                    return lhs * rhs
                if op == "/":
                    return lhs / rhs
            except ZeroDivisionError:
                return None
    return None


def is_scalar(node: Any) -> bool:
    """Whether the expression returns a scalar (a number, `scalar()`, `time()` ...)."""
    node = strip_parens(node)
    match kind(node):
        case "NumberLiteral":
            return True
        case "UnaryExpr":
            return is_scalar(node.expr)
        case "Call":
            return bool(node.func.return_type == promql_parser.ValueType.Scalar)
        case "BinaryExpr":
            return is_scalar(node.lhs) and is_scalar(node.rhs)
    return False


def number(value: float) -> str:
    """A float as PromQL and YAML read it back: short, without binary noise (1 - 0.999)."""
    return f"{value:.12g}"
