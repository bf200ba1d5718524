"""kopf handlers for SLODefinition and SLAPolicy resources.

Every change handler is one reconcile, run on create, on resume (operator start) and on spec
updates alike, so replays and restarts are harmless. What happened is written where people
look: `status.conditions` (Ready, Degraded), `status.error`, and one Kubernetes event per
transition (kopf's own log-to-event posting is off, so retries do not flood `kubectl describe`).

kopf hands kwargs over loosely typed; they are read here and turned into domain models at once.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast

import kopf

from sla_management.config import OperatorSettings, Settings
from sla_management.control import freezes, policies, slos
from sla_management.control.audit import OPERATOR
from sla_management.control.clients import Clients
from sla_management.control.slos import Applied
from sla_management.domain.notices import Links
from sla_management.domain.policy import policy_workflow_id
from sla_management.domain.slo import ManagedBy, workflow_id_for
from sla_management.errors import Conflict, DatabaseUnavailable, Invalid
from sla_management.operator.reconcile import UNAVAILABLE, observe_policy, observe_slo
from sla_management.operator.resources import (
    GROUP,
    NOT_MEASURED,
    POLICY_PLURAL,
    SLO_PLURAL,
    VERSION,
    Condition,
    Rejected,
    Status,
    budget_status,
    condition_of,
    conditions,
    freeze_status,
    policy_degraded,
    policy_spec_of,
    policy_state_status,
    ready_condition,
    slo_degraded,
    slo_spec_of,
    status_changes,
    timestamp,
)

# A name clash is fixed by a person (renaming, or deleting the REST-created twin): look again
# now and then (5 minutes by default) rather than at the dependency-retry pace.
NAME_TAKEN_SLOWDOWN = 20


@dataclass(frozen=True)
class Kind:
    noun: str
    id_key: str
    workflow_id: Callable[[str], str]
    workflow_role: str
    initial: Mapping[str, Any]  # status shown from the first reconcile, before any pass


SLO_KIND = Kind(
    "SLO", "sloId", workflow_id_for, "computes its budget", {"status": "PENDING", "frozen": False}
)
POLICY_KIND = Kind("policy", "policyId", policy_workflow_id, "decides its freezes", {"frozen": False})


def _clients(memo: kopf.Memo) -> Clients:
    return cast(Clients, memo["clients"])


def _settings(memo: kopf.Memo) -> Settings:
    return cast(Settings, memo["settings"])


def _now() -> datetime:
    return datetime.now(UTC)


# Recording outcomes ------------------------------------------------------------------------


def _applied(
    body: kopf.Body, status: kopf.Status, patch: kopf.Patch, kind: Kind, stored_id: str, applied: Applied
) -> None:
    previous_error = status.get("error")
    new: Status = {k: v for k, v in kind.initial.items() if k not in status}
    new |= {
        kind.id_key: stored_id,
        "workflowId": kind.workflow_id(stored_id),
        "observedGeneration": body.get("metadata", {}).get("generation"),
        "error": None,
    }
    merged = {**status, **new}
    degraded = condition_of(status, "Degraded")
    if degraded is None or degraded == NOT_MEASURED:
        degraded = Condition("Degraded", "Unknown", "Pending", "the workflow has not reported yet")
    ready = ready_condition(merged, kind.noun, kind.workflow_role)
    new["conditions"] = conditions(status.get("conditions"), [ready, degraded], _now())
    # After a restart every resource is resumed: an unchanged one costs no PATCH.
    for key, value in status_changes(status, new, max_age_seconds=math.inf, now=_now()).items():
        patch.status[key] = value
    # A resume that changed nothing stays quiet; a recovery from a refusal is worth a line.
    if applied is not Applied.UNCHANGED or previous_error:
        reason = applied.value if applied is not Applied.UNCHANGED else "Applied"
        kopf.event(body, type="Normal", reason=reason, message=ready.message)


def _refused(
    body: kopf.Body, status: kopf.Status, patch: kopf.Patch, kind: Kind, reason: str, message: str
) -> None:
    error = {"reason": reason, "message": message}
    merged = {**status, "error": error}
    degraded = condition_of(status, "Degraded") if status.get(kind.id_key) else None
    patch.status["error"] = error
    patch.status["conditions"] = conditions(
        status.get("conditions"),
        [ready_condition(merged, kind.noun, kind.workflow_role), degraded or NOT_MEASURED],
        _now(),
    )
    # Once per distinct problem: retries and resumes of the same failure stay quiet.
    if status.get("error") != error:
        kopf.event(body, type="Warning", reason=reason, message=message)


def _name_taken(memo: kopf.Memo, exc: Conflict) -> kopf.TemporaryError:
    delay = _settings(memo).operator.retry_delay_seconds * NAME_TAKEN_SLOWDOWN
    return kopf.TemporaryError(str(exc), delay=delay)


def _retry_later(
    body: kopf.Body,
    status: kopf.Status,
    patch: kopf.Patch,
    memo: kopf.Memo,
    kind: Kind,
    what: str,
    exc: Exception,
) -> kopf.TemporaryError:
    """Show on the resource that a dependency is down; the caller raises what this returns."""
    delay = _settings(memo).operator.retry_delay_seconds
    message = f"the {kind.noun} cannot be {what} yet: {exc}; retrying every {delay:g}s"
    _refused(body, status, patch, kind, "DependencyUnavailable", message)
    return kopf.TemporaryError(message, delay=delay)


async def _reconcile(
    kind: Kind,
    body: kopf.Body,
    status: kopf.Status,
    patch: kopf.Patch,
    memo: kopf.Memo,
    apply: Callable[[], Awaitable[tuple[Applied, str]]],
) -> None:
    """Apply a resource's spec and show the outcome on it: the same for SLOs and policies."""
    try:
        applied, stored_id = await apply()
    except Rejected as exc:
        _refused(body, status, patch, kind, exc.reason, exc.message)
    except Conflict as exc:
        message = f"{exc}; rename spec.name or remove the other {kind.noun}"
        _refused(body, status, patch, kind, "NameTaken", message)
        raise _name_taken(memo, exc) from exc
    except UNAVAILABLE as exc:
        raise _retry_later(body, status, patch, memo, kind, "applied", exc) from exc
    else:
        _applied(body, status, patch, kind, stored_id, applied)


