"""API request metrics and log context, as pure ASGI middleware.

The `route` label is the matched route's template (`/api/v1/budgets/{slo_id}`), never the raw
path, so its values are bounded by the routes the app declares.
"""

from __future__ import annotations

import re
import time
from typing import Any

import structlog
from prometheus_client import REGISTRY
from prometheus_client.exposition import choose_encoder
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from sla_management.observability import metrics

# Path parameters worth a field on every log line of the request.
_LOGGED_PARAMS = {"slo_id": "slo_id", "policy_id": "policy_id", "event_id": "freeze_id"}
_PARAM = re.compile(r"\{(\w+)(?::\w+)?\}")
# A client can send any method name; the label only takes these.
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def _compile(template: str) -> re.Pattern[str]:
    parts = re.split(r"(\{\w+(?::\w+)?\})", template)
    regex = "".join(
        f"(?P<{m.group(1)}>[^/]+)" if (m := _PARAM.fullmatch(part)) else re.escape(part) for part in parts
    )
    return re.compile(regex + "$")


class RouteTable:
    """Route templates of an app, matched against a raw path before the router runs.

    Built from the OpenAPI paths (public, and the same templates the docs show) plus mounts, so
    it does not depend on how the framework nests included routers internally. Templates with
    fewer parameters are tried first: `/budgets/summary` wins over `/budgets/{slo_id}`.
    """

    def __init__(self, templates: list[str], mounts: list[str]) -> None:
        ordered = sorted(templates, key=lambda t: (t.count("{"), -len(t)))
        self._routes = [(t, _compile(t)) for t in ordered]
        self._mounts = sorted(mounts, key=len, reverse=True)

    @classmethod
    def of(cls, app: Any) -> RouteTable:
        table: RouteTable | None = getattr(app.state, "route_table", None)
        if table is None:
            try:
                templates = list(app.openapi().get("paths", {}))
            except Exception:  # a schema that cannot be generated must not break requests
                templates = []
            # Routes the schema leaves out (/metrics, the docs) and mounts, by their prefix.
            mounts = [r.path for r in app.routes if isinstance(r, (Mount, Route))]
            table = cls(templates, mounts)
            app.state.route_table = table
        return table

    def match(self, path: str) -> tuple[str, dict[str, str]]:
        for template, pattern in self._routes:
            if found := pattern.match(path):
                return template, found.groupdict()
        for mount in self._mounts:
            if path == mount or path.startswith(mount.rstrip("/") + "/"):
                return mount, {}
        return "unmatched", {}


class RequestTelemetryMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        app = scope.get("app")
        route, params = RouteTable.of(app).match(scope["path"]) if app is not None else ("unmatched", {})
        method = scope["method"] if scope["method"] in _METHODS else "OTHER"
        status = 500  # what the client gets if the app raises before answering

        async def send_with_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        bound = {_LOGGED_PARAMS[k]: str(v) for k, v in params.items() if k in _LOGGED_PARAMS}
        if "slo_id" in bound:
            bound["workflow_id"] = f"slo-{bound['slo_id']}"
        started = time.perf_counter()
        try:
            with structlog.contextvars.bound_contextvars(**bound):
                await self.app(scope, receive, send_with_status)
        finally:
            metrics.HTTP_DURATION.labels(method, route).observe(time.perf_counter() - started)
            metrics.HTTP_REQUESTS.labels(method, route, str(status)).inc()


async def metrics_endpoint(request: Request) -> Response:
    """`/metrics` exactly (a mount answers it with a redirect to `/metrics/`), in the format the
    scraper asks for (OpenMetrics or the text format)."""
    encoder, content_type = choose_encoder(request.headers.get("accept", ""))
    return Response(encoder(REGISTRY), media_type=content_type)


def add_metrics_routes(app: Starlette) -> None:
    # `/metrics/` too: scrape configs and clients written against the earlier mount use it.
    for path in ("/metrics", "/metrics/"):
        app.add_route(path, metrics_endpoint, include_in_schema=False)
