from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from sla_management.domain.budget import BudgetStatus, BurnLevel, Thresholds, budget_status
from sla_management.domain.policy import (
    Action,
    Observation,
    Policy,
    PolicySpec,
    Scope,
    Verdict,
    band,
    decide,
)
from sla_management.domain.slo import SLO

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)

# The spec's own example body.
ORCHESTRATION = {
    "name": "orchestration-freeze-policy",
    "scope": "NAMESPACE",
    "target": "neural-hive-orchestration",
    "actions": ["BLOCK_DEPLOY", "ALERT_ONLY"],
    "triggerThresholdPercent": 20,
    "autoUnfreeze": True,
    "unfreezeThresholdPercent": 50,
}


def body(**changes: Any) -> dict[str, Any]:
    """A valid camelCase policy body; `changes` overrides top-level keys (None removes one)."""
    spec: dict[str, Any] = {**ORCHESTRATION, **changes}
    return {k: v for k, v in spec.items() if v is not None}


def spec(**changes: Any) -> PolicySpec:
    """A resolved policy: trigger 20 %, unfreeze 50 %, autoUnfreeze on, 30 minutes minimum."""
    return PolicySpec.model_validate(body(**{"minFreezeMinutes": 30, **changes}))


def policy(**changes: Any) -> Policy:
    return Policy.model_validate(
        {"id": "p1", "createdAt": NOW, "updatedAt": NOW, "actions": ["BLOCK_DEPLOY"], **changes}
    )


def obs(
    remaining: float | None,
    name: str = "checkout",
    *,
    status: BudgetStatus | None = None,
    level: BurnLevel = BurnLevel.NORMAL,
    namespace: str = "shop",
) -> Observation:
    """One SLO's budget; the status follows the remaining budget unless given."""
    if status is None:
        status = BudgetStatus.NO_DATA if remaining is None else budget_status(remaining, Thresholds())
    return Observation(
        slo_id=f"id-{name}",
        slo_name=name,
        service_name=name,
        namespace=namespace,
        status=status,
        remaining_percent=remaining,
        burn_level=level,
        calculated_at=NOW,
    )


NO_DATA = BudgetStatus.NO_DATA
UNKNOWN = BudgetStatus.UNKNOWN


# Validation --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param(ORCHESTRATION, id="the spec's orchestration-freeze-policy example validates"),
        pytest.param(body(scope="GLOBAL", target=None), id="GLOBAL without a target"),
        pytest.param(body(scope="GLOBAL", target=""), id="GLOBAL with an empty target"),
        pytest.param(body(scope="SERVICE", target="checkout"), id="SERVICE with a target"),
        pytest.param(body(unfreezeThresholdPercent=20), id="unfreeze equal to trigger is allowed"),
        pytest.param(body(unfreezeThresholdPercent=None), id="trigger alone validates (defaults later)"),
        pytest.param(body(triggerThresholdPercent=None), id="unfreeze alone validates (defaults later)"),
        pytest.param(
            body(triggerThresholdPercent=0, unfreezeThresholdPercent=100), id="0 and 100 are in range"
        ),
        pytest.param(body(triggerOnBurnLevel="ELEVATED"), id="triggerOnBurnLevel ELEVATED"),
        pytest.param(body(triggerOnBurnLevel="FAST"), id="triggerOnBurnLevel FAST"),
        pytest.param(body(triggerOnBurnLevel="CRITICAL"), id="triggerOnBurnLevel CRITICAL"),
        pytest.param(body(actions=["ALERT_ONLY"]), id="ALERT_ONLY alone"),
        pytest.param(body(minFreezeMinutes=0), id="no minimum freeze"),
        pytest.param(body(minFreezeMinutes=10080), id="a week of minimum freeze"),
        pytest.param(
            body(
                sloSelector={
                    "serviceNames": ["a"],
                    "namespaces": ["b"],
                    "layers": ["c"],
                    "labels": {"d": "e"},
                }
            ),
            id="a full selector",
        ),
    ],
)
def test_valid_policy_specs(raw: dict[str, Any]) -> None:
    PolicySpec.model_validate(raw)


