"""Process-wide clients for the API, opened in the lifespan and reached through `Deps`."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

# Shared with the operator; re-exported here because every route imports them from deps.
from sla_management.services import Services, ServiceUnavailable

__all__ = ["Deps", "ServiceUnavailable", "Services", "get_services"]


def get_services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


Deps = Annotated[Services, Depends(get_services)]
