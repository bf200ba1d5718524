"""Structured-log processors that tie a log line to its trace."""

from __future__ import annotations

from collections.abc import MutableMapping
from typing import Any

import opentelemetry.trace


def add_trace_context(_: Any, __: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """`trace_id`/`span_id` of the current span, as the tracing backend shows them (hex), so a
    log line leads to its trace and back. Nothing is added while tracing is off."""
    context = opentelemetry.trace.get_current_span().get_span_context()
    if context.is_valid:
        event_dict.setdefault("trace_id", format(context.trace_id, "032x"))
        event_dict.setdefault("span_id", format(context.span_id, "016x"))
    return event_dict
