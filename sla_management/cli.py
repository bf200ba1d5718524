"""`sla`: one entry point for every process of the system."""

from __future__ import annotations

import asyncio

import typer

from sla_management.devstack.cli import demo_app, dev

app = typer.Typer(help="SLO control plane: error budgets, burn rates and deploy freezes.", no_args_is_help=True)
app.add_typer(demo_app, name="demo")
app.command(help="Start the whole stack on loopback with a demo workload (what `make run` runs).")(dev)


@app.command()
def api(host: str | None = None, port: int | None = None) -> None:
    """Serve the REST API (FastAPI)."""
    import uvicorn

    from sla_management.config import get_settings
    from sla_management.logging import configure_logging

    settings = get_settings()
    configure_logging(settings.log_level)
    uvicorn.run(
        "sla_management.api.app:create_app",
        factory=True,
        host=host or settings.api.host,
        port=port or settings.api.port,
        log_config=None,
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


@app.command()
def migrate() -> None:
    """Apply PostgreSQL migrations (Alembic) up to the latest revision."""
    from sla_management.adapters.migrations import upgrade
    from sla_management.config import get_settings

    upgrade(get_settings().postgresql)
    typer.echo("database is at the latest revision")


if __name__ == "__main__":
    app()
