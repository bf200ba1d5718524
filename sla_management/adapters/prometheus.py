"""Prometheus HTTP API client: instant and range queries with retries on transient failures."""

from __future__ import annotations

import asyncio
import math
from dataclasses import dataclass
from time import perf_counter
from typing import Any

import httpx
import stamina

from sla_management.domain.plan import MAX_RANGE_POINTS, QueryPlan, QueryResults
from sla_management.observability import metrics


class PrometheusError(Exception):
    """Base class; `str()` is the message shown to users."""


class PromQLError(PrometheusError):
    """Prometheus rejected the query (bad_data): its own error text, never retried."""


class PrometheusUnavailable(PrometheusError):
    """Prometheus did not answer usefully after every retry."""


class ShapeError(PrometheusError):
    """The query ran but did not return what the SLI needs (e.g. several series)."""


@dataclass(frozen=True)
class Sample:
    labels: dict[str, str]
    value: float


def _transient(exc: Exception) -> bool:
    if isinstance(exc, httpx.TransportError):
        return True
    return isinstance(exc, httpx.HTTPStatusError) and exc.response.status_code >= 500


def _to_float(raw: str) -> float:
    return float(raw)  # Prometheus sends "NaN", "+Inf": float() reads both


class PrometheusClient:
    def __init__(
        self,
        url: str,
        *,
        timeout_seconds: float = 30,
        max_retries: int = 3,
        client: httpx.AsyncClient | None = None,
        max_concurrency: int = 16,
    ) -> None:
        self._url = url.rstrip("/")
        self._timeout = timeout_seconds
        self._max_retries = max_retries
        self._client = client or httpx.AsyncClient(timeout=timeout_seconds)
        self._semaphore = asyncio.Semaphore(max_concurrency)

    @property
    def url(self) -> str:
        return self._url

    async def aclose(self) -> None:
        await self._client.aclose()

    async def ready(self) -> bool:
        try:
            response = await self._client.get(f"{self._url}/-/ready", timeout=3)
        except httpx.HTTPError:
            return False
        return response.status_code == 200

    async def _api(self, path: str, params: dict[str, str], kind: str) -> dict[str, Any]:
        async with self._semaphore:
            started = perf_counter()
            try:
                async for attempt in stamina.retry_context(
                    on=_transient,
                    attempts=self._max_retries + 1,
                    timeout=self._timeout * (self._max_retries + 1),
                    wait_initial=0.2,
                    wait_max=5.0,
                ):
                    with attempt:
                        if attempt.num > 1:
                            metrics.PROMETHEUS_QUERY_RETRIES.labels(kind=kind).inc()
                        # POST keeps long queries out of URL length limits.
                        response = await self._client.post(
                            f"{self._url}/api/v1/{path}", data=params, timeout=self._timeout
                        )
                        if response.status_code in (400, 422):
                            body = response.json()
                            metrics.PROMETHEUS_QUERIES.labels(kind=kind, outcome="rejected").inc()
                            raise PromQLError(str(body.get("error", response.text)))
                        response.raise_for_status()
            except PromQLError:
                metrics.PROMETHEUS_QUERY_ERRORS.labels(kind=kind, error="rejected").inc()
                raise
            except (httpx.HTTPError, ValueError) as exc:
                metrics.PROMETHEUS_QUERIES.labels(kind=kind, outcome="error").inc()
                metrics.PROMETHEUS_QUERY_ERRORS.labels(kind=kind, error=metrics.query_error(exc)).inc()
                raise PrometheusUnavailable(
                    f"Prometheus at {self._url} did not answer: {type(exc).__name__}: {exc}"
                ) from exc
            finally:
                metrics.PROMETHEUS_QUERY_DURATION.labels(kind=kind).observe(perf_counter() - started)
        metrics.PROMETHEUS_QUERIES.labels(kind=kind, outcome="ok").inc()
        payload: dict[str, Any] = response.json()
        if payload.get("status") != "success":
            metrics.PROMETHEUS_QUERY_ERRORS.labels(kind=kind, error="rejected").inc()
            raise PromQLError(str(payload.get("error", "query failed")))
        data: dict[str, Any] = payload["data"]
        return data

    async def instant(self, promql: str, time: float | None = None) -> list[Sample]:
        params = {"query": promql}
        if time is not None:
            params["time"] = f"{time:.3f}"
        data = await self._api("query", params, "instant")
        result_type, result = data["resultType"], data["result"]
        if result_type == "scalar":
            return [Sample({}, _to_float(result[1]))]
        if result_type == "vector":
            return [Sample(item.get("metric", {}), _to_float(item["value"][1])) for item in result]
        raise ShapeError(f"query returned a {result_type}, expected an instant vector or a scalar")

    async def instant_value(
        self, promql: str, time: float | None = None, *, sum_series: bool = True
    ) -> float | None:
        """One number: None when there is no series (no traffic), NaN passed through."""
        samples = await self.instant(promql, time)
        if not samples:
            return None
        if len(samples) > 1 and not sum_series:
            raise ShapeError(f"query returned {len(samples)} series, expected one: {promql}")
        finite = [s.value for s in samples if not math.isnan(s.value)]
        if not finite:
            return math.nan
        return math.fsum(finite)

    async def range_series(
        self, promql: str, start: int, end: int, step: int, *, sum_series: bool = True
    ) -> list[tuple[float, float]]:
        """Points of the one (or summed) series; split so no request exceeds Prometheus's
        11,000-point limit."""
        by_time: dict[float, float] = {}
        chunk = step * (MAX_RANGE_POINTS - 1)
        chunk_start = start
        while chunk_start <= end:
            chunk_end = min(end, chunk_start + chunk)
            data = await self._api(
                "query_range",
                {
                    "query": promql,
                    "start": str(chunk_start),
                    "end": str(chunk_end),
                    "step": f"{step}s",
                },
                "range",
            )
            series = data["result"]
            if len(series) > 1 and not sum_series:
                raise ShapeError(f"query returned {len(series)} series, expected one: {promql}")
            for item in series:
                for t, raw in item["values"]:
                    value = _to_float(raw)
                    if math.isnan(value):
                        by_time.setdefault(float(t), value)
                        continue
                    previous = by_time.get(float(t))
                    by_time[float(t)] = (
                        value if previous is None or math.isnan(previous) else previous + value
                    )
            chunk_start = chunk_end + step
        return sorted(by_time.items())

    async def run_plan(self, plan: QueryPlan) -> QueryResults:
        """Run every query of a pass concurrently."""

        async def instant(key: str, promql: str, time: int, sum_series: bool) -> tuple[str, float | None]:
            return key, await self.instant_value(promql, time, sum_series=sum_series)

        async def ranged(q: Any) -> tuple[str, list[tuple[float, float]]]:
            return q.key, await self.range_series(q.promql, q.start, q.end, q.step, sum_series=q.sum_series)

        try:
            async with asyncio.TaskGroup() as group:
                instants = [
                    group.create_task(instant(q.key, q.promql, q.time, q.sum_series)) for q in plan.instant
                ]
                ranges = [group.create_task(ranged(q)) for q in plan.range]
        except ExceptionGroup as group_error:
            # One failed query fails the pass; report the first cause, not a group.
            raise group_error.exceptions[0] from None
        return QueryResults(
            values=dict(t.result() for t in instants),
            series=dict(t.result() for t in ranges),
        )
