"""The admission policies' CEL, evaluated with cel-python over every freeze scenario
(infra/kubernetes/admission/check_policy.py): freezes deny, break glass and freeze exceptions
let through, and only sla-management may change the annotations that say so."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "infra" / "kubernetes" / "admission" / "check_policy.py"


def _script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("check_policy", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["check_policy"] = module
    spec.loader.exec_module(module)
    return module


CHECK = _script()
POLICIES = {
    doc["metadata"]["name"]: doc
    for doc in CHECK.yaml.safe_load_all(CHECK.POLICY_FILE.read_text())
    if doc["kind"] == "ValidatingAdmissionPolicy"
}


@pytest.mark.parametrize(
    ("policy", "request_", "obj", "old", "namespace", "expected"),
    [pytest.param(*rest, id=name) for name, *rest in CHECK.SCENARIOS],
)
def test_admission_scenario(
    policy: str, request_: Any, obj: Any, old: Any, namespace: Any, expected: str
) -> None:
    outcome, detail, _ = CHECK.admit(POLICIES[policy], request_, obj, old, namespace)
    assert outcome == expected, detail


def test_a_deploy_under_an_exception_is_written_to_the_audit_log() -> None:
    ns = {**CHECK.FROZEN, **CHECK.EXCEPTION}
    outcome, _, audit = CHECK.admit(
        POLICIES[CHECK.DEPLOY_FREEZE],
        CHECK._request("UPDATE"),
        CHECK._deployment(image="app:2"),
        CHECK._deployment(),
        CHECK._namespace(ns),
    )
    assert outcome == "allowed"
    assert audit["freeze-exception"].endswith("under freeze exception exc-3")