DNS = "must be a Kubernetes namespace name (DNS-1123 label)"


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        pytest.param(body(scope="GLOBAL"), "a GLOBAL policy has no target", id="GLOBAL with a target"),
        pytest.param(
            body(target=None),
            "a NAMESPACE policy needs a target (the namespace)",
            id="NAMESPACE without target",
        ),
        pytest.param(
            body(target=""),
            "a NAMESPACE policy needs a target (the namespace)",
            id="NAMESPACE with empty target",
        ),
        pytest.param(
            body(scope="SERVICE", target=None),
            "a SERVICE policy needs a target (the service)",
            id="SERVICE without target",
        ),
        pytest.param(
            body(triggerOnBurnLevel="NORMAL"),
            "triggerOnBurnLevel must be ELEVATED, FAST or CRITICAL",
            id="triggerOnBurnLevel NORMAL would always freeze",
        ),
        pytest.param(
            body(triggerOnBurnLevel="NO_DATA"),
            "triggerOnBurnLevel must be ELEVATED, FAST or CRITICAL",
            id="triggerOnBurnLevel NO_DATA",
        ),
        pytest.param(
            body(triggerOnBurnLevel="UNKNOWN"),
            "triggerOnBurnLevel must be ELEVATED, FAST or CRITICAL",
            id="triggerOnBurnLevel UNKNOWN",
        ),
        pytest.param(
            body(unfreezeThresholdPercent=19.9),
            "unfreezeThresholdPercent must not be below triggerThresholdPercent",
            id="unfreeze below trigger",
        ),
        pytest.param(body(actions=[]), "at least 1 item", id="no actions"),
        pytest.param(body(actions=["PAGE"]), "actions.0", id="an unknown action"),
        pytest.param(body(scope="CLUSTER"), "scope", id="an unknown scope"),
        pytest.param(body(triggerThresholdPercent=100.1), "triggerThresholdPercent", id="trigger above 100"),
        pytest.param(body(unfreezeThresholdPercent=-1), "unfreezeThresholdPercent", id="unfreeze below 0"),
        pytest.param(body(minFreezeMinutes=-1), "minFreezeMinutes", id="negative minimum freeze"),
        pytest.param(body(minFreezeMinutes=10081), "minFreezeMinutes", id="minimum freeze over a week"),
        pytest.param(body(name=""), "name", id="an empty name"),
        pytest.param(body(freezeThreshold=20), "freezeThreshold", id="an unknown field is not ignored"),
        pytest.param(body(sloSelector={"service": "a"}), "sloSelector.service", id="an unknown selector key"),
        pytest.param(
            body(target="Probe NS/../!"), f"target\n  {DNS}", id="a namespace target that is no name"
        ),
        pytest.param(body(target="Shop"), f"target\n  {DNS}", id="a namespace target in upper case"),
        pytest.param(
            body(scope="SERVICE", target="  "), "a SERVICE policy needs a target", id="a blank service target"
        ),
        pytest.param(
            body(scope="SERVICE", target="a\x00"),
            "target\n  must not contain control characters",
            id="NUL in a service target",
        ),
        pytest.param(body(name="  "), "name\n  must not be empty or blank", id="a whitespace-only name"),
        pytest.param(body(name="p\x00"), "name\n  must not contain control characters", id="NUL in the name"),
        pytest.param(
            body(actions=["BLOCK_DEPLOY", "ALERT_ONLY", "BLOCK_DEPLOY"]),
            "each action at most once (BLOCK_DEPLOY is repeated)",
            id="an action listed twice",
        ),
        pytest.param(
            body(autoUnfreeze="true"),
            "autoUnfreeze\n  Input should be a valid boolean",
            id="a boolean as a string",
        ),
        pytest.param(
            body(autoUnfreeze=1), "autoUnfreeze\n  Input should be a valid boolean", id="a boolean as 1"
        ),
        pytest.param(
            body(minFreezeMinutes="30"),
            "minFreezeMinutes\n  Input should be a valid integer",
            id="minutes as a string",
        ),
        pytest.param(
            body(minFreezeMinutes=True),
            "minFreezeMinutes\n  Input should be a valid integer",
            id="minutes true",
        ),
        pytest.param(
            body(triggerThresholdPercent="20"),
            "triggerThresholdPercent\n  Input should be a valid number",
            id="a percentage as a string",
        ),
        pytest.param(
            body(triggerThresholdPercent=float("nan")),
            "triggerThresholdPercent\n  Input should be a finite number",
            id="a NaN percentage",
        ),
        pytest.param(
            body(description="d" * 4097),
            "description\n  String should have at most 4096",
            id="a 4 KB description",
        ),
        pytest.param(
            body(sloSelector={"namespaces": ["SHOP"]}),
            f"sloSelector.namespaces.0\n  {DNS}",
            id="a selector namespace in upper case",
        ),
        pytest.param(
            body(sloSelector={"serviceNames": ["a"] * 65}),
            "sloSelector.serviceNames\n  List should have at most 64 items",
            id="a selector of 65 services",
        ),
        pytest.param(
            body(sloSelector={"labels": {"k": "v" * 257}}),
            "at most 256 characters",
            id="a long selector label",
        ),
    ],
)
def test_invalid_policy_specs(raw: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=re.escape(message)):
        PolicySpec.model_validate(raw)


