"""The Helm chart, rendered by a real `helm` and validated against Kubernetes 1.30's schemas.

Skipped as a whole when helm is not on PATH (tests/infra/install_helm.py installs it). The
checks that need no rendering (values.yaml against config.py, CRD copies, static manifests) are
in test_manifests.py and always run.
"""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from sla_management.cli import app as cli_app
from sla_management.config import Settings, StaticToken
from sla_management.devstack.servers import TEMPORAL_SEARCH_ATTRIBUTES
from tests.infra.k8s_manifests import (
    ADMISSION_POLICY,
    CHART,
    HELM_MISSING,
    NAMESPACE,
    RBAC,
    RELEASE,
    Doc,
    by_kind,
    container_env,
    containers,
    helm,
    helm_binary,
    is_unvalidated,
    leaves,
    load_yaml_docs,
    one,
    pod_specs,
    render,
    secret_data,
    setting_at,
    settings_env_names,
    validate_strict,
)

pytestmark = pytest.mark.skipif(helm_binary() is None, reason=HELM_MISSING)

DEFAULT = CHART / "values.yaml"
PRODUCTION = CHART / "values-production.yaml"

# Variables the chart may set that config.py does not read (none today).
PENDING_SETTINGS: frozenset[str] = frozenset()

TOKEN_SHA = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"  # sha256("test")

# Everything switched on, with the chart's own Secret instead of an existing one.
EVERYTHING: dict[str, Any] = {
    "secrets": {
        "existingSecret": "",
        "postgresqlPassword": "pg-secret",
        "redisPassword": "redis-secret",
        "alertmanagerWebhookToken": "am-secret",
        "kubernetesToken": "kube-secret",
        "staticTokens": [{"name": "ci", "role": "viewer", "tokenSha256": TOKEN_SHA}],
    },
    "tls": {
        "api": {"enabled": True, "secretName": "api-tls", "clientCaSecretName": "api-client-ca"},
        "temporal": {"enabled": True, "secretName": "temporal-tls", "serverName": "temporal.example"},
    },
    "worker": {"autoscaling": {"enabled": True}},
    "serviceMonitor": {"enabled": True},
    "networkPolicy": {"enabled": True, "egress": [{"to": [{"namespaceSelector": {}}]}]},
}


