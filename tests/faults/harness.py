"""What the fault tests share: workers as real processes, an API with no worker inside, and
counting what reached PostgreSQL and Kafka.

Workers run as `sla worker` subprocesses configured through the environment only, exactly as in
production, so SIGKILL is a real crash: no `finally`, no graceful shutdown, sockets left open.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from aiokafka import AIOKafkaConsumer
from temporalio.api.enums.v1 import EventType, PendingActivityState, TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client, WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.service import RPCError

from sla_management.activities.models import RecordBudgetInput
from sla_management.adapters.postgres import Database
from sla_management.api.app import create_app
from sla_management.config import Settings
from sla_management.devstack import processes
from tests.conftest import ADMIN_HEADERS
from tests.support.waiting import eventually

# Sections a worker reads; `auth` and `api` belong to the API.
_WORKER_SECTIONS = (
    "prometheus",
    "postgresql",
    "redis",
    "kafka",
    "calculator",
    "policy",
    "temporal",
    "worker",
)


def settings_env(settings: Settings) -> dict[str, str]:
    """The environment that makes `get_settings()` in another process equal `settings`."""
    env = {k: v for k, v in os.environ.items() if "__" not in k}  # nothing inherited may override
    for section in _WORKER_SECTIONS:
        for key, value in getattr(settings, section).model_dump().items():
            if value is None:
                continue
            if isinstance(value, bool):
                text = str(value).lower()
            elif isinstance(value, list | dict):
                text = json.dumps(value)
            else:
                text = str(value)
            env[f"{section.upper()}__{key.upper()}"] = text
    env["KUBERNETES__ENABLED"] = "false"
    env["WORKER__METRICS_PORT"] = "0"
    env["LOG_LEVEL"] = "INFO"
    return env


@dataclass
class WorkerProcess:
    """One `sla worker` process; its JSON log lines tell which SLOs it evaluated."""

    service: processes.Service
    name: str

    @property
    def pid(self) -> int:
        assert self.service.proc is not None
        return self.service.proc.pid

    def kill(self) -> None:
        """SIGKILL to the whole process group: a crash, not a shutdown."""
        assert self.service.proc is not None
        with suppress(ProcessLookupError):
            os.killpg(self.pid, signal.SIGKILL)
        self.service.proc.wait(10)
        self.service.stop()  # closes the log file; the process is already gone

    def log_events(self, event: str) -> list[dict[str, Any]]:
        assert self.service.log_path is not None
        found = []
        for line in self.service.log_path.read_text(errors="replace").splitlines():
            if not line.startswith("{"):
                continue
            with suppress(ValueError):
                record = json.loads(line)
                if record.get("event") == event:
                    found.append(record)
        return found


@dataclass
class Workers:
    """Starts workers for one test and makes sure none outlives it."""

    settings: Settings
    workdir: Path
    client: Client
    started: list[WorkerProcess] = field(default_factory=list)

    async def start(self) -> WorkerProcess:
        name = f"worker-{len(self.started) + 1}"
        # `sla worker` of this interpreter, whatever else is on PATH.
        argv = [sys.executable, "-m", "sla_management.cli", "worker"]
        service = processes.spawn(name, argv, self.workdir, env=settings_env(self.settings))
        worker = WorkerProcess(service, name)
        self.started.append(worker)
        await self.wait_polling(worker)
        return worker

    async def wait_polling(self, worker: WorkerProcess, timeout: float = 60) -> None:
        """Until Temporal lists the process among the pollers of the queue (the identity the SDK
        gives a worker starts with its pid)."""

        async def polling() -> bool:
            if not worker.service.running:
                raise AssertionError(f"{worker.name} exited:\n{worker.service.log_tail()}")
            return f"{worker.pid}@" in " ".join(await pollers(self.client, self.settings.temporal.task_queue))

        await eventually(polling, timeout=timeout, every=0.3)

    def stop_all(self) -> None:
        for worker in self.started:
            worker.service.stop()


@asynccontextmanager
async def worker_processes(settings: Settings, workdir: Path, client: Client) -> AsyncIterator[Workers]:
    workers = Workers(settings, workdir, client)
    try:
        yield workers
    finally:
        workers.stop_all()


async def pollers(client: Client, task_queue: str) -> list[str]:
    """Identities of the workers Temporal saw polling the queue for workflow tasks lately."""
    response = await client.workflow_service.describe_task_queue(
        DescribeTaskQueueRequest(
            namespace=client.namespace,
            task_queue=TaskQueue(name=task_queue),
            task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
        )
    )
    return [p.identity for p in response.pollers]


async def running_activities(
    client: Client, workflow_id: str, worker: WorkerProcess | None = None
) -> list[str]:
    """Activities started and not finished, by type, as Temporal sees them; with `worker`, only
    those that process runs (a killed worker's stay listed until their timeout)."""
    try:
        described = await client.get_workflow_handle(workflow_id).describe()
    except RPCError:
        return []
    return [
        a.activity_type.name
        for a in described.raw_description.pending_activities
        if a.state == PendingActivityState.PENDING_ACTIVITY_STATE_STARTED
        and (worker is None or a.last_worker_identity.startswith(f"{worker.pid}@"))
    ]


async def orphaned_activities(client: Client, workflow_ids: Iterable[str], live: WorkerProcess) -> list[str]:
    """Activities still waiting for a dead worker's attempt to time out."""
    orphans = []
    for workflow_id in workflow_ids:
        with suppress(RPCError):
            described = await client.get_workflow_handle(workflow_id).describe()
            orphans += [
                f"{workflow_id}:{a.activity_type.name}"
                for a in described.raw_description.pending_activities
                if a.state == PendingActivityState.PENDING_ACTIVITY_STATE_STARTED
                and not a.last_worker_identity.startswith(f"{live.pid}@")
            ]
    return orphans


async def terminate(client: Client, workflow_ids: Iterable[str]) -> None:
    """Leave nothing running on the session's Temporal server."""
    for workflow_id in workflow_ids:
        with suppress(RPCError):
            await client.get_workflow_handle(workflow_id).terminate("test over")


# --- what the workflows recorded ---------------------------------------------------------------


@dataclass
class HistoryFacts:
    """What one workflow's history says happened."""

    history: WorkflowHistory
    events: Counter[str]
    # Inputs of the record_budget activities that completed, with the attempt that did it.
    recorded: list[tuple[RecordBudgetInput, int]]


async def history_facts(client: Client, workflow_id: str) -> HistoryFacts:
    history = await client.get_workflow_handle(workflow_id).fetch_history()
    events: Counter[str] = Counter()
    scheduled: dict[int, RecordBudgetInput] = {}
    attempts: dict[int, int] = {}
    recorded = []
    converter = pydantic_data_converter.payload_converter
    for event in history.events:
        kind = EventType.Name(event.event_type).removeprefix("EVENT_TYPE_")
        events[kind] += 1
        if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            attrs = event.activity_task_scheduled_event_attributes
            if attrs.activity_type.name == "record_budget":
                [inp] = converter.from_payloads(attrs.input.payloads, [RecordBudgetInput])
                scheduled[event.event_id] = inp
        elif event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED:
            started = event.activity_task_started_event_attributes
            attempts[started.scheduled_event_id] = started.attempt
        elif event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
            done = event.activity_task_completed_event_attributes.scheduled_event_id
            if done in scheduled:
                recorded.append((scheduled[done], attempts.get(done, 1)))
    return HistoryFacts(history, events, recorded)


@asynccontextmanager
async def control_api(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """The API in-process over ASGI with no worker and no relay inside: everything the loop does
    is done by the worker processes."""
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://api", headers=ADMIN_HEADERS
        ) as client:
            yield client


def assert_problem(response: httpx.Response, *statuses: int) -> None:
    """An RFC 9457 problem document with one of `statuses`."""
    assert response.status_code in statuses, (response.status_code, response.text)
    assert response.headers["content-type"].startswith("application/problem+json"), response.headers
    doc = response.json()
    assert doc["status"] == response.status_code and doc["title"] and "detail" in doc, doc


# --- what reached PostgreSQL and Kafka ---------------------------------------------------------


@dataclass(frozen=True)
class OutboxRow:
    event_id: str
    event_type: str
    published: bool


async def outbox(db: Database, keys: Iterable[str]) -> dict[str, OutboxRow]:
    """Every outbox event of these SLOs (key = SLO id) and policies (key = policy id)."""
    async with db.acquire() as conn:
        rows = await conn.fetch(
            """SELECT event_id, headers->>'event_type' AS event_type, published_at IS NOT NULL AS published
               FROM event_outbox WHERE key = ANY($1::text[])""",
            list(keys),
        )
    return {str(r["event_id"]): OutboxRow(str(r["event_id"]), r["event_type"], r["published"]) for r in rows}


async def drained_outbox(db: Database, keys: list[str], *, timeout: float = 60) -> dict[str, OutboxRow]:
    """The outbox of these keys once every event is published and none came for a second (stop
    the loops first)."""
    previous = -1

    async def settled() -> dict[str, OutboxRow] | None:
        nonlocal previous
        events = await outbox(db, keys)
        quiet, previous = len(events) == previous, len(events)
        return events if quiet and all(e.published for e in events.values()) else None

    return await eventually(settled, timeout=timeout, every=1)


async def freeze_rows(db: Database, policy_id: str) -> list[dict[str, Any]]:
    async with db.acquire() as conn:
        rows = await conn.fetch(
            """SELECT id, activated_at, resolved_at FROM freeze_events
               WHERE policy_id=$1 ORDER BY activated_at""",
            policy_id,
        )
    return [dict(r) for r in rows]


@dataclass
class Delivered:
    """What a Kafka consumer saw for some keys: every copy of every event id."""

    copies: Counter[str] = field(default_factory=Counter)
    types: dict[str, str] = field(default_factory=dict)

    @property
    def ids(self) -> set[str]:
        return set(self.copies)

    @property
    def duplicates(self) -> int:
        return sum(n - 1 for n in self.copies.values())

    def of_type(self, event_type: str) -> set[str]:
        return {i for i, t in self.types.items() if t == event_type}


async def delivered(
    bootstrap: str, topics: list[str], keys: Iterable[str], expected: set[str], *, timeout: float = 60
) -> Delivered:
    """Read `topics` from the beginning until every id in `expected` arrived (or `timeout`)."""
    wanted = set(keys)
    consumer = AIOKafkaConsumer(
        *topics,
        bootstrap_servers=bootstrap,
        group_id=f"faults-{uuid.uuid4().hex[:8]}",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    seen = Delivered()
    try:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not expected <= seen.ids and loop.time() < deadline:
            batch = await consumer.getmany(timeout_ms=500)
            for records in batch.values():
                for record in records:
                    if record.key is None or record.key.decode() not in wanted:
                        continue
                    headers = {k: v.decode() for k, v in record.headers}
                    seen.copies[headers["event_id"]] += 1
                    seen.types[headers["event_id"]] = headers["event_type"]
    finally:
        await consumer.stop()
    return seen
