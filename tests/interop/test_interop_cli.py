"""`sla import ...`, `sla export openslo` and `sla rules` against the API on a real loopback port."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import uvicorn
import yaml
from temporalio.worker import Worker

from sla_management.api.app import create_app
from sla_management.devstack import processes
from tests.conftest import TOKENS, Runtime
from tests.interop.promtool import check_rules
from tests.support.waiting import eventually

DATA = Path(__file__).parent / "data"


@pytest.fixture
async def api_url(runtime: Runtime, worker: Worker) -> AsyncIterator[str]:
    port = processes.free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(runtime.settings), host="127.0.0.1", port=port, log_level="warning")
    )
    task = asyncio.create_task(server.serve())
    await eventually(lambda: asyncio.to_thread(processes.port_is_open, "127.0.0.1", port))
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    await task


@dataclass
class Result:
    exit_code: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


async def sla(api_url: str, *args: str, stdin: str | None = None) -> Result:
    """Run `sla ...` as its own process, as a pipeline would; this loop serves the API meanwhile."""
    env = {**os.environ, "SLA_API_URL": api_url, "SLA_API_TOKEN": TOKENS["admin"]}
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "sla_management.cli",
        *args,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
    )
    out, err = await asyncio.wait_for(proc.communicate((stdin or "").encode()), timeout=120)
    assert proc.returncode is not None
    return Result(proc.returncode, out.decode(), err.decode())


async def test_import_sloth_then_rules_and_openslo(api_url: str, tmp_path: Path) -> None:
    ns = f"cli-{uuid.uuid4().hex[:6]}"
    imported = await sla(api_url, "import", "sloth", str(DATA / "sloth" / "multifile.yml"), "-n", ns)
    assert imported.exit_code == 0, imported.output
    lines = imported.stdout.splitlines()
    assert lines[0].startswith(f"created 'myservice-requests-availability' in {ns} [")
    assert lines[0].endswith("] from myservice/requests-availability")
    assert "2 created, 0 skipped" in imported.stderr

    rules = await sla(api_url, "rules", "--namespace", ns, "-o", str(tmp_path / "slo-rules.yaml"))
    assert rules.exit_code == 0, rules.output
    check_rules((tmp_path / "slo-rules.yaml").read_text(), tmp_path, "checked.yaml")
    assert len(yaml.safe_load((tmp_path / "slo-rules.yaml").read_text())["groups"]) == 2

    exported = await sla(api_url, "export", "openslo", "--namespace", ns, "--service", "myservice2")
    assert exported.exit_code == 0, exported.output
    [doc] = yaml.safe_load_all(exported.stdout)
    assert doc["metadata"]["displayName"] == "myservice2-requests-availability"
    slo_id = doc["metadata"]["annotations"]["neural-hive.io/slo-id"]

    one = await sla(api_url, "rules", "--id", slo_id)
    assert one.exit_code == 0 and f"slo-{slo_id}" in one.stdout

    # Back through stdin, as a dry run: the SLO is already there.
    again = await sla(api_url, "import", "openslo", "-", "--dry-run", "--json", stdin=exported.stdout)
    assert again.exit_code == 0, again.output
    report = json.loads(again.stdout)
    assert report["dryRun"] is True and report["created"] == []
    assert "already exists" in report["skipped"][0]["reason"]


async def test_import_alerts_strict_exits_3_on_skips(api_url: str) -> None:
    ns = f"cli-{uuid.uuid4().hex[:6]}"
    result = await sla(api_url, "import", "alerts", str(DATA / "slo-alerts.yaml"), "-n", ns, "--strict")
    assert result.exit_code == 3
    assert "note: no objective in the rule: target set to the default 0.99" in result.stdout
    assert "skipped neural-hive.slos/SLAManagementDown: carries no SLO information" in result.stderr
    assert "10 created, 4 skipped" in result.stderr


async def test_failures_have_distinct_exit_codes(api_url: str, tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("groups: [")
    invalid = await sla(api_url, "import", "alerts", str(bad))
    assert invalid.exit_code == 1
    assert "HTTP 422: body: not valid YAML" in invalid.stderr

    missing_file = await sla(api_url, "import", "openslo", str(tmp_path / "nope.yaml"))
    assert missing_file.exit_code == 1 and "cannot read" in missing_file.stderr

    unknown = await sla(api_url, "rules", "--id", "00000000-0000-0000-0000-000000000000")
    assert unknown.exit_code == 1 and "HTTP 404" in unknown.stderr

    down = await sla(f"http://127.0.0.1:{processes.free_port()}", "rules")
    assert down.exit_code == 2 and "cannot reach the SLA API" in down.stderr


async def test_import_pyrra_from_a_directory(api_url: str, tmp_path: Path) -> None:
    ns = f"cli-{uuid.uuid4().hex[:6]}"
    # The fixtures, moved into one fresh namespace so the test can run again.
    target = tmp_path / "slos"
    (target / "nested").mkdir(parents=True)
    for source in sorted((DATA / "pyrra").glob("*.yaml")):
        text = (
            source.read_text()
            .replace("namespace: shop", f"namespace: {ns}")
            .replace("namespace: jobs", f"namespace: {ns}")
        )
        (target / ("nested" if source.name == "more.yaml" else ".") / source.name).write_text(text)
    (target / "README.md").write_text("not a resource")
    result = await sla(api_url, "import", "pyrra", str(target), "--strict")
    assert result.exit_code == 3, result.output  # two of them are skipped, and --strict says so
    assert "4 created, 2 skipped" in result.stderr
    assert f"created 'checkout-errors' in {ns}" in result.stdout
    assert "note: Pyrra's ratio indicators have no SLO type" in result.stdout
    assert (
        "skipped ServiceLevelObjective " + ns + "/api-errors-by-handler: grouping by handler" in result.stderr
    )

    empty = tmp_path / "empty"
    empty.mkdir()
    nothing = await sla(api_url, "import", "pyrra", str(empty))
    assert nothing.exit_code == 1 and "no *.yaml, *.yml or *.json file" in nothing.stderr


async def test_import_openslo_from_several_files(api_url: str) -> None:
    ns = f"cli-{uuid.uuid4().hex[:6]}"
    files = sorted((DATA / "openslo" / "multi-file").glob("*.yaml"))
    # The SLO file first: references resolve whatever the order.
    result = await sla(
        api_url, "import", "openslo", str(files[-1]), *map(str, files[:-1]), "-n", ns, "--json"
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["skipped"] == []
    [created] = report["created"]
    assert created["slo"]["name"] == "Orders availability"
    assert created["slo"]["alerting"]["ticket"]["labels"]["notification_target"] == "orders-tickets"


async def test_export_sloth_then_import_it(api_url: str, tmp_path: Path) -> None:
    ns = f"cli-{uuid.uuid4().hex[:6]}"
    imported = await sla(api_url, "import", "sloth", str(DATA / "sloth" / "alerting.yml"), "-n", ns)
    assert imported.exit_code == 0, imported.output
    out = tmp_path / "sloth.yaml"
    exported = await sla(api_url, "export", "sloth", "--namespace", ns, "-o", str(out))
    assert exported.exit_code == 0, exported.output
    [document] = yaml.safe_load_all(out.read_text())
    assert document["version"] == "prometheus/v1" and document["service"] == "checkout"
    assert sorted(s["name"] for s in document["slos"]) == ["payments", "requests-availability"]
    again = await sla(api_url, "import", "sloth", str(out), "-n", ns, "--dry-run", "--json")
    assert again.exit_code == 0, again.output
    assert sorted(s["reason"] for s in json.loads(again.stdout)["skipped"]) == [
        "an SLO named 'checkout-payments' (ignoring case) already exists in namespace " + repr(ns),
        "an SLO named 'checkout-requests-availability' (ignoring case) already exists in namespace "
        + repr(ns),
    ]

    rules = await sla(api_url, "rules", "--namespace", ns, "--sloth-metadata")
    assert rules.exit_code == 0, rules.output
    assert rules.stdout.count("record: sloth_slo_info") == 2