@pytest.fixture(scope="module")
def everything_values(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("values") / "everything.yaml"
    path.write_text(yaml.safe_dump(EVERYTHING))
    return path


@pytest.fixture(scope="module")
def default_docs() -> list[Doc]:
    return render()


@pytest.fixture(scope="module")
def production_docs() -> list[Doc]:
    return render(PRODUCTION)


@pytest.fixture(scope="module")
def everything_docs(everything_values: Path) -> list[Doc]:
    return render(PRODUCTION, everything_values)


def _values(*files: Path) -> dict[str, Any]:
    """values.yaml with the files merged over it, as Helm merges maps (lists are replaced)."""

    def merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
        out = dict(base)
        for key, value in over.items():
            out[key] = (
                merge(out[key], value)
                if isinstance(value, dict) and isinstance(out.get(key), dict)
                else value
            )
        return out

    merged: dict[str, Any] = yaml.safe_load(DEFAULT.read_text())
    for path in files:
        merged = merge(merged, yaml.safe_load(path.read_text()))
    return merged


# --- helm lint and schema validation -----------------------------------------------------------


@pytest.mark.parametrize("values", [DEFAULT, PRODUCTION], ids=["default values", "production values"])
def test_helm_lint_strict_passes(values: Path) -> None:
    done = helm("lint", "--strict", str(CHART), "--values", str(values))
    assert "0 chart(s) failed" in done.stdout


@pytest.mark.parametrize(
    "fixture",
    ["default_docs", "production_docs", "everything_docs"],
    ids=["default", "production", "everything on"],
)
def test_every_rendered_object_is_valid_kubernetes_1_30(fixture: str, request: pytest.FixtureRequest) -> None:
    docs: list[Doc] = request.getfixturevalue(fixture)
    validated = 0
    for doc in docs:
        if is_unvalidated(doc):
            continue
        validate_strict(doc)
        validated += 1
    unvalidated = sorted({doc["kind"] for doc in docs if is_unvalidated(doc)})
    # Only the Prometheus Operator's kind may escape validation; everything else is core Kubernetes.
    assert set(unvalidated) <= {"ServiceMonitor"}, unvalidated
    assert validated >= 15


def test_the_default_render_holds_the_whole_system(default_docs: list[Doc]) -> None:
    kinds = sorted(f"{d['kind']}/{d['metadata']['name']}" for d in default_docs)
    assert kinds == sorted(
        [
            "ServiceAccount/sla-management-system",
            "Secret/sla-management-system",
            "ClusterRole/sla-management-system-operator",
            "ClusterRole/sla-management-system-enforcer",
            "ClusterRoleBinding/sla-management-system-operator",
            "ClusterRoleBinding/sla-management-system-enforcer",
            "Role/sla-management-system-notify-secrets",
            "RoleBinding/sla-management-system-notify-secrets",
            "Service/sla-management-system",
            "Service/sla-management-system-worker-metrics",
            "Deployment/sla-management-system-api",
            "Deployment/sla-management-system-worker",
            "Deployment/sla-management-system-operator",
            "HorizontalPodAutoscaler/sla-management-system-api",
            "PodDisruptionBudget/sla-management-system-api",
            "PodDisruptionBudget/sla-management-system-worker",
            "Job/sla-management-system-migrations",
            "Job/sla-management-system-temporal-setup",
            "ValidatingAdmissionPolicy/neural-hive-sla-deploy-freeze",
            "ValidatingAdmissionPolicyBinding/neural-hive-sla-deploy-freeze",
            "ValidatingAdmissionPolicy/neural-hive-sla-freeze-annotations",
            "ValidatingAdmissionPolicyBinding/neural-hive-sla-freeze-annotations",
            "CustomResourceDefinition/slodefinitions.neural-hive.io",
            "CustomResourceDefinition/slapolicies.neural-hive.io",
        ]
    )


def test_rendering_refuses_kubernetes_older_than_1_30() -> None:
    done = helm("template", RELEASE, str(CHART), "--kube-version", "1.29.9", check=False)
    assert done.returncode != 0
    assert "kubeVersion" in done.stderr or "incompatible" in done.stderr


# --- the application's configuration -----------------------------------------------------------


def _app_containers(docs: list[Doc]) -> dict[str, Doc]:
    return {
        name: one(docs, "Deployment", f"-{name}")["spec"]["template"]["spec"]["containers"][0]
        for name in ("api", "worker", "operator")
    }


def test_every_setting_reaches_every_process(everything_docs: list[Doc], everything_values: Path) -> None:
    """values.yaml `config` + `secrets` + `tls` cover config.py completely, in each Deployment."""
    settings = settings_env_names()
    # null in values leaves the application's default: no variable, and that is the point.
    defaulted = {
        "__".join(path).upper()
        for path, value in leaves(_values(PRODUCTION, everything_values)["config"])
        if value is None
    }
    for name, container in _app_containers(everything_docs).items():
        env = set(container_env(container)) - {"OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_RESOURCE_ATTRIBUTES"}
        assert settings - env - defaulted == set(), f"{name} lacks settings"
        assert env - settings <= PENDING_SETTINGS, f"{name} sets variables config.py does not read"


def test_the_rendered_environment_parses_into_the_values_given(
    everything_docs: list[Doc], everything_values: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Feed the API container's env (Secret keys resolved) to Settings, as the pod would."""
    container = _app_containers(everything_docs)["api"]
    secret = secret_data(one(everything_docs, "Secret", RELEASE))
    # Only what the pod would see: drop whatever the test runner's environment sets.
    sections = {name.split("__")[0] for name in settings_env_names()}
    for name in list(os.environ):
        if name.split("__")[0] in sections:
            monkeypatch.delenv(name)
    for name, entry in container_env(container).items():
        if "value" in entry:
            monkeypatch.setenv(name, entry["value"])
        else:
            ref = entry["valueFrom"]["secretKeyRef"]
            assert ref["name"] == RELEASE
            monkeypatch.setenv(name, secret[ref["key"]])
    settings = Settings()
    values = _values(PRODUCTION, everything_values)
    for path, expected in leaves(values["config"]):
        actual = setting_at(settings, path)
        if expected is None:
            assert actual == setting_at(Settings.model_construct(), path), path
        elif isinstance(expected, float | int) and not isinstance(expected, bool):
            assert actual == pytest.approx(expected), path
        else:
            assert actual == expected, path
    assert settings.postgresql.password == "pg-secret"
    assert settings.redis.password == "redis-secret"
    assert settings.alertmanager.webhook_token == "am-secret"
    assert settings.kubernetes.token == "kube-secret"
    assert settings.auth.static_tokens == [StaticToken(name="ci", role="viewer", tokenSha256=TOKEN_SHA)]
    assert settings.api.tls_cert_file == "/etc/sla-management/api-tls/tls.crt"
    assert settings.api.tls_key_file == "/etc/sla-management/api-tls/tls.key"
    assert settings.api.tls_client_ca_file == "/etc/sla-management/api-client-ca/ca.crt"


def test_whole_numbers_are_not_printed_in_scientific_notation(default_docs: list[Doc]) -> None:
    env = container_env(_app_containers(default_docs)["api"])
    assert env["API__MAX_BODY_BYTES"]["value"] == "1048576"
    assert env["CALCULATOR__BURN_RATE_FAST_THRESHOLD"]["value"] == "14.4"
    assert json.loads(env["REDIS__CLUSTER_NODES"]["value"]) == ["redis:6379"]


# --- credentials -------------------------------------------------------------------------------


def test_the_default_release_carries_no_credential_but_a_generated_webhook_token(
    default_docs: list[Doc],
) -> None:
    # Nothing shipped: the only key is the Alertmanager webhook token, random per install.
    data = one(default_docs, "Secret", RELEASE).get("data")
    assert set(data) == {"alertmanager-webhook-token"}
    token = base64.b64decode(data["alertmanager-webhook-token"]).decode()
    assert len(token) == 40 and token.isalnum()
    again = one(render(), "Secret", RELEASE)["data"]["alertmanager-webhook-token"]
    assert again != data["alertmanager-webhook-token"]
    for where, pod in pod_specs(default_docs):
        for container in containers(pod):
            for name, entry in container_env(container).items():
                if name.endswith(("PASSWORD", "TOKEN", "TOKENS")):
                    assert "value" not in entry, f"{where}: {name} has a literal value"


def _render_error(*set_values: str) -> str:
    """stderr of a `helm template` that must fail."""
    args = [arg for item in set_values for arg in ("--set", item)]
    done = helm("template", RELEASE, str(CHART), *args, check=False)
    assert done.returncode != 0, "rendered although it should not"
    assert done.stdout == ""
    return done.stderr


def test_a_plaintext_api_key_in_values_fails_the_render() -> None:
    error = _render_error(
        "secrets.staticTokens[0].name=ci",
        "secrets.staticTokens[0].role=admin",
        "secrets.staticTokens[0].token=hunter2",
    )
    assert "plaintext token does not belong in values" in error


def test_an_unknown_role_fails_the_render() -> None:
    error = _render_error(
        "secrets.staticTokens[0].name=ci",
        "secrets.staticTokens[0].role=root",
        f"secrets.staticTokens[0].tokenSha256={TOKEN_SHA}",
    )
    assert "role must be viewer, responder, editor or admin" in error


def test_an_existing_secret_replaces_the_charts_own(production_docs: list[Doc]) -> None:
    """values-production.yaml names sla-management-credentials: no Secret is rendered."""
    assert by_kind(production_docs, "Secret") == []
    for where, pod in pod_specs(production_docs):
        for container in containers(pod):
            for name, entry in container_env(container).items():
                ref = entry.get("valueFrom", {}).get("secretKeyRef")
                if ref:
                    assert ref["name"] == "sla-management-credentials", f"{where}: {name}"
                    assert ref["optional"] is True


# --- pods: security, probes, scaling ------------------------------------------------------------


@pytest.mark.parametrize("fixture", ["default_docs", "everything_docs"], ids=["default", "everything on"])
def test_every_pod_runs_restricted(fixture: str, request: pytest.FixtureRequest) -> None:
    docs: list[Doc] = request.getfixturevalue(fixture)
    pods = list(pod_specs(docs))
    assert len(pods) == 5
    for where, pod in pods:
        assert pod["securityContext"]["runAsNonRoot"] is True, where
        assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}, where
        for container in containers(pod):
            context = container["securityContext"]
            assert context["readOnlyRootFilesystem"] is True, where
            assert context["allowPrivilegeEscalation"] is False, where
            assert context["capabilities"]["drop"] == ["ALL"], where
            assert "memory" in container["resources"]["limits"], where
            assert {"cpu", "memory"} <= set(container["resources"]["requests"]), where
            # A read-only root needs a writable /tmp.
            assert {"name": "tmp", "mountPath": "/tmp"} in container["volumeMounts"], where


def test_only_the_worker_and_the_operator_hold_a_kubernetes_token(default_docs: list[Doc]) -> None:
    tokens = {where: pod["automountServiceAccountToken"] for where, pod in pod_specs(default_docs)}
    assert tokens == {
        "Deployment/sla-management-system-api": False,
        "Deployment/sla-management-system-worker": True,
        "Deployment/sla-management-system-operator": True,
        "Job/sla-management-system-migrations": False,
        "Job/sla-management-system-temporal-setup": False,
    }
    assert one(default_docs, "ServiceAccount")["automountServiceAccountToken"] is False


def test_api_probes_health_and_ready_over_the_scheme_it_serves(
    default_docs: list[Doc], everything_docs: list[Doc]
) -> None:
    plain = _app_containers(default_docs)["api"]
    assert plain["livenessProbe"]["httpGet"] == {"path": "/health", "port": "http"}
    assert plain["readinessProbe"]["httpGet"] == {"path": "/ready", "port": "http"}
    tls = _app_containers(everything_docs)["api"]
    assert tls["livenessProbe"]["httpGet"]["scheme"] == "HTTPS"
    assert tls["readinessProbe"]["httpGet"] == {"path": "/ready", "port": "http", "scheme": "HTTPS"}
    worker = _app_containers(default_docs)["worker"]
    assert worker["livenessProbe"]["httpGet"] == {"path": "/metrics", "port": "metrics"}
    assert worker["ports"] == [{"name": "metrics", "containerPort": 9464, "protocol": "TCP"}]


def test_api_scales_from_2_to_10_on_cpu_and_memory(default_docs: list[Doc]) -> None:
    hpa = one(default_docs, "HorizontalPodAutoscaler", "-api")
    assert hpa["spec"]["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": f"{RELEASE}-api",
    }
    assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (2, 10)
    assert {m["resource"]["name"] for m in hpa["spec"]["metrics"]} == {"cpu", "memory"}
    # The HPA owns the replica count; a fixed one would fight it on every upgrade.
    assert "replicas" not in one(default_docs, "Deployment", "-api")["spec"]


def test_disruption_budgets_keep_an_api_and_a_worker(default_docs: list[Doc]) -> None:
    for component in ("api", "worker"):
        pdb = one(default_docs, "PodDisruptionBudget", f"-{component}")
        deployment = one(default_docs, "Deployment", f"-{component}")
        assert pdb["spec"]["minAvailable"] == 1
        assert pdb["spec"]["selector"] == deployment["spec"]["selector"]


def test_the_operator_is_a_single_replica_replaced_not_rolled(default_docs: list[Doc]) -> None:
    operator = one(default_docs, "Deployment", "-operator")
    assert operator["spec"]["replicas"] == 1
    assert operator["spec"]["strategy"] == {"type": "Recreate"}
    assert "kopf runs one active operator" in _render_error("operator.replicaCount=2")


@pytest.mark.parametrize(
    "command",
    ["api", "worker", "migrate", "operator"],
)
def test_each_process_the_chart_starts_is_a_cli_command(command: str, default_docs: list[Doc]) -> None:
    used = {tuple(c["command"]) for _, pod in pod_specs(default_docs) for c in containers(pod)}
    assert ("sla", command) in used
    names = {
        cmd.name or (cmd.callback.__name__ if cmd.callback else "") for cmd in cli_app.registered_commands
    }
    assert command in names


# --- hooks: migrations and Temporal search attributes ------------------------------------------


def test_migrations_run_before_install_and_upgrade(default_docs: list[Doc]) -> None:
    job = one(default_docs, "Job", "-migrations")
    assert job["metadata"]["annotations"]["helm.sh/hook"] == "pre-install,pre-upgrade"
    [container] = job["spec"]["template"]["spec"]["containers"]
    assert container["command"] == ["sla", "migrate"]
    # A pre-install hook runs before the release's Secret and ServiceAccount exist.
    assert "serviceAccountName" not in job["spec"]["template"]["spec"]
    assert "POSTGRESQL__PASSWORD" not in container_env(container)  # no password was given


def test_the_migration_password_comes_from_a_hook_secret_created_first(everything_docs: list[Doc]) -> None:
    job = one(everything_docs, "Job", "-migrations")
    hook_secret = one(everything_docs, "Secret", "-migrations")
    assert int(hook_secret["metadata"]["annotations"]["helm.sh/hook-weight"]) < int(
        job["metadata"]["annotations"]["helm.sh/hook-weight"]
    )
    assert (
        hook_secret["metadata"]["annotations"]["helm.sh/hook"]
        == job["metadata"]["annotations"]["helm.sh/hook"]
    )
    env = container_env(job["spec"]["template"]["spec"]["containers"][0])
    assert env["POSTGRESQL__PASSWORD"]["valueFrom"]["secretKeyRef"]["name"] == hook_secret["metadata"]["name"]
    assert secret_data(hook_secret) == {"postgresql-password": "pg-secret"}


def test_the_migration_password_comes_from_the_existing_secret(production_docs: list[Doc]) -> None:
    job = one(production_docs, "Job", "-migrations")
    env = container_env(job["spec"]["template"]["spec"]["containers"][0])
    assert env["POSTGRESQL__PASSWORD"]["valueFrom"]["secretKeyRef"]["name"] == "sla-management-credentials"


def test_temporal_setup_registers_the_search_attributes_the_workflows_write(
    default_docs: list[Doc], production_docs: list[Doc]
) -> None:
    job = one(default_docs, "Job", "-temporal-setup")
    assert job["metadata"]["annotations"]["helm.sh/hook"] == "pre-install,pre-upgrade"
    registered = {}
    for container in job["spec"]["template"]["spec"]["initContainers"]:
        assert container["command"] == ["temporal", "operator", "search-attribute", "create"]
        # One attribute per call: the CLI registers only the first --name it is given.
        _, name, _, kind = container["args"]
        registered[name] = kind
    assert registered == TEMPORAL_SEARCH_ATTRIBUTES
    env = container_env(
        one(production_docs, "Job", "-temporal-setup")["spec"]["template"]["spec"]["containers"][0]
    )
    assert env["TEMPORAL_ADDRESS"]["value"] == "temporal-frontend.temporal.svc.cluster.local:7233"
    assert env["TEMPORAL_TLS_CLIENT_CERT_PATH"]["value"] == "/etc/sla-management/temporal-tls/tls.crt"
    assert env["TEMPORAL_TLS_SERVER_NAME"]["value"] == "temporal-frontend.temporal.svc.cluster.local"


# --- admission policy and RBAC -----------------------------------------------------------------


def _admission(docs: list[Doc]) -> list[Doc]:
    return [d for d in docs if d["kind"].startswith("ValidatingAdmissionPolicy")]


def test_the_admission_policy_is_the_infra_file_for_the_default_release(default_docs: list[Doc]) -> None:
    """Rendered as sla-management-system in neural-hive-monitoring, the chart's copy is exactly
    infra/kubernetes/admission/validating-admission-policy.yaml (labels aside)."""
    source = {(d["kind"], d["metadata"]["name"]): d["spec"] for d in load_yaml_docs(ADMISSION_POLICY)}
    rendered = {(d["kind"], d["metadata"]["name"]): d["spec"] for d in _admission(default_docs)}
    assert rendered == source


def test_the_admission_policy_exempts_the_releases_own_service_account() -> None:
    docs = render(release="slo", namespace="observability", set_values=["serviceAccount.name=slo-controller"])
    user = "system:serviceaccount:observability:slo-controller"
    policies = by_kind(docs, "ValidatingAdmissionPolicy")
    assert len(policies) == 2
    for policy in policies:
        [condition] = [c for c in policy["spec"]["matchConditions"] if c["name"] == "not-sla-management"]
        assert condition["expression"] == f"request.userInfo.username != '{user}'"
    binding = one(docs, "ValidatingAdmissionPolicyBinding", "deploy-freeze")
    [selector] = binding["spec"]["matchResources"]["namespaceSelector"]["matchExpressions"]
    assert selector["values"] == ["kube-system", "kube-public", "kube-node-lease", "observability"]
    # The account the policy exempts is the one the worker annotates with.
    worker = one(docs, "Deployment", "-worker")["spec"]["template"]["spec"]
    assert worker["serviceAccountName"] == "slo-controller"
    for binding in by_kind(docs, "ClusterRoleBinding"):
        assert binding["subjects"] == [
            {"kind": "ServiceAccount", "name": "slo-controller", "namespace": "observability"}
        ]


def test_admission_can_be_rolled_out_as_warnings_or_left_out() -> None:
    warn = render(set_values=["admission.validationActions={Warn,Audit}"])
    for binding in by_kind(warn, "ValidatingAdmissionPolicyBinding"):
        assert binding["spec"]["validationActions"] == ["Warn", "Audit"]
    assert _admission(render(set_values=["admission.enabled=false"])) == []


def _rules(role: Doc) -> list[tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]]:
    return sorted((tuple(r["apiGroups"]), tuple(r["resources"]), tuple(r["verbs"])) for r in role["rules"])