def test_names_and_targets_are_trimmed() -> None:
    spec = PolicySpec.model_validate(body(name=" orchestration ", scope="SERVICE", target=" checkout\t"))
    assert (spec.name, spec.target) == ("orchestration", "checkout")
    with pytest.raises(ValidationError, match=re.escape(DNS)):
        PolicySpec.model_validate(body(target=" shop"))


def test_spec_example_reads_and_writes_camel_case() -> None:
    parsed = PolicySpec.model_validate_json(json.dumps(ORCHESTRATION))
    assert parsed.scope is Scope.NAMESPACE
    assert parsed.target == "neural-hive-orchestration"
    assert parsed.actions == [Action.BLOCK_DEPLOY, Action.ALERT_ONLY]
    assert parsed.trigger_threshold_percent == pytest.approx(20)
    assert parsed.unfreeze_threshold_percent == pytest.approx(50)
    assert parsed.auto_unfreeze is True
    assert parsed.min_freeze_minutes == 30

    out = parsed.model_dump(by_alias=True, mode="json")
    assert out == {
        "name": "orchestration-freeze-policy",
        "scope": "NAMESPACE",
        "target": "neural-hive-orchestration",
        "actions": ["BLOCK_DEPLOY", "ALERT_ONLY"],
        "triggerThresholdPercent": 20.0,
        "autoUnfreeze": True,
        "unfreezeThresholdPercent": 50.0,
        "sloSelector": None,
        "triggerOnBurnLevel": None,
        "minFreezeMinutes": 30,
        "maxExceptionMinutes": 240,
        "notify": [],
        "description": None,
    }
    assert PolicySpec.model_validate(out) == parsed


def test_omitted_actions_block_deploys() -> None:
    assert PolicySpec.model_validate(body(actions=None)).actions == [Action.BLOCK_DEPLOY]


def test_selector_reads_and_writes_camel_case() -> None:
    raw = body(sloSelector={"serviceNames": ["checkout"], "namespaces": ["shop"]})
    out = PolicySpec.model_validate(raw).model_dump(by_alias=True, mode="json")
    assert out["sloSelector"] == {
        "serviceNames": ["checkout"],
        "namespaces": ["shop"],
        "layers": [],
        "labels": {},
    }


# Defaults ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "defaults", "expected"),
    [
        pytest.param(
            {"triggerThresholdPercent": None, "unfreezeThresholdPercent": None, "autoUnfreeze": None},
            (15.0, 40.0, True),
            (15.0, 40.0, True),
            id="everything omitted takes the defaults",
        ),
        pytest.param({}, (10.0, 90.0, False), (20.0, 50.0, True), id="explicit values win over defaults"),
        pytest.param(
            {"triggerThresholdPercent": 30, "unfreezeThresholdPercent": None},
            (20.0, 50.0, True),
            (30.0, 50.0, True),
            id="explicit trigger with the default unfreeze",
        ),
        pytest.param(
            {"triggerThresholdPercent": None, "unfreezeThresholdPercent": 70},
            (20.0, 50.0, True),
            (20.0, 70.0, True),
            id="explicit unfreeze with the default trigger",
        ),
        pytest.param(
            {"autoUnfreeze": False},
            (20.0, 50.0, True),
            (20.0, 50.0, False),
            id="explicit autoUnfreeze false survives a true default",
        ),
        pytest.param(
            {"autoUnfreeze": None},
            (20.0, 50.0, False),
            (20.0, 50.0, False),
            id="omitted autoUnfreeze takes a false default",
        ),
        pytest.param(
            {"triggerThresholdPercent": 50, "unfreezeThresholdPercent": None},
            (20.0, 50.0, True),
            (50.0, 50.0, True),
            id="explicit trigger equal to the default unfreeze",
        ),
    ],
)
def test_with_defaults(
    changes: dict[str, Any], defaults: tuple[float, float, bool], expected: tuple[float, float, bool]
) -> None:
    given = PolicySpec.model_validate(body(**changes))
    resolved = given.with_defaults(*defaults)
    got = (resolved.trigger_threshold_percent, resolved.unfreeze_threshold_percent, resolved.auto_unfreeze)
    assert got == expected
    assert resolved.auto_unfreeze is expected[2]
    # The spec itself is left alone: it is what the user wrote.
    assert given == PolicySpec.model_validate(body(**changes))


