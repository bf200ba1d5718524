"""Process-wide clients for the API, opened in the lifespan and reached through `Deps`."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

# Shared with the operator; re-exported here because every route imports them from deps.
from sla_management.services import Services, ServiceUnavailable

__all__ = ["Deps", "ServiceUnavailable", "Services", "get_services"]


async def get_services(request: Request) -> Services:
    # async: FastAPI runs a plain `def` dependency in a worker thread, a hop on every request.
    services: Services = request.app.state.services
    return services


Deps = Annotated[Services, Depends(get_services)]
