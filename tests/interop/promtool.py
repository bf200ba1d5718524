"""`promtool` from the tests: Prometheus' own checker and rule unit tester, no server needed."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import yaml

from sla_management.binaries import find_binary


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [find_binary("promtool"), *args], capture_output=True, text=True, check=False, timeout=120
    )


def check_rules(text: str, workdir: Path, name: str = "rules.yaml") -> None:
    """Assert `promtool check rules` accepts the rule file."""
    path = workdir / name
    path.write_text(text)
    done = _run("check", "rules", str(path))
    assert done.returncode == 0, f"promtool check rules failed:\n{done.stdout}\n{done.stderr}\n--- {path}"


def run_rule_tests(
    rules: str, tests: list[dict[str, Any]], workdir: Path
) -> subprocess.CompletedProcess[str]:
    """Run `promtool test rules` on the rule file with these test cases."""
    (workdir / "rules.yaml").write_text(rules)
    spec = {"rule_files": ["rules.yaml"], "evaluation_interval": "1m", "tests": tests}
    (workdir / "tests.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))
    return _run("test", "rules", str(workdir / "tests.yaml"))


def cumulative(*phases: tuple[int, float]) -> str:
    """Counter samples, one a minute: `(minutes, events per minute)` phases, as promtool values."""
    values = [0.0]
    for minutes, per_minute in phases:
        for _ in range(minutes):
            values.append(values[-1] + per_minute)
    return " ".join(f"{v:g}" for v in values)


def gauge(*phases: tuple[int, float]) -> str:
    values: list[float] = []
    for minutes, value in phases:
        values.extend([value] * minutes)
    return " ".join(f"{v:g}" for v in values)
