"""The CRDs reject what the REST API rejects, and every example (the spec's among them) is valid.

Each schema case is judged twice: by the CRD (structural schema + CEL, see crds.py) and by the
pydantic model the REST API and the operator use. They must agree, and where a CEL rule speaks,
it says what the model says.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest

from sla_management.operator.resources import Rejected, policy_spec_of, slo_spec_of
from tests.operator.crds import (
    CRDS,
    EXAMPLES,
    RBAC,
    cel_rules,
    compile_rule,
    crds,
    documents,
    schema_of,
    structural_problems,
    violations,
    walk,
)

# The spec's two examples, verbatim.
SPEC_SLO, SPEC_POLICY = documents(Path(__file__).with_name("spec-examples.yaml"))
RATIO_RULE = "a single `query` either returns the good ratio over {{.window}}"


def resource(kind: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": "neural-hive.io/v1", "kind": kind, "metadata": {"name": "x"}, "spec": spec}


def model_error(kind: str, spec: dict[str, Any]) -> str | None:
    """The operator's verdict, which is the REST API's model (plus: an SLO's namespace is the
    resource's own): None when accepted, else the message the resource's condition shows."""
    try:
        if kind == "SLODefinition":
            slo_spec_of("shop", spec)
        else:
            policy_spec_of(spec)
    except Rejected as exc:
        return exc.message
    return None


# The manifests themselves ------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [*sorted(CRDS.glob("*.yaml")), *sorted(RBAC.glob("*.yaml"))],
    ids=lambda p: p.name,
)
def test_manifests_are_valid_kubernetes_objects(path: Any) -> None:
    for doc in documents(path):
        kubernetes_validate.validate(doc, kubernetes_validate.latest_version(), strict=True)


@pytest.mark.parametrize("kind", ["SLODefinition", "SLAPolicy"])
def test_schema_is_structural_and_every_cel_rule_compiles(kind: str) -> None:
    crd = crds()[kind]
    assert structural_problems(schema_of(crd)) == []
    rules = cel_rules(crd)
    assert rules
    for rule in rules:
        compile_rule(rule)


@pytest.mark.parametrize("kind", ["SLODefinition", "SLAPolicy"])
def test_printer_columns_point_at_declared_fields(kind: str) -> None:
    crd = crds()[kind]
    declared = {path for path, _ in walk(schema_of(crd))}
    [version] = crd["spec"]["versions"]
    for column in version["additionalPrinterColumns"]:
        path = column["jsonPath"].split("[", 1)[0]  # conditions[?(@.type=="Ready")] -> conditions
        if not path.startswith(".metadata"):
            assert path in declared, column


def test_the_required_columns_are_there() -> None:
    [version] = crds()["SLODefinition"]["spec"]["versions"]
    names = [c["name"] for c in version["additionalPrinterColumns"]]
    assert names[:6] == ["Service", "Target", "Remaining%", "Status", "Burn", "Frozen"]
    assert names[-1] == "Age"
    assert crds()["SLODefinition"]["spec"]["names"]["shortNames"] == ["slo"]
    assert crds()["SLAPolicy"]["spec"]["names"]["shortNames"] == ["slapolicy"]
    for kind in ("SLODefinition", "SLAPolicy"):
        assert crds()[kind]["spec"]["versions"][0]["subresources"] == {"status": {}}


# Examples ------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("*.yaml")), ids=lambda p: p.name)
def test_every_example_is_accepted_by_its_crd_and_by_the_model(path: Any) -> None:
    for doc in documents(path):
        assert violations(crds()[doc["kind"]], doc) == []
        if doc["kind"] == "SLODefinition":
            slo_spec_of(doc["metadata"]["namespace"], doc["spec"])
        else:
            policy_spec_of(doc["spec"])


def test_the_spec_policy_example_is_accepted_as_written() -> None:
    doc = SPEC_POLICY
    assert violations(crds()["SLAPolicy"], doc) == []
    policy_spec_of(doc["spec"])
    shipped = documents(EXAMPLES / "orchestration-freeze-policy.yaml")[0]
    assert shipped["spec"] == doc["spec"]


def test_the_spec_slo_example_as_written_is_refused_for_the_same_reason_by_both() -> None:
    """A latency in milliseconds alone says nothing about good or bad: neither a ratio over
    {{.window}} nor a threshold. The shipped example adds `threshold: 250` and `comparison: lt`."""
    doc = SPEC_SLO
    [error] = violations(crds()["SLODefinition"], doc)
    assert error.startswith("spec: " + RATIO_RULE)
    with pytest.raises(Rejected) as refused:
        slo_spec_of("neural-hive-orchestration", doc["spec"])
    assert RATIO_RULE in refused.value.message

    shipped = documents(EXAMPLES / "bus-latency-slo.yaml")[0]
    assert shipped["spec"] == {**doc["spec"], "threshold": 250, "comparison": "lt"}


# The schema and the model agree --------------------------------------------------------------

SLO: dict[str, Any] = {
    "name": "checkout availability",
    "sloType": "AVAILABILITY",
    "serviceName": "checkout",
    "target": 0.99,
    "sliQuery": {
        "errorQuery": 'sum(rate(errors_total{svc="checkout"}[{{.window}}]))',
        "totalQuery": 'sum(rate(requests_total{svc="checkout"}[{{.window}}]))',
    },
}
LATENCY = {"query": "max(latency_ms)"}


def slo(**changes: Any) -> dict[str, Any]:
    spec = copy.deepcopy(SLO)
    for key, value in changes.items():
        if value is None:
            spec.pop(key, None)
        else:
            spec[key] = value
    return spec


SLO_CASES = [
    pytest.param(slo(), None, id="error and total counts"),
    pytest.param(
        slo(
            sliQuery={
                "goodQuery": "sum(increase(ok[{{.window}}]))",
                "totalQuery": "sum(increase(all[{{.window}}]))",
            }
        ),
        None,
        id="good and total counts",
    ),
    pytest.param(
        slo(sliQuery={"query": "avg_over_time(up[{{.window}}])"}), None, id="a good ratio over the window"
    ),
    pytest.param(slo(sliQuery=LATENCY, threshold=250, comparison="lt"), None, id="a timeslice threshold"),
    pytest.param(
        slo(sliQuery=LATENCY, threshold=250, budgetingMethod="Timeslices"), None, id="Timeslices stated"
    ),
    pytest.param(
        slo(windowDays=7, timesliceMinutes=1, labels={"tier": "a"}), None, id="every optional field"
    ),
    pytest.param(slo(target=1.0), "target", id="target of 1 is not an objective"),
    pytest.param(slo(target=0), "target", id="target of 0 is not an objective"),
    pytest.param(slo(windowDays=91), "windowDays", id="window over 90 days"),
    pytest.param(slo(sloType="MAGIC"), "sloType", id="unknown sloType"),
    pytest.param(slo(name=""), "name", id="empty name"),
    pytest.param(slo(name=None), "name", id="no name"),
    pytest.param(slo(sliQuery=None), "sliQuery", id="no sliQuery"),
    pytest.param(slo(timesliceMinutes=0), "timesliceMinutes", id="empty timeslice"),
    pytest.param(slo(comparison="eq", threshold=1, sliQuery=LATENCY), "comparison", id="unknown comparison"),
    pytest.param(slo(extra=1), "extra", id="unknown field"),
    pytest.param(slo(namespace="other"), "namespace", id="namespace is the resource's own"),
    pytest.param(slo(sliQuery={}), "one of query", id="no query at all"),
    pytest.param(slo(sliQuery={"query": "  "}), "query", id="blank query"),
    pytest.param(
        slo(sliQuery={"errorQuery": "x[{{.window}}]"}), "needs totalQuery", id="errors without total"
    ),
    pytest.param(
        slo(sliQuery={"totalQuery": "x[{{.window}}]"}), "totalQuery needs", id="total without events"
    ),
    pytest.param(
        slo(sliQuery={**SLO["sliQuery"], "goodQuery": "y[{{.window}}]"}),
        "not both",
        id="errors and good both",
    ),
    pytest.param(
        slo(sliQuery={**SLO["sliQuery"], "query": "z[{{.window}}]"}),
        "either query",
        id="query and counts both",
    ),
    pytest.param(
        slo(sliQuery={"errorQuery": "sum(rate(e[5m]))", "totalQuery": "sum(rate(t[{{.window}}]))"}),
        "errorQuery must contain {{.window}}",
        id="counts over a fixed range",
    ),
    pytest.param(slo(sliQuery={"query": "up"}), RATIO_RULE, id="single query without window or threshold"),
    pytest.param(slo(comparison="lt"), "comparison needs threshold", id="comparison without threshold"),
    pytest.param(slo(threshold=5), "threshold applies only", id="threshold with counts"),
    pytest.param(
        slo(sliQuery=LATENCY, threshold=250, budgetingMethod="Occurrences"),
        "budgetingMethod must be Timeslices",
        id="threshold counted as occurrences",
    ),
    pytest.param(slo(budgetingMethod="Timeslices"), "Timeslices needs", id="Timeslices without threshold"),
    # Bounds and types (issue 9): the same refusals through the CRD and through REST.
    pytest.param(slo(target=0.99999), None, id="five nines"),
    pytest.param(slo(target=0.999991), "target", id="more than five nines"),
    pytest.param(slo(target="0.99"), "target", id="target as a string"),
    pytest.param(slo(target=True), "target", id="target true"),
    pytest.param(slo(windowDays="30"), "windowDays", id="windowDays as a string"),
    pytest.param(slo(windowDays=True), "windowDays", id="windowDays true"),
    pytest.param(slo(timesliceMinutes="5"), "timesliceMinutes", id="timesliceMinutes as a string"),
    pytest.param(slo(sliQuery=LATENCY, threshold="250"), "threshold", id="threshold as a string"),
    pytest.param(slo(sliQuery=LATENCY, threshold=False), "threshold", id="threshold false"),
    pytest.param(slo(name="   "), "name", id="a blank name"),
    pytest.param(slo(name=" checkout "), None, id="a name with spaces around it"),
    pytest.param(slo(serviceName="\t"), "serviceName", id="a blank service"),
    pytest.param(slo(layer=" "), "layer", id="a blank layer"),
    pytest.param(slo(description="d" * 4097), "description", id="a description over 4 KB"),
    pytest.param(slo(description="d" * 4096), None, id="a description of 4 KB"),
    pytest.param(slo(labels={f"k{i}": "v" for i in range(33)}), "labels", id="33 labels"),
    pytest.param(slo(labels={"k": "v" * 257}), "labels", id="a long label value"),
    pytest.param(slo(labels={"k" * 129: "v"}), "label", id="a long label key"),
    pytest.param(
        slo(sliQuery={**SLO["sliQuery"], "metricName": "m" * 513}), "metricName", id="a long metric name"
    ),
    pytest.param(
        slo(sliQuery={"errorQuery": "x[{{.window}}]" * 600, "totalQuery": "y[{{.window}}]"}),
        "errorQuery",
        id="a query over 8 KB",
    ),
]


@pytest.mark.parametrize(("spec", "refusal"), SLO_CASES)
def test_slo_schema_refuses_what_the_rest_api_refuses(spec: dict[str, Any], refusal: str | None) -> None:
    by_crd = violations(crds()["SLODefinition"], resource("SLODefinition", spec))
    by_model = model_error("SLODefinition", spec)
    if refusal is None:
        assert by_crd == [] and by_model is None, (by_crd, by_model)
        return
    assert by_crd, f"the CRD accepts what the REST API refuses: {by_model}"
    assert by_model is not None, f"the REST API accepts what the CRD refuses: {by_crd}"
    assert any(refusal in error for error in by_crd), by_crd
    assert refusal in by_model


POLICY: dict[str, Any] = {
    "name": "orchestration",
    "scope": "NAMESPACE",
    "target": "neural-hive-orchestration",
}

POLICY_CASES = [
    pytest.param(POLICY, None, id="the minimum"),
    pytest.param({"name": "all", "scope": "GLOBAL"}, None, id="GLOBAL without target"),
    pytest.param({"name": "all", "scope": "GLOBAL", "target": ""}, None, id="GLOBAL with empty target"),
    pytest.param(
        {
            **POLICY,
            "actions": ["ALERT_ONLY"],
            "triggerThresholdPercent": 10,
            "unfreezeThresholdPercent": 10,
            "autoUnfreeze": False,
            "sloSelector": {
                "serviceNames": ["a"],
                "namespaces": ["b"],
                "layers": ["c"],
                "labels": {"d": "e"},
            },
            "triggerOnBurnLevel": "CRITICAL",
            "minFreezeMinutes": 0,
            "description": "every field",
        },
        None,
        id="every field",
    ),
    pytest.param({**POLICY, "scope": "CLUSTER"}, "scope", id="unknown scope"),
    pytest.param(
        {"name": "x", "scope": "GLOBAL", "target": "ns"}, "GLOBAL policy has no target", id="GLOBAL target"
    ),
    pytest.param({"name": "x", "scope": "SERVICE"}, "needs a target", id="SERVICE without target"),
    pytest.param({**POLICY, "target": ""}, "needs a target", id="NAMESPACE with empty target"),
    pytest.param({**POLICY, "actions": []}, "actions", id="no actions"),
    pytest.param({**POLICY, "actions": ["PAGE"]}, "actions", id="unknown action"),
    pytest.param(
        {**POLICY, "triggerThresholdPercent": 101}, "triggerThresholdPercent", id="over 100 percent"
    ),
    pytest.param(
        {**POLICY, "unfreezeThresholdPercent": -1}, "unfreezeThresholdPercent", id="negative percent"
    ),
    pytest.param(
        {**POLICY, "triggerThresholdPercent": 50, "unfreezeThresholdPercent": 20},
        "unfreezeThresholdPercent must not be below triggerThresholdPercent",
        id="unfreeze below trigger",
    ),
    pytest.param({**POLICY, "triggerOnBurnLevel": "NORMAL"}, "triggerOnBurnLevel", id="NORMAL burn"),
    pytest.param({**POLICY, "minFreezeMinutes": 10081}, "minFreezeMinutes", id="over a week"),
    pytest.param({"scope": "GLOBAL"}, "name", id="no name"),
    pytest.param({**POLICY, "sloSelector": {"teams": ["a"]}}, "teams", id="unknown selector"),
    # Bounds and types (issue 9).
    pytest.param({**POLICY, "actions": ["ALERT_ONLY", "ALERT_ONLY"]}, "actions", id="an action twice"),
    pytest.param({**POLICY, "autoUnfreeze": "yes"}, "autoUnfreeze", id="a boolean as a string"),
    pytest.param({**POLICY, "minFreezeMinutes": "30"}, "minFreezeMinutes", id="minutes as a string"),
    pytest.param({**POLICY, "minFreezeMinutes": True}, "minFreezeMinutes", id="minutes true"),
    pytest.param({**POLICY, "triggerThresholdPercent": "20"}, "triggerThresholdPercent", id="percent text"),
    pytest.param({**POLICY, "name": "  "}, "name", id="a blank name"),
    pytest.param(
        {**POLICY, "target": "Probe NS/../!"},
        "must be a Kubernetes namespace name",
        id="not a namespace",
    ),
    pytest.param({**POLICY, "target": "SHOP"}, "namespace name", id="an upper-case namespace"),
    pytest.param({**POLICY, "target": " shop"}, "namespace name", id="a namespace with a space"),
    pytest.param({**POLICY, "target": "n" * 64}, "namespace name", id="a 64-character namespace"),
    pytest.param({**POLICY, "scope": "SERVICE", "target": "Probe NS/../!"}, None, id="any service name"),
    pytest.param({**POLICY, "scope": "SERVICE", "target": "  "}, "needs a target", id="a blank service"),
    pytest.param({**POLICY, "description": "d" * 4097}, "description", id="a description over 4 KB"),
    pytest.param({**POLICY, "sloSelector": {"namespaces": ["A"]}}, "namespaces", id="a selector namespace"),
    pytest.param(
        {**POLICY, "sloSelector": {"serviceNames": [f"s{i}" for i in range(65)]}},
        "serviceNames",
        id="65 selected services",
    ),
    pytest.param({**POLICY, "sloSelector": {"layers": [" "]}}, "layers", id="a blank selected layer"),
]


@pytest.mark.parametrize(("spec", "refusal"), POLICY_CASES)
def test_policy_schema_refuses_what_the_rest_api_refuses(spec: dict[str, Any], refusal: str | None) -> None:
    by_crd = violations(crds()["SLAPolicy"], resource("SLAPolicy", spec))
    by_model = model_error("SLAPolicy", spec)
    if refusal is None:
        assert by_crd == [] and by_model is None, (by_crd, by_model)
        return
    assert by_crd, f"the CRD accepts what the REST API refuses: {by_model}"
    assert by_model is not None, f"the REST API accepts what the CRD refuses: {by_crd}"
    assert any(refusal in error for error in by_crd), by_crd
    assert refusal in by_model
