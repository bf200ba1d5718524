"""Freeze exceptions, notify targets and notices: pure rules, as tables."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from sla_management.domain.budget import BudgetStatus, BurnLevel
from sla_management.domain.channels import NotifyTarget
from sla_management.domain.freeze import ExceptionEnding, FreezeEvent, FreezeException, gate
from sla_management.domain.notices import Links, exception_notice, freeze_opened, slack_payload, webhook_body
from sla_management.domain.policy import Observation, Policy, Scope, status_worsened

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def freeze(
    scope: Scope = Scope.NAMESPACE, target: str = "shop", *, blocks: bool = True, **extra: Any
) -> FreezeEvent:
    return FreezeEvent(
        id="f1",
        policy_id="p1",
        policy_name="shop policy",
        scope=scope,
        target=target,
        namespaces=extra.pop("namespaces", [target] if scope is Scope.NAMESPACE else ["shop"]),
        blocks=blocks,
        triggering=extra.pop("triggering", []),
        reason="checkout: 10% budget left",
        activated_at=NOW - timedelta(hours=1),
        **extra,
    )


def exception(service: str | None = "cart", namespace: str = "shop", **extra: Any) -> FreezeException:
    return FreezeException(
        id="e1",
        namespace=namespace,
        service=service,
        reason="P0",
        granted_by="alice",
        granted_at=NOW - timedelta(minutes=5),
        expires_at=extra.pop("expires_at", NOW + timedelta(minutes=30)),
        policy_id="p1",
        freeze_id="f1",
        **extra,
    )


@pytest.mark.parametrize(
    ("freezes", "exceptions", "namespace", "service", "allowed", "passes"),
    [
        pytest.param([], [], "shop", "cart", True, 0, id="nothing frozen: allowed, no exception used"),
        pytest.param([freeze()], [], "shop", "cart", False, 0, id="namespace frozen: blocked"),
        pytest.param([freeze()], [exception()], "shop", "cart", True, 1, id="the excepted service passes"),
        pytest.param(
            [freeze()], [exception()], "shop", "checkout", False, 0, id="its neighbour stays frozen"
        ),
        pytest.param(
            [freeze()],
            [exception(None)],
            "shop",
            "checkout",
            True,
            1,
            id="a namespace exception lets all through",
        ),
        pytest.param(
            [freeze()],
            [exception(namespace="pay")],
            "shop",
            "cart",
            False,
            0,
            id="another namespace's exception does not count",
        ),
        pytest.param(
            [freeze()],
            [exception(expires_at=NOW)],
            "shop",
            "cart",
            False,
            0,
            id="expired at this instant: blocked",
        ),
        pytest.param(
            [freeze()],
            [exception(ended_at=NOW - timedelta(minutes=1), ending=ExceptionEnding.REVOKED)],
            "shop",
            "cart",
            False,
            0,
            id="revoked: blocked",
        ),
        pytest.param([freeze(blocks=False)], [], "shop", "cart", True, 0, id="ALERT_ONLY never blocks"),
        pytest.param(
            [freeze(), freeze(Scope.SERVICE, "cart")],
            [exception()],
            "shop",
            "cart",
            True,
            1,
            id="one exception covers every freeze that applies",
        ),
    ],
)
def test_gate(
    freezes: list[FreezeEvent],
    exceptions: list[FreezeException],
    namespace: str,
    service: str,
    allowed: bool,
    passes: int,
) -> None:
    verdict = gate(freezes, exceptions, namespace, service, NOW)
    assert verdict.allowed is allowed and len(verdict.exceptions) == passes


def obs(status: BudgetStatus) -> Observation:
    remaining = {"HEALTHY": 80.0, "WARNING": 40.0, "CRITICAL": 10.0, "EXHAUSTED": -5.0}.get(status.value)
    return Observation(
        slo_id="s1",
        slo_name="checkout",
        service_name="checkout",
        namespace="shop",
        status=status,
        remaining_percent=remaining,
        burn_level=BurnLevel.NORMAL,
        calculated_at=NOW,
    )


@pytest.mark.parametrize(
    ("before", "after", "told"),
    [
        pytest.param(None, BudgetStatus.WARNING, True, id="first pass already WARNING"),
        pytest.param(None, BudgetStatus.HEALTHY, False, id="first pass HEALTHY"),
        pytest.param(BudgetStatus.HEALTHY, BudgetStatus.WARNING, True, id="into WARNING"),
        pytest.param(BudgetStatus.WARNING, BudgetStatus.CRITICAL, True, id="into CRITICAL"),
        pytest.param(BudgetStatus.CRITICAL, BudgetStatus.EXHAUSTED, True, id="into EXHAUSTED"),
        pytest.param(BudgetStatus.CRITICAL, BudgetStatus.WARNING, False, id="recovering is not news"),
        pytest.param(BudgetStatus.WARNING, BudgetStatus.WARNING, False, id="staying is not news"),
        pytest.param(
            BudgetStatus.UNKNOWN, BudgetStatus.CRITICAL, False, id="after missing data: no crossing"
        ),
        pytest.param(BudgetStatus.CRITICAL, BudgetStatus.NO_DATA, False, id="losing data is not a crossing"),
    ],
)
def test_status_worsened(before: BudgetStatus | None, after: BudgetStatus, told: bool) -> None:
    assert status_worsened(obs(before) if before else None, obs(after)) is told


@pytest.mark.parametrize(
    ("target", "error"),
    [
        pytest.param({"type": "slack", "urlSecret": {"env": "SLACK_URL"}}, None, id="slack by env reference"),
        pytest.param(
            {
                "type": "webhook",
                "url": "https://hooks.example/sla",
                "secret": {"secretKeyRef": {"name": "hooks", "key": "k"}},
            },
            None,
            id="webhook signed with a Secret's key",
        ),
        pytest.param(
            {"type": "slack", "url": "https://hooks.slack.com/x"}, "urlSecret", id="slack URL in clear"
        ),
        pytest.param({"type": "webhook", "url": "https://x.example"}, "needs secret", id="unsigned webhook"),
        pytest.param(
            {"type": "webhook", "url": "ftp://x.example", "secret": {"env": "S"}}, "pattern", id="not http"
        ),
        pytest.param(
            {
                "type": "webhook",
                "url": "https://x",
                "secret": {"env": "S", "secretKeyRef": {"name": "a", "key": "b"}},
            },
            "exactly one",
            id="two places for one secret",
        ),
        pytest.param(
            {"type": "webhook", "url": "https://x", "secret": {"env": "BAD NAME"}},
            "environment variable",
            id="bad env name",
        ),
    ],
)
def test_notify_targets(target: dict[str, Any], error: str | None) -> None:
    if error is None:
        NotifyTarget.model_validate(target)
        return
    with pytest.raises(ValidationError, match=error):
        NotifyTarget.model_validate(target)


def policy() -> Policy:
    return Policy.model_validate(
        {
            "id": "p1",
            "name": "shop policy",
            "scope": "NAMESPACE",
            "target": "shop",
            "triggerThresholdPercent": 20,
            "unfreezeThresholdPercent": 50,
            "autoUnfreeze": True,
            "minFreezeMinutes": 30,
            "createdAt": NOW,
            "updatedAt": NOW,
        }
    )


def test_a_freeze_notice_says_what_why_what_is_blocked_what_to_do_and_where() -> None:
    links = Links(console_url="https://sla.example", temporal_ui_url="https://temporal.example/")
    notice = freeze_opened(freeze(triggering=[obs(BudgetStatus.CRITICAL)]), policy(), links)
    assert "froze deploys" in notice.summary and "10% budget left" in notice.summary
    assert notice.figures == [
        "checkout (checkout, shop): 10.0 % of the error budget left, status CRITICAL, burn level NORMAL"
    ]
    assert notice.blocked == "Every deploy into namespace shop."
    assert "50 % for 30 minutes" in notice.action and "sla exception grant" in notice.action
    assert notice.links == {
        "console": "https://sla.example/freezes",
        "workflow": "https://temporal.example/namespaces/default/workflows/policy-p1",
    }
    blocks = slack_payload(notice, "ev-1")["blocks"]
    assert [b["type"] for b in blocks] == [
        "header",
        "section",
        "section",
        "section",
        "section",
        "actions",
        "context",
    ]
    assert [e["url"] for e in blocks[5]["elements"]] == list(notice.links.values())


def test_the_webhook_body_is_signed_as_sent_and_carries_its_id_and_time() -> None:
    notice = exception_notice(exception(), policy(), Links())
    raw = webhook_body(notice, "ev-2", 1_700_000_000)
    assert raw.startswith(b"{") and b'"id":"ev-2"' in raw and b'"timestamp":1700000000' in raw
    assert notice.kind.value == "EXCEPTION_GRANTED" and "cart in shop" in notice.summary
    ended = exception_notice(
        exception(ended_at=NOW, ended_by="system", ending=ExceptionEnding.EXPIRED, deploys=2),
        policy(),
        Links(),
    )
    assert ended.kind.value == "EXCEPTION_EXPIRED" and "2 deploys" in ended.summary
