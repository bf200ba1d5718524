"""Reading back what runs for a resource: its loop's budget, its policy's state, as conditions.

Applying a resource is the application layer's (`control.slos.apply_slo`,
`control.policies.apply_policy`); this module turns what the workflows say, or why they cannot
say it, into what the handlers show on the resource.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from sla_management.control import policies, slos
from sla_management.control.clients import Clients
from sla_management.domain.budget import ErrorBudget
from sla_management.errors import Conflict, NotFound, Unavailable, WorkflowUnreachable
from sla_management.workflows.models import PolicyState

# What "try again later" looks like: a dependency down, not a resource that is wrong.
UNAVAILABLE: Final[tuple[type[Exception], ...]] = (Unavailable, TimeoutError)

__all__ = ["UNAVAILABLE", "Conflict", "PolicyView", "SLOView", "observe_policy", "observe_slo"]


@dataclass(frozen=True)
class SLOView:
    budget: ErrorBudget | None = None
    # (reason, message) when the loop could not be asked or is not running.
    problem: tuple[str, str] | None = None


@dataclass(frozen=True)
class PolicyView:
    state: PolicyState | None = None
    problem: tuple[str, str] | None = None


def _unreachable(exc: Exception) -> tuple[str, str]:
    if isinstance(exc, NotFound):
        return "LoopNotRunning", str(exc)
    if isinstance(exc, WorkflowUnreachable):
        return "LoopUnreachable", str(exc)
    return "TemporalUnavailable", str(exc)


async def observe_slo(clients: Clients, slo_id: str) -> SLOView:
    """The budget the SLO's loop holds now (its `budget` query)."""
    try:
        return SLOView(budget=await slos.loop_budget(clients, slo_id))
    except (NotFound, Unavailable) as exc:
        return SLOView(problem=_unreachable(exc))


async def observe_policy(clients: Clients, policy_id: str) -> PolicyView:
    """Freeze, last decision and watched SLOs as the policy workflow holds them (`state`)."""
    try:
        return PolicyView(state=await policies.policy_state(clients, policy_id))
    except (NotFound, Unavailable) as exc:
        return PolicyView(problem=_unreachable(exc))
