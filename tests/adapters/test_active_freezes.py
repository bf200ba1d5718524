"""The in-memory copy of the active freezes behind the deploy gate, on the real PostgreSQL:
it follows changes made by other connections, serves repeated reads from memory, and stops
trusting itself while its listening connection is gone."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import httpx
import pytest
from fastapi import FastAPI

from sla_management.adapters.postgres import Database, FreezeRepository
from sla_management.adapters.postgres.active_freezes import APPLICATION_NAME, ActiveFreezes
from sla_management.config import Settings
from sla_management.domain.freeze import FreezeEvent
from sla_management.domain.policy import Scope
from tests.conftest import ADMIN_HEADERS
from tests.support.waiting import eventually


def freeze(namespace: str) -> FreezeEvent:
    return FreezeEvent(
        id=str(uuid.uuid4()),
        policy_id=f"p-{namespace}",
        policy_name=f"policy {namespace}",
        scope=Scope.NAMESPACE,
        target=namespace,
        namespaces=[namespace],
        blocks=True,
        triggering=[],
        reason="test",
        activated_at=datetime.now(UTC),
    )


@pytest.fixture
async def db(settings: Settings) -> AsyncIterator[Database]:
    database = Database(settings.postgresql)
    await database.connect()
    yield database
    await database.close()


@pytest.fixture
async def index(db: Database, settings: Settings) -> AsyncIterator[ActiveFreezes]:
    active = ActiveFreezes(db, ping_seconds=0.5, max_backoff_seconds=0.5)
    task = asyncio.create_task(active.run())
    await eventually(lambda: _true(active.listening))
    yield active
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


async def _true(value: bool) -> bool:
    return value


async def _holds(index: ActiveFreezes, event_id: str) -> bool:
    return any(f.id == event_id for f in await index.get())


async def test_follows_freezes_opened_and_closed_elsewhere(index: ActiveFreezes, settings: Settings) -> None:
    # Another process's writes: a connection of its own, as the worker has.
    other = Database(settings.postgresql)
    store = FreezeRepository(other)
    try:
        before = await index.get()
        assert await index.get() is before, "a second read with nothing changed came from PostgreSQL"

        opened = await store.open(freeze(f"ns-{uuid.uuid4().hex[:6]}"), [])
        await eventually(lambda: _holds(index, opened.id), timeout=5)

        await store.close(opened.id, datetime.now(UTC), "someone", "test", [])

        async def gone() -> bool:
            return not await _holds(index, opened.id)

        await eventually(gone, timeout=5)
    finally:
        await other.close()


async def test_without_a_listener_every_read_goes_to_postgresql(db: Database) -> None:
    index = ActiveFreezes(db)  # never run: no notifications would reach it
    first = await index.get()
    assert await index.get() is not first
    store = FreezeRepository(db)
    opened = await store.open(freeze(f"ns-{uuid.uuid4().hex[:6]}"), [])
    assert await _holds(index, opened.id)
    await store.close(opened.id, datetime.now(UTC), "someone", "test", [])
    assert not await _holds(index, opened.id)


async def test_a_lost_listener_reconnects_and_follows_changes_again(
    index: ActiveFreezes, db: Database, settings: Settings
) -> None:
    await index.get()
    async with db.acquire() as conn:
        killed = await conn.fetchval(
            """SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
               WHERE datname = $1 AND application_name = $2""",
            settings.postgresql.database,
            APPLICATION_NAME,
        )
    assert killed >= 1

    async def deaf() -> bool:
        return not index.listening

    await eventually(deaf, timeout=5)
    await eventually(lambda: _true(index.listening), timeout=10)
    held = await index.get()
    assert await index.get() is held, "listening again, but reads still go to PostgreSQL"
    store = FreezeRepository(db)
    opened = await store.open(freeze(f"ns-{uuid.uuid4().hex[:6]}"), [])
    await eventually(lambda: _holds(index, opened.id), timeout=5)
    await store.close(opened.id, datetime.now(UTC), "someone", "test", [])


async def test_the_api_listens_and_its_gate_follows_a_freeze_written_elsewhere(
    app: FastAPI, db: Database
) -> None:
    index: ActiveFreezes = app.state.clients.active_freezes
    await eventually(lambda: _true(index.listening), timeout=10)
    namespace = f"ns-{uuid.uuid4().hex[:6]}"
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://api", headers=ADMIN_HEADERS) as api:

        async def allowed() -> bool:
            answer = await api.get("/api/v1/gate", params={"namespace": namespace})
            assert answer.status_code == 200, answer.text
            return bool(answer.json()["allowed"])

        assert await allowed()
        store = FreezeRepository(db)  # the worker's side: another pool, another connection
        opened = await store.open(freeze(namespace), [])

        async def blocked() -> bool:
            return not await allowed()

        await eventually(blocked, timeout=5, every=0.01)
        await store.close(opened.id, datetime.now(UTC), "someone", "test", [])
        await eventually(allowed, timeout=5, every=0.01)
