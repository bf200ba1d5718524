"""`sla`: one entry point for every process of the system."""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer

from sla_management.devstack.cli import demo_app, dev
from sla_management.exception_cli import exception_app
from sla_management.interop_cli import export_app, import_app, rules

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


@app.command()
def gate(
    namespace: str | None = typer.Option(None, help="Namespace the deploy goes to."),
    service: str | None = typer.Option(None, help="Service being deployed."),
    api_url: str = typer.Option("http://127.0.0.1:8000", envvar="SLA_API_URL", help="The SLA API."),
    token: str | None = typer.Option(
        None, envvar="SLA_API_TOKEN", help="Bearer token, if the API needs one."
    ),
    fail_open: bool = typer.Option(False, help="Allow the deploy when the API cannot be reached."),
) -> None:
    """Deploy gate for pipelines: exit 0 when allowed, 1 when frozen, 2 when unknown."""
    import httpx

    if not namespace and not service:
        raise typer.BadParameter("give --namespace, --service or both")
    params = {k: v for k, v in {"namespace": namespace, "service": service}.items() if v}
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        response = httpx.get(f"{api_url.rstrip('/')}/api/v1/gate", params=params, headers=headers, timeout=10)
        response.raise_for_status()
    except httpx.HTTPError as exc:
        typer.echo(f"gate: cannot ask {api_url}: {exc}", err=True)
        raise typer.Exit(0 if fail_open else 2) from exc
    answer = response.json()
    if answer["allowed"]:
        typer.echo(f"allowed: no active freeze for {params}")
        return
    for freeze in answer["freezes"]:
        typer.echo(
            f"FROZEN by policy {freeze['policyName']} ({freeze['scope']} {freeze['target'] or '*'}) "
            f"since {freeze['activatedAt']}: {freeze['reason']} [freeze {freeze['id']}]"
        )
    raise typer.Exit(1)


if __name__ == "__main__":
    app()
