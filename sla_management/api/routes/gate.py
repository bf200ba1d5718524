"""Deploy gate for pipelines: may this service be deployed into this namespace now?"""

from __future__ import annotations

from fastapi import APIRouter, Response
from fastapi.exceptions import RequestValidationError
from pydantic import Field

from sla_management.api.deps import Deps
from sla_management.domain.freeze import FreezeEvent
from sla_management.domain.slo import CamelModel

router = APIRouter(prefix="/api/v1/gate", tags=["gate"])


class GateAnswer(CamelModel):
    allowed: bool
    namespace: str | None
    service: str | None
    freezes: list[FreezeEvent] = Field(default_factory=list)


@router.get("", response_model=GateAnswer, response_model_by_alias=True)
async def gate(services: Deps, namespace: str | None = None, service: str | None = None) -> Response:
    if not namespace and not service:
        raise RequestValidationError(
            [{"loc": ("query", "namespace"), "msg": "give namespace, service or both", "type": "missing"}]
        )
    # From memory, refreshed by PostgreSQL notifications (see adapters/active_freezes.py).
    active = await services.active_freezes.get()
    # ALERT_ONLY freezes are on record but never block a deploy.
    blocking = [f for f in active if f.blocks and f.applies_to(namespace, service)]
    answer = GateAnswer(allowed=not blocking, namespace=namespace, service=service, freezes=blocking)
    # Serialised here, once: FastAPI would validate the model again before encoding it, and this
    # is the hot path. The schema still comes from response_model.
    return Response(answer.model_dump_json(by_alias=True), media_type="application/json")
