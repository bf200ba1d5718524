"""The active freezes, kept in memory and refreshed when PostgreSQL says they changed.

The deploy gate is a hot path (every pipeline run asks it) while freezes change a few times a
day, so reading PostgreSQL on every call is waste. A trigger on `freeze_events` (migration
0004) sends `NOTIFY freeze_events` on every change; one listening connection per process marks
the copy stale and the next read reloads it.

The copy is trusted only while that connection is up: when it drops, reads go to PostgreSQL
again (and fail with DatabaseUnavailable, a 503, while PostgreSQL is down) until it is back.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import asyncpg
import structlog

from sla_management.adapters.postgres.exceptions import ExceptionRepository
from sla_management.adapters.postgres.freezes import FreezeRepository
from sla_management.adapters.postgres.pool import Database
from sla_management.domain.freeze import FreezeEvent, FreezeException

log = structlog.get_logger(__name__)

CHANNEL = "freeze_events"
# Shown in pg_stat_activity, so a DBA can tell this long-lived idle connection apart.
APPLICATION_NAME = "sla-freeze-listener"


class ActiveFreezes:
    def __init__(
        self,
        db: Database,
        *,
        ping_seconds: float = 10.0,
        max_backoff_seconds: float = 10.0,
    ) -> None:
        self._freezes = FreezeRepository(db)
        self._exceptions = ExceptionRepository(db)
        self._settings = db.settings
        self._ping_seconds = ping_seconds
        self._max_backoff = max_backoff_seconds
        self._snapshot: tuple[list[FreezeEvent], list[FreezeException]] | None = None
        # Bumped by every notification and every (re)connect: a read that started before a
        # bump must not store what it read.
        self._version = 0
        self._listening = False

    @property
    def listening(self) -> bool:
        return self._listening

    async def get(self) -> list[FreezeEvent]:
        """The freezes in force."""
        return (await self._both())[0]

    async def with_exceptions(self) -> tuple[list[FreezeEvent], list[FreezeException]]:
        """The freezes in force and the exceptions not ended (some may have just expired: the
        gate checks `active_at`)."""
        return await self._both()

    async def _both(self) -> tuple[list[FreezeEvent], list[FreezeException]]:
        snapshot = self._snapshot
        if snapshot is not None:
            return snapshot
        version = self._version
        loaded = (await self._freezes.active(), await self._exceptions.open_ones())
        if self._listening and version == self._version:
            self._snapshot = loaded
        return loaded

    def _invalidate(self, *_: Any) -> None:
        self._version += 1
        self._snapshot = None

    async def run(self) -> None:
        """Keep one listening connection until cancelled, reconnecting with a capped backoff.

        A plain loop rather than a retry decorator: this is a connection supervisor that runs for
        the life of the process, not a call that eventually succeeds or gives up.
        """
        delay = 0.5
        while True:
            try:
                await self._listen()
                delay = 0.5  # the connection was up: the next outage starts the backoff afresh
            except Exception as exc:  # whatever broke it, keep supervising; reads stay correct
                log.warning("freeze listener down; the gate reads PostgreSQL meanwhile", error=str(exc))
            await asyncio.sleep(delay)
            delay = min(delay * 2, self._max_backoff)

    async def _listen(self) -> None:
        lost = asyncio.Event()
        conn: asyncpg.Connection = await asyncpg.connect(
            self._settings.dsn(), timeout=5, server_settings={"application_name": APPLICATION_NAME}
        )
        try:
            conn.add_termination_listener(lambda _conn: lost.set())
            await conn.add_listener(CHANNEL, self._invalidate)
            self._invalidate()  # whatever was read before listening may have missed a change
            self._listening = True
            log.info("freeze listener up")
            while not lost.is_set():
                try:
                    await asyncio.wait_for(lost.wait(), timeout=self._ping_seconds)
                except TimeoutError:
                    # A silent network loss closes nothing; a query with a deadline notices it.
                    await conn.fetchval("SELECT 1", timeout=self._ping_seconds)
            raise ConnectionError("the listening connection to PostgreSQL was closed")
        finally:
            self._listening = False
            self._invalidate()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(conn.close(), timeout=2)