# SLODefinition -----------------------------------------------------------------------------


async def reconcile_slo(
    body: kopf.Body, meta: kopf.Meta, status: kopf.Status, patch: kopf.Patch, memo: kopf.Memo, **_: Any
) -> None:
    clients = _clients(memo)

    async def apply() -> tuple[Applied, str]:
        spec = slos.with_defaults(clients, slo_spec_of(meta["namespace"], body.get("spec") or {}))
        try:
            applied, slo = await slos.apply_slo(clients, meta["uid"], spec, OPERATOR)
        except Invalid as exc:
            raise Rejected(
                "InvalidQuery" if exc.field.startswith("sliQuery") else "InvalidSpec", str(exc)
            ) from exc
        return applied, slo.id

    await _reconcile(SLO_KIND, body, status, patch, memo, apply)


async def delete_slo(
    body: kopf.Body, meta: kopf.Meta, status: kopf.Status, patch: kopf.Patch, memo: kopf.Memo, **_: Any
) -> None:
    # The id is the uid, so even a resource whose status was never written is cleaned up.
    try:
        await slos.retire_slo(_clients(memo), meta["uid"], OPERATOR, via=ManagedBy.KUBERNETES)
    except UNAVAILABLE as exc:
        raise _retry_later(body, status, patch, memo, SLO_KIND, "removed", exc) from exc
    removed = f"workflow {workflow_id_for(meta['uid'])} cancelled, SLO removed"
    kopf.event(body, type="Normal", reason="Removed", message=removed)


