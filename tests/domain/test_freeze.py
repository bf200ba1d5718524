from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from sla_management.domain.budget import BudgetStatus, BurnLevel
from sla_management.domain.freeze import FreezeEvent, freeze_namespaces
from sla_management.domain.policy import Observation, Policy, Scope

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


def event(scope: Scope, target: str = "", namespaces: list[str] | None = None, **changes: Any) -> FreezeEvent:
    return FreezeEvent(
        id="f1",
        policy_id="p1",
        policy_name="p",
        scope=scope,
        target=target,
        namespaces=namespaces or [],
        blocks=True,
        triggering=[],
        reason="checkout: 5.0% budget left (< 20%)",
        activated_at=NOW,
        **changes,
    )


GLOBAL_ANYWHERE = event(Scope.GLOBAL)
GLOBAL_SHOP = event(Scope.GLOBAL, namespaces=["shop", "billing"])
SHOP = event(Scope.NAMESPACE, "shop", ["shop"])
CHECKOUT_ANYWHERE = event(Scope.SERVICE, "checkout")
CHECKOUT_IN_SHOP = event(Scope.SERVICE, "checkout", ["shop"])


@pytest.mark.parametrize(
    ("freeze", "namespace", "service", "expected"),
    [
        pytest.param(
            GLOBAL_ANYWHERE, "anything", "svc", True, id="GLOBAL without namespaces blocks everywhere"
        ),
        pytest.param(
            GLOBAL_ANYWHERE, None, "svc", True, id="GLOBAL without namespaces blocks a bare service"
        ),
        pytest.param(GLOBAL_SHOP, "billing", None, True, id="GLOBAL with namespaces blocks a listed one"),
        pytest.param(GLOBAL_SHOP, "search", "svc", False, id="GLOBAL with namespaces spares an unlisted one"),
        pytest.param(
            GLOBAL_SHOP, None, "svc", True, id="GLOBAL with namespaces blocks when the namespace is unknown"
        ),
        pytest.param(SHOP, "shop", None, True, id="NAMESPACE blocks its namespace"),
        pytest.param(SHOP, "shop", "anything", True, id="NAMESPACE blocks every service in its namespace"),
        pytest.param(SHOP, "billing", None, False, id="NAMESPACE spares another namespace"),
        pytest.param(SHOP, None, "checkout", False, id="NAMESPACE cannot match a deploy without a namespace"),
        pytest.param(CHECKOUT_ANYWHERE, "shop", "checkout", True, id="SERVICE blocks its service"),
        pytest.param(CHECKOUT_ANYWHERE, None, "checkout", True, id="SERVICE blocks its bare service"),
        pytest.param(CHECKOUT_ANYWHERE, "shop", "cart", False, id="SERVICE spares another service"),
        pytest.param(CHECKOUT_ANYWHERE, "shop", None, False, id="SERVICE spares a namespace-only deploy"),
        pytest.param(
            CHECKOUT_IN_SHOP, "shop", "checkout", True, id="SERVICE with namespaces blocks it in a listed one"
        ),
        pytest.param(
            CHECKOUT_IN_SHOP,
            "billing",
            "checkout",
            False,
            id="SERVICE with namespaces spares it in an unlisted one",
        ),
        pytest.param(
            CHECKOUT_IN_SHOP,
            None,
            "checkout",
            True,
            id="SERVICE with namespaces blocks it when the namespace is unknown",
        ),
        pytest.param(
            CHECKOUT_IN_SHOP, "shop", "cart", False, id="SERVICE with namespaces spares another service there"
        ),
    ],
)
def test_applies_to(freeze: FreezeEvent, namespace: str | None, service: str | None, expected: bool) -> None:
    assert freeze.applies_to(namespace, service) is expected


@pytest.mark.parametrize(
    ("changes", "active"),
    [
        pytest.param({}, True, id="an unresolved freeze is active"),
        pytest.param(
            {"resolved_at": NOW, "resolved_by": "auto-unfreeze", "resolution": "recovered"},
            False,
            id="a resolved freeze is not",
        ),
    ],
)
def test_active(changes: dict[str, Any], active: bool) -> None:
    assert event(Scope.GLOBAL, **changes).active is active


def test_freeze_event_writes_camel_case() -> None:
    out = event(Scope.NAMESPACE, "shop", ["shop"]).model_dump(by_alias=True, mode="json")
    assert {"policyId", "policyName", "activatedAt", "resolvedAt", "resolvedBy"} <= out.keys()
    assert out["scope"] == "NAMESPACE"
    assert out["namespaces"] == ["shop"]
    assert not any("_" in key for key in out)


def policy(scope: str, target: str = "") -> Policy:
    return Policy.model_validate(
        {"id": "p1", "name": "p", "scope": scope, "target": target, "createdAt": NOW, "updatedAt": NOW}
    )


def obs(namespace: str, name: str = "checkout") -> Observation:
    return Observation(
        slo_id=f"{namespace}-{name}",
        slo_name=name,
        service_name=name,
        namespace=namespace,
        status=BudgetStatus.CRITICAL,
        remaining_percent=5.0,
        burn_level=BurnLevel.NORMAL,
        calculated_at=NOW,
    )


@pytest.mark.parametrize(
    ("pol", "observations", "expected"),
    [
        pytest.param(policy("NAMESPACE", "shop"), [obs("shop")], ["shop"], id="NAMESPACE is its target"),
        pytest.param(
            policy("NAMESPACE", "shop"),
            [obs("billing")],
            ["shop"],
            id="NAMESPACE is its target whatever the observations say",
        ),
        pytest.param(policy("NAMESPACE", "shop"), [], ["shop"], id="NAMESPACE without observations"),
        pytest.param(
            policy("SERVICE", "checkout"),
            [obs("shop"), obs("billing"), obs("shop")],
            ["billing", "shop"],
            id="SERVICE is the sorted, distinct namespaces of its SLOs",
        ),
        pytest.param(
            policy("GLOBAL"),
            [obs("shop", "cart"), obs("search", "query"), obs("billing", "invoice")],
            ["billing", "search", "shop"],
            id="GLOBAL is the sorted namespaces of the watched SLOs",
        ),
        pytest.param(policy("GLOBAL"), [], [], id="GLOBAL without observations lists none (so: everywhere)"),
    ],
)
def test_freeze_namespaces(pol: Policy, observations: list[Observation], expected: list[str]) -> None:
    assert freeze_namespaces(pol, observations) == expected
