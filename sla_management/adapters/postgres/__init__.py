"""PostgreSQL (asyncpg): one pool per process and one repository per table family.

All SQL of the system lives in this package; nothing above it writes a query.
"""

from sla_management.adapters.postgres.audit import AuditEntry, AuditRepository
from sla_management.adapters.postgres.break_glass import BreakGlassRepository, BreakGlassUse
from sla_management.adapters.postgres.budgets import BudgetRepository
from sla_management.adapters.postgres.exceptions import ExceptionRepository
from sla_management.adapters.postgres.freezes import FreezeRepository
from sla_management.adapters.postgres.notifications import (
    NotificationRepository,
    NotificationRow,
    PendingNotice,
)
from sla_management.adapters.postgres.outbox import OutboxEvent, OutboxRepository
from sla_management.adapters.postgres.policies import PolicyRepository
from sla_management.adapters.postgres.pool import Database
from sla_management.adapters.postgres.slos import SLORepository
from sla_management.adapters.postgres.telemetry import SLORow, StoredState, TelemetryRepository
from sla_management.adapters.postgres.violations import Violation, ViolationRepository

__all__ = [
    "AuditEntry",
    "AuditRepository",
    "BreakGlassRepository",
    "BreakGlassUse",
    "BudgetRepository",
    "Database",
    "ExceptionRepository",
    "FreezeRepository",
    "NotificationRepository",
    "NotificationRow",
    "OutboxEvent",
    "OutboxRepository",
    "PendingNotice",
    "PolicyRepository",
    "SLORepository",
    "SLORow",
    "StoredState",
    "TelemetryRepository",
    "Violation",
    "ViolationRepository",
]
