"""`sla`: one entry point for every process of the system."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer

from sla_management.devstack.cli import demo_app, dev
from sla_management.exception_cli import exception_app
from sla_management.interop_cli import export_app, import_app, rules

if TYPE_CHECKING:
    import httpx

app = typer.Typer(
    help="SLO control plane: error budgets, burn rates and deploy freezes.", no_args_is_help=True
)
app.add_typer(demo_app, name="demo")
app.command(help="Start the whole stack on loopback with a demo workload (what `make run` runs).")(dev)
app.add_typer(import_app, name="import")
app.add_typer(export_app, name="export")
app.add_typer(exception_app, name="exception")
app.command()(rules)


@app.command()
def api(host: str | None = None, port: int | None = None) -> None:
    """Serve the REST API (FastAPI)."""
    import uvicorn

    from sla_management.config import get_settings
    from sla_management.logging import configure_logging

    settings = get_settings()
    configure_logging(settings.log_level)
    tls: dict[str, object] = {}
    if settings.api.tls_cert_file:
        import ssl

        tls = {"ssl_certfile": settings.api.tls_cert_file, "ssl_keyfile": settings.api.tls_key_file}
        if settings.api.tls_client_ca_file:
            # mTLS: a client without a certificate signed by this CA cannot even connect.
            tls |= {"ssl_ca_certs": settings.api.tls_client_ca_file, "ssl_cert_reqs": ssl.CERT_REQUIRED}
    uvicorn.run(
        "sla_management.api.app:create_app",
        factory=True,
        host=host or settings.api.host,
        port=port or settings.api.port,
        log_config=None,
        **tls,  # type: ignore[arg-type]
    )


@app.command()
def worker() -> None:
    """Run a Temporal worker: SLO workflows, their activities and the event relay."""
    from sla_management.config import get_settings
    from sla_management.logging import configure_logging
    from sla_management.worker.main import run_worker

    settings = get_settings()
    configure_logging(settings.log_level)
    asyncio.run(run_worker(settings))


@app.command(name="operator")
def operator_command(
    namespace: Annotated[
        list[str] | None,
        typer.Option("--namespace", "-n", help="Serve only this namespace (repeatable); default: all."),
    ] = None,
) -> None:
    """Run the Kubernetes operator (kopf): SLODefinition and SLAPolicy resources."""
    from sla_management.config import get_settings
    from sla_management.logging import configure_logging
    from sla_management.operator.main import run_operator

    settings = get_settings()
    configure_logging(settings.log_level)
    if namespace:
        settings = settings.model_copy(
            update={"operator": settings.operator.model_copy(update={"namespaces": namespace})}
        )
    asyncio.run(run_operator(settings))


@app.command()
def migrate() -> None:
    """Apply PostgreSQL migrations (Alembic) up to the latest revision."""
    from sla_management.adapters.migrations import upgrade
    from sla_management.config import get_settings

    upgrade(get_settings().postgresql)
    typer.echo("database is at the latest revision")


DEFAULT_API_URL = "http://127.0.0.1:8000"
# Where `sla dev` writes its settings; `sla gate` run in the same directory reads them.
DEV_ENV_FILE = Path(".devstack") / "env"


class GateExit:
    """`sla gate` exit codes: what a pipeline acts on."""

    ALLOWED = 0
    # Frozen, or the gate cannot decide from what it was given (no or an invalid namespace).
    NOT_ALLOWED = 1
    # No answer: the API is unreachable or failing, or refused the caller.
    NO_ANSWER = 2


def _gate_target(api_url: str | None, token: str | None) -> tuple[str, str | None, str]:
    """The API to ask and the token to send: as given (option or SLA_API_URL/SLA_API_TOKEN), the
    rest from the dev stack's `.devstack/env` here; the last item says when that file was used.
    The dev stack's token is only ever sent to the dev stack's API."""
    dev: dict[str, str] = {}
    if api_url is None or token is None:
        from sla_management.devstack.configs import read_env_file

        dev = read_env_file(DEV_ENV_FILE)
    dev_url = dev.get("SLA_API_URL")
    if dev_url is None:
        return api_url or DEFAULT_API_URL, token, ""
    same_api = api_url is None or api_url.rstrip("/") == dev_url.rstrip("/")
    bearer = token if token is not None else (dev.get("SLA_API_TOKEN") if same_api else None)
    used = api_url is None or (token is None and bearer is not None)
    return api_url or dev_url, bearer, f" (from {DEV_ENV_FILE})" if used else ""


def _problem_detail(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.reason_phrase
    detail = body.get("detail") if isinstance(body, dict) else None
    return str(detail)[:300] if detail else response.reason_phrase


def _refusal(response: httpx.Response, url: str, token: str | None) -> tuple[int, str]:
    """The exit code and one sentence for an API that did not answer the question."""
    status = response.status_code
    if status == 401 and token is None:
        return GateExit.NO_ANSWER, (
            f"the API at {url} needs a bearer token: set SLA_API_TOKEN or pass --token "
            f"(for the dev stack, run `sla gate` in the directory of `sla dev`, or `source {DEV_ENV_FILE}`)"
        )
    if status == 401:
        return GateExit.NO_ANSWER, f"the API at {url} does not accept this token (SLA_API_TOKEN or --token)"
    if status == 403:
        return GateExit.NO_ANSWER, f"this token may not ask the gate at {url}: {_problem_detail(response)}"
    if status == 422:
        return GateExit.NOT_ALLOWED, f"cannot decide: {_problem_detail(response)}"
    return GateExit.NO_ANSWER, f"the API at {url} answered HTTP {status}: {_problem_detail(response)}"


def _stop(code: int, message: str) -> NoReturn:
    typer.echo(f"gate: {message}", err=True)
    raise typer.Exit(code)


def _ask_gate(
    url: str, bearer: str | None, source: str, params: dict[str, str], *, fail_open: bool
) -> dict[str, Any]:
    """GET /api/v1/gate; the answer, or exit with one sentence on what went wrong."""
    import httpx

    headers = {"Authorization": f"Bearer {bearer}"} if bearer else {}
    try:
        response = httpx.get(f"{url.rstrip('/')}/api/v1/gate", params=params, headers=headers, timeout=10)
    except httpx.HTTPError as exc:
        if fail_open:
            _stop(
                GateExit.ALLOWED, f"cannot reach the SLA API at {url}{source} ({exc}); allowed (--fail-open)"
            )
        _stop(GateExit.NO_ANSWER, f"cannot reach the SLA API at {url}{source} ({exc}); is it running?")
    if response.status_code >= 500 and fail_open:
        _stop(
            GateExit.ALLOWED, f"the API at {url} failed (HTTP {response.status_code}); allowed (--fail-open)"
        )
    if response.status_code != 200:
        _stop(*_refusal(response, url + source, bearer))
    try:
        answer = response.json()
        if isinstance(answer, dict) and isinstance(answer.get("allowed"), bool):
            return answer
    except ValueError:
        pass
    _stop(GateExit.NO_ANSWER, f"{url}{source} did not answer as the SLA API's gate does (is it the SLA API?)")


def _report(answer: dict[str, Any], params: dict[str, str]) -> bool:
    """Print the gate's answer; whether the deploy is allowed."""
    for freeze in answer.get("freezes", []):
        typer.echo(
            f"FROZEN by policy {freeze['policyName']} ({freeze['scope']} {freeze['target'] or '*'}) "
            f"since {freeze['activatedAt']}: {freeze['reason']} [freeze {freeze['id']}]"
        )
    for leave in answer.get("exceptions", []):
        typer.echo(
            f"EXCEPTION granted by {leave['grantedBy']} until {leave['expiresAt']}: {leave['reason']} "
            f"[exception {leave['id']}]"
        )
    if answer["allowed"]:
        why = "through the exception above" if answer.get("freezes") else "no active freeze"
        typer.echo(f"allowed: {why} for {params}")
    return bool(answer["allowed"])


