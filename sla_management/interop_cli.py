"""`sla import ...`, `sla export ...` and `sla rules`: thin clients of the API.

The API does the work (conversion, validation against Prometheus, starting the loops), so the
CLI behaves exactly like the endpoints. Imported by every `sla` invocation: heavy modules are
imported inside the commands.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    import httpx

DEFAULT_API_URL = "http://127.0.0.1:8000"
# Each imported SLO is checked with Prometheus and gets a workflow: large files take a while.
TIMEOUT_SECONDS = 120

import_app = typer.Typer(
    help="Create SLOs from OpenSLO, Sloth or Prometheus alert-rule files, through the API.",
    no_args_is_help=True,
)
export_app = typer.Typer(help="Write the SLOs in another format.", no_args_is_help=True)

APIURL = Annotated[str, typer.Option("--api-url", envvar="SLA_API_URL", help="The SLA API.")]
Token = Annotated[
    str | None, typer.Option("--token", envvar="SLA_API_TOKEN", help="Bearer token, if the API needs one.")
]
FileArg = Annotated[str, typer.Argument(help="The file to import; `-` reads standard input.")]
NamespaceOpt = Annotated[
    str, typer.Option("--namespace", "-n", help="Namespace for SLOs whose file does not name one.")
]
DryRunOpt = Annotated[
    bool, typer.Option("--dry-run", help="Convert and check the queries with Prometheus; create nothing.")
]
JSONOpt = Annotated[bool, typer.Option("--json", help="Print the API's report as JSON.")]
StrictOpt = Annotated[bool, typer.Option("--strict", help="Exit 3 when anything was skipped.")]
IdOpt = Annotated[str | None, typer.Option("--id", help="Only this SLO.")]
FilterNamespace = Annotated[
    str | None, typer.Option("--namespace", "-n", help="Only SLOs of this namespace.")
]
FilterService = Annotated[str | None, typer.Option("--service", help="Only SLOs of this service.")]
OutputOpt = Annotated[Path | None, typer.Option("--output", "-o", help="Write to this file, not stdout.")]


def _request(
    method: str,
    api_url: str,
    path: str,
    token: str | None,
    *,
    params: dict[str, Any] | None = None,
    content: bytes | None = None,
    content_type: str = "application/yaml",
) -> httpx.Response:
    import httpx

    headers = {"Content-Type": content_type} if content is not None else {}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    url = f"{api_url.rstrip('/')}{path}"
    try:
        # trust_env=False: a proxy configured in the shell must not capture loopback requests.
        with httpx.Client(trust_env=False, timeout=TIMEOUT_SECONDS) as client:
            response = client.request(method, url, params=params, content=content, headers=headers)
    except httpx.HTTPError as exc:
        typer.echo(f"cannot reach the SLA API at {api_url}: {exc}", err=True)
        raise typer.Exit(2) from exc
    if response.status_code >= 400:
        typer.echo(f"HTTP {response.status_code}: {_problem(response)}", err=True)
        raise typer.Exit(1)
    return response


def _problem(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text
    if not isinstance(body, dict):
        return str(body)
    detail = str(body.get("detail", body))
    errors = body.get("errors") or []
    return detail if not errors else f"{detail} ({len(errors)} error(s))"


def _read(file: str) -> bytes:
    if file == "-":
        return sys.stdin.buffer.read()
    try:
        return Path(file).read_bytes()
    except OSError as exc:
        typer.echo(f"cannot read {file}: {exc.strerror}", err=True)
        raise typer.Exit(1) from exc


def _write(text: str, output: Path | None) -> None:
    if output is None:
        typer.echo(text, nl=False)
    else:
        output.write_text(text)


def _import(
    kind: str,
    file: str,
    *,
    api_url: str,
    token: str | None,
    params: dict[str, Any],
    as_json: bool,
    strict: bool,
) -> None:
    response = _request(
        "POST", api_url, f"/api/v1/slos/import/{kind}", token, params=params, content=_read(file)
    )
    report = response.json()
    if as_json:
        typer.echo(json.dumps(report, indent=2))
    else:
        verb = "would create" if report.get("dryRun") else "created"
        for created in report["created"]:
            slo = created["slo"]
            where = f" [{slo['id']}]" if "id" in slo else ""
            typer.echo(f"{verb} {slo['name']!r} in {slo['namespace']}{where} from {created['item']}")
            for note in created.get("notes", []):
                typer.echo(f"  note: {note}")
        for skipped in report["skipped"]:
            typer.echo(f"skipped {skipped['item']}: {skipped['reason']}", err=True)
        typer.echo(f"{len(report['created'])} {verb}, {len(report['skipped'])} skipped", err=True)
    if strict and report["skipped"]:
        raise typer.Exit(3)


@import_app.command("openslo")
def import_openslo(
    file: FileArg,
    namespace: NamespaceOpt = "default",
    dry_run: DryRunOpt = False,
    as_json: JSONOpt = False,
    strict: StrictOpt = False,
    api_url: APIURL = DEFAULT_API_URL,
    token: Token = None,
) -> None:
    """OpenSLO v1 `SLO` objects (inline or referenced `SLI`, Prometheus sources)."""
    params = {"namespace": namespace, "dryRun": dry_run}
    _import("openslo", file, api_url=api_url, token=token, params=params, as_json=as_json, strict=strict)


@import_app.command("sloth")
def import_sloth(
    file: FileArg,
    namespace: NamespaceOpt = "default",
    dry_run: DryRunOpt = False,
    as_json: JSONOpt = False,
    strict: StrictOpt = False,
    api_url: APIURL = DEFAULT_API_URL,
    token: Token = None,
) -> None:
    """Sloth `prometheus/v1` specs (or `PrometheusServiceLevel` resources)."""
    params = {"namespace": namespace, "dryRun": dry_run}
    _import("sloth", file, api_url=api_url, token=token, params=params, as_json=as_json, strict=strict)


@import_app.command("alerts")
def import_alerts(
    file: FileArg,
    namespace: NamespaceOpt = "default",
    default_target: Annotated[
        float,
        typer.Option(
            "--default-target", min=0.0001, max=0.9999, help="Objective for alerts that state none."
        ),
    ] = 0.99,
    dry_run: DryRunOpt = False,
    as_json: JSONOpt = False,
    strict: StrictOpt = False,
    api_url: APIURL = DEFAULT_API_URL,
    token: Token = None,
) -> None:
    """A Prometheus rule file whose alerts describe SLOs (`slo` labels, burn-rate expressions)."""
    params = {"namespace": namespace, "defaultTarget": default_target, "dryRun": dry_run}
    _import("alerts", file, api_url=api_url, token=token, params=params, as_json=as_json, strict=strict)


def _filters(namespace: str | None, service: str | None) -> dict[str, str]:
    return {k: v for k, v in {"namespace": namespace, "service": service}.items() if v}


@export_app.command("openslo")
def export_openslo(
    slo_id: IdOpt = None,
    namespace: FilterNamespace = None,
    service: FilterService = None,
    output: OutputOpt = None,
    api_url: APIURL = DEFAULT_API_URL,
    token: Token = None,
) -> None:
    """The SLOs as OpenSLO v1 YAML, one document each."""
    path = f"/api/v1/slos/{slo_id}/openslo" if slo_id else "/api/v1/openslo"
    _write(_request("GET", api_url, path, token, params=_filters(namespace, service)).text, output)


def rules(
    slo_id: IdOpt = None,
    namespace: FilterNamespace = None,
    service: FilterService = None,
    output: OutputOpt = None,
    api_url: APIURL = DEFAULT_API_URL,
    token: Token = None,
) -> None:
    """Prometheus recording and burn-rate alert rules for the SLOs: `sla rules > slo-rules.yaml`."""
    path = f"/api/v1/slos/{slo_id}/rules" if slo_id else "/api/v1/rules"
    _write(_request("GET", api_url, path, token, params=_filters(namespace, service)).text, output)
