"""Imports: SLOs from Prometheus alert rules, OpenSLO and Sloth files.

Conversion is pure (`domain/interop`); each SLO it yields is created exactly as a REST create
does (queries checked by Prometheus, definition stored, loop started). One failing SLO does not
stop the others: the report says what was created and what was skipped, and why.
"""

from __future__ import annotations

from collections.abc import Callable

from pydantic import Field

from sla_management.control.audit import Actor
from sla_management.control.clients import Clients
from sla_management.control.slos import check_queries, create_slo, with_defaults
from sla_management.domain.interop.common import Conversion, InteropError, Skipped
from sla_management.domain.limits import name_key
from sla_management.domain.slo import SLO, CamelModel, SLOSpec
from sla_management.errors import Conflict, Invalid, Unavailable


class CreatedSLO(CamelModel):
    item: str = Field(description="Where in the file it came from.")
    slo: SLO | SLOSpec = Field(
        description="The stored SLO; in a dry run, the definition that would be stored."
    )
    notes: list[str] = Field(default_factory=list, description="What was assumed or approximated.")


class ImportReport(CamelModel):
    dry_run: bool = False
    created: list[CreatedSLO] = Field(default_factory=list)
    skipped: list[Skipped] = Field(default_factory=list)


async def _check(clients: Clients, spec: SLOSpec) -> SLOSpec:
    """What a create would check, creating nothing (a dry run)."""
    await check_queries(clients, with_defaults(clients, spec))
    taken = await clients.slos.all(namespace=spec.namespace)
    if any(name_key(s.name) == name_key(spec.name) for s in taken):
        raise Conflict(
            f"an SLO named {spec.name!r} (ignoring case) already exists in namespace {spec.namespace!r}"
        )
    return spec


async def import_slos(
    clients: Clients, text: str, convert: Callable[[str], Conversion], actor: Actor, *, dry_run: bool
) -> ImportReport:
    """Raises Invalid when the file cannot be read at all."""
    try:
        conversion = convert(text)
    except InteropError as exc:
        raise Invalid("body", str(exc)) from exc
    report = ImportReport(dry_run=dry_run, skipped=list(conversion.skipped))
    for converted in conversion.converted:
        spec = converted.spec
        try:
            slo: SLO | SLOSpec = await (
                _check(clients, spec) if dry_run else create_slo(clients, spec, actor)
            )
        except (Invalid, Conflict) as exc:
            report.skipped.append(Skipped(item=converted.item, reason=str(exc)))
        except Unavailable as exc:
            # Nothing done yet: the whole import is unavailable (503). Otherwise keep what was
            # created and say which ones were not.
            if not report.created:
                raise
            report.skipped.append(Skipped(item=converted.item, reason=f"not created: {exc}"))
        else:
            report.created.append(CreatedSLO(item=converted.item, slo=slo, notes=converted.notes))
    return report