@pytest.mark.parametrize(
    ("changes", "defaults"),
    [
        pytest.param(
            {"triggerThresholdPercent": 60, "unfreezeThresholdPercent": None},
            (20.0, 50.0, True),
            id="explicit trigger above the default unfreeze",
        ),
        pytest.param(
            {"triggerThresholdPercent": None, "unfreezeThresholdPercent": 10},
            (20.0, 50.0, True),
            id="explicit unfreeze below the default trigger",
        ),
        pytest.param(
            {"triggerThresholdPercent": None, "unfreezeThresholdPercent": None},
            (50.0, 20.0, True),
            id="inconsistent defaults",
        ),
    ],
)
def test_with_defaults_rejects_unfreeze_below_trigger(
    changes: dict[str, Any], defaults: tuple[float, float, bool]
) -> None:
    with pytest.raises(
        ValueError, match="unfreezeThresholdPercent must not be below triggerThresholdPercent"
    ):
        PolicySpec.model_validate(body(**changes)).with_defaults(*defaults)


def test_with_defaults_keeps_a_stored_policy_a_policy() -> None:
    resolved = policy(name="p", scope="GLOBAL").with_defaults(20.0, 50.0, True)
    assert isinstance(resolved, Policy)
    assert (resolved.id, resolved.trigger_threshold_percent) == ("p1", 20.0)


# Coverage ----------------------------------------------------------------------------------


def slo(
    service: str = "checkout",
    namespace: str = "shop",
    layer: str | None = "api",
    labels: dict[str, str] | None = None,
) -> SLO:
    return SLO.model_validate(
        {
            "id": f"{namespace}-{service}",
            "name": f"{service} availability",
            "sloType": "AVAILABILITY",
            "serviceName": service,
            "namespace": namespace,
            "layer": layer,
            "labels": labels or {"team": "payments", "tier": "1"},
            "target": 0.999,
            "sliQuery": {"query": "avg_over_time(good_ratio[{{.window}}])"},
            "createdAt": NOW,
            "updatedAt": NOW,
        }
    )


SHOP = {"name": "p", "scope": "NAMESPACE", "target": "shop"}
CHECKOUT = {"name": "p", "scope": "SERVICE", "target": "checkout"}
EVERYTHING = {"name": "p", "scope": "GLOBAL"}


def selecting(**selector: Any) -> dict[str, Any]:
    return {**EVERYTHING, "sloSelector": selector}


@pytest.mark.parametrize(
    ("given", "watched", "expected"),
    [
        pytest.param(SHOP, slo(), True, id="NAMESPACE watches the SLOs of its namespace"),
        pytest.param(SHOP, slo(namespace="billing"), False, id="NAMESPACE ignores other namespaces"),
        pytest.param(CHECKOUT, slo(), True, id="SERVICE watches the SLOs of its service"),
        pytest.param(
            CHECKOUT, slo(namespace="billing"), True, id="SERVICE watches its service in any namespace"
        ),
        pytest.param(CHECKOUT, slo(service="payment"), False, id="SERVICE ignores other services"),
        pytest.param(EVERYTHING, slo(service="x", namespace="y", layer=None), True, id="GLOBAL watches all"),
        pytest.param(selecting(serviceNames=["checkout", "cart"]), slo(), True, id="selector service listed"),
        pytest.param(selecting(serviceNames=["cart"]), slo(), False, id="selector service not listed"),
        pytest.param(selecting(namespaces=["shop"]), slo(), True, id="selector namespace listed"),
        pytest.param(selecting(namespaces=["billing"]), slo(), False, id="selector namespace not listed"),
        pytest.param(selecting(layers=["api", "db"]), slo(), True, id="selector layer listed"),
        pytest.param(selecting(layers=["db"]), slo(), False, id="selector layer not listed"),
        pytest.param(selecting(layers=["api"]), slo(layer=None), False, id="selector layer and no layer"),
        pytest.param(selecting(labels={"team": "payments"}), slo(), True, id="selector label equal"),
        pytest.param(
            selecting(labels={"team": "payments", "tier": "1"}), slo(), True, id="selector every label equal"
        ),
        pytest.param(selecting(labels={"team": "search"}), slo(), False, id="selector label differs"),
        pytest.param(
            selecting(labels={"team": "payments", "tier": "2"}), slo(), False, id="selector one label differs"
        ),
        pytest.param(selecting(labels={"owner": "x"}), slo(), False, id="selector label missing on the SLO"),
        pytest.param(selecting(), slo(), True, id="an empty selector narrows nothing"),
        pytest.param(
            selecting(serviceNames=["checkout"], namespaces=["shop"], layers=["api"], labels={"tier": "1"}),
            slo(),
            True,
            id="selector combination all matching",
        ),
        pytest.param(
            selecting(serviceNames=["checkout"], namespaces=["billing"]),
            slo(),
            False,
            id="selector combination is AND: service matches, namespace does not",
        ),
        pytest.param(
            selecting(serviceNames=["checkout"], layers=["api"], labels={"tier": "2"}),
            slo(),
            False,
            id="selector combination is AND: a label spoils it",
        ),
        pytest.param(
            {**SHOP, "sloSelector": {"serviceNames": ["checkout"]}},
            slo(service="payment"),
            False,
            id="a selector narrows a NAMESPACE policy",
        ),
        pytest.param(
            {**SHOP, "sloSelector": {"namespaces": ["billing"]}},
            slo(namespace="billing"),
            False,
            id="a selector never widens a NAMESPACE policy",
        ),
    ],
)
def test_covers(given: dict[str, Any], watched: SLO, expected: bool) -> None:
    assert policy(**given).covers(watched) is expected


