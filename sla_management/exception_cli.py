"""`sla exception grant|list|revoke`: freeze exceptions, through the API (responders, admins)."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

from sla_management.interop_cli import APIURL, DEFAULT_API_URL, Token, _request

exception_app = typer.Typer(
    help="Let a fix deploy through a freeze for a while (a responder's or an admin's token).",
    no_args_is_help=True,
)


def _line(e: dict[str, Any]) -> str:
    what = f"{e['service']} in {e['namespace']}" if e.get("service") else f"namespace {e['namespace']}"
    state = f"ended ({e['ending']})" if e.get("endedAt") else f"until {e['expiresAt']}"
    ticket = f" [{e['ticket']}]" if e.get("ticket") else ""
    return f"{e['id']}  {what}  {state}  by {e['grantedBy']}: {e['reason']}{ticket}  deploys={e['deploys']}"


@exception_app.command("grant")
def grant(
    namespace: Annotated[str, typer.Option("--namespace", "-n", help="The frozen namespace.")],
    reason: Annotated[str, typer.Option(help="Why this deploy must go through (P0, security fix...).")],
    minutes: Annotated[int, typer.Option(help="How long; at most the policy's maxExceptionMinutes.")] = 60,
    service: Annotated[
        str | None, typer.Option(help="Only this service; default: the whole namespace.")
    ] = None,
    ticket: Annotated[str | None, typer.Option(help="Incident or change ticket.")] = None,
    api_url: APIURL = DEFAULT_API_URL,
    token: Token = None,
) -> None:
    body = {
        "namespace": namespace,
        "service": service,
        "reason": reason,
        "ticket": ticket,
        "durationMinutes": minutes,
    }
    response = _request(
        "POST",
        api_url,
        "/api/v1/freezes/exceptions",
        token,
        content=json.dumps(body).encode(),
        content_type="application/json",
    )
    typer.echo(f"granted: {_line(response.json())}")


@exception_app.command("list")
def list_(
    active: Annotated[bool, typer.Option("--active/--all", help="Only exceptions in force.")] = True,
    namespace: Annotated[str | None, typer.Option("--namespace", "-n")] = None,
    api_url: APIURL = DEFAULT_API_URL,
    token: Token = None,
) -> None:
    params: dict[str, Any] = {"namespace": namespace} if namespace else {}
    if active:
        params["active"] = "true"
    found = _request("GET", api_url, "/api/v1/freezes/exceptions", token, params=params).json()
    for e in found:
        typer.echo(_line(e))
    if not found:
        typer.echo("no exceptions" + (" in force" if active else ""))


@exception_app.command("revoke")
def revoke(
    exception_id: Annotated[str, typer.Argument(help="The exception's id (see `sla exception list`).")],
    api_url: APIURL = DEFAULT_API_URL,
    token: Token = None,
) -> None:
    ended = _request("DELETE", api_url, f"/api/v1/freezes/exceptions/{exception_id}", token).json()
    typer.echo(f"revoked: {_line(ended)}")
