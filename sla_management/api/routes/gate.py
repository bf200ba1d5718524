"""Deploy gate for pipelines: may this service be deployed into this namespace now?"""

from __future__ import annotations

from fastapi import APIRouter, Response

from sla_management.api.deps import Deps
from sla_management.control import freezes
from sla_management.control.freezes import GateAnswer

router = APIRouter(prefix="/api/v1/gate", tags=["gate"])


@router.get("", response_model=GateAnswer, response_model_by_alias=True)
async def gate(clients: Deps, namespace: str | None = None, service: str | None = None) -> Response:
    answer = await freezes.gate(clients, namespace, service)
    # Serialised here, once: FastAPI would validate the model again before encoding it, and this
    # is the hot path. The schema still comes from response_model.
    return Response(answer.model_dump_json(by_alias=True), media_type="application/json")
