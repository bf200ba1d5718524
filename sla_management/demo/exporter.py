"""The demo services' live metrics, plus a control API to break them on purpose.

    GET    /metrics              Prometheus text format, the scenario's counters at this instant
    GET    /incidents            incidents in force
    POST   /incident/{service}   {"errorRate": 0.3, "minutes": 15}: start (or replace) one
    DELETE /incident/{service}   end it now

Values come from `scenario.Timeline.at(now)`, the functions the backfill used with the same
anchor, so the live series continue the history. Incidents only ever change the future: an
ended incident stays in the timeline, or the counters it raised would fall back (a "reset").

Stdlib `http.server` in threads: a handful of requests every 15 s needs nothing more, and the
exporter can run inside a test process as well as under `sla demo exporter`.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar
from urllib.parse import unquote

from sla_management.demo.scenario import (
    DURATION_METRIC,
    LE_LABELS,
    PROFILES,
    REQUESTS_METRIC,
    SERVICES,
    Counters,
    Incident,
    Timeline,
    format_value,
    timelines,
)

MAX_INCIDENT_MINUTES = 24 * 60


class DemoWorkload:
    """The scenario plus incidents; thread-safe."""

    def __init__(self, anchor: float, clock: Callable[[], float] = time.time) -> None:
        self.anchor = anchor
        self.clock = clock
        self._lock = threading.Lock()
        self._incidents: list[Incident] = []
        self._timelines: dict[str, Timeline] = timelines(anchor)

    def start_incident(self, service: str, error_rate: float, minutes: float) -> Incident:
        if service not in SERVICES:
            raise KeyError(service)
        if not 0 < error_rate <= 1:
            raise ValueError("errorRate must be in (0, 1]")
        if not 0 < minutes <= MAX_INCIDENT_MINUTES:
            raise ValueError(f"minutes must be in (0, {MAX_INCIDENT_MINUTES}]")
        with self._lock:
            now = self.clock()
            self._end_locked(service, now)
            incident = Incident(service, start=now, end=now + minutes * 60, error_rate=error_rate)
            self._incidents.append(incident)
            self._rebuild_locked(service)
            return incident

    def calm(self, service: str) -> bool:
        """End the service's incident now; False if none was in force."""
        if service not in SERVICES:
            raise KeyError(service)
        with self._lock:
            ended = self._end_locked(service, self.clock())
            if ended:
                self._rebuild_locked(service)
            return ended

    def active(self) -> list[Incident]:
        with self._lock:
            now = self.clock()
            return [i for i in self._incidents if i.start <= now < i.end]

    def counters(self, service: str) -> Counters:
        """One service's counters at this instant, as /metrics would serve them."""
        with self._lock:
            return self._timelines[service].at(self.clock())

    def _end_locked(self, service: str, now: float) -> bool:
        ended = False
        for index, incident in enumerate(self._incidents):
            if incident.service == service and incident.start <= now < incident.end:
                # Cut short, not removed: what it added so far stays in the counters.
                self._incidents[index] = Incident(service, incident.start, now, incident.error_rate)
                ended = True
        return ended

    def _rebuild_locked(self, service: str) -> None:
        profile = next(p for p in PROFILES if p.name == service)
        self._timelines[service] = Timeline(profile, self.anchor, self._incidents)

    def exposition(self) -> str:
        """The Prometheus text format (0.0.4) at this instant."""
        with self._lock:
            now = self.clock()
            points = {name: timeline.at(now) for name, timeline in self._timelines.items()}
        lines = [
            f"# HELP {REQUESTS_METRIC} Requests served by the demo services.",
            f"# TYPE {REQUESTS_METRIC} counter",
        ]
        for name, point in points.items():
            for code, value in (("200", point.ok), ("500", point.errors)):
                lines.append(f'{REQUESTS_METRIC}{{service="{name}",code="{code}"}} {format_value(value)}')
        lines += [
            f"# HELP {DURATION_METRIC} Request latency of the demo services.",
            f"# TYPE {DURATION_METRIC} histogram",
        ]
        for name, point in points.items():
            if not point.buckets:
                continue
            for le, value in zip(LE_LABELS, point.buckets, strict=True):
                lines.append(f'{DURATION_METRIC}_bucket{{service="{name}",le="{le}"}} {format_value(value)}')
            lines.append(f'{DURATION_METRIC}_sum{{service="{name}"}} {format_value(point.duration_sum)}')
            lines.append(f'{DURATION_METRIC}_count{{service="{name}"}} {format_value(point.buckets[-1])}')
        return "\n".join(lines) + "\n"


