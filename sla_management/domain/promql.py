"""PromQL inspection with `promql-parser` (no I/O).

Prometheus itself judges whether a query is valid (its error text is what users see); this
module only reads a parsed query to learn what it returns, so partial windows add up right.

Every parse in the package goes through `parse` here. promql-parser is Rust: a deep enough tree
overflows the stack and kills the process (SIGSEGV, which no `except` catches), and its time and
memory grow faster than linearly with depth. So the text is held to the limits of
`limits.check_query` first (linear, no parsing), and the parse itself runs on a thread of its own
with a 64 MB stack, over a hundred times what the deepest text within the limits needs. Trees
are walked with an explicit stack, never by recursion (nor by `promql_parser.walk`, whose cost
grows with the square of the depth).
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from concurrent.futures import Future
from datetime import timedelta
from typing import Any

import promql_parser

from sla_management.domain.limits import check_query
from sla_management.domain.slo import WINDOW_PLACEHOLDER, QueryUnit

# An unusual range no one writes by hand marks where {{.window}} went.
_SENTINEL_SECONDS = 7_777_777
_PER_SECOND = {"rate", "irate"}
PARSER_STACK_BYTES = 64 * 1024 * 1024
_CHILD_ATTRS = ("lhs", "rhs", "param", "expr", "vector_selector")


class _Parser:
    """One daemon thread with a large stack that parses, in order, what it is handed."""

    def __init__(self) -> None:
        self._requests: queue.SimpleQueue[tuple[str, Future[Any]]] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def _run(self) -> None:
        while True:
            text, future = self._requests.get()
            if not future.set_running_or_notify_cancel():
                continue
            try:
                future.set_result(promql_parser.parse(text))
            except BaseException as exc:
                future.set_exception(exc)

    def _start(self) -> None:
        with self._lock:
            if self._thread is not None and self._thread.is_alive():
                return
            # The stack size applies to threads started while it is set, so it is set and
            # restored under the lock, around this one start.
            previous = threading.stack_size(PARSER_STACK_BYTES)
            try:
                self._thread = threading.Thread(target=self._run, name="promql-parser", daemon=True)
                self._thread.start()
            finally:
                threading.stack_size(previous)

    def parse(self, text: str) -> Any:
        if self._thread is None or not self._thread.is_alive():
            self._start()
        future: Future[Any] = Future()
        self._requests.put((text, future))
        return future.result()


_PARSER = _Parser()


def parse(text: str) -> Any:
    """The parsed query. ValueError: the parser's message, or `limits.QueryTooComplex` (a
    ValueError too) naming the limit the text is over, before anything is parsed."""
    return _PARSER.parse(check_query(text))


def children(node: Any) -> Iterator[Any]:
    for attr in _CHILD_ATTRS:
        child = getattr(node, attr, None)
        if child is not None and not isinstance(child, (str, int, float)):
            yield child
    yield from getattr(node, "args", None) or []


def walk(node: Any) -> Iterator[Any]:
    """Every node of the tree, parents before children, without recursion."""
    stack = [node]
    while stack:
        current = stack.pop()
        yield current
        stack.extend(reversed(list(children(current))))


def detect_unit(query: str) -> QueryUnit:
    """RATE when every function applied to the {{.window}} range is rate()/irate(), else COUNT.

    Raises ValueError (the parser's message, or the limit the query is over) when the query
    does not parse locally.
    """
    rendered = query.replace(WINDOW_PLACEHOLDER, f"{_SENTINEL_SECONDS}s")
    tree = parse(rendered)
    sentinel = timedelta(seconds=_SENTINEL_SECONDS)
    funcs: set[str] = set()
    for node in walk(tree):
        if type(node).__name__ != "Call":
            continue
        for arg in node.args or []:
            if getattr(arg, "range", None) == sentinel:
                funcs.add(node.func.name)
    if funcs and funcs <= _PER_SECOND:
        return QueryUnit.RATE
    return QueryUnit.COUNT
