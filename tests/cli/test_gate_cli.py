"""`sla gate` as a pipeline runs it: a real `sla` process asking the real API over loopback.

It finds the dev stack's settings by itself, says in one sentence what is missing, and fails
closed when it cannot decide from what it was given (no namespace, or one that cannot exist).
"""

from __future__ import annotations

import asyncio
import os
import sys
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
import uvicorn

from sla_management.api.app import create_app
from sla_management.devstack.configs import write_env_file
from sla_management.devstack.processes import free_port, port_is_open
from sla_management.domain.freeze import FreezeEvent
from sla_management.domain.policy import Scope
from tests.conftest import TOKENS, Runtime
from tests.support.waiting import eventually

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Gate:
    code: int
    out: str
    err: str


async def sla_gate(*args: str, cwd: Path, **env: str) -> Gate:
    """`sla gate ARGS` in `cwd`, with none of the shell's SLA_API_* settings unless given."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith("SLA_API_")}
    environ["PYTHONPATH"] = os.pathsep.join(filter(None, (str(ROOT), environ.get("PYTHONPATH"))))
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "sla_management.cli",
        "gate",
        *args,
        cwd=cwd,
        env=environ | env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode is not None
    return Gate(proc.returncode, out.decode(), err.decode())


@pytest.fixture
async def served_api(runtime: Runtime) -> AsyncIterator[str]:
    """The API on a real loopback port, as `sla gate` reaches it."""
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(runtime.settings), host="127.0.0.1", port=port, log_level="warning")
    )
    task = asyncio.create_task(server.serve())
    await eventually(lambda: asyncio.to_thread(port_is_open, "127.0.0.1", port))
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    await task


@pytest.fixture
async def frozen(runtime: Runtime) -> AsyncIterator[str]:
    """A namespace with a blocking freeze in force (written as the policy workflow would)."""
    namespace = f"shop-{uuid.uuid4().hex[:6]}"
    event = FreezeEvent(
        id=str(uuid.uuid4()),
        policy_id=f"p-{namespace}",
        policy_name="shop-freeze-policy",
        scope=Scope.NAMESPACE,
        target=namespace,
        namespaces=[namespace],
        blocks=True,
        triggering=[],
        reason="payments under 20 % of its budget",
        activated_at=datetime.now(UTC),
    )
    opened = await runtime.clients.freezes.open(event, [])
    yield namespace
    await runtime.clients.freezes.close(opened.id, datetime.now(UTC), "test", "done", [])


@pytest.fixture
def dev_dir(tmp_path: Path, served_api: str) -> Path:
    """A directory where `sla dev` runs: its `.devstack/env` names the API and a viewer token."""
    (tmp_path / ".devstack").mkdir()
    write_env_file(tmp_path / ".devstack" / "env", {}, api_url=served_api, api_token=TOKENS["viewer"])
    return tmp_path


async def test_in_the_dev_stack_directory_the_gate_needs_no_sourced_env(dev_dir: Path, frozen: str) -> None:
    async def refused() -> Gate | None:
        # The API's in-memory copy of the freezes hears of the new one within milliseconds.
        answer = await sla_gate("--namespace", frozen, cwd=dev_dir)
        return answer if answer.code == 1 else None

    answer = await eventually(refused)
    assert "FROZEN by policy shop-freeze-policy" in answer.out
    allowed = await sla_gate("--namespace", "elsewhere", "--service", "payments", cwd=dev_dir)
    assert allowed.code == 0, allowed.err
    assert "allowed" in allowed.out


async def test_the_dev_stack_token_goes_only_to_the_dev_stack_api(served_api: str, tmp_path: Path) -> None:
    (tmp_path / ".devstack").mkdir()
    write_env_file(tmp_path / ".devstack" / "env", {}, api_url=served_api, api_token=TOKENS["viewer"])
    same = await sla_gate("--namespace", "shop", "--api-url", f"{served_api}/", cwd=tmp_path)
    assert same.code == 0, same.err
    # Another API (here the same server under another name) never receives the dev token.
    other = served_api.replace("127.0.0.1", "localhost")
    elsewhere = await sla_gate("--namespace", "shop", "--api-url", other, cwd=tmp_path)
    assert elsewhere.code == 2
    assert "needs a bearer token" in elsewhere.err


async def test_without_a_token_the_gate_says_what_is_missing_in_one_sentence(
    served_api: str, tmp_path: Path
) -> None:
    answer = await sla_gate("--namespace", "shop", cwd=tmp_path, SLA_API_URL=served_api)
    assert answer.code == 2
    assert answer.err.strip() == (
        f"gate: the API at {served_api} needs a bearer token: set SLA_API_TOKEN or pass --token "
        "(for the dev stack, run `sla gate` in the directory of `sla dev`, or `source .devstack/env`)"
    )
    wrong = await sla_gate("--namespace", "shop", cwd=tmp_path, SLA_API_URL=served_api, SLA_API_TOKEN="nope")
    assert wrong.code == 2
    assert "does not accept this token" in wrong.err
    for text in (answer.err, wrong.err):
        assert "mozilla" not in text and "httpx" not in text and "Traceback" not in text


async def test_a_gate_without_namespace_fails_closed_while_a_namespace_is_frozen(
    dev_dir: Path, frozen: str
) -> None:
    assert (await sla_gate("--namespace", frozen, cwd=dev_dir)).code == 1
    for flags in ((), ("--fail-open",)):
        answer = await sla_gate("--service", "payments", *flags, cwd=dev_dir)
        assert answer.code == 1, answer.out
        assert "cannot decide without --namespace" in answer.err


@pytest.mark.parametrize(
    "spelling",
    [
        pytest.param(str.upper, id="upper case"),
        pytest.param(lambda ns: f" {ns}", id="a leading space"),
        pytest.param(lambda ns: f"{ns}/../x", id="a path"),
    ],
)
async def test_a_namespace_that_cannot_exist_is_refused_not_allowed(
    dev_dir: Path, frozen: str, spelling: object
) -> None:
    namespace = spelling(frozen)  # type: ignore[operator]
    answer = await sla_gate("--namespace", namespace, "--fail-open", cwd=dev_dir)
    assert answer.code == 1, answer.out
    assert "cannot decide" in answer.err
    assert "is not a Kubernetes namespace name (DNS-1123 label" in answer.err


async def test_an_unreachable_api_is_no_answer_unless_fail_open(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    closed = await sla_gate("--namespace", "shop", cwd=tmp_path, SLA_API_URL=url)
    assert closed.code == 2
    assert f"cannot reach the SLA API at {url}" in closed.err
    opened = await sla_gate("--namespace", "shop", "--fail-open", cwd=tmp_path, SLA_API_URL=url)
    assert opened.code == 0
    assert "allowed (--fail-open)" in opened.err


async def test_the_api_gate_refuses_the_same_questions(served_api: str) -> None:
    headers = {"Authorization": f"Bearer {TOKENS['viewer']}"}
    async with httpx.AsyncClient(base_url=served_api, headers=headers) as api:
        for params in ({"service": "payments"}, {"namespace": "SHOP"}, {"namespace": "a" * 64}):
            answer = await api.get("/api/v1/gate", params=params)
            assert answer.status_code == 422, params
            assert answer.json()["errors"][0]["loc"] == ["query", "namespace"]
        assert (await api.get("/api/v1/gate", params={"namespace": "a" * 63})).status_code == 200
