"""What a route gets: the process's clients (opened in the lifespan) and who is calling."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from sla_management.api.auth import Principal
from sla_management.control.audit import Actor
from sla_management.control.clients import Clients


async def get_clients(request: Request) -> Clients:
    # async: FastAPI runs a plain `def` dependency in a worker thread, a hop on every request.
    clients: Clients = request.app.state.clients
    return clients


Deps = Annotated[Clients, Depends(get_clients)]


def actor(request: Request, principal: Principal) -> Actor:
    """The caller as the audit trail names it, with the request id that ties log and trail."""
    return Actor(principal.name, principal.role.value, getattr(request.state, "request_id", None))
