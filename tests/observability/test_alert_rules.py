"""The system's own alert rules: valid for promtool, firing as intended, on exported metrics."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import promql_parser
import pytest
import yaml
from prometheus_client import REGISTRY, generate_latest

import sla_management.observability.metrics  # noqa: F401  (registers every metric)
from tests.observability.exposition import exposed_names
from tests.observability.test_dashboard import selector_names

RULES_DIR = Path(__file__).resolve().parents[2] / "infra" / "prometheus"
RULES = RULES_DIR / "sla-management-system-rules.yaml"
RULE_TESTS = RULES_DIR / "sla-management-system-rules.test.yaml"


def promtool() -> str:
    found = shutil.which("promtool")
    if found is None:
        pytest.fail("promtool is not on PATH (Debian: apt-get install prometheus)")
    return found


def alerts() -> list[dict[str, object]]:
    document = yaml.safe_load(RULES.read_text())
    return [rule for group in document["groups"] for rule in group["rules"]]


def test_promtool_accepts_the_rules() -> None:
    result = subprocess.run(
        [promtool(), "check", "rules", str(RULES)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS: 12 rules found" in result.stdout


def test_alerts_fire_on_the_situations_they_describe() -> None:
    # Unit tests of the rules with synthetic series (promtool's own evaluator).
    result = subprocess.run(
        [promtool(), "test", "rules", RULE_TESTS.name],
        cwd=RULES_DIR,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_twelve_alerts_on_metrics_the_system_exports() -> None:
    rules = alerts()
    assert len(rules) == 12 and all("alert" in r for r in rules)
    assert len({r["alert"] for r in rules}) == 12
    exported = exposed_names(generate_latest(REGISTRY).decode())
    for rule in rules:
        names = selector_names(str(rule["expr"]))
        assert names, rule["alert"]
        assert names <= exported, (rule["alert"], names - exported)
        labels = rule.get("labels")
        assert isinstance(labels, dict) and labels["severity"] in ("warning", "critical")
        annotations = rule.get("annotations")
        assert isinstance(annotations, dict) and annotations["summary"] and annotations["description"]


def test_promql_of_every_rule_parses() -> None:
    for rule in alerts():
        promql_parser.parse(str(rule["expr"]))
