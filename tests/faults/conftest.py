"""Fault tests: the session stack, a database of their own, and figures for the README.

Worker processes run `sla worker`, which starts the loop of every SLO and policy stored in its
database; each fault test therefore gets a fresh database, or its workers would take on every
SLO the session's other tests left behind.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Iterator

import pytest

from sla_management.adapters.migrations import upgrade
from sla_management.config import Settings
from sla_management.devstack import databases
from tests.conftest import Stack

# What the fault tests measured in this run, printed at the end (see FIGURES.md).
FIGURES: Counter[str] = Counter()


@pytest.fixture
def figures() -> Counter[str]:
    return FIGURES


@pytest.fixture
def settings(stack: Stack) -> Iterator[Settings]:
    """Own task queue and own database; passes every second; queries cut off by a kill are
    retried after 10 s (timeout x attempts) rather than the default 20 s."""
    database = f"sla_fault_{uuid.uuid4().hex[:10]}"
    databases.create_database(stack.pg_host, stack.pg_port, "postgres", database)
    settings = stack.settings(calculation_interval_seconds=1)
    settings.postgresql.database = database
    settings.redis.key_prefix = f"sla-test-{database}:"
    settings.prometheus.timeout_seconds = 5
    upgrade(settings.postgresql)
    yield settings
    databases.drop_database(stack.pg_host, stack.pg_port, "postgres", database)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if FIGURES:
        terminalreporter.section("fault figures")
        for name, value in sorted(FIGURES.items()):
            terminalreporter.write_line(f"{name}: {value}")
