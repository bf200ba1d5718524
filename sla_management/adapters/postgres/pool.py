"""The asyncpg pool: one per process, shared by every repository.

A lost server becomes `DatabaseUnavailable` (the API answers 503, activities retry) and a value
PostgreSQL refuses as malformed becomes `InvalidValue` with a message of ours; PostgreSQL's own
text goes to the log only.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg
import structlog

from sla_management.config import PostgreSQLSettings
from sla_management.errors import DatabaseUnavailable, InvalidValue

log = structlog.get_logger(__name__)

_UNAVAILABLE: tuple[type[BaseException], ...] = (
    OSError,
    asyncpg.exceptions.PostgresConnectionError,
    asyncpg.exceptions.CannotConnectNowError,
    asyncpg.exceptions.InterfaceError,
    asyncpg.exceptions.AdminShutdownError,
    # A server that shuts down while a pooled connection is idle can leave that connection's
    # protocol state confused ("cannot switch to state ..."): a lost server all the same.
    asyncpg.exceptions.InternalClientError,
    TimeoutError,
)


async def _init_connection(conn: asyncpg.Connection) -> None:
    await conn.set_type_codec("jsonb", encoder=json.dumps, decoder=json.loads, schema="pg_catalog")


class Database:
    def __init__(self, settings: PostgreSQLSettings) -> None:
        self._settings = settings
        self._pool: asyncpg.Pool | None = None

    @property
    def settings(self) -> PostgreSQLSettings:
        return self._settings

    async def connect(self) -> None:
        if self._pool is not None:
            return
        try:
            self._pool = await asyncpg.create_pool(
                self._settings.dsn(),
                min_size=self._settings.pool_min_size,
                max_size=self._settings.pool_max_size,
                init=_init_connection,
                timeout=5,
                command_timeout=30,
            )
        except _UNAVAILABLE as exc:
            raise DatabaseUnavailable(f"PostgreSQL is unreachable: {exc}") from exc

    async def close(self) -> None:
        if self._pool is not None:
            pool, self._pool = self._pool, None
            try:
                # A graceful close waits for every connection; with the server gone it can
                # wait forever, and a process must still be able to stop.
                await asyncio.wait_for(pool.close(), timeout=10)
            except TimeoutError:
                pool.terminate()

    @asynccontextmanager
    async def acquire(self) -> AsyncIterator[asyncpg.Connection]:
        """A connection; a lost server becomes DatabaseUnavailable, not a crash."""
        if self._pool is None:
            await self.connect()
        assert self._pool is not None
        try:
            async with self._pool.acquire(timeout=5) as conn:
                yield conn
        except _UNAVAILABLE as exc:
            raise DatabaseUnavailable(f"PostgreSQL is unreachable: {exc}") from exc
        except asyncpg.exceptions.DataError as exc:
            # The database's own text names its internals and repeats the value: it goes to the
            # log; the caller learns only that one of its values cannot be stored.
            log.warning("postgresql refused a value", sqlstate=exc.sqlstate, error=str(exc)[:2000])
            raise InvalidValue() from exc

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[asyncpg.Connection]:
        async with self.acquire() as conn, conn.transaction():
            yield conn

    async def ping(self) -> bool:
        try:
            async with self.acquire() as conn:
                await conn.fetchval("SELECT 1")
        except DatabaseUnavailable:
            return False
        return True

    def pool_stats(self) -> dict[str, int]:
        """Connections by state, for `sla_db_pool_connections` (zeros before connect)."""
        if self._pool is None:
            return {"in_use": 0, "idle": 0, "max": 0}
        size, idle = self._pool.get_size(), self._pool.get_idle_size()
        return {"in_use": size - idle, "idle": idle, "max": self._pool.get_max_size()}
