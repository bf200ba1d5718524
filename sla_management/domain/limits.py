"""What a definition may hold: sizes, shapes and case rules, decided once for every door.

The REST API, the CRDs (infra/crds/, kept equal by tests/operator/test_crds.py) and the importers
all build `SLOSpec`/`PolicySpec`, whose fields use the types below, so the same input fails the
same way wherever it comes in, before anything is parsed, stored or put in a workflow payload.

Case rules: namespaces are Kubernetes namespace names (DNS-1123 labels, so lower case); SLO names
are unique per namespace and policy names unique overall *ignoring case* (`name_key`, and the
database's unique indexes on `lower(name)`); service names, layers and labels are compared
exactly, as Prometheus compares label values. Names and services are trimmed; a blank one is
refused.
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, Field, StringConstraints
from pydantic_core import PydanticCustomError

# PromQL: the CRDs' maxLength. Parsing cost grows faster than linearly with the depth of the
# tree (promql-parser: 2,000 chained `+` take 1.5 s and 570 MB; 5,000 overflow the stack), so
# depth is bounded as brackets and as operators, each far above what SLO queries use (Sloth's
# and Pyrra's generated ones stay under 8 and 20).
QUERY_MAX_CHARS = 8192
QUERY_MAX_NESTING = 32
QUERY_MAX_OPERATORS = 128
# Five nines: over 30 days that leaves a budget of 26 s of full outage, already below what a
# 15-60 s scrape interval can resolve, and `1 - target` loses precision fast beyond it
# (0.9999999999999999 left a budget of 1e-16 and a remaining -1.8e14 %). Datadog, Nobl9 and
# Google Cloud stop at the same place or earlier.
TARGET_MAX = 0.99999
NAME_MAX_CHARS = 200
NAMESPACE_MAX_CHARS = 63
# Free text rides along in every workflow payload and history event: 4 KB keeps a maximal SLO
# definition (4 queries, 32 labels) near 50 KB, a tenth of Temporal's 512 KB warning.
DESCRIPTION_MAX_CHARS = 4096
METRIC_NAME_MAX_CHARS = 512
LABELS_MAX = 32
LABEL_KEY_MAX_CHARS = 128
LABEL_VALUE_MAX_CHARS = 256
SELECTOR_ITEMS_MAX = 64
# How much of a user's input an error message repeats.
ECHO_MAX_CHARS = 80

DNS_LABEL_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
_DNS_LABEL = re.compile(DNS_LABEL_PATTERN)
# C0 and C1 control characters; free text may keep tab, line feed and carriage return.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_CONTROL_IN_TEXT = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_PLACEHOLDER = re.compile(r"\{\{\s*\.window\s*\}\}")
_WORD_OPERATORS = frozenset({"and", "or", "unless", "atan2"})
_TWO_CHAR_OPERATORS = frozenset({"==", "!=", "<=", ">="})


def echo(value: object, limit: int = ECHO_MAX_CHARS) -> str:
    """`value` quoted for an error message, cut to `limit` characters."""
    text = str(value)
    if len(text) <= limit:
        return repr(text)
    return f"{text[:limit]!r}… ({len(text):,} characters)"


def name_key(name: str) -> str:
    """What makes two names the same: case is ignored (PostgreSQL's `lower`)."""
    return name.strip().lower()


def _error(kind: str, message: str) -> PydanticCustomError:
    # A custom error keeps our message as written (no "Value error, " in front).
    return PydanticCustomError(kind, message)


def _one_line(value: str) -> str:
    if _CONTROL.search(value):
        raise _error("control_character", "must not contain control characters (NUL, line breaks, ...)")
    return value


def _text(value: str) -> str:
    if _CONTROL_IN_TEXT.search(value):
        raise _error("control_character", "must not contain NUL or other control characters")
    return value


def _not_blank(value: str) -> str:
    if not value:
        raise _error("blank", "must not be empty or blank")
    return _one_line(value)


def is_namespace(value: str) -> bool:
    """Whether `value` is a Kubernetes namespace name (a DNS-1123 label)."""
    return len(value) <= NAMESPACE_MAX_CHARS and _DNS_LABEL.match(value) is not None


def _dns_label(value: str) -> str:
    if not is_namespace(value):
        raise _error(
            "namespace",
            f"must be a Kubernetes namespace name (DNS-1123 label): at most {NAMESPACE_MAX_CHARS} "
            "lower-case letters, digits and '-', starting and ending with a letter or digit",
        )
    return value


# Trimmed, one line, not blank: SLO and policy names, service names, layers.
Name = Annotated[
    str, StringConstraints(strip_whitespace=True, max_length=NAME_MAX_CHARS), AfterValidator(_not_blank)
]
# Not trimmed: " shop" is no Kubernetes name, and the CRDs (which cannot trim) refuse it too.
Namespace = Annotated[str, AfterValidator(_dns_label)]
Description = Annotated[str, StringConstraints(max_length=DESCRIPTION_MAX_CHARS), AfterValidator(_text)]
MetricName = Annotated[str, StringConstraints(max_length=METRIC_NAME_MAX_CHARS), AfterValidator(_one_line)]
LabelKey = Annotated[
    str, StringConstraints(min_length=1, max_length=LABEL_KEY_MAX_CHARS), AfterValidator(_one_line)
]
LabelValue = Annotated[str, StringConstraints(max_length=LABEL_VALUE_MAX_CHARS), AfterValidator(_one_line)]
Labels = Annotated[dict[LabelKey, LabelValue], Field(max_length=LABELS_MAX)]
# Numbers and booleans are strict: "30" and true are not 30 (true was stored as 1).
StrictInt = Annotated[int, Field(strict=True)]
StrictBool = Annotated[bool, Field(strict=True)]
Finite = Annotated[float, Field(strict=True, allow_inf_nan=False)]


# PromQL ---------------------------------------------------------------------------------------


class QueryTooComplex(ValueError):
    """A query over the size or depth limits; the message names the limit."""


def _skip_string(text: str, start: int) -> int:
    quote, i, n = text[start], start + 1, len(text)
    while i < n and text[i] != quote:
        # Backquoted strings have no escapes.
        i += 2 if text[i] == "\\" and quote != "`" else 1
    return i + 1


def query_shape(query: str) -> tuple[int, int]:
    """(deepest bracket nesting, operators) of a PromQL text, read in one linear pass without
    parsing. Operators are counted generously (a unary minus, `offset -5m`): an upper bound on
    how deep the parsed tree can chain. Matchers inside `{...}` are not operators."""
    text = _PLACEHOLDER.sub("1s", query)
    depth = deepest = braces = operators = 0
    i, n = 0, len(text)
    while i < n:
        char = text[i]
        if char in "\"'`":
            i = _skip_string(text, i)
            continue
        if char == "#":  # a comment runs to the end of the line
            end = text.find("\n", i)
            i = n if end < 0 else end + 1
            continue
        if char.isalnum() or char in "_:.":
            start = i
            while i < n and (text[i].isalnum() or text[i] in "_:."):
                # An exponent's sign belongs to its number: 1e-3.
                if text[i] in "eE" and text[start].isdigit() and i + 1 < n and text[i + 1] in "+-":
                    i += 1
                i += 1
            if not braces and text[start:i].lower() in _WORD_OPERATORS:
                operators += 1
            continue
        if char in "([{":
            depth += 1
            deepest = max(deepest, depth)
            braces += char == "{"
        elif char in ")]}":
            depth = max(0, depth - 1)
            braces = max(0, braces - (char == "}"))
        elif not braces and char in "+-*/%^<>=!":
            operators += 1
            if text[i : i + 2] in _TWO_CHAR_OPERATORS:
                i += 1
        i += 1
    return deepest, operators


def check_query(query: str) -> str:
    """The query, when it is within the limits; QueryTooComplex naming the limit otherwise.
    Linear in the length, so it runs before anything parses the text."""
    if len(query) > QUERY_MAX_CHARS:
        raise QueryTooComplex(
            f"the query is {len(query):,} characters long; the limit is {QUERY_MAX_CHARS:,}"
        )
    if _CONTROL_IN_TEXT.search(query):
        raise QueryTooComplex("the query contains NUL or other control characters")
    nesting, operators = query_shape(query)
    if nesting > QUERY_MAX_NESTING:
        raise QueryTooComplex(f"the query nests brackets {nesting} deep; the limit is {QUERY_MAX_NESTING}")
    if operators > QUERY_MAX_OPERATORS:
        raise QueryTooComplex(f"the query has {operators:,} operators; the limit is {QUERY_MAX_OPERATORS}")
    return query


def _query(value: str) -> str:
    try:
        return check_query(value)
    except QueryTooComplex as exc:
        raise _error("query_limit", str(exc)) from exc


Query = Annotated[str, Field(json_schema_extra={"maxLength": QUERY_MAX_CHARS}), AfterValidator(_query)]
