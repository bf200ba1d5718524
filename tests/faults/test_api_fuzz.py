"""Schemathesis against the live OpenAPI schema: no request, valid or not, gets a 5xx, and every
4xx is a problem document.

Cases are generated from the schema the running app serves, with a fixed example budget and
derandomized (the same requests every run, so CI time is fixed and a failure reproduces), then
sent to the app in-process over ASGI with an admin token, against the real stack.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from contextlib import suppress
from typing import Any

import httpx
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import Case, GenerationMode
from schemathesis.core.result import Ok
from temporalio.client import Client

from sla_management.domain.policy import policy_workflow_id
from sla_management.domain.slo import workflow_id_for
from tests.conftest import ADMIN_HEADERS
from tests.faults.harness import terminate

# Examples per operation: valid ones for every operation, invalid ones where the schema
# constrains something (a body, query or header parameters).
POSITIVE_EXAMPLES = 12
NEGATIVE_EXAMPLES = 8
# Creations that start a workflow, and its id.
WORKFLOW_OF: dict[str, Callable[[str], str]] = {
    "/api/v1/slos": workflow_id_for,
    "/api/v1/policies": policy_workflow_id,
}


def generate(operation: Any, mode: GenerationMode, examples: int) -> list[Case[Any]]:
    cases: list[Case[Any]] = []

    @settings(
        max_examples=examples,
        derandomize=True,
        database=None,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        phases=[Phase.explicit, Phase.generate],
    )
    @given(operation.as_strategy(generation_mode=mode))
    def collect(case: Case[Any]) -> None:
        cases.append(case)

    # Unsatisfiable: e.g. no invalid value exists for a plain string path parameter.
    with suppress(Unsatisfiable):
        collect()
    return cases


def constrained(operation: Any) -> bool:
    return bool(operation.body) or any(p.location.value != "path" for p in operation.iter_parameters())


def as_request(case: Case[Any]) -> dict[str, Any]:
    kwargs = case.as_transport_kwargs(base_url="http://api")
    headers = {**ADMIN_HEADERS, **{k: v for k, v in kwargs.get("headers", {}).items() if k != "Connection"}}
    request: dict[str, Any] = {
        "method": kwargs["method"],
        "url": kwargs["url"],
        "params": kwargs.get("params"),
        "headers": headers,
    }
    if kwargs.get("cookies"):
        request["headers"]["Cookie"] = "; ".join(f"{k}={v}" for k, v in kwargs["cookies"].items())
    if "json" in kwargs:
        request["json"] = kwargs["json"]
    data = kwargs.get("data")
    if isinstance(data, bytes | str):
        request["content"] = data
    elif data is not None:
        request["data"] = data
    if kwargs.get("files"):
        request["files"] = kwargs["files"]
    return request


async def test_fuzzed_requests_get_no_5xx_and_problem_documents(
    app: FastAPI, temporal_client: Client, figures: Counter[str]
) -> None:
    # A crash must come back as the 500 a client would see, not as an exception in the test.
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://api", timeout=120) as client:
        live = (await client.get("/openapi.json")).json()
        schema = schemathesis.openapi.from_dict(live)
        operations = []
        for result in schema.get_all_operations():
            assert isinstance(result, Ok), f"the live schema has an invalid operation: {result.err()}"
            operations.append(result.ok())
        statuses: Counter[int] = Counter()
        failures: list[str] = []
        created: list[str] = []
        for operation in operations:
            cases = generate(operation, GenerationMode.POSITIVE, POSITIVE_EXAMPLES)
            if constrained(operation):
                cases += generate(operation, GenerationMode.NEGATIVE, NEGATIVE_EXAMPLES)
            for case in cases:
                response = await client.request(**as_request(case))
                statuses[response.status_code] += 1
                if problem := check(response):
                    failures.append(f"{problem}\n    {case.as_curl_command(headers=ADMIN_HEADERS)}")
                if response.status_code == 201 and operation.path in WORKFLOW_OF:
                    created.append(WORKFLOW_OF[operation.path](response.json()["id"]))
    # Loops the fuzzer started have no worker here; end them.
    await terminate(temporal_client, created)
    total = sum(statuses.values())
    figures["fuzz: operations in the live schema"] += len(operations)
    figures["fuzz: requests sent"] += total
    figures["fuzz: 4xx answers, all problem documents"] += sum(
        n for s, n in statuses.items() if 400 <= s < 500
    )
    figures["fuzz: 5xx answers"] += sum(n for s, n in statuses.items() if s >= 500)
    assert not failures, f"{len(failures)} of {total} requests failed:\n" + "\n".join(failures[:40])


def check(response: httpx.Response) -> str | None:
    status = response.status_code
    where = f"{response.request.method} {response.request.url.path} -> {status}"
    if status >= 500:
        return f"{where}: {response.text[:300]}"
    if 400 <= status < 500:
        if not response.headers.get("content-type", "").startswith("application/problem+json"):
            return f"{where}: content-type {response.headers.get('content-type')!r}, not a problem document"
        doc = response.json()
        if doc.get("status") != status or not doc.get("title"):
            return f"{where}: malformed problem document {doc}"
    return None