@app.command()
def gate(
    namespace: Annotated[
        str | None,
        typer.Option(help="Namespace the deploy goes to (required: freezes on it are checked)."),
    ] = None,
    service: Annotated[str | None, typer.Option(help="Service being deployed.")] = None,
    api_url: Annotated[
        str | None,
        typer.Option(
            envvar="SLA_API_URL",
            help=f"The SLA API. Default: the dev stack's ({DEV_ENV_FILE} here), else {DEFAULT_API_URL}.",
        ),
    ] = None,
    token: Annotated[
        str | None, typer.Option(envvar="SLA_API_TOKEN", help="Bearer token, if the API needs one.")
    ] = None,
    fail_open: Annotated[
        bool,
        typer.Option(
            help="Allow the deploy when the API cannot be reached or fails (5xx); never when the "
            "question is wrong (no or an invalid namespace) or the token is refused."
        ),
    ] = False,
) -> None:
    """Deploy gate for pipelines: exit 0 when allowed; 1 when frozen or when the gate cannot
    decide from what it was given; 2 when the API gives no answer."""
    if not namespace:
        _stop(
            GateExit.NOT_ALLOWED,
            "cannot decide without --namespace: a deploy always goes to a namespace, and a freeze "
            "on it would be missed",
        )
    params = {k: v for k, v in {"namespace": namespace, "service": service}.items() if v}
    answer = _ask_gate(*_gate_target(api_url, token), params, fail_open=fail_open)
    if not _report(answer, params):
        raise typer.Exit(GateExit.NOT_ALLOWED)


if __name__ == "__main__":
    app()
