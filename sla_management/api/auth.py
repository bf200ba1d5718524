"""Bearer-token authentication, roles and what each role may do.

Static API keys are kept only as SHA-256 digests and compared in constant time; OIDC JWTs are
verified with PyJWT against the issuer's JWKS. `/health`, `/ready` and `/metrics` stay open.

Roles are sets of permissions, not ranks: `responder` may grant freeze exceptions and read,
nothing else an editor can; `admin` may do everything.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated, Any

import jwt
import structlog
from fastapi import Depends, HTTPException, Request, status

from sla_management.config import AuthSettings

log = structlog.get_logger(__name__)


class Permission(StrEnum):
    READ = "read"  # every GET, and the deploy gate
    EDIT = "edit"  # SLOs, policies, imports, recalculation
    ADMINISTER = "administer"  # resolve freezes, read the audit trail, the dead letters
    GRANT_EXCEPTIONS = "grant exceptions"  # freeze exceptions: grant, revoke


class Role(StrEnum):
    VIEWER = "viewer"
    RESPONDER = "responder"
    EDITOR = "editor"
    ADMIN = "admin"

    @classmethod
    def parse(cls, value: str) -> Role | None:
        try:
            return cls(value.lower())
        except ValueError:
            return None

    @property
    def permissions(self) -> frozenset[Permission]:
        return GRANTS[self]


GRANTS: dict[Role, frozenset[Permission]] = {
    Role.VIEWER: frozenset({Permission.READ}),
    Role.RESPONDER: frozenset({Permission.READ, Permission.GRANT_EXCEPTIONS}),
    Role.EDITOR: frozenset({Permission.READ, Permission.EDIT}),
    Role.ADMIN: frozenset(Permission),
}


@dataclass(frozen=True)
class Principal:
    name: str
    role: Role
    via: str  # "token", "oidc" or "anonymous" (auth disabled)
    # Several OIDC roles grant the union of their permissions.
    permissions: frozenset[Permission] = frozenset()

    def __post_init__(self) -> None:
        if not self.permissions:
            object.__setattr__(self, "permissions", self.role.permissions)

    def may(self, permission: Permission) -> bool:
        return permission in self.permissions


class Authenticator:
    def __init__(self, settings: AuthSettings) -> None:
        self._settings = settings
        self._digests = [(t.digest(), t.name, Role(t.role)) for t in settings.static_tokens]
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
        granted = frozenset().union(*(r.permissions for r in roles))
        # The role the audit trail names: the one granting the most.
        shown = max(roles, key=lambda r: len(r.permissions))
        return Principal(str(claims.get("preferred_username") or claims["sub"]), shown, "oidc", granted)


def _unauthorized(message: str) -> HTTPException:
    return HTTPException(status.HTTP_401_UNAUTHORIZED, message, {"WWW-Authenticate": "Bearer"})


def require(permission: Permission) -> Any:
    async def dependency(request: Request) -> Principal:
        authenticator: Authenticator = request.app.state.authenticator
        principal = await authenticator.authenticate(request.headers.get("authorization"))
        if principal is None:
            raise _unauthorized("a valid bearer token is required")
        if not principal.may(permission):
            raise HTTPException(
                status.HTTP_403_FORBIDDEN,
                f"{principal.name} has role {principal.role.value}, which may not {permission.value}",
            )
        request.state.principal = principal
        return principal

    return Depends(dependency)


Viewer = Annotated[Principal, require(Permission.READ)]
Editor = Annotated[Principal, require(Permission.EDIT)]
Admin = Annotated[Principal, require(Permission.ADMINISTER)]
Responder = Annotated[Principal, require(Permission.GRANT_EXCEPTIONS)]
