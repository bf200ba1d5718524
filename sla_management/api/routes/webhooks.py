"""Alertmanager webhook intake (payload version 4).

Checked in order of cost: the caller's rate, then the token, and only then the body, so an
unauthenticated caller learns nothing about the schema and costs no parsing.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Annotated

from fastapi import APIRouter, Header, HTTPException, Request, status
from fastapi.exceptions import RequestValidationError
from limits import parse
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter
from pydantic import ValidationError

from sla_management.api.deps import Deps
from sla_management.config import AlertmanagerSettings
from sla_management.control.intake import AlertmanagerPayload, IntakeReport, take_alerts
from sla_management.observability import metrics

router = APIRouter(tags=["webhooks"])
_limiter = MovingWindowRateLimiter(MemoryStorage())

_BODY = {
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": AlertmanagerPayload.model_json_schema(by_alias=True)}},
    }
}


def authorized(settings: AlertmanagerSettings, authorization: str | None) -> bool:
    if settings.webhook_auth == "none":
        return True
    token = settings.webhook_token
    if not token:
        return False  # a token is required and none is configured: nobody gets in
    presented = (authorization or "").removeprefix("Bearer ").strip()
    # Compare digests so the comparison time does not depend on the secret's length either.
    return hmac.compare_digest(
        hashlib.sha256(presented.encode()).digest(), hashlib.sha256(token.encode()).digest()
    )


@router.post("/webhooks/alertmanager", response_model=IntakeReport, openapi_extra=_BODY)
async def alertmanager(
    request: Request, clients: Deps, authorization: Annotated[str | None, Header()] = None
) -> IntakeReport:
    settings = clients.settings.alertmanager
    caller = request.client.host if request.client else "unknown"
    if not _limiter.hit(parse(settings.webhook_rate_limit), "alertmanager", caller):
        metrics.ALERTMANAGER_WEBHOOKS.labels(outcome="rate_limited").inc()
        raise HTTPException(
            status.HTTP_429_TOO_MANY_REQUESTS,
            f"more than {settings.webhook_rate_limit} posts from {caller}",
            {"Retry-After": "60"},
        )
    if not authorized(settings, authorization):
        metrics.ALERTMANAGER_WEBHOOKS.labels(outcome="unauthorized").inc()
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED, "a valid bearer token is required", {"WWW-Authenticate": "Bearer"}
        )
    try:
        payload = AlertmanagerPayload.model_validate_json(await request.body())
    except ValidationError as exc:
        raise RequestValidationError(
            [{**e, "loc": ("body", *e["loc"])} for e in exc.errors(include_url=False)]
        ) from exc
    report = await take_alerts(clients, payload)
    metrics.ALERTMANAGER_WEBHOOKS.labels(outcome="ok").inc()
    return report
