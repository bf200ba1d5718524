"""The fuzz of tests/domain/test_fuzz.py sent through the REST API on the real stack: generated SLO
and policy bodies and import files (NaN, NUL, huge and deeply nested PromQL among them) get no
5xx, and every 4xx is a problem document.

Examples are generated first (derandomized, a fixed budget), then sent in-process over ASGI with
Temporal, Prometheus and PostgreSQL behind, as tests/faults/test_api_fuzz.py does for the schema.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx
from fastapi import FastAPI
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from temporalio.worker import Worker

from tests.conftest import ADMIN_HEADERS
from tests.domain.test_fuzz import alert_files, dumped, openslo_files, policy_bodies, slo_bodies, sloth_files

EXAMPLES = 40


def examples(strategy: st.SearchStrategy[Any], count: int = EXAMPLES) -> list[Any]:
    found: list[Any] = []

    @settings(
        max_examples=count,
        derandomize=True,
        database=None,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        phases=[Phase.generate],
    )
    @given(strategy)
    def collect(value: Any) -> None:
        found.append(value)

    collect()
    return found


def check(response: httpx.Response) -> str | None:
    where = f"{response.request.method} {response.request.url.path} -> {response.status_code}"
    if response.status_code >= 500:
        return f"{where}: {response.text[:300]}"
    if response.status_code >= 400:
        if not response.headers.get("content-type", "").startswith("application/problem+json"):
            return f"{where}: not a problem document"
        if response.json().get("status") != response.status_code:
            return f"{where}: malformed problem document"
    return None


async def test_generated_bodies_and_files_get_no_5xx(app: FastAPI, worker: Worker) -> None:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    failures: list[str] = []
    created: list[str] = []
    async with httpx.AsyncClient(
        transport=transport, base_url="http://api", headers=ADMIN_HEADERS, timeout=60
    ) as api:

        async def send(method: str, url: str, payload: str, media: str, **params: str) -> None:
            response = await api.request(
                method, url, content=payload, headers={"Content-Type": media}, params=params
            )
            if problem := check(response):
                failures.append(f"{problem}\n    {payload[:300]!r}")
            elif response.status_code == 201:
                created.append(f"{url}/{response.json()['id']}")

        def as_json(body: Any) -> str:
            return json.dumps(body, allow_nan=True)

        for body in examples(slo_bodies):
            await send("POST", "/api/v1/slos", as_json(body), "application/json")
        for body in examples(policy_bodies):
            await send("POST", "/api/v1/policies", as_json(body), "application/json")
        imports: list[tuple[str, Callable[[Any], str], st.SearchStrategy[Any]]] = [
            ("sloth", dumped, sloth_files),
            ("openslo", dumped, openslo_files),
            ("alerts", dumped, alert_files),
        ]
        for kind, render, files in imports:
            for document in examples(files, EXAMPLES // 2):
                await send(
                    "POST", f"/api/v1/slos/import/{kind}", render(document), "application/yaml", dryRun="true"
                )
        for path in created:
            await api.delete(path)
    assert not failures, f"{len(failures)} requests failed:\n" + "\n".join(failures[:20])
