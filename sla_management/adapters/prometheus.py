"""Prometheus HTTP API client: instant and range queries with retries on transient failures."""

from __future__ import annotations

import asyncio
import math
from dataclasses import dataclass
from time import perf_counter
from typing import Any

import httpx
import stamina

from sla_management.domain.plan import MAX_RANGE_POINTS, InstantQuery, QueryPlan, QueryResults, RangeQuery
from sla_management.errors import PrometheusUnavailable, QueryRejected, ResultShapeError
from sla_management.observability import metrics

# Tags each query's answers in a batched request; a name no exporter would use.
_KEY_LABEL = "sla_management_query_key"


# The adapter's failures are the control plane's own errors (sla_management/errors.py).
PromQLError = QueryRejected
ShapeError = ResultShapeError


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

    async def run_plan(self, plan: QueryPlan, *, batched: bool = True) -> QueryResults:
        """Run every query of a pass.

        Instant queries evaluated at the same time go out as ONE request, each tagged with its
        key by `label_replace` and joined with `or`: Prometheus answers each in well under a
        millisecond, so a pass's cost is HTTP round trips, not PromQL (see bench/README.md).
        A group Prometheus refuses as a whole (e.g. a query returning a scalar) is re-run one
        query at a time, so users still see Prometheus's own error for their query.
        """
        groups: dict[int, list[InstantQuery]] = {}
        for q in plan.instant:
            groups.setdefault(q.time, []).append(q)

        async def group_values(queries: list[InstantQuery]) -> dict[str, float | None]:
            if batched and len(queries) > 1:
                try:
                    return await self._batched(queries)
                except (PromQLError, ShapeError):
                    pass  # one by one below, for the precise error or a scalar answer
            return {
                q.key: await self.instant_value(q.promql, q.time, sum_series=q.sum_series) for q in queries
            }

        async def ranged(q: RangeQuery) -> tuple[str, list[tuple[float, float]]]:
            return q.key, await self.range_series(q.promql, q.start, q.end, q.step, sum_series=q.sum_series)

        try:
            async with asyncio.TaskGroup() as group:
                instants = [group.create_task(group_values(queries)) for queries in groups.values()]
                ranges = [group.create_task(ranged(q)) for q in plan.range]
        except ExceptionGroup as group_error:
            # One failed query fails the pass; report the first cause, not a group.
            raise group_error.exceptions[0] from None
        values: dict[str, float | None] = {}
        for task in instants:
            values.update(task.result())
        return QueryResults(values=values, series=dict(t.result() for t in ranges))

    async def _batched(self, queries: list[InstantQuery]) -> dict[str, float | None]:
        expression = " or ".join(
            f'label_replace(({q.promql}), "{_KEY_LABEL}", "{q.key}", "", "")' for q in queries
        )
        data = await self._api("query", {"query": expression, "time": str(queries[0].time)}, "instant")
        if data["resultType"] != "vector":
            raise ShapeError(f"batched query returned a {data['resultType']}")
        found: dict[str, list[float]] = {}
        for item in data["result"]:
            found.setdefault(item["metric"].get(_KEY_LABEL, ""), []).append(_to_float(item["value"][1]))
        values: dict[str, float | None] = {}
        for q in queries:
            samples = found.get(q.key)
            if not samples:
                values[q.key] = None  # no series: no traffic
                continue
            if len(samples) > 1 and not q.sum_series:
                raise ShapeError(f"query returned {len(samples)} series, expected one: {q.promql}")
            finite = [v for v in samples if not math.isnan(v)]
            values[q.key] = math.fsum(finite) if finite else math.nan
        return values