def test_rbac_is_the_infra_file_bound_to_the_releases_account(default_docs: list[Doc]) -> None:
    """infra/kubernetes/rbac/rbac.yaml's two roles, same rules, bound to the chart's account."""
    source = {
        d["metadata"]["name"].rsplit("-", 1)[1]: d for d in by_kind(load_yaml_docs(RBAC), "ClusterRole")
    }
    rendered = {d["metadata"]["name"].rsplit("-", 1)[1]: d for d in by_kind(default_docs, "ClusterRole")}
    assert set(rendered) == set(source) == {"operator", "enforcer"}
    for role in source:
        assert _rules(rendered[role]) == _rules(source[role]), role
    for binding in by_kind(default_docs, "ClusterRoleBinding"):
        assert binding["roleRef"]["name"] in {d["metadata"]["name"] for d in rendered.values()}
        assert binding["subjects"] == [{"kind": "ServiceAccount", "name": RELEASE, "namespace": NAMESPACE}]
    # Our CRDs, by the group and plural names they actually declare.
    granted = {
        (g, r) for rule in rendered["operator"]["rules"] for g in rule["apiGroups"] for r in rule["resources"]
    }
    for crd in by_kind(default_docs, "CustomResourceDefinition"):
        group, plural = crd["spec"]["group"], crd["spec"]["names"]["plural"]
        assert {(group, plural), (group, f"{plural}/status")} <= granted, plural


