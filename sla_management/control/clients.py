"""The clients a process holds: one pool, its repositories, the cache, Prometheus and Temporal.

Built by one factory (`Clients.open`) that the API, the worker and the operator share, so every
process reaches PostgreSQL through the same repositories and Temporal through the same typed
contract (`workflows/client.py`). Temporal is connected lazily: a process starts, and can say
why it is not ready, while a dependency is down.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from temporalio.client import Client

from sla_management.adapters.cache import BudgetCache
from sla_management.adapters.postgres import (
    AuditRepository,
    BreakGlassRepository,
    BudgetRepository,
    Database,
    ExceptionRepository,
    FreezeRepository,
    NotificationRepository,
    OutboxRepository,
    PolicyRepository,
    SLORepository,
    TelemetryRepository,
    ViolationRepository,
)
from sla_management.adapters.postgres.active_freezes import ActiveFreezes
from sla_management.adapters.prometheus import PrometheusClient
from sla_management.config import Settings
from sla_management.errors import TemporalUnavailable
from sla_management.workflows.client import connect


@dataclass
class Clients:
    settings: Settings
    db: Database
    cache: BudgetCache
    prometheus: PrometheusClient
    # Kept current only where something runs `active_freezes.run()` (API, operator).
    active_freezes: ActiveFreezes
    slos: SLORepository = field(init=False)
    budgets: BudgetRepository = field(init=False)
    policies: PolicyRepository = field(init=False)
    freezes: FreezeRepository = field(init=False)
    exceptions: ExceptionRepository = field(init=False)
    notifications: NotificationRepository = field(init=False)
    break_glass: BreakGlassRepository = field(init=False)
    violations: ViolationRepository = field(init=False)
    audit: AuditRepository = field(init=False)
    outbox: OutboxRepository = field(init=False)
    stored_state: TelemetryRepository = field(init=False)
    _temporal: Client | None = None
    _temporal_lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    def __post_init__(self) -> None:
        self.slos = SLORepository(self.db)
        self.budgets = BudgetRepository(self.db)
        self.policies = PolicyRepository(self.db)
        self.freezes = FreezeRepository(self.db)
        self.exceptions = ExceptionRepository(self.db)
        self.notifications = NotificationRepository(self.db)
        self.break_glass = BreakGlassRepository(self.db)
        self.violations = ViolationRepository(self.db)
        self.audit = AuditRepository(self.db)
        self.outbox = OutboxRepository(self.db)
        self.stored_state = TelemetryRepository(self.db)

    @classmethod
    def open(cls, settings: Settings, *, temporal: Client | None = None) -> Clients:
        """Every client of one process; nothing connects yet. A process that already holds a
        Temporal client (the worker) hands it in."""
        db = Database(settings.postgresql)
        clients = cls(
            settings=settings,
            db=db,
            cache=BudgetCache(settings.redis),
            prometheus=PrometheusClient(
                settings.prometheus.url,
                timeout_seconds=settings.prometheus.timeout_seconds,
                max_retries=settings.prometheus.max_retries,
            ),
            active_freezes=ActiveFreezes(db),
        )
        clients._temporal = temporal
        return clients

    @property
    def task_queue(self) -> str:
        return self.settings.temporal.task_queue

    async def temporal(self) -> Client:
        async with self._temporal_lock:
            if self._temporal is None:
                try:
                    self._temporal = await asyncio.wait_for(connect(self.settings), timeout=5)
                except (RuntimeError, OSError, TimeoutError) as exc:
                    raise TemporalUnavailable(
                        f"Temporal at {self.settings.temporal.address} is unreachable: {exc}"
                    ) from exc
            return self._temporal

    async def aclose(self) -> None:
        await self.db.close()
        await self.cache.aclose()
        await self.prometheus.aclose()
