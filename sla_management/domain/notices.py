"""What a notification says, and how each channel carries it. Pure: rendering only.

Every message answers the questions of whoever reads it in a channel at 3 a.m.: what happened,
which SLO and budget figures caused it, what is blocked now, what to do, and where to look
(the console, the policy's workflow in the Temporal Web UI).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any
from urllib.parse import quote

from pydantic import Field

from sla_management.domain.freeze import ExceptionEnding, FreezeEvent, FreezeException
from sla_management.domain.policy import Observation, Policy, Scope, policy_workflow_id
from sla_management.domain.slo import CamelModel


class NoticeKind(StrEnum):
    FREEZE_OPENED = "FREEZE_OPENED"
    FREEZE_RESOLVED = "FREEZE_RESOLVED"
    EXCEPTION_GRANTED = "EXCEPTION_GRANTED"
    EXCEPTION_REVOKED = "EXCEPTION_REVOKED"
    EXCEPTION_EXPIRED = "EXCEPTION_EXPIRED"
    SLO_STATUS = "SLO_STATUS"
    BREAK_GLASS = "BREAK_GLASS"


class Links(CamelModel):
    """Where the system's own pages are; empty: no link."""

    console_url: str = ""
    temporal_ui_url: str = ""
    temporal_namespace: str = "default"


class Notice(CamelModel):
    kind: NoticeKind
    title: str
    summary: str
    figures: list[str] = Field(default_factory=list)
    blocked: str = ""
    action: str = ""
    links: dict[str, str] = Field(default_factory=dict)
    policy_id: str
    policy_name: str
    occurred_at: datetime


def _pct(value: float | None) -> str:
    return "no data" if value is None else f"{value:.1f} %"


def _figure(obs: Observation) -> str:
    return (
        f"{obs.slo_name or obs.slo_id} ({obs.service_name}, {obs.namespace}): {_pct(obs.remaining_percent)} "
        f"of the error budget left, status {obs.status.value}, burn level {obs.burn_level.value}"
    )


def _blocked(freeze: FreezeEvent) -> str:
    if not freeze.blocks:
        return "Nothing: the policy only alerts (ALERT_ONLY)."
    if freeze.scope is Scope.NAMESPACE:
        return f"Every deploy into namespace {freeze.target}."
    if freeze.scope is Scope.SERVICE:
        return f"Deploys of service {freeze.target} (namespaces: {', '.join(freeze.namespaces) or 'any'})."
    return f"Every deploy into {', '.join(freeze.namespaces) or 'every watched namespace'}."


def _links(links: Links, policy_id: str, console_path: str) -> dict[str, str]:
    found: dict[str, str] = {}
    if links.console_url:
        found["console"] = links.console_url.rstrip("/") + console_path
    if links.temporal_ui_url:
        workflow = quote(policy_workflow_id(policy_id), safe="")
        found["workflow"] = (
            f"{links.temporal_ui_url.rstrip('/')}/namespaces/{quote(links.temporal_namespace, safe='')}"
            f"/workflows/{workflow}"
        )
    return found


def freeze_opened(freeze: FreezeEvent, policy: Policy, links: Links) -> Notice:
    return Notice(
        kind=NoticeKind.FREEZE_OPENED,
        title=f"Deploy freeze: {freeze.scope.value.lower()} {freeze.target or 'all'} (policy {policy.name})",
        summary=f"Policy {policy.name} froze deploys: {freeze.reason}.",
        figures=[_figure(o) for o in freeze.triggering],
        blocked=_blocked(freeze),
        action=(
            f"Bring the budget back: the freeze lifts by itself when every watched SLO is at or above "
            f"{policy.unfreeze_threshold_percent:g} % for {policy.min_freeze_minutes} minutes"
            + ("" if policy.auto_unfreeze else " (autoUnfreeze is off: an admin resolves it)")
            + ". A P0 or security fix can go out under an exception: a responder runs "
            f"`sla exception grant --namespace <ns> --reason <why> --minutes <= {policy.max_exception_minutes}`."
        ),
        links=_links(links, policy.id, "/freezes"),
        policy_id=policy.id,
        policy_name=policy.name,
        occurred_at=freeze.activated_at,
    )


def freeze_resolved(freeze: FreezeEvent, policy: Policy, links: Links) -> Notice:
    by = "automatically" if freeze.resolved_by == "auto-unfreeze" else f"by {freeze.resolved_by}"
    return Notice(
        kind=NoticeKind.FREEZE_RESOLVED,
        title=f"Deploy freeze lifted: {freeze.scope.value.lower()} {freeze.target or 'all'} (policy {policy.name})",
        summary=f"The freeze was lifted {by}: {freeze.resolution or 'no reason given'}.",
        figures=[_figure(o) for o in freeze.triggering],
        blocked="Nothing any more (other policies' freezes, if any, still apply).",
        action="Deploys may go out again.",
        links=_links(links, policy.id, "/freezes"),
        policy_id=policy.id,
        policy_name=policy.name,
        occurred_at=freeze.resolved_at or freeze.activated_at,
    )


def _subject(exception: FreezeException) -> str:
    if exception.service is None:
        return f"namespace {exception.namespace}"
    return f"service {exception.service} in {exception.namespace}"


