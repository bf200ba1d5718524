"""Static manifests and the chart's values, checked without helm (these always run).

Every YAML manifest under infra/ (CRDs, RBAC, admission policy, CI gate examples, the chart's
CRD copies) is validated strictly against Kubernetes 1.30's schemas; the example custom
resources against their CRD's schema; values.yaml against config.py.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from sla_management.config import Settings
from tests.infra.k8s_manifests import (
    CHART,
    INFRA_CRDS,
    REPO,
    Doc,
    by_kind,
    is_unvalidated,
    leaves,
    load_yaml_docs,
    setting_at,
    settings_env_names,
    validate_strict,
)

MANIFEST_DIRS = [
    REPO / "infra" / "crds",
    REPO / "infra" / "kubernetes",
    REPO / "infra" / "ci",
    CHART / "crds",
]
MANIFESTS = sorted(p for d in MANIFEST_DIRS for p in d.rglob("*.yaml") if p.is_file())

VALUES = yaml.safe_load((CHART / "values.yaml").read_text())

# Settings that come from `secrets` (a Secret key each) or from `tls` (mounted file paths), not
# from `config`. The chart's templates map them; test_helm_chart.py checks the rendered result.
FROM_SECRETS = {
    "POSTGRESQL__PASSWORD": "postgresqlPassword",
    "REDIS__PASSWORD": "redisPassword",
    "ALERTMANAGER__WEBHOOK_TOKEN": "alertmanagerWebhookToken",
    "KUBERNETES__TOKEN": "kubernetesToken",
    "AUTH__STATIC_TOKENS": "staticTokens",
}
# Set by the chart's `tls` section from mounted Secrets, not from `config`.
FROM_TLS = {
    "API__TLS_CERT_FILE",
    "API__TLS_KEY_FILE",
    "API__TLS_CLIENT_CA_FILE",
    "TEMPORAL__TLS_ENABLED",
    "TEMPORAL__TLS_CA_FILE",
    "TEMPORAL__TLS_CERT_FILE",
    "TEMPORAL__TLS_KEY_FILE",
    "TEMPORAL__TLS_SERVER_NAME",
}

# Where the chart's default differs from config.py's on purpose: config.py defaults to a laptop
# (loopback, localhost), the chart to a cluster.
IN_CLUSTER_DEFAULTS = {
    ("api", "host"): "a pod listens on all interfaces for its Service and probes",
    ("postgresql", "host"): "a Service name, not localhost",
    ("redis", "cluster_nodes"): "a Service name, not localhost",
    ("kafka", "bootstrap_servers"): "a Service name, not localhost",
    ("temporal", "address"): "a Service name, not localhost",
    ("operator", "liveness_endpoint"): "the operator pod's liveness probe",
}


def _rel(path: Path) -> str:
    return str(path.relative_to(REPO))


def test_there_are_manifests_to_check() -> None:
    names = {_rel(p) for p in MANIFESTS}
    assert "infra/kubernetes/admission/validating-admission-policy.yaml" in names
    assert "infra/ci/argocd-presync-gate.yaml" in names


@pytest.mark.parametrize("path", MANIFESTS, ids=_rel)
def test_every_static_manifest_is_valid_kubernetes_1_30(path: Path) -> None:
    docs = load_yaml_docs(path)
    assert docs, "no document"
    for doc in docs:
        assert {"apiVersion", "kind", "metadata"} <= set(doc), doc.get("kind")
        if not is_unvalidated(doc):
            validate_strict(doc)


def _crd_schemas() -> dict[tuple[str, str], dict[str, Any]]:
    schemas = {}
    for path in sorted(INFRA_CRDS.glob("*.yaml")):
        for crd in by_kind(load_yaml_docs(path), "CustomResourceDefinition"):
            for version in crd["spec"]["versions"]:
                key = (f"{crd['spec']['group']}/{version['name']}", crd["spec"]["names"]["kind"])
                schemas[key] = version["schema"]["openAPIV3Schema"]
    return schemas


def test_example_resources_fit_their_crd_schema() -> None:
    """OpenAPI structure only (types, enums, required, bounds), read as JSON Schema draft 4, whose
    boolean exclusiveMinimum OpenAPI 3.0 shares; the CEL rules need an API server."""
    schemas = _crd_schemas()
    examples = [doc for p in sorted((INFRA_CRDS / "examples").glob("*.yaml")) for doc in load_yaml_docs(p)]
    if not schemas or not examples:
        pytest.skip("infra/crds/ has no CRDs or no examples yet")
    for doc in examples:
        schema = schemas[(doc["apiVersion"], doc["kind"])]
        jsonschema.Draft4Validator(schema).validate({k: v for k, v in doc.items() if k != "metadata"})


def test_the_strict_validator_rejects_an_unknown_field() -> None:
    """So a pass above means something: a misspelt field is an error, not ignored."""
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "x"},
        "spec": {"containers": [{"name": "x", "image": "x", "readOnlyRootFileSystem": True}]},
    }
    with pytest.raises(jsonschema.ValidationError):
        validate_strict(pod)


# --- the chart's CRDs are infra/crds/'s -------------------------------------------------------


def _crd_files(directory: Path) -> dict[str, bytes]:
    return {
        p.name: p.read_bytes()
        for p in sorted(directory.glob("*.yaml"))
        if by_kind(load_yaml_docs(p), "CustomResourceDefinition")
    }


def test_the_charts_crds_are_byte_identical_copies_of_infra_crds() -> None:
    """Helm installs crds/ verbatim and never templates it; infra/crds/ is the source. After
    changing a CRD there: cp infra/crds/*.yaml infra/helm/sla-management-system/crds/"""
    source, copies = _crd_files(INFRA_CRDS), _crd_files(CHART / "crds")
    if not source and not copies:
        pytest.skip("infra/crds/ has no CRDs yet")
    assert sorted(copies) == sorted(source)
    for name, content in source.items():
        assert copies[name] == content, f"crds/{name} differs from infra/crds/{name}"
    # Nothing but CRDs in crds/: Helm would install anything there, once, never upgrading it.
    for path in (CHART / "crds").iterdir():
        assert {d["kind"] for d in load_yaml_docs(path)} == {"CustomResourceDefinition"}, path.name


# --- values.yaml against config.py ----------------------------------------------------------------


def test_values_cover_every_setting_exactly() -> None:
    from_config = {"__".join(path).upper() for path, _ in leaves(VALUES["config"])}
    settings = settings_env_names()
    assert from_config - settings == set(), "values.yaml config has keys config.py does not read"
    assert settings - from_config - set(FROM_SECRETS) - FROM_TLS == set(), "settings missing from values"
    assert set(FROM_SECRETS.values()) <= set(VALUES["secrets"])
    # A credential under config would end up in a plain env var, visible in the pod spec.
    assert not from_config & set(FROM_SECRETS)


def test_values_defaults_are_config_defaults_unless_in_cluster() -> None:
    defaults = Settings.model_construct()
    differing = {}
    for path, value in leaves(VALUES["config"]):
        default = setting_at(defaults, path)
        if hasattr(default, "model_dump"):
            default = default.model_dump()
        if value is None and default is None:
            continue
        if value != default and not (
            isinstance(value, int | float)
            and isinstance(default, int | float)
            and float(value) == float(default)
        ):
            differing[path] = (value, default)
    assert set(differing) == set(IN_CLUSTER_DEFAULTS), differing


def test_values_ship_no_credential() -> None:
    secrets = VALUES["secrets"]
    assert secrets["existingSecret"] == ""
    for key, value in secrets.items():
        assert not value, f"secrets.{key} has a default"
    production = yaml.safe_load((CHART / "values-production.yaml").read_text())
    assert set(production["secrets"]) == {"existingSecret"}, "production credentials belong in a Secret"


def test_every_value_the_templates_read_exists() -> None:
    """A typo in `.Values.x.y` renders as empty instead of failing; catch it here."""
    text = "\n".join(p.read_text() for p in (CHART / "templates").iterdir())
    for reference in sorted(set(re.findall(r"\.Values((?:\.[A-Za-z0-9_]+)+)", text))):
        node: Any = VALUES
        for part in reference.strip(".").split("."):
            assert isinstance(node, dict) and part in node, f".Values{reference} is not in values.yaml"
            node = node[part]


def test_chart_metadata() -> None:
    chart: Doc = yaml.safe_load((CHART / "Chart.yaml").read_text())
    assert chart["apiVersion"] == "v2"
    assert chart["name"] == CHART.name
    assert chart["kubeVersion"] == ">=1.30.0-0"
    pyproject = (REPO / "pyproject.toml").read_text()
    version = re.search(r'^version = "([^"]+)"', pyproject, re.M)
    assert version and chart["appVersion"] == version.group(1)
