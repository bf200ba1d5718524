"""Redis budget cache. Best effort by design: the spec's "graceful degradation" means a Redis
outage costs latency (reads fall back to PostgreSQL), never an error."""

from __future__ import annotations

import structlog
from redis.asyncio import Redis
from redis.asyncio.cluster import ClusterNode, RedisCluster
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from sla_management.config import RedisSettings
from sla_management.domain.budget import ErrorBudget
from sla_management.observability import metrics

log = structlog.get_logger(__name__)


def _host_port(node: str) -> tuple[str, int]:
    host, _, port = node.rpartition(":")
    return (host or node), int(port or 6379)


class BudgetCache:
    def __init__(self, settings: RedisSettings) -> None:
        self._settings = settings
        self._prefix = settings.key_prefix
        self._ttl = settings.cache_ttl_seconds
        nodes = [_host_port(n) for n in settings.cluster_nodes]
        # One immediate retry covers a connection Redis dropped while idle. redis-py's default
        # (10 retries, exponential backoff) would make every call wait ~3 s while Redis is down,
        # which is exactly when the cache should cost nothing (tests/faults/test_redis_outage.py).
        retry = Retry(NoBackoff(), 1)
        # Several nodes means Redis Cluster; one node, a plain client.
        self._client: Redis | RedisCluster
        if len(nodes) > 1:
            self._client = RedisCluster(
                startup_nodes=[ClusterNode(h, p) for h, p in nodes],
                password=settings.password,
                socket_timeout=0.5,
                socket_connect_timeout=0.5,
                ssl=settings.ssl,
                ssl_ca_certs=settings.ssl_ca_file,
                retry=retry,
            )
        else:
            host, port = nodes[0]
            self._client = Redis(
                host=host,
                port=port,
                password=settings.password,
                socket_timeout=0.5,
                socket_connect_timeout=0.5,
                ssl=settings.ssl,
                ssl_ca_certs=settings.ssl_ca_file,
                retry=retry,
            )

    def _key(self, slo_id: str) -> str:
        return f"{self._prefix}budget:{slo_id}"

    async def get(self, slo_id: str) -> ErrorBudget | None:
        try:
            raw = await self._client.get(self._key(slo_id))
        except RedisError as exc:
            metrics.CACHE_REQUESTS.labels(outcome="error").inc()
            log.warning("cache read failed", slo_id=slo_id, error=str(exc))
            return None
        if raw is None:
            metrics.CACHE_REQUESTS.labels(outcome="miss").inc()
            return None
        metrics.CACHE_REQUESTS.labels(outcome="hit").inc()
        return ErrorBudget.model_validate_json(raw)

    async def put(self, budget: ErrorBudget) -> bool:
        try:
            await self._client.set(
                self._key(budget.slo_id), budget.model_dump_json(by_alias=True), ex=self._ttl
            )
        except RedisError as exc:
            log.warning("cache write failed", slo_id=budget.slo_id, error=str(exc))
            return False
        return True

    async def delete(self, slo_id: str) -> None:
        try:
            await self._client.delete(self._key(slo_id))
        except RedisError as exc:
            log.warning("cache delete failed", slo_id=slo_id, error=str(exc))

    async def ping(self) -> bool:
        try:
            return bool(await self._client.ping())
        except RedisError:
            return False

    async def aclose(self) -> None:
        await self._client.aclose()