async def refresh_slo_status(
    meta: kopf.Meta, spec: kopf.Spec, status: kopf.Status, patch: kopf.Patch, memo: kopf.Memo, **_: Any
) -> None:
    slo_id = status.get("sloId")
    if not slo_id or meta.get("deletionTimestamp"):
        return  # nothing runs yet, or the delete handler is taking it down
    view = await observe_slo(_clients(memo), slo_id)
    desired: Status = {}
    volatile: dict[str, str | None] = {}
    if view.problem is None:
        desired |= budget_status(view.budget)
        volatile["lastCalculation"] = timestamp(view.budget.calculated_at) if view.budget else None
    budget = view.budget
    try:
        freeze = await freezes.covering(
            _clients(memo),
            budget.namespace if budget else meta["namespace"],
            budget.service_name if budget else str(spec.get("serviceName", "")),
        )
        desired |= freeze_status(freeze)
    except DatabaseUnavailable:
        pass  # the freeze stays shown as it was until PostgreSQL answers again
    merged = {**status, **desired}
    wanted = [
        ready_condition(merged, SLO_KIND.noun, SLO_KIND.workflow_role),
        slo_degraded(view.problem, budget),
    ]
    desired["conditions"] = conditions(status.get("conditions"), wanted, _now())
    _patch_changes(status, desired, volatile, patch, memo)


def _patch_changes(
    status: kopf.Status, desired: Status, volatile: dict[str, str | None], patch: kopf.Patch, memo: kopf.Memo
) -> None:
    changes = status_changes(
        status,
        desired,
        volatile=volatile,
        max_age_seconds=_settings(memo).operator.status_max_age_seconds,
        now=_now(),
    )
    for key, value in changes.items():
        patch.status[key] = value


# SLAPolicy ---------------------------------------------------------------------------------


async def reconcile_policy(
    body: kopf.Body, meta: kopf.Meta, status: kopf.Status, patch: kopf.Patch, memo: kopf.Memo, **_: Any
) -> None:
    clients = _clients(memo)

    async def apply() -> tuple[Applied, str]:
        try:
            spec = policies.with_defaults(clients, policy_spec_of(body.get("spec") or {}))
        except Invalid as exc:  # thresholds inconsistent once the POLICY__ defaults are in
            raise Rejected("InvalidSpec", exc.message) from exc
        applied, policy = await policies.apply_policy(clients, meta["uid"], spec, OPERATOR)
        return applied, policy.id

    await _reconcile(POLICY_KIND, body, status, patch, memo, apply)


async def delete_policy(
    body: kopf.Body, meta: kopf.Meta, status: kopf.Status, patch: kopf.Patch, memo: kopf.Memo, **_: Any
) -> None:
    try:
        await policies.retire_policy(_clients(memo), meta["uid"], OPERATOR, via=ManagedBy.KUBERNETES)
    except UNAVAILABLE as exc:
        raise _retry_later(body, status, patch, memo, POLICY_KIND, "removed", exc) from exc
    removed = f"freeze lifted, workflow {policy_workflow_id(meta['uid'])} cancelled, policy removed"
    kopf.event(body, type="Normal", reason="Removed", message=removed)


async def refresh_policy_status(
    meta: kopf.Meta, status: kopf.Status, patch: kopf.Patch, memo: kopf.Memo, **_: Any
) -> None:
    policy_id = status.get("policyId")
    if not policy_id or meta.get("deletionTimestamp"):
        return
    view = await observe_policy(_clients(memo), policy_id)
    desired: Status = policy_state_status(view.state) if view.state is not None else {}
    merged = {**status, **desired}
    wanted = [
        ready_condition(merged, POLICY_KIND.noun, POLICY_KIND.workflow_role),
        policy_degraded(view.problem),
    ]
    desired["conditions"] = conditions(status.get("conditions"), wanted, _now())
    _patch_changes(status, desired, {}, patch, memo)


# Break glass -------------------------------------------------------------------------------

OVERRIDE = "neural-hive.io/freeze-override"