# Decisions ---------------------------------------------------------------------------------

FAST_TRIGGER = spec(triggerOnBurnLevel="FAST")


@pytest.mark.parametrize(
    ("pol", "observations", "verdict", "triggering", "reason"),
    [
        pytest.param(
            spec(),
            [obs(19.9)],
            Verdict.FREEZE,
            ["id-checkout"],
            "checkout: 19.9% budget left (< 20%)",
            id="below the trigger freezes and names the SLO",
        ),
        pytest.param(
            spec(),
            [obs(19.99)],
            Verdict.FREEZE,
            ["id-checkout"],
            "checkout: 20.0% budget left (< 20%)",
            id="just below the trigger freezes",
        ),
        pytest.param(
            spec(), [obs(20.0)], Verdict.NONE, [], "every watched SLO", id="exactly at the trigger does not"
        ),
        pytest.param(
            spec(),
            [obs(-50.0)],
            Verdict.FREEZE,
            ["id-checkout"],
            "checkout: -50.0% budget left",
            id="an overspent budget freezes",
        ),
        pytest.param(
            spec(),
            [obs(80.0, "cart"), obs(5.0, "checkout")],
            Verdict.FREEZE,
            ["id-checkout"],
            "checkout: 5.0% budget left (< 20%)",
            id="only the breaching SLO is triggering",
        ),
        pytest.param(
            spec(),
            [obs(10.0, "cart"), obs(60.0, "search"), obs(5.0, "checkout")],
            Verdict.FREEZE,
            ["id-cart", "id-checkout"],
            "cart: 10.0% budget left (< 20%); checkout: 5.0% budget left (< 20%)",
            id="every breaching SLO is triggering and named",
        ),
        pytest.param(
            spec(),
            [obs(30.0)],
            Verdict.NONE,
            [],
            "every watched SLO",
            id="inside the hysteresis band without a freeze does not freeze",
        ),
        pytest.param(
            spec(), [obs(None, status=NO_DATA)], Verdict.NONE, [], "no data", id="NO_DATA never freezes"
        ),
        pytest.param(
            spec(), [obs(None, status=UNKNOWN)], Verdict.NONE, [], "no data", id="UNKNOWN never freezes"
        ),
        pytest.param(
            spec(),
            [obs(5.0, status=NO_DATA)],
            Verdict.NONE,
            [],
            "no data",
            id="a low number under NO_DATA is still no data",
        ),
        pytest.param(
            FAST_TRIGGER,
            [obs(None, status=NO_DATA, level=BurnLevel.CRITICAL)],
            Verdict.NONE,
            [],
            "no data",
            id="a burn level without budget data never freezes",
        ),
        pytest.param(spec(), [], Verdict.NONE, [], "every watched SLO", id="no observations, no freeze"),
        pytest.param(
            FAST_TRIGGER,
            [obs(80.0, level=BurnLevel.CRITICAL)],
            Verdict.FREEZE,
            ["id-checkout"],
            "checkout: burn level CRITICAL (>= FAST)",
            id="CRITICAL burn reaches a FAST trigger",
        ),
        pytest.param(
            FAST_TRIGGER,
            [obs(80.0, level=BurnLevel.FAST)],
            Verdict.FREEZE,
            ["id-checkout"],
            "checkout: burn level FAST (>= FAST)",
            id="FAST burn reaches a FAST trigger",
        ),
        pytest.param(
            FAST_TRIGGER,
            [obs(80.0, level=BurnLevel.ELEVATED)],
            Verdict.NONE,
            [],
            "every watched SLO",
            id="ELEVATED burn stays below a FAST trigger",
        ),
        pytest.param(
            spec(triggerOnBurnLevel="CRITICAL"),
            [obs(80.0, level=BurnLevel.FAST)],
            Verdict.NONE,
            [],
            "every watched SLO",
            id="FAST burn stays below a CRITICAL trigger",
        ),
        pytest.param(
            spec(),
            [obs(80.0, level=BurnLevel.CRITICAL)],
            Verdict.NONE,
            [],
            "every watched SLO",
            id="without triggerOnBurnLevel a burn alone does not freeze",
        ),
        pytest.param(
            spec(triggerThresholdPercent=10),
            [obs(15.0)],
            Verdict.NONE,
            [],
            "every watched SLO",
            id="the policy's own trigger counts, not the status",
        ),
    ],
)
def test_decide_without_a_freeze(
    pol: PolicySpec, observations: list[Observation], verdict: Verdict, triggering: list[str], reason: str
) -> None:
    decision = decide(pol, observations, frozen_since=None, now=NOW)
    assert decision.verdict is verdict
    assert [o.slo_id for o in decision.triggering] == triggering
    assert reason in decision.reason
    assert decision.recheck_at is None


