"""The rules `GET /api/v1/rules` serves, loaded into a real Prometheus that reads the session's
backfilled history (remote read): the page alert fires for the burning service, not the steady one."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from sla_management.devstack import processes, servers
from tests.conftest import Stack
from tests.interop.promtool import check_rules
from tests.support.waiting import eventually

W = "{{.window}}"


def body(svc: str, namespace: str) -> dict[str, Any]:
    return {
        "name": f"{svc} availability {uuid.uuid4().hex[:6]}",
        "sloType": "AVAILABILITY",
        "serviceName": svc,
        "namespace": namespace,
        "target": 0.99,
        "sliQuery": {
            "errorQuery": f'sum(rate(t_errors_total{{svc="{svc}"}}[{W}]))',
            "totalQuery": f'sum(rate(t_requests_total{{svc="{svc}"}}[{W}]))',
        },
    }


async def test_page_alert_fires_on_backfilled_data(
    api: httpx.AsyncClient, stack: Stack, tmp_path: Path
) -> None:
    ns = f"rules-{uuid.uuid4().hex[:6]}"
    burning = (await api.post("/api/v1/slos", json=body("burning", ns))).json()
    steady = (await api.post("/api/v1/slos", json=body("steady", ns))).json()
    served = await api.get("/api/v1/rules", params={"namespace": ns})
    assert served.status_code == 200 and served.headers["content-type"].startswith("application/yaml")
    check_rules(served.text, tmp_path, "slo-rules.yaml")

    prometheus = servers.start_prometheus(
        tmp_path / "prometheus",
        processes.free_port(),
        f"""
global: {{evaluation_interval: 1s}}
rule_files: [{tmp_path / "slo-rules.yaml"}]
remote_read: [{{url: "{stack.prometheus_url}/api/v1/read", read_recent: true}}]
""",
        extra_args=["--rules.alert.resend-delay=1s"],
    )
    try:
        async with httpx.AsyncClient(base_url=prometheus.address, trust_env=False, timeout=10) as prom:

            async def alerts() -> list[dict[str, Any]]:
                found: list[dict[str, Any]] = (await prom.get("/api/v1/alerts")).json()["data"]["alerts"]
                return found

            async def page_firing() -> dict[str, Any] | None:
                for alert in await alerts():
                    labels = alert["labels"]
                    if labels["alertname"] == "SLOErrorBudgetBurnPage" and labels["slo"] == burning["id"]:
                        return alert if alert["state"] == "firing" else None
                return None

            alert = await eventually(page_firing, timeout=60)
            assert alert["labels"] == {
                "alertname": "SLOErrorBudgetBurnPage",
                "slo": burning["id"],
                "service": "burning",
                "namespace": ns,
                "severity": "page",
            }
            # 20 % errors for two hours: the 1h error ratio the alert compared.
            assert float(alert["value"]) == pytest.approx(0.2)
            assert alert["annotations"]["slo_name"] == burning["name"]

            async def steady_ratio() -> float | None:
                query = f'slo:sli_error:ratio_rate1h{{slo="{steady["id"]}"}}'
                result = (await prom.get("/api/v1/query", params={"query": query})).json()["data"]["result"]
                return float(result[0]["value"][1]) if result else None

            assert await eventually(steady_ratio) == pytest.approx(0.001)
            assert not [a for a in await alerts() if a["labels"]["slo"] == steady["id"]]
    finally:
        prometheus.stop()
