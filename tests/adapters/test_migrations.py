"""Migration 0005 (names unique ignoring case) on a real PostgreSQL, from data stored by 0004."""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator

import psycopg
import pytest

from sla_management.adapters.migrations import upgrade
from sla_management.config import PostgreSQLSettings
from sla_management.devstack import databases

HOST, PORT = "127.0.0.1", int(os.environ.get("TEST_PG_PORT", "5432"))


@pytest.fixture
def database(tmp_path: object) -> Iterator[PostgreSQLSettings]:
    name = f"sla_migrate_{uuid.uuid4().hex[:10]}"
    databases.create_database(HOST, PORT, "postgres", name)
    try:
        yield PostgreSQLSettings(host=HOST, port=PORT, database=name)
    finally:
        databases.drop_database(HOST, PORT, "postgres", name)


def connect(settings: PostgreSQLSettings) -> psycopg.Connection[tuple[object, ...]]:
    return psycopg.connect(host=HOST, port=PORT, user="postgres", dbname=settings.database, autocommit=True)


def add_slo(conn: psycopg.Connection[tuple[object, ...]], name: str, namespace: str = "shop") -> None:
    spec = {"name": name, "serviceName": " checkout ", "namespace": namespace}
    conn.execute(
        "INSERT INTO slos (id, name, namespace, service_name, slo_type, spec) VALUES (%s,%s,%s,%s,%s,%s)",
        (str(uuid.uuid4()), name, namespace, " checkout ", "AVAILABILITY", json.dumps(spec)),
    )


def add_policy(conn: psycopg.Connection[tuple[object, ...]], name: str) -> None:
    conn.execute(
        "INSERT INTO policies (id, name, scope, spec) VALUES (%s,%s,%s,%s)",
        (str(uuid.uuid4()), name, "GLOBAL", json.dumps({"name": name})),
    )


def test_names_become_unique_ignoring_case_and_are_trimmed(database: PostgreSQLSettings) -> None:
    upgrade(database, "0004")
    with connect(database) as conn:
        add_slo(conn, " Checkout ")
        add_slo(conn, "checkout", namespace="other")
        add_policy(conn, "Freeze ")
    upgrade(database)
    with connect(database) as conn:
        rows = conn.execute(
            "SELECT name, service_name, spec->>'name', spec->>'serviceName' FROM slos"
        ).fetchall()
        assert sorted(rows) == [
            ("Checkout", "checkout", "Checkout", "checkout"),
            ("checkout", "checkout", "checkout", "checkout"),
        ]
        with pytest.raises(psycopg.errors.UniqueViolation):
            add_slo(conn, "CHECKOUT")
        with pytest.raises(psycopg.errors.UniqueViolation):
            add_policy(conn, "freeze")
        add_slo(conn, "CHECKOUT", namespace="third")


def test_names_that_already_clash_stop_the_upgrade_and_are_listed(database: PostgreSQLSettings) -> None:
    upgrade(database, "0004")
    with connect(database) as conn:
        add_slo(conn, "Checkout")
        add_slo(conn, "CHECKOUT ")
        add_policy(conn, "Freeze")
        add_policy(conn, "freeze")
    with pytest.raises(
        Exception, match=r"SLO names that differ only in case: 'CHECKOUT', 'Checkout' in namespace shop"
    ):
        upgrade(database)
    with connect(database) as conn:
        assert conn.execute("SELECT version_num FROM alembic_version").fetchone() == ("0004",)
        conn.execute("DELETE FROM slos WHERE name = 'CHECKOUT '")
    with pytest.raises(Exception, match=r"policy names that differ only in case: 'Freeze', 'freeze'"):
        upgrade(database)
    with connect(database) as conn:
        conn.execute("DELETE FROM policies WHERE name = 'freeze'")
    upgrade(database)