def _incident_json(incident: Incident) -> dict[str, object]:
    return {
        "service": incident.service,
        "errorRate": incident.error_rate,
        "startsAt": incident.start,
        "endsAt": incident.end,
        "secondsLeft": max(0.0, round(incident.end - time.time(), 1)),
    }


class _Handler(BaseHTTPRequestHandler):
    # Set per server by `_handler`: the http.server API builds one handler per request.
    workload: ClassVar[DemoWorkload]
    server_version = "sla-demo-exporter"

    def log_message(self, format: str, *args: object) -> None:
        # Prometheus scrapes every 15 s; only the control API is worth a log line.
        if not self.path.startswith("/metrics"):
            super().log_message(format, *args)

    def _send(self, status: HTTPStatus, body: str, content_type: str) -> None:
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _json(self, status: HTTPStatus, payload: object) -> None:
        self._send(status, json.dumps(payload) + "\n", "application/json")

    def _service(self) -> str | None:
        prefix = "/incident/"
        if not self.path.startswith(prefix):
            return None
        return unquote(self.path[len(prefix) :].strip("/"))

    def do_GET(self) -> None:
        if self.path.split("?")[0] == "/metrics":
            self._send(
                HTTPStatus.OK,
                self.workload.exposition(),
                "text/plain; version=0.0.4; charset=utf-8",
            )
        elif self.path == "/incidents":
            self._json(HTTPStatus.OK, [_incident_json(i) for i in self.workload.active()])
        elif self.path == "/":
            self._send(HTTPStatus.OK, (__doc__ or "").strip() + "\n", "text/plain")
        else:
            self._json(HTTPStatus.NOT_FOUND, {"detail": "not found"})

    def do_POST(self) -> None:
        service = self._service()
        if service is None:
            self._json(HTTPStatus.NOT_FOUND, {"detail": "not found"})
            return
        try:
            length = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(length) or b"{}")
            error_rate = float(body.get("errorRate", 0.3))
            minutes = float(body.get("minutes", 15))
            incident = self.workload.start_incident(service, error_rate, minutes)
        except KeyError:
            self._json(
                HTTPStatus.NOT_FOUND,
                {"detail": f"unknown service {service!r}", "services": list(SERVICES)},
            )
        except (ValueError, TypeError, AttributeError) as exc:
            self._json(HTTPStatus.UNPROCESSABLE_ENTITY, {"detail": str(exc)})
        else:
            self._json(HTTPStatus.CREATED, _incident_json(incident))

    def do_DELETE(self) -> None:
        service = self._service()
        if service is None:
            self._json(HTTPStatus.NOT_FOUND, {"detail": "not found"})
            return
        try:
            ended = self.workload.calm(service)
        except KeyError:
            self._json(HTTPStatus.NOT_FOUND, {"detail": f"unknown service {service!r}"})
        else:
            self._json(HTTPStatus.OK, {"service": service, "ended": ended})


def _handler(workload: DemoWorkload) -> type[BaseHTTPRequestHandler]:
    return type("Handler", (_Handler,), {"workload": workload})


@dataclass
class RunningExporter:
    workload: DemoWorkload
    server: ThreadingHTTPServer
    thread: threading.Thread | None

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        if self.thread is not None:
            self.thread.join()


def make_exporter(host: str, port: int, anchor: float) -> RunningExporter:
    """Bind the server (port 0 picks one) without serving yet."""
    workload = DemoWorkload(anchor)
    server = ThreadingHTTPServer((host, port), _handler(workload))
    server.daemon_threads = True
    return RunningExporter(workload, server, None)


def start_exporter_thread(host: str, port: int, anchor: float) -> RunningExporter:
    """Serve in a background thread (for tests and in-process use); `stop()` when done."""
    exporter = make_exporter(host, port, anchor)
    exporter.thread = threading.Thread(
        target=exporter.server.serve_forever, name="demo-exporter", daemon=True
    )
    exporter.thread.start()
    return exporter
