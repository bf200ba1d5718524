"""Run the admission policies' CEL against freeze scenarios, without a cluster.

    pip install cel-python pyyaml   # not a project dependency: only this script needs it
    python infra/kubernetes/admission/check_policy.py

It evaluates matchConditions, variables, validations and auditAnnotations the way the API
server orders them, with cel-python instead of the API server's cel-go. That checks the logic,
not Kubernetes' type checking or cost limits: `kubectl apply --dry-run=server` on a 1.30+
cluster is still the final word. Exits non-zero when a scenario has the wrong outcome.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import celpy  # type: ignore[import-untyped]
import yaml
from celpy import celtypes

POLICY_FILE = Path(__file__).with_name("validating-admission-policy.yaml")
DEPLOY_FREEZE = "neural-hive-sla-deploy-freeze"
ANNOTATION_GUARD = "neural-hive-sla-freeze-annotations"
OUR_SA = "system:serviceaccount:neural-hive-monitoring:sla-management-system"
FROZEN = {
    "neural-hive.io/sla-freeze": "true",
    "neural-hive.io/freeze-policy-id": "pol-1",
    "neural-hive.io/freeze-event-id": "evt-9",
    "neural-hive.io/freeze-reason": "budget at 12%",
    "neural-hive.io/freeze-since": "2025-03-04T05:06:07Z",
}
OVERRIDE = "neural-hive.io/freeze-override"
EXCEPTION = {
    "neural-hive.io/freeze-exception-until": "2025-03-04T07:06:07Z",
    "neural-hive.io/freeze-exception-id": "exc-3",
    "neural-hive.io/freeze-exception-by": "alice",
}

_env = celpy.Environment()


def _evaluate(expression: str, activation: dict[str, Any]) -> Any:
    # cel-python lacks cel-go's heterogeneous equality: `map != null` is an error there.
    for name in ("namespaceObject", "oldObject"):
        expression = expression.replace(f"{name} != null", f"type({name}) != null_type")
    return _env.program(_env.compile(expression)).evaluate(activation)


def admit(
    policy: dict[str, Any],
    request: dict[str, Any],
    obj: dict[str, Any] | None,
    old: dict[str, Any] | None,
    namespace: dict[str, Any] | None,
) -> tuple[str, str, dict[str, str]]:
    """("skipped" | "allowed" | "denied", message or condition name, audit annotations)."""
    spec = policy["spec"]
    activation: dict[str, Any] = {
        "request": celpy.json_to_cel(request),
        "object": celpy.json_to_cel(obj),
        "oldObject": celpy.json_to_cel(old),
        "namespaceObject": celpy.json_to_cel(namespace),
    }
    for condition in spec.get("matchConditions", []):
        if not _evaluate(condition["expression"], activation):
            return "skipped", condition["name"], {}
    variables: dict[str, Any] = {}
    for variable in spec.get("variables", []):
        activation["variables"] = celtypes.MapType({celtypes.StringType(k): v for k, v in variables.items()})
        variables[variable["name"]] = _evaluate(variable["expression"], activation)
    activation["variables"] = celtypes.MapType({celtypes.StringType(k): v for k, v in variables.items()})
    audit: dict[str, str] = {}
    for annotation in spec.get("auditAnnotations", []):
        value = _evaluate(annotation["valueExpression"], activation)
        if value is not None:
            audit[annotation["key"]] = str(value)
    for validation in spec["validations"]:
        if not _evaluate(validation["expression"], activation):
            return "denied", str(_evaluate(validation["messageExpression"], activation)), audit
    return "allowed", "", audit


def _namespace(annotations: dict[str, str] | None = None) -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": "shop"}
    if annotations is not None:
        metadata["annotations"] = annotations
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": metadata}


def _deployment(annotations: dict[str, str] | None = None, image: str = "app:1") -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": "cart", "namespace": "shop"}
    if annotations is not None:
        metadata["annotations"] = annotations
    containers = [{"name": "cart", "image": image}]
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": metadata,
        "spec": {"template": {"spec": {"containers": containers}}},
    }


def _request(operation: str, user: str = "alice") -> dict[str, Any]:
    return {
        "operation": operation,
        "userInfo": {"username": user, "groups": ["developers"]},
        "resource": {"group": "apps", "version": "v1", "resource": "deployments"},
    }


GC = "system:serviceaccount:kube-system:generic-garbage-collector"
# (scenario, policy, request, object, oldObject, namespaceObject, expected outcome)
SCENARIOS: list[tuple[str, str, dict[str, Any], Any, Any, Any, str]] = [
    (
        "create, namespace not frozen",
        DEPLOY_FREEZE,
        _request("CREATE"),
        _deployment(),
        None,
        _namespace({}),
        "allowed",
    ),
    (
        "create, namespace without annotations",
        DEPLOY_FREEZE,
        _request("CREATE"),
        _deployment(),
        None,
        _namespace(),
        "allowed",
    ),
    (
        "create, namespace frozen",
        DEPLOY_FREEZE,
        _request("CREATE"),
        _deployment(),
        None,
        _namespace(FROZEN),
        "denied",
    ),
    (
        "create, freeze annotation is not 'true'",
        DEPLOY_FREEZE,
        _request("CREATE"),
        _deployment(),
        None,
        _namespace({**FROZEN, "neural-hive.io/sla-freeze": "false"}),
        "allowed",
    ),
    (
        "update, namespace frozen",
        DEPLOY_FREEZE,
        _request("UPDATE"),
        _deployment(image="app:2"),
        _deployment(),
        _namespace(FROZEN),
        "denied",
    ),
    (
        "update, namespace frozen, break glass",
        DEPLOY_FREEZE,
        _request("UPDATE"),
        _deployment({OVERRIDE: "INC-7, approved by bob"}, "app:2"),
        _deployment(),
        _namespace(FROZEN),
        "allowed",
    ),
    (
        "update, namespace frozen, blank break glass",
        DEPLOY_FREEZE,
        _request("UPDATE"),
        _deployment({OVERRIDE: "   "}, "app:2"),
        _deployment(),
        _namespace(FROZEN),
        "denied",
    ),
    (
        "update, service frozen",
        DEPLOY_FREEZE,
        _request("UPDATE"),
        _deployment(FROZEN, "app:2"),
        _deployment(FROZEN),
        _namespace(),
        "denied",
    ),
    (
        "update, service frozen, a person removes it",
        DEPLOY_FREEZE,
        _request("UPDATE"),
        _deployment({}),
        _deployment(FROZEN),
        _namespace(),
        "denied",
    ),
    (
        "update, service frozen, our SA removes it",
        DEPLOY_FREEZE,
        _request("UPDATE", OUR_SA),
        _deployment({}),
        _deployment(FROZEN),
        _namespace(),
        "skipped",
    ),
    (
        "update, namespace frozen, our SA adds a service freeze",
        DEPLOY_FREEZE,
        _request("UPDATE", OUR_SA),
        _deployment(FROZEN),
        _deployment(),
        _namespace(FROZEN),
        "skipped",
    ),
    (
        "update, service frozen, break glass",
        DEPLOY_FREEZE,
        _request("UPDATE"),
        _deployment({**FROZEN, OVERRIDE: "INC-7"}, "app:2"),
        _deployment(FROZEN),
        _namespace(),
        "allowed",
    ),
    (
        "update, namespace frozen, exception on the namespace",
        DEPLOY_FREEZE,
        _request("UPDATE"),
        _deployment(image="app:2"),
        _deployment(),
        _namespace({**FROZEN, **EXCEPTION}),
        "allowed",
    ),
    (
        "update, namespace frozen, exception on this workload",
        DEPLOY_FREEZE,
        _request("UPDATE"),
        _deployment(EXCEPTION, "app:2"),
        _deployment(EXCEPTION),
        _namespace(FROZEN),
        "allowed",
    ),
    (
        "update, namespace frozen, a person adds an exception in the same apply",
        DEPLOY_FREEZE,
        _request("UPDATE"),
        _deployment(EXCEPTION, "app:2"),
        _deployment(),
        _namespace(FROZEN),
        "denied",
    ),
    (
        "update, service frozen, exception on the workload",
        DEPLOY_FREEZE,
        _request("UPDATE"),
        _deployment({**FROZEN, **EXCEPTION}, "app:2"),
        _deployment({**FROZEN, **EXCEPTION}),
        _namespace(),
        "allowed",
    ),
    (
        "update by the garbage collector",
        DEPLOY_FREEZE,
        _request("UPDATE", GC),
        _deployment(),
        _deployment(),
        _namespace(FROZEN),
        "skipped",
    ),
    (
        "namespace: a person lifts the freeze",
        ANNOTATION_GUARD,
        _request("UPDATE"),
        _namespace({"team": "x"}),
        _namespace(FROZEN),
        None,
        "denied",
    ),
    (
        "namespace: a person adds a freeze",
        ANNOTATION_GUARD,
        _request("UPDATE"),
        _namespace(FROZEN),
        _namespace(),
        None,
        "denied",
    ),
    (
        "namespace: a person edits other annotations",
        ANNOTATION_GUARD,
        _request("UPDATE"),
        _namespace({**FROZEN, "team": "y"}),
        _namespace({**FROZEN, "team": "x"}),
        None,
        "allowed",
    ),
    (
        "namespace: a person grants an exception",
        ANNOTATION_GUARD,
        _request("UPDATE"),
        _namespace({**FROZEN, **EXCEPTION}),
        _namespace(FROZEN),
        None,
        "denied",
    ),
    (
        "namespace: our SA lifts the freeze",
        ANNOTATION_GUARD,
        _request("UPDATE", OUR_SA),
        _namespace({}),
        _namespace(FROZEN),
        None,
        "skipped",
    ),
]


def main() -> int:
    policies = {
        doc["metadata"]["name"]: doc
        for doc in yaml.safe_load_all(POLICY_FILE.read_text())
        if doc["kind"] == "ValidatingAdmissionPolicy"
    }
    wrong = 0
    for name, policy, request, obj, old, namespace, expected in SCENARIOS:
        outcome, detail, audit = admit(policies[policy], request, obj, old, namespace)
        wrong += outcome != expected
        mark = "ok  " if outcome == expected else "FAIL"
        print(f"{mark} {name}: {outcome} {detail} {audit or ''}".rstrip())
    return 1 if wrong else 0


if __name__ == "__main__":
    sys.exit(main())
