"""TLS settings for PostgreSQL, Redis and Kafka reach the clients."""

from __future__ import annotations

from typing import Protocol

import pytest

from sla_management.adapters.cache import BudgetCache
from sla_management.adapters.kafka import KafkaPublisher
from sla_management.adapters.postgres import Database
from sla_management.config import KafkaSettings, PostgreSQLSettings, RedisSettings
from tests.conftest import Stack


async def test_postgres_ssl_mode_gives_an_encrypted_session(stack: Stack) -> None:
    plain = Database(PostgreSQLSettings(host=stack.pg_host, port=stack.pg_port, database=stack.database))
    async with plain.acquire() as conn:
        server_ssl = await conn.fetchval("SHOW ssl")
    await plain.close()
    if server_ssl != "on":
        pytest.skip("this PostgreSQL has no TLS configured")
    db = Database(
        PostgreSQLSettings(
            host=stack.pg_host, port=stack.pg_port, database=stack.database, ssl_mode="require"
        )
    )
    async with db.acquire() as conn:
        encrypted = await conn.fetchval("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
    await db.close()
    assert encrypted is True


class Client(Protocol):
    async def ping(self) -> bool: ...
    async def aclose(self) -> None: ...


async def assert_only_plain_answers(plain: Client, tls: Client) -> None:
    """The test servers speak plain TCP only: a client that insists on TLS must fail there."""
    try:
        assert await plain.ping() is True
        assert await tls.ping() is False
    finally:
        await plain.aclose()
        await tls.aclose()


async def test_redis_tls_is_used_when_asked(stack: Stack) -> None:
    await assert_only_plain_answers(
        BudgetCache(RedisSettings(cluster_nodes=[stack.redis_node])),
        BudgetCache(RedisSettings(cluster_nodes=[stack.redis_node], ssl=True)),
    )


async def test_kafka_tls_is_used_when_asked(stack: Stack) -> None:
    await assert_only_plain_answers(
        KafkaPublisher(KafkaSettings(bootstrap_servers=[stack.kafka_address])),
        KafkaPublisher(KafkaSettings(bootstrap_servers=[stack.kafka_address], security_protocol="SSL")),
    )