def test_the_worker_reads_secrets_only_in_its_own_namespace(default_docs: list[Doc]) -> None:
    [role] = by_kind(default_docs, "Role")
    assert _rules(role) == [(("",), ("secrets",), ("get",))]
    [binding] = by_kind(default_docs, "RoleBinding")
    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "Role",
        "name": role["metadata"]["name"],
    }
    # Namespaced objects without a namespace: they land in the release's (helm install -n).
    assert "namespace" not in role["metadata"] and "namespace" not in binding["metadata"]


def test_rbac_follows_the_operators_namespaces() -> None:
    docs = render(set_values=["config.operator.namespaces={shop,payments}"])
    assert by_kind(docs, "ClusterRoleBinding") == []
    bindings = {
        (b["metadata"]["namespace"], b["roleRef"]["name"])
        for b in by_kind(docs, "RoleBinding")
        if b["roleRef"]["kind"] == "ClusterRole"
    }
    assert bindings == {
        (namespace, f"{RELEASE}-{role}")
        for namespace in ("shop", "payments")
        for role in ("operator", "enforcer")
    }
    env = container_env(one(docs, "Deployment", "-operator")["spec"]["template"]["spec"]["containers"][0])
    assert json.loads(env["OPERATOR__NAMESPACES"]["value"]) == ["shop", "payments"]


