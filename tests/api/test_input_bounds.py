"""Hostile and odd input through the REST API (issue 9): every case is a 4xx problem document in
our own words, and the API process is still there to answer the next request.

The real stack behind: Temporal, Prometheus and PostgreSQL (the `api` fixture).
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import httpx
import pytest

W = "{{.window}}"
YAML = {"Content-Type": "application/yaml"}
TOTAL = f'sum(rate(t_requests_total{{svc="steady"}}[{W}]))'
GENERIC = "a value in the request cannot be stored (for example a NUL character or a number out of range)"


def slo(**overrides: Any) -> dict[str, Any]:
    return {
        "name": f"bounds {uuid.uuid4().hex[:8]}",
        "sloType": "AVAILABILITY",
        "serviceName": "steady",
        "namespace": "bounds",
        "target": 0.99,
        "windowDays": 30,
        "sliQuery": {"errorQuery": f'sum(rate(t_errors_total{{svc="steady"}}[{W}]))', "totalQuery": TOTAL},
        **overrides,
    }


def policy(**overrides: Any) -> dict[str, Any]:
    return {"name": f"bounds {uuid.uuid4().hex[:8]}", "scope": "NAMESPACE", "target": "bounds", **overrides}


def problem_of(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    doc: dict[str, Any] = response.json()
    assert "PostgreSQL" not in doc["detail"] and "asyncpg" not in doc["detail"]
    return doc


async def still_serving(api: httpx.AsyncClient) -> None:
    created = await api.post("/api/v1/slos", json=slo())
    assert created.status_code == 201, created.text


# 1. PromQL that once crashed the process ------------------------------------------------------

PATHOLOGICAL = [
    pytest.param(
        "sum(rate(up[{{.window}}]))" + " + 0" * 5000,
        "the query is 20,026 characters long; the limit is 8,192",
        id="20 KB of additions (SIGSEGV in the parser)",
    ),
    pytest.param(
        "sum(rate(up[{{.window}}]))" + " + 0" * 1200,
        "the query has 1,200 operators; the limit is 128",
        id="1,200 additions (RecursionError in detect_unit)",
    ),
    pytest.param(
        "(" * 2000 + "sum(rate(up[{{.window}}]))" + ")" * 2000,
        "the query nests brackets 2003 deep; the limit is 32",
        id="2,000 parentheses",
    ),
    pytest.param(
        "sum(rate(up[{{.window}}]))" + " + -" * 1000 + "1",
        "the query has 2,000 operators; the limit is 128",
        id="1,000 unary minuses",
    ),
]


@pytest.mark.parametrize(("query", "limit"), PATHOLOGICAL)
async def test_pathological_promql_is_422_naming_the_limit(
    api: httpx.AsyncClient, query: str, limit: str
) -> None:
    body = slo(sliQuery={"errorQuery": query, "totalQuery": TOTAL})
    doc = problem_of(await api.post("/api/v1/slos", json=body), 422)
    [error] = doc["errors"]
    assert error["loc"] == ["body", "sliQuery", "errorQuery"]
    assert error["msg"] == limit
    created = (await api.post("/api/v1/slos", json=slo())).json()
    problem_of(await api.put(f"/api/v1/slos/{created['id']}", json=body), 422)
    await still_serving(api)


async def test_pathological_alert_rules_are_skipped_with_the_limit(api: httpx.AsyncClient) -> None:
    def alert(name: str, expr: str) -> dict[str, Any]:
        return {"alert": name, "expr": expr, "labels": {"slo": name, "service": "steady"}}

    good = (
        'sum(rate(t_errors_total{svc="steady"}[5m])) / sum(rate(t_requests_total{svc="steady"}[5m])) > 0.01'
    )
    rules = {
        "groups": [
            {
                "name": "g",
                "rules": [
                    alert("Long", "sum(rate(up[5m]))" + " + 0" * 5000 + " > 1"),
                    alert("Deep", "(" * 2000 + "up" + ")" * 2000 + " > 1"),
                    alert("Good", good),
                ],
            }
        ]
    }
    response = await api.post(
        "/api/v1/slos/import/alerts",
        params={"namespace": "bounds", "dryRun": "true"},
        content=json.dumps(rules),
        headers=YAML,
    )
    assert response.status_code == 200, response.text
    report = response.json()
    reasons = {s["item"]: s["reason"] for s in report["skipped"]}
    assert reasons == {
        "g/Long": "the expression is over a limit: the query is 20,021 characters long; the limit is 8,192",
        "g/Deep": "the expression is over a limit: the query nests brackets 2000 deep; the limit is 32",
    }
    assert [c["item"] for c in report["created"]] == ["g/Good"]
    await still_serving(api)


# 9. The target's precision ----------------------------------------------------------------------


@pytest.mark.parametrize("target", [0.9999999999999999, 0.999991, 99.9, 1, 0])
async def test_targets_beyond_five_nines_are_422(api: httpx.AsyncClient, target: float) -> None:
    doc = problem_of(await api.post("/api/v1/slos", json=slo(target=target)), 422)
    [error] = doc["errors"]
    assert error["loc"] == ["body", "target"]
    assert "at most 0.99999 (99.999 %)" in error["msg"]


async def test_five_nines_are_accepted(api: httpx.AsyncClient) -> None:
    created = await api.post("/api/v1/slos", json=slo(target=0.99999))
    assert created.status_code == 201 and created.json()["target"] == 0.99999


# 10. Strict numbers and booleans ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "loc"),
    [
        pytest.param({"windowDays": "30"}, ["body", "windowDays"], id="windowDays as a string"),
        pytest.param({"windowDays": True}, ["body", "windowDays"], id="windowDays true"),
        pytest.param({"windowDays": 30.5}, ["body", "windowDays"], id="windowDays 30.5"),
        pytest.param({"target": "0.99"}, ["body", "target"], id="target as a string"),
        pytest.param({"target": True}, ["body", "target"], id="target true"),
        pytest.param(
            {"sliQuery": {"query": 'max(t_latency_ms{svc="lat"})'}, "threshold": "500"},
            ["body", "threshold"],
            id="threshold as a string",
        ),
    ],
)
async def test_numbers_are_strict_in_slos(
    api: httpx.AsyncClient, change: dict[str, Any], loc: list[str]
) -> None:
    doc = problem_of(await api.post("/api/v1/slos", json=slo(**change)), 422)
    assert [e["loc"] for e in doc["errors"]] == [loc]


@pytest.mark.parametrize(
    "change",
    [
        pytest.param({"autoUnfreeze": "true"}, id="a boolean as a string"),
        pytest.param({"autoUnfreeze": 1}, id="a boolean as 1"),
        pytest.param({"minFreezeMinutes": "30"}, id="minutes as a string"),
        pytest.param({"minFreezeMinutes": True}, id="minutes true"),
        pytest.param({"triggerThresholdPercent": "20"}, id="a percentage as a string"),
    ],
)
async def test_numbers_and_booleans_are_strict_in_policies(
    api: httpx.AsyncClient, change: dict[str, Any]
) -> None:
    doc = problem_of(await api.post("/api/v1/policies", json=policy(**change)), 422)
    assert [e["loc"] for e in doc["errors"]] == [["body", *change]]


# 11. Names, namespaces, actions ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "field"),
    [
        pytest.param({"namespace": "Probe NS/../!"}, "namespace", id="a namespace with spaces and slashes"),
        pytest.param({"namespace": "SHOP"}, "namespace", id="an upper-case namespace"),
        pytest.param({"name": "   "}, "name", id="a whitespace-only name"),
        pytest.param({"serviceName": "\t\n"}, "serviceName", id="a whitespace-only service"),
    ],
)
async def test_namespaces_names_and_services(
    api: httpx.AsyncClient, change: dict[str, Any], field: str
) -> None:
    doc = problem_of(await api.post("/api/v1/slos", json=slo(**change)), 422)
    assert [e["loc"] for e in doc["errors"]] == [["body", field]]


async def test_names_and_services_are_stored_trimmed(api: httpx.AsyncClient) -> None:
    name = f"trimmed {uuid.uuid4().hex[:8]}"
    created = await api.post("/api/v1/slos", json=slo(name=f"  {name} ", serviceName=" steady\t"))
    assert created.status_code == 201
    stored = (await api.get(f"/api/v1/slos/{created.json()['id']}")).json()
    assert (stored["name"], stored["serviceName"]) == (name, "steady")


@pytest.mark.parametrize(
    ("change", "field"),
    [
        pytest.param({"actions": ["BLOCK_DEPLOY", "BLOCK_DEPLOY"]}, "actions", id="an action twice"),
        pytest.param({"target": "Probe NS/../!"}, "target", id="a namespace target that is no name"),
        pytest.param({"name": " "}, "name", id="a whitespace-only name"),
        pytest.param({"sloSelector": {"namespaces": ["Probe NS"]}}, "sloSelector", id="a selector namespace"),
    ],
)
async def test_policies_refuse_the_same(api: httpx.AsyncClient, change: dict[str, Any], field: str) -> None:
    doc = problem_of(await api.post("/api/v1/policies", json=policy(**change)), 422)
    assert doc["errors"][0]["loc"][:2] == ["body", field]


async def test_an_import_into_a_namespace_that_is_no_name_is_422(api: httpx.AsyncClient) -> None:
    sloth = "version: prometheus/v1\nservice: s\nslos: []\n"
    response = await api.post(
        "/api/v1/slos/import/sloth", params={"namespace": "Probe NS"}, content=sloth, headers=YAML
    )
    doc = problem_of(response, 422)
    assert doc["errors"][0]["loc"] == ["query", "namespace"]


# 12. Case rules -----------------------------------------------------------------------------------


async def test_slo_names_are_unique_ignoring_case(api: httpx.AsyncClient) -> None:
    name = f"Checkout Availability {uuid.uuid4().hex[:8]}"
    first = await api.post("/api/v1/slos", json=slo(name=name))
    assert first.status_code == 201
    doc = problem_of(await api.post("/api/v1/slos", json=slo(name=name.upper())), 409)
    assert "ignoring case" in doc["detail"]
    other = (await api.post("/api/v1/slos", json=slo())).json()
    problem_of(await api.put(f"/api/v1/slos/{other['id']}", json=slo(name=name.lower())), 409)
    elsewhere = await api.post("/api/v1/slos", json=slo(name=name.lower(), namespace="bounds-other"))
    assert elsewhere.status_code == 201


async def test_policy_names_are_unique_ignoring_case(api: httpx.AsyncClient) -> None:
    name = f"Freeze {uuid.uuid4().hex[:8]}"
    assert (await api.post("/api/v1/policies", json=policy(name=name))).status_code == 201
    problem_of(await api.post("/api/v1/policies", json=policy(name=name.lower())), 409)


async def test_an_import_skips_a_name_taken_in_another_case(api: httpx.AsyncClient) -> None:
    name = f"steady-Avail{uuid.uuid4().hex[:6]}"
    assert (await api.post("/api/v1/slos", json=slo(name=name))).status_code == 201
    sloth = {
        "version": "prometheus/v1",
        "service": "steady",
        "slos": [
            {
                "name": name.removeprefix("steady-").lower(),
                "objective": 99,
                "sli": {"events": {"error_query": f"sum(rate(t_errors_total[{W}]))", "total_query": TOTAL}},
            }
        ],
    }
    for dry_run in ("true", "false"):
        response = await api.post(
            "/api/v1/slos/import/sloth",
            params={"namespace": "bounds", "dryRun": dry_run},
            content=json.dumps(sloth),
            headers=YAML,
        )
        [skipped] = response.json()["skipped"]
        assert "already exists" in skipped["reason"], skipped


# 13. Free text ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "field"),
    [
        pytest.param({"description": "d" * 900_000}, "description", id="a 900 KB description"),
        pytest.param({"description": "d" * 4097}, "description", id="a description one over 4 KB"),
        pytest.param({"labels": {f"k{i}": "v" for i in range(33)}}, "labels", id="33 labels"),
        pytest.param({"labels": {"k": "v" * 257}}, "labels", id="a label value over 256"),
        pytest.param({"layer": "l" * 201}, "layer", id="a layer over 200"),
    ],
)
async def test_free_text_is_bounded(api: httpx.AsyncClient, change: dict[str, Any], field: str) -> None:
    doc = problem_of(await api.post("/api/v1/slos", json=slo(**change)), 422)
    assert doc["errors"][0]["loc"][:2] == ["body", field]
    doc = problem_of(await api.post("/api/v1/policies", json=policy(description="d" * 4097)), 422)
    assert doc["errors"][0]["loc"] == ["body", "description"]


# 14. NUL, NaN, and what PostgreSQL says ----------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "field", "message"),
    [
        pytest.param(
            json.dumps(slo(name="check\x00out")),
            "name",
            "must not contain control characters",
            id="NUL in a name",
        ),
        pytest.param(
            json.dumps(slo(description="\x00")),
            "description",
            "must not contain NUL",
            id="NUL in a description",
        ),
        pytest.param(
            json.dumps(slo(labels={"team": "a\x00"})),
            "labels",
            "must not contain control",
            id="NUL in a label",
        ),
        pytest.param(
            json.dumps(slo(sliQuery={"query": 'max(t_latency_ms{svc="lat"})'}, threshold=1)).replace(
                '"threshold": 1', '"threshold": NaN'
            ),
            "threshold",
            "finite number",
            id="a NaN threshold",
        ),
        pytest.param(
            json.dumps(slo(sliQuery={"query": 'max(t_latency_ms{svc="lat"})'}, threshold=1)).replace(
                '"threshold": 1', '"threshold": -Infinity'
            ),
            "threshold",
            "finite number",
            id="a -Inf threshold",
        ),
    ],
)
async def test_nul_and_nan_are_refused_before_storage(
    api: httpx.AsyncClient, raw: str, field: str, message: str
) -> None:
    response = await api.post("/api/v1/slos", content=raw, headers={"Content-Type": "application/json"})
    doc = problem_of(response, 422)
    [error] = doc["errors"]
    assert error["loc"][:2] == ["body", field] and message in error["msg"]


async def test_a_value_postgresql_refuses_gets_our_message(api: httpx.AsyncClient) -> None:
    # Not a definition (those are checked first): a filter PostgreSQL cannot take.
    doc = problem_of(await api.get("/api/v1/slos", params={"service": "a\x00b"}), 422)
    assert doc["detail"] == GENERIC


async def test_a_resolve_reason_with_nul_is_422(api: httpx.AsyncClient) -> None:
    response = await api.post(
        f"/api/v1/policies/freezes/{uuid.uuid4()}/resolve", json={"resolvedBy": "me", "reason": "\x00"}
    )
    assert problem_of(response, 422)["errors"][0]["loc"] == ["body", "reason"]


# 15. Echoed input is capped -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/slos/{}",
        "/api/v1/budgets/{}",
        "/api/v1/policies/{}",
        "/api/v1/slos/{}/rules",
        "/api/v1/slos/{}/openslo",
    ],
)
async def test_a_long_unknown_id_is_not_echoed_in_full(api: httpx.AsyncClient, path: str) -> None:
    long_id = "x" * 5000
    doc = problem_of(await api.get(path.format(long_id)), 404)
    assert len(doc["detail"]) < 200 and "5,000 characters" in doc["detail"]


async def test_a_long_label_key_is_not_echoed_in_full(api: httpx.AsyncClient) -> None:
    doc = problem_of(await api.post("/api/v1/slos", json=slo(labels={"k" * 5000: "v"})), 422)
    assert len(json.dumps(doc)) < 2000


# 16. Importers speak the file's language ----------------------------------------------------------


async def test_a_sloth_objective_of_150_is_skipped_in_sloth_terms(api: httpx.AsyncClient) -> None:
    sloth = {
        "version": "prometheus/v1",
        "service": "steady",
        "slos": [
            {
                "name": "avail",
                "objective": 150,
                "sli": {"events": {"error_query": f"sum(rate(t_errors_total[{W}]))", "total_query": TOTAL}},
            }
        ],
    }
    response = await api.post(
        "/api/v1/slos/import/sloth", params={"namespace": "bounds"}, content=json.dumps(sloth), headers=YAML
    )
    assert response.status_code == 200
    assert response.json()["skipped"] == [
        {"item": "steady/avail", "reason": "objective is a percentage and must be below 100 (it is 150)"}
    ]
