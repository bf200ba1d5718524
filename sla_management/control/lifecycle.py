"""The one ordering rule of every change to an SLO or a policy: store it, then make its loop
hear it.

The row is the source of truth: the worker starts a loop for every stored row at start-up, the
operator re-applies every resource after a restart, and the API answers from it. Telling the
loop is idempotent (a signal-with-start carrying the stored definition; a loop that already runs
it ignores it), so when telling fails after the store, retrying the same change repairs it: a
REST update tells the loop on every call, and a resource the operator finds already stored is
checked against what its loop runs (a query, which adds nothing to the loop's history) and told
again when they differ. Only a brand-new object created over REST is taken back (`undo`) when
its loop cannot be started, because a client that retries a create would otherwise meet its own
half-created twin.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

import structlog

from sla_management.control.clients import Clients
from sla_management.errors import DatabaseUnavailable
from sla_management.workflows import client as loops

log = structlog.get_logger(__name__)
T = TypeVar("T")


async def store_then_announce(
    store: Callable[[], Awaitable[T]],
    announce: Callable[[T], Awaitable[None]],
    *,
    undo: Callable[[T], Awaitable[object]] | None = None,
) -> T:
    saved = await store()
    try:
        await announce(saved)
    except BaseException:
        if undo is not None:
            await undo(saved)
        raise
    return saved


async def ensure_loops(clients: Clients) -> None:
    """Start the workflow of every stored SLO and policy that has none running (a restored
    database, a new Temporal cluster, a loop terminated by hand). Idempotent, and silent for
    loops that run: nothing is added to their histories."""
    while True:
        try:
            slos = await clients.slos.all()
            policies = await clients.policies.all()
            break
        except DatabaseUnavailable as exc:
            log.warning("waiting for PostgreSQL to start missing loops", error=str(exc))
            await asyncio.sleep(5)
    temporal = await clients.temporal()
    for slo in slos:
        await loops.start_slo(temporal, slo, clients.settings)
    for policy in policies:
        await loops.start_policy(temporal, policy, clients.task_queue)
    log.info("loops ensured", slos=len(slos), policies=len(policies))