async def notice_break_glass(
    body: kopf.Body, meta: kopf.Meta, type: str | None, memo: kopf.Memo, **_: Any
) -> None:
    """A Deployment or StatefulSet carrying the break-glass annotation during a freeze is
    recorded (audit entry, event, notification), once per object, override text and freeze.
    An event handler, not a change handler: kopf writes nothing onto workloads (the freeze's
    admission policy would refuse it anyway)."""
    if type == "DELETED":
        return
    override = str((meta.get("annotations") or {}).get(OVERRIDE, "")).strip()
    if not override:
        return
    workload = freezes.Workload(
        kind=str(body.get("kind", "Deployment")),
        namespace=str(meta.get("namespace", "")),
        name=str(meta.get("name", "")),
        uid=str(meta.get("uid", "")),
        labels=dict(meta.get("labels") or {}),
    )
    settings = _settings(memo)
    links = Links(
        console_url=settings.notifications.console_url,
        temporal_ui_url=settings.notifications.temporal_ui_url,
        temporal_namespace=settings.temporal.namespace,
    )
    try:
        await freezes.record_break_glass(_clients(memo), workload, override, links)
    except UNAVAILABLE as exc:
        # Seen again at the next watch event or operator restart; nothing is lost but time.
        raise kopf.TemporaryError(str(exc), delay=settings.operator.retry_delay_seconds) from exc


# Operator lifecycle ------------------------------------------------------------------------


def login(memo: kopf.Memo, **kwargs: Any) -> kopf.ConnectionInfo | None:
    """KUBERNETES__API_URL (tests, `kubectl proxy`) wins; else in-cluster or kubeconfig, as the
    official client finds them (the same order the freeze enforcer uses)."""
    k8s = _settings(memo).kubernetes
    if k8s.api_url:
        return kopf.ConnectionInfo(
            server=k8s.api_url,
            scheme="Bearer" if k8s.token else None,
            token=k8s.token,
            insecure=not k8s.verify_ssl,
        )
    return kopf.login_via_client(**kwargs)


async def startup(memo: kopf.Memo, **_: Any) -> None:
    # Runs on the base memo before any resource is seen; each resource's memo is a shallow copy,
    # so every handler shares these clients. The active freezes every status pass asks about
    # are kept in memory and refreshed by PostgreSQL notifications, as in the API.
    clients = Clients.open(_settings(memo))
    memo["clients"] = clients
    memo["freeze_listener"] = asyncio.create_task(clients.active_freezes.run())


async def cleanup(memo: kopf.Memo, **_: Any) -> None:
    listener = memo.get("freeze_listener")
    if isinstance(listener, asyncio.Task):
        listener.cancel()
        await asyncio.gather(listener, return_exceptions=True)
    clients = memo.get("clients")
    if isinstance(clients, Clients):
        await clients.aclose()


def build_registry(config: OperatorSettings) -> kopf.OperatorRegistry:
    """The handlers on a registry of their own (no module-level side effects), with the status
    pace from settings."""
    registry = kopf.OperatorRegistry()
    kopf.on.login(registry=registry)(login)
    kopf.on.startup(registry=registry)(startup)
    kopf.on.cleanup(registry=registry)(cleanup)
    for plural, reconcile, delete, refresh in (
        (SLO_PLURAL, reconcile_slo, delete_slo, refresh_slo_status),
        (POLICY_PLURAL, reconcile_policy, delete_policy, refresh_policy_status),
    ):
        kopf.on.create(GROUP, VERSION, plural, registry=registry)(reconcile)
        kopf.on.resume(GROUP, VERSION, plural, registry=registry)(reconcile)
        kopf.on.update(GROUP, VERSION, plural, field="spec", registry=registry)(reconcile)
        kopf.on.delete(GROUP, VERSION, plural, registry=registry)(delete)
        kopf.timer(GROUP, VERSION, plural, interval=config.status_interval_seconds, registry=registry)(
            refresh
        )
    for workloads in ("deployments", "statefulsets"):
        kopf.on.event("apps", "v1", workloads, annotations={OVERRIDE: kopf.PRESENT}, registry=registry)(
            notice_break_glass
        )
    return registry
