"""Helpers shared by the interop tests."""

from __future__ import annotations

from datetime import UTC, datetime

from sla_management.domain.interop import promqltext
from sla_management.domain.slo import SLO, SLOSpec

NOW = datetime(2024, 5, 1, tzinfo=UTC)


def printed(query: str | None) -> str | None:
    """The query as the parser prints it (matchers sorted, spacing normalised)."""
    return None if query is None else promqltext.text(promqltext.parse(query))


def normalized(spec: SLOSpec) -> SLOSpec:
    """The SLO with its queries printed by the parser: what an importer that reads rules
    (which prints through the parser) gives back for it."""
    q = spec.sli_query
    queries = {f: printed(getattr(q, f)) for f in ("query", "error_query", "good_query", "total_query")}
    return spec.model_copy(update={"sli_query": q.model_copy(update=queries)})


def stored(specs: list[SLOSpec], prefix: str = "id") -> list[SLO]:
    return [
        SLO(**s.model_dump(), id=f"{prefix}-{i}", created_at=NOW, updated_at=NOW) for i, s in enumerate(specs)
    ]
