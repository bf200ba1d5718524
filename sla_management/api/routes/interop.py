"""Imports (Prometheus alert rules, OpenSLO, Sloth, Pyrra) and OpenSLO / Sloth exports.

The file is the request body, as text (YAML; JSON is YAML too). Conversion is pure
(`domain/interop`); each SLO it yields is created by `create_slo`, exactly as `POST /api/v1/slos`
creates one: queries checked by Prometheus, definition stored, loop started. One failing SLO does
not stop the others: the report says what was created and what was skipped, and why.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from pydantic import Field

from sla_management.adapters.postgres import Conflict, DatabaseUnavailable
from sla_management.adapters.prometheus import PrometheusUnavailable
from sla_management.api.auth import Editor, Principal
from sla_management.api.deps import Deps, Services, ServiceUnavailable
from sla_management.api.routes.rules import YAML, all_slos, get_slo
from sla_management.api.routes.slos import create_slo, validate_queries
from sla_management.domain.interop.common import DEFAULT_NAMESPACE, Conversion, InteropError, Skipped
from sla_management.domain.interop.openslo import export_openslo, import_openslo
from sla_management.domain.interop.prom_alerts import import_alerts
from sla_management.domain.interop.pyrra import import_pyrra
from sla_management.domain.interop.sloth import export_sloth, import_sloth
from sla_management.domain.slo import SLO, CamelModel, SLOSpec

router = APIRouter(prefix="/api/v1", tags=["import/export"])

_FILE_BODY = {
    "requestBody": {
        "required": True,
        "description": "The file, as sent: YAML (or JSON).",
        "content": {YAML: {"schema": {"type": "string"}}, "text/plain": {"schema": {"type": "string"}}},
    }
}
_YAML_RESPONSE: dict[int | str, dict[str, Any]] = {
    200: {"content": {YAML: {"schema": {"type": "string"}}}, "description": "A YAML file."}
}

Namespace = Annotated[
    str,
    Query(min_length=1, max_length=63, description="Namespace for SLOs whose file does not name one."),
]
DryRun = Annotated[
    bool,
    Query(alias="dryRun", description="Convert and check the queries with Prometheus, but create nothing."),
]


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


def _invalid_file(message: str) -> RequestValidationError:
    return RequestValidationError([{"loc": ("body",), "msg": message, "type": "value_error.file"}])


async def _file_text(request: Request) -> str:
    raw = await request.body()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _invalid_file("the file is not UTF-8 text") from exc
    if not text.strip():
        raise _invalid_file("the request body is empty: send the file as the body")
    return text


def _why_invalid(exc: RequestValidationError) -> str:
    return "; ".join(str(e.get("msg", "invalid")) for e in exc.errors()) or "invalid"


async def _name_taken(services: Services, spec: SLOSpec) -> bool:
    return any(s.name == spec.name for s in await all_slos(services, namespace=spec.namespace, service=None))


async def _import(
    convert: Callable[[str], Conversion],
    request: Request,
    services: Services,
    who: Principal,
    dry_run: bool,
) -> ImportReport:
    try:
        conversion = convert(await _file_text(request))
    except InteropError as exc:
        raise _invalid_file(str(exc)) from exc
    report = ImportReport(dry_run=dry_run, skipped=list(conversion.skipped))
    for converted in conversion.converted:
        spec = converted.spec
        try:
            if dry_run:
                await validate_queries(services, spec)
                if await _name_taken(services, spec):
                    raise Conflict(
                        f"an SLO named {spec.name!r} already exists in namespace {spec.namespace!r}"
                    )
                slo: SLO | SLOSpec = spec
            else:
                slo = await create_slo(
                    spec=spec, services=services, response=Response(), request=request, who=who
                )
        except RequestValidationError as exc:
            report.skipped.append(Skipped(item=converted.item, reason=_why_invalid(exc)))
        except Conflict as exc:
            report.skipped.append(Skipped(item=converted.item, reason=str(exc)))
        except (ServiceUnavailable, PrometheusUnavailable, DatabaseUnavailable) as exc:
            # Nothing done yet: the whole import is unavailable (503). Otherwise keep what was
            # created and say which ones were not.
            if not report.created:
                raise
            report.skipped.append(Skipped(item=converted.item, reason=f"not created: {exc}"))
        else:
            report.created.append(CreatedSLO(item=converted.item, slo=slo, notes=converted.notes))
    return report


@router.post(
    "/slos/import/alerts", response_model=ImportReport, response_model_by_alias=True, openapi_extra=_FILE_BODY
)
async def import_alert_rules(
    request: Request,
    services: Deps,
    who: Editor,
    namespace: Namespace = DEFAULT_NAMESPACE,
    default_target: Annotated[
        float,
        Query(alias="defaultTarget", gt=0, lt=1, description="Objective for alerts that state none."),
    ] = 0.99,
    dry_run: DryRun = False,
) -> ImportReport:
    """SLOs from the alert rules of a Prometheus rule file (e.g. `slo-alerts.yaml`)."""
    return await _import(
        lambda text: import_alerts(text, namespace=namespace, default_target=default_target),
        request,
        services,
        who,
        dry_run,
    )


@router.post(
    "/slos/import/openslo",
    response_model=ImportReport,
    response_model_by_alias=True,
    openapi_extra=_FILE_BODY,
)
async def import_openslo_file(
    request: Request,
    services: Deps,
    who: Editor,
    namespace: Namespace = DEFAULT_NAMESPACE,
    dry_run: DryRun = False,
) -> ImportReport:
    """SLOs from OpenSLO v1/v1alpha `SLO` objects; send several files as one multi-document body
    so references (`indicatorRef`, DataSource, alert policies) between them resolve."""
    return await _import(
        lambda text: import_openslo(text, namespace=namespace), request, services, who, dry_run
    )


@router.post(
    "/slos/import/sloth", response_model=ImportReport, response_model_by_alias=True, openapi_extra=_FILE_BODY
)
async def import_sloth_file(
    request: Request,
    services: Deps,
    who: Editor,
    namespace: Namespace = DEFAULT_NAMESPACE,
    dry_run: DryRun = False,
) -> ImportReport:
    """SLOs from Sloth `prometheus/v1` specs (or `PrometheusServiceLevel` resources)."""
    return await _import(
        lambda text: import_sloth(text, namespace=namespace), request, services, who, dry_run
    )


@router.post(
    "/slos/import/pyrra", response_model=ImportReport, response_model_by_alias=True, openapi_extra=_FILE_BODY
)
async def import_pyrra_file(
    request: Request,
    services: Deps,
    who: Editor,
    namespace: Namespace = DEFAULT_NAMESPACE,
    dry_run: DryRun = False,
) -> ImportReport:
    """SLOs from Pyrra `ServiceLevelObjective` resources (pyrra.dev/v1alpha1)."""
    return await _import(
        lambda text: import_pyrra(text, namespace=namespace), request, services, who, dry_run
    )


def _sloth_yaml(slos: list[SLO]) -> Response:
    text, skipped = export_sloth(slos)
    # What has no Sloth form is said in the file itself, as YAML comments.
    comments = "".join("# skipped " + f"{s.item}: {s.reason}".replace("\n", " ") + "\n" for s in skipped)
    return Response(comments + text, media_type=YAML)


@router.get("/slos/{slo_id}/sloth", response_class=Response, responses=_YAML_RESPONSE)
async def slo_sloth(slo_id: str, services: Deps) -> Response:
    """The SLO as a Sloth `prometheus/v1` spec (YAML)."""
    return _sloth_yaml([await get_slo(services, slo_id)])


@router.get("/sloth", response_class=Response, responses=_YAML_RESPONSE)
async def sloth(
    services: Deps,
    namespace: Annotated[str | None, Query(description="Only SLOs of this namespace.")] = None,
    service: Annotated[str | None, Query(description="Only SLOs of this service.")] = None,
) -> Response:
    """All (matching) SLOs as Sloth specs, one document per service (`sla export sloth`)."""
    return _sloth_yaml(await all_slos(services, namespace=namespace, service=service))


@router.get("/slos/{slo_id}/openslo", response_class=Response, responses=_YAML_RESPONSE)
async def slo_openslo(slo_id: str, services: Deps) -> Response:
    """The SLO as an OpenSLO v1 `SLO` object (YAML)."""
    return Response(export_openslo([await get_slo(services, slo_id)]), media_type=YAML)


@router.get("/openslo", response_class=Response, responses=_YAML_RESPONSE)
async def openslo(
    services: Deps,
    namespace: Annotated[str | None, Query(description="Only SLOs of this namespace.")] = None,
    service: Annotated[str | None, Query(description="Only SLOs of this service.")] = None,
) -> Response:
    """All (matching) SLOs as OpenSLO v1, one YAML document each (`sla export openslo`)."""
    slos = await all_slos(services, namespace=namespace, service=service)
    return Response(export_openslo(slos), media_type=YAML)
