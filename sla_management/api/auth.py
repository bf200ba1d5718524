"""Bearer-token authentication and roles: viewer < editor < admin.

Static API keys are kept only as SHA-256 digests and compared in constant time; OIDC JWTs are
verified with PyJWT against the issuer's JWKS. `/health`, `/ready` and `/metrics` stay open.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
from dataclasses import dataclass
from enum import IntEnum
from typing import Annotated, Any

import jwt
import structlog
from fastapi import Depends, HTTPException, Request, status

from sla_management.config import AuthSettings

log = structlog.get_logger(__name__)


class Role(IntEnum):
    VIEWER = 1
    EDITOR = 2
    ADMIN = 3

    @classmethod
    def parse(cls, value: str) -> Role | None:
        try:
            return cls[value.upper()]
        except KeyError:
            return None


@dataclass(frozen=True)
class Principal:
    name: str
    role: Role
    via: str  # "token", "oidc" or "anonymous" (auth disabled)


class Authenticator:
    def __init__(self, settings: AuthSettings) -> None:
        self._settings = settings
        self._digests = [(t.digest(), t.name, Role[t.role.upper()]) for t in settings.static_tokens]
        oidc = settings.oidc
        self._jwks = (
            jwt.PyJWKClient(oidc.jwks_url, cache_keys=True, lifespan=300)
            if oidc.enabled and oidc.jwks_url
            else None
        )

    @property
    def enabled(self) -> bool:
        return self._settings.enabled

    async def authenticate(self, authorization: str | None) -> Principal | None:
        if not self._settings.enabled:
            return Principal("anonymous", Role.ADMIN, "anonymous")
        if not authorization or not authorization.lower().startswith("bearer "):
            return None
        token = authorization[7:].strip()
        digest = hashlib.sha256(token.encode()).hexdigest()
        found: Principal | None = None
        # Check every key, match or not, so timing says nothing about which one matched.
        for known, name, role in self._digests:
            if hmac.compare_digest(known, digest):
                found = Principal(name, role, "token")
        if found is not None:
            return found
        if self._jwks is not None and token.count(".") == 2:
            return await asyncio.to_thread(self._verify_jwt, token)
        return None

    def _verify_jwt(self, token: str) -> Principal | None:
        oidc = self._settings.oidc
        assert self._jwks is not None
        try:
            key = self._jwks.get_signing_key_from_jwt(token)
            claims: dict[str, Any] = jwt.decode(
                token,
                key.key,
                algorithms=oidc.algorithms,
                audience=oidc.audience,
                issuer=oidc.issuer,
                options={"require": ["exp", "iss", "sub"]},
            )
        except (jwt.PyJWTError, jwt.PyJWKClientError) as exc:
            log.info("jwt rejected", error=str(exc))
            return None
        raw = claims.get(oidc.role_claim)
        values = raw if isinstance(raw, list) else [raw] if isinstance(raw, str) else []
        roles = [r for r in (Role.parse(str(v)) for v in values) if r is not None]
        if not roles:
            return None
        return Principal(str(claims.get("preferred_username") or claims["sub"]), max(roles), "oidc")


def _unauthorized(message: str) -> HTTPException:
    return HTTPException(status.HTTP_401_UNAUTHORIZED, message, {"WWW-Authenticate": "Bearer"})


def require(role: Role) -> Any:
    async def dependency(request: Request) -> Principal:
        authenticator: Authenticator = request.app.state.authenticator
        principal = await authenticator.authenticate(request.headers.get("authorization"))
        if principal is None:
            raise _unauthorized("a valid bearer token is required")
        if principal.role < role:
            raise HTTPException(
                status.HTTP_403_FORBIDDEN,
                f"{principal.name} has role {principal.role.name.lower()}; this needs {role.name.lower()}",
            )
        request.state.principal = principal
        return principal

    return Depends(dependency)


Viewer = Annotated[Principal, require(Role.VIEWER)]
Editor = Annotated[Principal, require(Role.EDITOR)]
Admin = Annotated[Principal, require(Role.ADMIN)]