@pytest.mark.parametrize(
    ("pol", "observations", "minutes_frozen", "verdict", "recheck_after", "reason"),
    [
        pytest.param(
            spec(),
            [obs(50.0)],
            10,
            Verdict.HOLD,
            30,
            "recovered; minFreezeMinutes not reached",
            id="recovered before minFreezeMinutes holds until activation + minimum",
        ),
        pytest.param(
            spec(minFreezeMinutes=120),
            [obs(90.0)],
            119,
            Verdict.HOLD,
            120,
            "recovered; minFreezeMinutes not reached",
            id="a minute short of a two-hour minimum holds",
        ),
        pytest.param(
            spec(),
            [obs(50.0)],
            30,
            Verdict.UNFREEZE,
            None,
            "every watched SLO is at or above 50% budget",
            id="exactly at unfreeze when minFreezeMinutes is reached unfreezes",
        ),
        pytest.param(
            spec(),
            [obs(80.0, "cart"), obs(95.0, "checkout")],
            90,
            Verdict.UNFREEZE,
            None,
            "every watched SLO is at or above 50% budget",
            id="every SLO recovered after minFreezeMinutes unfreezes",
        ),
        pytest.param(
            spec(minFreezeMinutes=0),
            [obs(60.0)],
            0,
            Verdict.UNFREEZE,
            None,
            "every watched SLO is at or above 50% budget",
            id="no minimum unfreezes at once",
        ),
        pytest.param(
            spec(),
            [obs(49.99)],
            90,
            Verdict.HOLD,
            None,
            "not recovered yet: checkout",
            id="just below unfreeze holds",
        ),
        pytest.param(
            spec(),
            [obs(30.0)],
            90,
            Verdict.HOLD,
            None,
            "not recovered yet: checkout",
            id="inside the hysteresis band a freeze holds",
        ),
        pytest.param(
            spec(),
            [obs(5.0)],
            90,
            Verdict.HOLD,
            None,
            "not recovered yet: checkout",
            id="still below the trigger holds",
        ),
        pytest.param(
            spec(),
            [obs(80.0, "cart"), obs(40.0, "checkout")],
            90,
            Verdict.HOLD,
            None,
            "not recovered yet: checkout",
            id="one of two recovered holds naming only the lagging one",
        ),
        pytest.param(
            spec(),
            [obs(80.0, "cart"), obs(None, "checkout", status=NO_DATA)],
            90,
            Verdict.HOLD,
            None,
            "not recovered yet: checkout",
            id="an SLO with NO_DATA never unfreezes",
        ),
        pytest.param(
            spec(),
            [obs(None, "checkout", status=UNKNOWN)],
            90,
            Verdict.HOLD,
            None,
            "not recovered yet: checkout",
            id="an SLO with UNKNOWN never unfreezes",
        ),
        pytest.param(
            spec(),
            [obs(90.0, status=NO_DATA)],
            90,
            Verdict.HOLD,
            None,
            "not recovered yet: checkout",
            id="a high number under NO_DATA is still no data",
        ),
        pytest.param(
            spec(autoUnfreeze=False),
            [obs(100.0)],
            10_000,
            Verdict.HOLD,
            None,
            "autoUnfreeze is off: resolve by hand",
            id="autoUnfreeze off holds however well the budget recovers",
        ),
        pytest.param(
            spec(),
            [],
            90,
            Verdict.HOLD,
            None,
            "not recovered yet: no SLO reported",
            id="no observations hold",
        ),
        pytest.param(
            FAST_TRIGGER,
            [obs(80.0, level=BurnLevel.CRITICAL)],
            90,
            Verdict.HOLD,
            None,
            "not recovered yet: checkout",
            id="budget back but burn still at the trigger level holds",
        ),
        pytest.param(
            FAST_TRIGGER,
            [obs(80.0, level=BurnLevel.ELEVATED)],
            90,
            Verdict.UNFREEZE,
            None,
            "every watched SLO is at or above 50% budget",
            id="budget back and burn below the trigger level unfreezes",
        ),
    ],
)
def test_decide_while_frozen(
    pol: PolicySpec,
    observations: list[Observation],
    minutes_frozen: int,
    verdict: Verdict,
    recheck_after: int | None,
    reason: str,
) -> None:
    activated = NOW - timedelta(hours=3)
    decision = decide(
        pol, observations, frozen_since=activated, now=activated + timedelta(minutes=minutes_frozen)
    )
    assert decision.verdict is verdict
    assert decision.reason == reason
    expected_recheck = None if recheck_after is None else activated + timedelta(minutes=recheck_after)
    assert decision.recheck_at == expected_recheck
    assert decision.triggering == []