def test_the_operator_liveness_probe_follows_its_endpoint(default_docs: list[Doc]) -> None:
    container = _app_containers(default_docs)["operator"]
    endpoint = urlsplit(container_env(container)["OPERATOR__LIVENESS_ENDPOINT"]["value"])
    assert container["ports"] == [{"name": "health", "containerPort": endpoint.port, "protocol": "TCP"}]
    assert container["livenessProbe"]["httpGet"] == {"path": endpoint.path, "port": "health"}
    none = render(set_values=["config.operator.livenessEndpoint=null"])
    container = _app_containers(none)["operator"]
    assert "livenessProbe" not in container and "OPERATOR__LIVENESS_ENDPOINT" not in container_env(container)


# --- Services, ServiceMonitor, NetworkPolicy ----------------------------------------------------


def test_services_select_their_pods(everything_docs: list[Doc]) -> None:
    api = one(everything_docs, "Service", RELEASE)
    assert api["spec"]["selector"]["app.kubernetes.io/component"] == "api"
    assert api["spec"]["ports"] == [{"name": "http", "port": 8000, "targetPort": "http", "protocol": "TCP"}]
    metrics = one(everything_docs, "Service", "-worker-metrics")
    assert metrics["spec"]["selector"]["app.kubernetes.io/component"] == "worker"
    monitor = one(everything_docs, "ServiceMonitor")
    assert [e["port"] for e in monitor["spec"]["endpoints"]] == ["http", "metrics"]
    assert monitor["spec"]["endpoints"][0]["scheme"] == "https"
    for service in (api, metrics):
        labels = service["metadata"]["labels"]
        assert monitor["spec"]["selector"]["matchLabels"].items() <= labels.items()


def test_network_policies_open_only_the_api_and_metrics_ports(everything_docs: list[Doc]) -> None:
    policies = {
        d["metadata"]["name"].rsplit("-", 1)[1]: d["spec"] for d in by_kind(everything_docs, "NetworkPolicy")
    }
    assert set(policies) == {"api", "worker", "operator"}
    assert [p["port"] for p in policies["api"]["ingress"][0]["ports"]] == ["http"]
    assert [p["port"] for p in policies["worker"]["ingress"][0]["ports"]] == ["metrics"]
    assert policies["operator"]["ingress"] == []
    assert all(p["policyTypes"] == ["Ingress", "Egress"] for p in policies.values())
    assert render(set_values=["networkPolicy.enabled=false"]) and not by_kind(render(), "NetworkPolicy")


def test_the_chart_namespace_is_not_written_into_namespaced_objects(default_docs: list[Doc]) -> None:
    # `helm install -n` decides; a hard-coded namespace would split the release.
    for doc in default_docs:
        assert "namespace" not in doc["metadata"], f"{doc['kind']}/{doc['metadata']['name']}"
    assert NAMESPACE in json.dumps(_admission(default_docs))
