"""The operator under test: kopf serving the real CRDs from kmock's emulator over HTTP, applying
them to the session's real Temporal, PostgreSQL and Prometheus, with a worker running the loops.

kopf runs in a thread of its own with its own event loop, as `kopf.testing.KopfRunner` does
(kopf cancels every task of its loop when it stops, which must not hit the worker's). The runner
here calls `run_operator` itself instead of going through kopf's CLI, because the settings reach
the handlers through kopf's memo, which the CLI cannot carry.
"""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from temporalio.worker import Worker

from sla_management.config import Settings
from sla_management.devstack.processes import free_port
from sla_management.operator.main import run_operator
from tests.conftest import Runtime
from tests.operator.crds import crds
from tests.support.k8s import FakeCluster, k8s_fixture  # noqa: F401 - registers the `k8s` fixture
from tests.support.waiting import eventually

PLURALS = {"SLODefinition": "slodefinitions", "SLAPolicy": "slapolicies"}


class OperatorThread:
    """`sla operator` in the background; `stop()` is what SIGTERM does in a pod."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="kopf-operator", daemon=True)

    def _run(self) -> None:
        try:
            asyncio.run(run_operator(self._settings, stop_flag=self._stop, ready_flag=self._ready))
        except BaseException as exc:  # handed to the test by stop()
            self._error = exc

    # Waiting happens in a helper thread: the test's event loop must keep serving the worker,
    # the emulator and the relays that the operator talks to meanwhile.

    async def start(self) -> OperatorThread:
        self._thread.start()
        if not await asyncio.to_thread(self._ready.wait, 30):
            raise AssertionError(f"the operator did not get ready: {self._error!r}")
        return self

    async def stop(self) -> None:
        self._stop.set()
        await asyncio.to_thread(self._thread.join, 30)
        assert not self._thread.is_alive(), "the operator did not stop within 30s"
        if self._error is not None:
            raise self._error


def operator_settings(settings: Settings, cluster: FakeCluster, **overrides: Any) -> Settings:
    """The runtime's settings, pointed at the emulator, with a status pace fit for tests."""
    return settings.model_copy(
        update={
            "kubernetes": settings.kubernetes.model_copy(update={"api_url": cluster.url}),
            "operator": settings.operator.model_copy(
                update={
                    "status_interval_seconds": 0.5,
                    "status_max_age_seconds": 5,
                    "retry_delay_seconds": 0.5,
                }
            ),
            **overrides,
        }
    )


@asynccontextmanager
async def running_operator(settings: Settings) -> AsyncIterator[OperatorThread]:
    operator = await OperatorThread(settings).start()
    try:
        yield operator
    finally:
        await operator.stop()


@pytest.fixture
def cluster(k8s: FakeCluster) -> FakeCluster:
    """The seeded emulator, serving SLODefinition and SLAPolicy as infra/crds/ declares them."""
    k8s.serve_crds(list(crds().values()))
    return k8s


@pytest.fixture
async def operator(runtime: Runtime, worker: Worker, cluster: FakeCluster) -> AsyncIterator[OperatorThread]:
    async with running_operator(operator_settings(runtime.settings, cluster)) as op:
        yield op


class Kube:
    """A client for the custom resources, over HTTP as kubectl would talk to the API server."""

    def __init__(self, client: httpx.AsyncClient, cluster: FakeCluster) -> None:
        self.http = client
        self.cluster = cluster

    @staticmethod
    def path(kind: str, namespace: str, name: str | None = None) -> str:
        base = f"/apis/neural-hive.io/v1/namespaces/{namespace}/{PLURALS[kind]}"
        return f"{base}/{name}" if name else base

    async def create(self, kind: str, namespace: str, name: str, spec: dict[str, Any]) -> dict[str, Any]:
        body = {
            "apiVersion": "neural-hive.io/v1",
            "kind": kind,
            "metadata": {"name": name, "namespace": namespace},
            "spec": spec,
        }
        response = await self.http.post(self.path(kind, namespace), json=body)
        assert response.status_code in (200, 201), response.text
        created: dict[str, Any] = response.json()
        return created

    async def patch_spec(self, kind: str, namespace: str, name: str, spec: dict[str, Any]) -> None:
        response = await self.http.patch(
            self.path(kind, namespace, name),
            json={"spec": spec},
            headers={"Content-Type": "application/merge-patch+json"},
        )
        assert response.status_code == 200, response.text

    async def delete(self, kind: str, namespace: str, name: str) -> None:
        response = await self.http.delete(self.path(kind, namespace, name))
        assert response.status_code in (200, 202), response.text

    def get(self, kind: str, namespace: str, name: str) -> dict[str, Any] | None:
        """As stored now, read from the emulator (not through the operator)."""
        try:
            return self.cluster.read(kind, namespace, name)
        except KeyError:
            return None

    def status(self, kind: str, namespace: str, name: str) -> dict[str, Any]:
        obj = self.get(kind, namespace, name) or {}
        status: dict[str, Any] = obj.get("status") or {}
        return status

    def condition(self, kind: str, namespace: str, name: str, type_: str) -> dict[str, Any] | None:
        for condition in self.status(kind, namespace, name).get("conditions") or []:
            if condition.get("type") == type_:
                found: dict[str, Any] = condition
                return found
        return None

    async def wait_condition(
        self, kind: str, namespace: str, name: str, type_: str, status: str, reason: str | None = None
    ) -> dict[str, Any]:
        async def probe() -> dict[str, Any] | None:
            found = self.condition(kind, namespace, name, type_)
            if found and found["status"] == status and (reason is None or found["reason"] == reason):
                return found
            return None

        return await eventually(probe, timeout=60)

    def events(self, namespace: str, name: str, reason: str | None = None) -> list[dict[str, Any]]:
        return [e for e in self.cluster.events(namespace, name) if reason is None or e["reason"] == reason]


@pytest.fixture
async def kube(cluster: FakeCluster) -> AsyncIterator[Kube]:
    async with httpx.AsyncClient(base_url=cluster.url, timeout=10) as client:
        yield Kube(client, cluster)


class Relay:
    """A loopback port that forwards to a real server only while open: a dependency that is
    down (connection refused), then back."""

    def __init__(self, host: str, port: int) -> None:
        self._target = (host, port)
        self.port = free_port()
        self._server: asyncio.Server | None = None
        self._writers: list[asyncio.StreamWriter] = []

    async def open(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            for writer in self._writers:
                writer.close()
            await self._server.wait_closed()
            self._server = None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        upstream_reader, upstream_writer = await asyncio.open_connection(*self._target)
        self._writers += [writer, upstream_writer]

        async def pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
            try:
                while data := await source.read(65536):
                    sink.write(data)
                    await sink.drain()
            except (ConnectionError, OSError):
                pass
            finally:
                sink.close()

        await asyncio.gather(pipe(reader, upstream_writer), pipe(upstream_reader, writer))


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:6]}"