@pytest.mark.parametrize(
    ("observations", "suppressed_until", "verdict", "recheck_at"),
    [
        pytest.param(
            [obs(5.0)],
            NOW + timedelta(minutes=1),
            Verdict.NONE,
            NOW + timedelta(minutes=1),
            id="resolved by hand: no freeze until the suppression ends",
        ),
        pytest.param(
            [obs(5.0)],
            NOW,
            Verdict.FREEZE,
            None,
            id="suppression ending now freezes again",
        ),
        pytest.param(
            [obs(5.0)],
            NOW - timedelta(minutes=1),
            Verdict.FREEZE,
            None,
            id="suppression in the past freezes again",
        ),
        pytest.param(
            [obs(80.0)],
            NOW - timedelta(minutes=1),
            Verdict.NONE,
            None,
            id="suppression in the past with a healthy budget stays NONE",
        ),
    ],
)
def test_decide_after_a_manual_resolve(
    observations: list[Observation],
    suppressed_until: datetime,
    verdict: Verdict,
    recheck_at: datetime | None,
) -> None:
    decision = decide(spec(), observations, frozen_since=None, now=NOW, suppressed_until=suppressed_until)
    assert decision.verdict is verdict
    assert decision.recheck_at == recheck_at


def test_suppressed_decision_reports_no_triggering_observations() -> None:
    decision = decide(
        spec(), [obs(5.0)], frozen_since=None, now=NOW, suppressed_until=NOW + timedelta(minutes=5)
    )
    assert decision.triggering == []
    assert decision.reason == "resolved by hand; re-evaluated later"


def test_freeze_carries_the_triggering_observations_whole() -> None:
    low = obs(12.5, "checkout", level=BurnLevel.FAST, namespace="shop")
    decision = decide(spec(), [obs(90.0, "cart"), low], frozen_since=None, now=NOW)
    assert decision.triggering == [low]
    out = decision.model_dump(by_alias=True, mode="json")
    assert out["triggering"][0]["remainingPercent"] == pytest.approx(12.5)
    assert out["recheckAt"] is None


# Bands -------------------------------------------------------------------------------------


# Verdicts that can differ between two observations: (not frozen, frozen long enough).
def verdicts(pol: PolicySpec, o: Observation) -> tuple[Verdict, Verdict]:
    idle = decide(pol, [o], frozen_since=None, now=NOW).verdict
    frozen = decide(pol, [o], frozen_since=NOW - timedelta(days=1), now=NOW).verdict
    return idle, frozen


