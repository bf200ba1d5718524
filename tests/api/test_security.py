"""Authentication, roles, audit trail, problem documents, body limits, OIDC JWTs."""

from __future__ import annotations

import asyncio
import json
import threading
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi import FastAPI

from sla_management.api.app import create_app
from sla_management.config import OIDCSettings, Settings
from sla_management.devstack.processes import free_port
from tests.api.test_slos_api import body
from tests.conftest import TOKENS, Runtime


def client(app: FastAPI, token: str | None) -> httpx.AsyncClient:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api", headers=headers)


@pytest.mark.parametrize(
    ("method", "path", "role_needed"),
    [
        pytest.param("GET", "/api/v1/slos", "viewer", id="listing SLOs needs viewer"),
        pytest.param("GET", "/api/v1/budgets/summary", "viewer", id="budget summary needs viewer"),
        pytest.param("GET", "/api/v1/gate?namespace=x", "viewer", id="the gate is readable by viewer"),
        pytest.param("POST", "/api/v1/slos", "editor", id="creating an SLO needs editor"),
        pytest.param("POST", "/api/v1/policies", "editor", id="creating a policy needs editor"),
        pytest.param(
            "POST",
            f"/api/v1/policies/freezes/{uuid.uuid4()}/resolve",
            "admin",
            id="resolving a freeze needs admin",
        ),
        pytest.param("GET", "/api/v1/audit", "admin", id="reading the audit trail needs admin"),
    ],
)
async def test_roles(app: FastAPI, method: str, path: str, role_needed: str) -> None:
    order = ["viewer", "editor", "admin"]
    async with client(app, None) as anonymous:
        response = await anonymous.request(method, path, json={})
        assert response.status_code == 401
        assert response.headers["www-authenticate"] == "Bearer"
        assert response.headers["content-type"] == "application/problem+json"
    async with client(app, "not-a-token") as wrong:
        assert (await wrong.request(method, path, json={})).status_code == 401
    for role in order:
        async with client(app, TOKENS[role]) as c:
            status = (await c.request(method, path, json={})).status_code
        if order.index(role) < order.index(role_needed):
            assert status == 403, (role, status)
        else:
            assert status not in (401, 403), (role, status)


async def test_open_endpoints_need_no_token(app: FastAPI) -> None:
    async with client(app, None) as anonymous:
        assert (await anonymous.get("/health")).status_code == 200
        assert (await anonymous.get("/ready")).status_code in (200, 503)
        assert (await anonymous.get("/metrics/")).status_code == 200


async def test_mutations_and_freeze_decisions_are_audited(api: httpx.AsyncClient, app: FastAPI) -> None:
    created = (await api.post("/api/v1/slos", json=body(), headers={"X-Request-ID": "req-123"})).json()
    spec = {
        k: created[k]
        for k in ("name", "sloType", "serviceName", "namespace", "target", "windowDays", "sliQuery")
    }
    await api.put(f"/api/v1/slos/{created['id']}", json={**spec, "target": 0.98})
    await api.delete(f"/api/v1/slos/{created['id']}")
    trail = (
        await api.get("/api/v1/audit", params={"resourceType": "slo", "resourceId": created["id"]})
    ).json()
    assert [e["action"] for e in trail] == ["slo.delete", "slo.update", "slo.create"]
    create = trail[-1]
    assert create["actor"] == "test-admin" and create["role"] == "admin" and create["requestId"] == "req-123"
    update = trail[1]
    assert update["before"]["target"] == 0.99 and update["after"]["target"] == 0.98
    assert trail[0]["after"] is None and trail[0]["before"]["id"] == created["id"]


async def test_the_audit_table_refuses_changes(runtime: Runtime) -> None:
    import asyncpg

    async with runtime.db.acquire() as conn:
        with pytest.raises(asyncpg.RaiseError, match="append-only"):
            await conn.execute("DELETE FROM audit_log")
        with pytest.raises(asyncpg.RaiseError, match="append-only"):
            await conn.execute("UPDATE audit_log SET actor = 'mallory'")


async def test_errors_are_problem_documents_without_traces(api: httpx.AsyncClient) -> None:
    response = await api.post("/api/v1/slos", json={"name": 1})
    assert response.status_code == 422
    problem = response.json()
    assert problem["type"] == "about:blank" and problem["status"] == 422 and problem["title"]
    assert isinstance(problem["detail"], str) and problem["errors"]
    assert response.headers["x-request-id"]
    not_json = await api.post(
        "/api/v1/slos", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert not_json.status_code == 422 and "Traceback" not in not_json.text


async def test_request_bodies_have_a_size_limit(api: httpx.AsyncClient) -> None:
    huge = {"name": "x" * 2_000_000}
    response = await api.post("/api/v1/slos", json=huge)
    assert response.status_code == 413
    assert response.json()["status"] == 413


@pytest.fixture
def jwks_server() -> Iterator[tuple[str, Any]]:
    """An OIDC provider's JWKS endpoint on loopback, signing with a fresh RSA key."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
    jwk.update({"kid": "test-key", "use": "sig", "alg": "RS256"})
    document = json.dumps({"keys": [jwk]}).encode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(document)

        def log_message(self, *args: object) -> None:
            pass

    server = HTTPServer(("127.0.0.1", free_port()), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/jwks", key
    server.shutdown()


@pytest.fixture
async def oidc_app(
    runtime: Runtime, settings: Settings, jwks_server: tuple[str, Any]
) -> AsyncIterator[FastAPI]:
    settings.auth.oidc = OIDCSettings(issuer="https://idp.test", audience="sla-api", jwks_url=jwks_server[0])
    application = create_app(settings)
    async with application.router.lifespan_context(application):
        yield application


def token(key: Any, **claims: Any) -> str:
    now = int(time.time())
    payload = {
        "iss": "https://idp.test",
        "aud": "sla-api",
        "sub": "u-1",
        "exp": now + 300,
        "iat": now,
        **claims,
    }
    return jwt.encode(payload, key, algorithm="RS256", headers={"kid": "test-key"})


async def test_oidc_jwts_carry_roles(oidc_app: FastAPI, jwks_server: tuple[str, Any]) -> None:
    _, key = jwks_server
    other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    cases = [
        (token(key, roles=["viewer"], preferred_username="ana"), 200, 403),
        (token(key, roles=["viewer", "admin"]), 200, 200),
        (token(key, roles=["admin"], aud="someone-else"), 401, 401),
        (token(key, roles=["admin"], iss="https://evil.test"), 401, 401),
        (token(key, roles=["admin"], exp=int(time.time()) - 10), 401, 401),
        (token(other_key, roles=["admin"]), 401, 401),
        (token(key, roles=["superuser"]), 401, 401),
    ]
    for jwt_token, read_status, audit_status in cases:
        async with client(oidc_app, jwt_token) as c:
            assert (await c.get("/api/v1/policies")).status_code == read_status
            assert (await c.get("/api/v1/audit")).status_code == audit_status
    # Static keys keep working beside OIDC.
    async with client(oidc_app, TOKENS["viewer"]) as c:
        assert (await c.get("/api/v1/policies")).status_code == 200
    await asyncio.sleep(0)