def exception_notice(exception: FreezeException, policy: Policy, links: Links) -> Notice:
    until = exception.expires_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
    ticket = f" (ticket {exception.ticket})" if exception.ticket else ""
    if exception.ending is None:
        kind = NoticeKind.EXCEPTION_GRANTED
        title = f"Freeze exception granted: {_subject(exception)}"
        summary = f"{exception.granted_by} let {_subject(exception)} deploy through the freeze until {until}: {exception.reason}{ticket}."
        blocked = f"The freeze stays in force; only {_subject(exception)} may deploy, until {until}."
        action = "Deploy the fix now; the exception ends by itself, or revoke it with `sla exception revoke`."
        when = exception.granted_at
    else:
        kind = (
            NoticeKind.EXCEPTION_EXPIRED
            if exception.ending is ExceptionEnding.EXPIRED
            else NoticeKind.EXCEPTION_REVOKED
        )
        ended = (
            "expired"
            if exception.ending is ExceptionEnding.EXPIRED
            else f"was revoked by {exception.ended_by}"
        )
        title = f"Freeze exception ended: {_subject(exception)}"
        summary = f"The exception for {_subject(exception)} {ended} ({exception.deploys} deploys went out under it)."
        blocked = f"{_subject(exception).capitalize()} is frozen again with the rest, while the freeze lasts."
        action = "Nothing, unless another fix must go out: ask a responder for a new exception."
        when = exception.ended_at or exception.expires_at
    return Notice(
        kind=kind,
        title=title,
        summary=summary,
        figures=[f"granted by {exception.granted_by}, reason: {exception.reason}{ticket}", f"until {until}"],
        blocked=blocked,
        action=action,
        links=_links(links, policy.id, "/freezes"),
        policy_id=policy.id,
        policy_name=policy.name,
        occurred_at=when,
    )


def slo_status(obs: Observation, policy: Policy, links: Links) -> Notice:
    return Notice(
        kind=NoticeKind.SLO_STATUS,
        title=f"SLO {obs.slo_name or obs.slo_id} is {obs.status.value}",
        summary=f"A budget watched by policy {policy.name} entered {obs.status.value}.",
        figures=[_figure(obs)],
        blocked=(
            "Nothing yet: the policy freezes below "
            f"{policy.trigger_threshold_percent:g} % left"
            + (
                f" or at burn level {policy.trigger_on_burn_level.value}"
                if policy.trigger_on_burn_level
                else ""
            )
            + "."
        ),
        action="Look at what burns the budget before the policy freezes deploys.",
        links=_links(links, policy.id, f"/slos/{quote(obs.slo_id, safe='')}"),
        policy_id=policy.id,
        policy_name=policy.name,
        occurred_at=obs.calculated_at,
    )


def break_glass(
    freeze: FreezeEvent, policy: Policy, workload: str, override: str, links: Links, at: datetime
) -> Notice:
    return Notice(
        kind=NoticeKind.BREAK_GLASS,
        title=f"Break glass: {workload} deployed through a freeze",
        summary=f"{workload} carries neural-hive.io/freeze-override while policy {policy.name} freezes it: {override}.",
        figures=[f"freeze {freeze.id}: {freeze.reason}"],
        blocked=_blocked(freeze),
        action="Check that the override was approved; remove the annotation once the fix is out.",
        links=_links(links, policy.id, "/freezes"),
        policy_id=policy.id,
        policy_name=policy.name,
        occurred_at=at,
    )


# Channels ------------------------------------------------------------------------------------


def slack_payload(notice: Notice, event_id: str) -> dict[str, Any]:
    """An incoming-webhook message with Block Kit blocks (and `text` for notifications)."""
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": notice.title[:150], "emoji": False}},
        {"type": "section", "text": {"type": "mrkdwn", "text": notice.summary[:3000]}},
    ]
    if notice.figures:
        blocks.append(
            {"type": "section", "fields": [{"type": "mrkdwn", "text": f[:2000]} for f in notice.figures[:10]]}
        )
    for label, text in (("Blocked", notice.blocked), ("What to do", notice.action)):
        if text:
            blocks.append(
                {"type": "section", "text": {"type": "mrkdwn", "text": f"*{label}:* {text}"[:3000]}}
            )
    if notice.links:
        blocks.append(
            {
                "type": "actions",
                "elements": [
                    {"type": "button", "text": {"type": "plain_text", "text": name.capitalize()}, "url": url}
                    for name, url in notice.links.items()
                ],
            }
        )
    blocks.append(
        {
            "type": "context",
            "elements": [{"type": "mrkdwn", "text": f"policy {notice.policy_name} · event {event_id}"}],
        }
    )
    return {"text": f"{notice.title}: {notice.summary}"[:3000], "blocks": blocks}


def webhook_body(notice: Notice, event_id: str, timestamp: int) -> bytes:
    """The generic webhook's JSON body, exactly as signed: receivers deduplicate on `id` and
    reject a `timestamp` (also sent as `X-SLA-Timestamp`) too far from their clock."""
    body = {
        "id": event_id,
        "timestamp": timestamp,
        **notice.model_dump(mode="json", by_alias=True),
    }
    return json.dumps(body, separators=(",", ":"), sort_keys=True).encode()
