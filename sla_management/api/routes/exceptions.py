"""Freeze exceptions (responders and admins grant and revoke) and the notification outbox."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response, status

from sla_management.api.auth import Admin, Responder
from sla_management.api.deps import Deps, actor
from sla_management.control import exceptions, notifications
from sla_management.control.exceptions import ExceptionRequest
from sla_management.control.notifications import DeliveryStatus, NotificationView
from sla_management.domain.freeze import FreezeException

router = APIRouter(prefix="/api/v1", tags=["freezes"])


@router.post(
    "/freezes/exceptions",
    status_code=status.HTTP_201_CREATED,
    response_model=FreezeException,
    response_model_by_alias=True,
)
async def grant(
    body: ExceptionRequest, clients: Deps, request: Request, response: Response, who: Responder
) -> FreezeException:
    """Let one namespace (or one service in it) deploy through the freezes that block it, for
    at most the policy's `maxExceptionMinutes`. The freeze stays in force and on record."""
    granted = await exceptions.grant_exception(clients, body, actor(request, who))
    response.headers["Location"] = f"/api/v1/freezes/exceptions/{granted.id}"
    return granted


@router.get("/freezes/exceptions", response_model=list[FreezeException], response_model_by_alias=True)
async def list_exceptions(
    clients: Deps,
    active: bool | None = None,
    namespace: str | None = None,
    limit: Annotated[int, Query(ge=1, le=5000)] = 500,
) -> list[FreezeException]:
    return await exceptions.list_exceptions(clients, active=active, namespace=namespace, limit=limit)


@router.delete(
    "/freezes/exceptions/{exception_id}", response_model=FreezeException, response_model_by_alias=True
)
async def revoke(exception_id: str, clients: Deps, request: Request, who: Responder) -> FreezeException:
    """End an exception now; its annotations are removed and the freeze blocks again."""
    return await exceptions.revoke_exception(clients, exception_id, actor(request, who))


@router.get("/notifications", response_model=list[NotificationView], response_model_by_alias=True)
async def list_notifications(
    clients: Deps,
    _: Admin,
    status: DeliveryStatus | None = None,
    limit: Annotated[int, Query(ge=1, le=5000)] = 500,
) -> list[NotificationView]:
    """Notifications by delivery status; `status=dead` lists the dead letters."""
    return await notifications.list_notifications(clients, status, limit)


@router.post(
    "/notifications/{notification_id}/retry", response_model=NotificationView, response_model_by_alias=True
)
async def retry(notification_id: str, clients: Deps, _: Admin) -> NotificationView:
    return await notifications.retry_notification(clients, notification_id)
