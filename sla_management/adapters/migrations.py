"""Run the Alembic migrations shipped inside the package."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

from sla_management.config import PostgreSQLSettings

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"


def alembic_config(settings: PostgreSQLSettings) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    # Alembic runs synchronously over psycopg; the services use asyncpg.
    config.set_main_option("sqlalchemy.url", settings.dsn("postgresql+psycopg").replace("%", "%%"))
    return config


def upgrade(settings: PostgreSQLSettings, revision: str = "head") -> None:
    command.upgrade(alembic_config(settings), revision)
