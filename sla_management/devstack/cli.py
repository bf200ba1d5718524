"""`sla dev` and `sla demo ...`.

Imported by every `sla` invocation (`sla api`, `sla worker` too), so the heavy modules are
imported inside the commands.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated

import typer

DEFAULT_EXPORTER_URL = "http://127.0.0.1:9109"

demo_app = typer.Typer(
    help="The demo workload: four services with a month of history, and incidents on demand.",
    no_args_is_help=True,
)

ExporterURL = Annotated[
    str,
    typer.Option(
        "--exporter-url",
        envvar="SLA_DEMO_EXPORTER_URL",
        help="Where `sla demo exporter` (started by `sla dev`) listens.",
    ),
]
ServiceArg = Annotated[str, typer.Argument(help="checkout, payments, search or message-bus.")]


def _request(method: str, url: str, body: dict[str, object] | None = None) -> object:
    import httpx

    try:
        # trust_env=False: a proxy configured in the shell must not capture loopback requests.
        with httpx.Client(trust_env=False, timeout=10) as client:
            response = client.request(method, url, json=body)
    except httpx.HTTPError as exc:
        typer.echo(f"cannot reach the demo exporter at {url}: {exc} (is `sla dev` running?)", err=True)
        raise typer.Exit(1) from exc
    payload: object = response.json() if response.content else None
    if response.status_code >= 400:
        typer.echo(f"HTTP {response.status_code}: {payload}", err=True)
        raise typer.Exit(1)
    return payload


@demo_app.command()
def incident(
    service: ServiceArg,
    error_rate: Annotated[
        float, typer.Option(min=0.0001, max=1.0, help="Share of requests that fail (and are slow).")
    ] = 0.3,
    minutes: Annotated[float, typer.Option(min=0.1, max=1440, help="How long it lasts.")] = 15,
    exporter_url: ExporterURL = DEFAULT_EXPORTER_URL,
) -> None:
    """Make a demo service fail: its error rate (and, for search/message-bus, latency) goes up."""
    url = f"{exporter_url.rstrip('/')}/incident/{service}"
    payload = _request("POST", url, {"errorRate": error_rate, "minutes": minutes})
    ends = payload.get("endsAt") if isinstance(payload, dict) else None
    until = time.strftime("%H:%M:%S", time.localtime(float(ends))) if ends else "?"
    typer.echo(
        f"{service}: {error_rate:.0%} of requests now fail for {minutes:g} min (until {until}). "
        f"`sla demo calm {service}` ends it sooner."
    )


@demo_app.command()
def calm(service: ServiceArg, exporter_url: ExporterURL = DEFAULT_EXPORTER_URL) -> None:
    """End a demo service's incident now."""
    payload = _request("DELETE", f"{exporter_url.rstrip('/')}/incident/{service}")
    ended = isinstance(payload, dict) and payload.get("ended")
    typer.echo(f"{service}: incident ended." if ended else f"{service} had no incident in force.")


@demo_app.command()
def incidents(exporter_url: ExporterURL = DEFAULT_EXPORTER_URL) -> None:
    """List the incidents in force."""
    payload = _request("GET", f"{exporter_url.rstrip('/')}/incidents")
    items = payload if isinstance(payload, list) else []
    if not items:
        typer.echo("no incident in force")
    for item in items:
        typer.echo(f"{item['service']}: errorRate {item['errorRate']}, {item['secondsLeft']:.0f} s left")


@demo_app.command()
def exporter(
    port: Annotated[int, typer.Option(help="Port to listen on (loopback).")] = 9109,
    host: str = "127.0.0.1",
    anchor: Annotated[
        float | None,
        typer.Option(help="Unix time the story is told from; must match the backfill's."),
    ] = None,
) -> None:
    """Serve the demo services' metrics on /metrics and the incident API (foreground)."""
    from sla_management.demo.exporter import make_exporter

    started = make_exporter(host, port, anchor if anchor is not None else float(int(time.time() // 60) * 60))
    typer.echo(f"demo exporter on {started.url}/metrics (anchor {started.workload.anchor:.0f})")
    try:
        started.server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        started.server.server_close()


@demo_app.command()
def backfill(
    data_dir: Annotated[Path, typer.Argument(help="Prometheus data directory (not in use).")],
    anchor: Annotated[float | None, typer.Option(help="Unix time; default: now.")] = None,
    exporter_port: Annotated[int, typer.Option(help="Port in the `instance` label.")] = 9109,
) -> None:
    """Write 31 days of demo history as TSDB blocks, labelled as the exporter's scrape."""
    from sla_management.demo.backfill import backfill as write_blocks

    now = time.time()
    report = write_blocks(
        data_dir,
        anchor=anchor if anchor is not None else float(int(now // 60) * 60),
        instance=f"127.0.0.1:{exporter_port}",
        end=now,
    )
    typer.echo(
        f"{report.samples:,} samples in {report.write_seconds + report.promtool_seconds:.1f} s "
        f"(file {report.write_seconds:.1f} s, promtool {report.promtool_seconds:.1f} s)"
    )


@demo_app.command()
def slos() -> None:
    """Print the demo SLOs as the JSON bodies `sla dev` posts to /api/v1/slos."""
    from sla_management.demo.scenario import demo_slos

    typer.echo(json.dumps(demo_slos(), indent=2))


def dev(
    workdir: Annotated[Path, typer.Option(help="State and logs (gitignored).")] = Path(".devstack"),
    fresh: Annotated[
        bool, typer.Option(help="Delete the workdir first: Temporal history, data, everything.")
    ] = False,
    services_only: Annotated[
        bool,
        typer.Option(help="Start the servers and the demo workload, not the API and the worker."),
    ] = False,
    demo_slos: Annotated[bool, typer.Option(help="Create the demo SLOs through the API.")] = True,
) -> None:
    """Start everything on loopback with a demo workload; Ctrl-C stops it."""
    from sla_management.devstack.stack import run_dev

    raise typer.Exit(run_dev(workdir, fresh=fresh, services_only=services_only, demo_slos=demo_slos))