@pytest.mark.parametrize(
    ("pol", "before", "after", "signalled", "decides_differently"),
    [
        pytest.param(spec(), obs(80.0), obs(70.0), False, False, id="a healthy budget drifting is steady"),
        pytest.param(
            spec(), obs(45.0), obs(25.0), False, False, id="moving inside the hysteresis band is steady"
        ),
        pytest.param(
            spec(), obs(15.0), obs(1.0), False, False, id="sinking further below the trigger is steady"
        ),
        pytest.param(spec(), obs(20.0), obs(19.99), True, True, id="crossing below the trigger changes"),
        pytest.param(spec(), obs(19.99), obs(20.0), True, True, id="rising to the trigger changes"),
        pytest.param(spec(), obs(49.99), obs(50.0), True, True, id="reaching the unfreeze threshold changes"),
        pytest.param(
            spec(), obs(50.0), obs(49.99), True, True, id="falling below the unfreeze threshold changes"
        ),
        pytest.param(spec(), obs(80.0), obs(None, status=NO_DATA), True, True, id="losing data when high"),
        pytest.param(spec(), obs(10.0), obs(None, status=UNKNOWN), True, True, id="losing data when low"),
        pytest.param(
            spec(),
            obs(30.0),
            obs(None, status=NO_DATA),
            True,
            False,
            id="losing data inside the band is signalled though no verdict can change",
        ),
        pytest.param(
            spec(),
            obs(None, status=NO_DATA),
            obs(None, status=UNKNOWN),
            False,
            False,
            id="NO_DATA to UNKNOWN is steady",
        ),
        pytest.param(
            FAST_TRIGGER,
            obs(80.0, level=BurnLevel.ELEVATED),
            obs(80.0, level=BurnLevel.FAST),
            True,
            True,
            id="burn reaching the trigger level changes",
        ),
        pytest.param(
            FAST_TRIGGER,
            obs(80.0, level=BurnLevel.FAST),
            obs(80.0, level=BurnLevel.CRITICAL),
            False,
            False,
            id="burn rising past the trigger level is steady",
        ),
        pytest.param(
            FAST_TRIGGER,
            obs(80.0, level=BurnLevel.NORMAL),
            obs(80.0, level=BurnLevel.ELEVATED),
            False,
            False,
            id="burn rising below the trigger level is steady",
        ),
        pytest.param(
            spec(),
            obs(80.0, level=BurnLevel.NORMAL),
            obs(80.0, level=BurnLevel.CRITICAL),
            False,
            False,
            id="burn is invisible to a policy without triggerOnBurnLevel",
        ),
        pytest.param(
            FAST_TRIGGER,
            obs(None, status=NO_DATA, level=BurnLevel.NORMAL),
            obs(None, status=NO_DATA, level=BurnLevel.CRITICAL),
            False,
            False,
            id="burn without budget data is steady",
        ),
    ],
)
def test_band_changes_when_a_decision_could(
    pol: PolicySpec, before: Observation, after: Observation, signalled: bool, decides_differently: bool
) -> None:
    assert (band(pol, before) != band(pol, after)) is signalled
    assert (verdicts(pol, before) != verdicts(pol, after)) is decides_differently
    # The property SLO loops rely on: an unsignalled change never hides a different verdict.
    assert signalled or not decides_differently


def test_band_of_no_previous_observation_differs_from_any_observation() -> None:
    assert band(spec(), None) is None
    for o in (obs(80.0), obs(10.0), obs(None, status=NO_DATA)):
        assert band(spec(), o) is not None


# Observations ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "remaining", "has_data"),
    [
        pytest.param(BudgetStatus.HEALTHY, 80.0, True, id="HEALTHY with a number has data"),
        pytest.param(BudgetStatus.EXHAUSTED, -5.0, True, id="EXHAUSTED with a number has data"),
        pytest.param(BudgetStatus.HEALTHY, None, False, id="a status without a number has no data"),
        pytest.param(BudgetStatus.NO_DATA, 80.0, False, id="NO_DATA has no data whatever the number"),
        pytest.param(BudgetStatus.UNKNOWN, None, False, id="UNKNOWN has no data"),
    ],
)
def test_observation_has_data(status: BudgetStatus, remaining: float | None, has_data: bool) -> None:
    assert obs(remaining, status=status).has_data is has_data
