"""KubernetesEnforcer with the real official client against kmock's emulator over real HTTP.

Results are read back from the emulator's store (`k8s.annotations(...)`), not through the
adapter, so a bug in the adapter's reading cannot hide a bug in its writing.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import httpx
import pytest
from kubernetes import client

from sla_management.adapters.kubernetes import (
    FREEZE_ANNOTATIONS,
    MAX_REASON_LENGTH,
    KubernetesEnforcer,
    KubernetesForbidden,
    KubernetesUnavailable,
    freeze_annotations,
)
from tests.support.k8s import FakeCluster, k8s_fixture  # noqa: F401  (registers the `k8s` fixture)

SINCE = datetime(2025, 3, 4, 5, 6, 7, tzinfo=UTC)
FREEZE = freeze_annotations("pol-checkout-availability", "evt-0042", "error budget at 12% (< 20%)", SINCE)
OVERRIDE = "neural-hive.io/freeze-override"


@pytest.fixture
def enforcer(k8s: FakeCluster) -> Iterator[KubernetesEnforcer]:
    enforcer = KubernetesEnforcer.from_config(k8s.url)
    try:
        yield enforcer
    finally:
        enforcer.close()


# Namespaces


async def test_annotate_namespace_then_read_it_back(k8s: FakeCluster, enforcer: KubernetesEnforcer) -> None:
    assert await enforcer.annotate_namespace("shop", FREEZE) is True

    assert k8s.namespace_annotations("shop") == {"team": "storefront", **FREEZE}
    assert await enforcer.read_namespace_annotations("shop") == {"team": "storefront", **FREEZE}
    patch = [r for r in k8s.requests if r.method == "PATCH"]
    assert [r.path for r in patch] == ["/api/v1/namespaces/shop"]
    assert patch[0].headers["Content-Type"] == "application/merge-patch+json"
    assert patch[0].query["fieldManager"] == "sla-management"
    assert patch[0].data == {"metadata": {"annotations": FREEZE}}


async def test_reapplying_the_same_freeze_changes_nothing(
    k8s: FakeCluster, enforcer: KubernetesEnforcer
) -> None:
    assert await enforcer.annotate_namespace("shop", FREEZE) is True
    after_first = k8s.namespace_annotations("shop")

    assert await enforcer.annotate_namespace("shop", FREEZE) is True

    assert k8s.namespace_annotations("shop") == after_first == {"team": "storefront", **FREEZE}


async def test_removal_leaves_annotations_we_do_not_manage(
    k8s: FakeCluster, enforcer: KubernetesEnforcer
) -> None:
    await enforcer.annotate_namespace("neural-hive-orchestration", FREEZE)
    assert set(FREEZE_ANNOTATIONS) <= set(k8s.namespace_annotations("neural-hive-orchestration"))

    assert await enforcer.annotate_namespace("neural-hive-orchestration", None) is True

    # Same prefix, not one of our keys: it stays.
    assert k8s.namespace_annotations("neural-hive-orchestration") == {"neural-hive.io/owner": "platform-team"}


async def test_removal_from_an_unfrozen_namespace_is_a_no_op(
    k8s: FakeCluster, enforcer: KubernetesEnforcer
) -> None:
    assert await enforcer.annotate_namespace("payments", None) is True
    assert await enforcer.annotate_namespace("payments", None) is True

    assert k8s.namespace_annotations("payments") == {"team": "payments"}
    patch = next(r for r in k8s.requests if r.method == "PATCH")
    assert patch.data == {"metadata": {"annotations": dict.fromkeys(FREEZE_ANNOTATIONS)}}


async def test_missing_namespace_is_false_not_an_error(
    k8s: FakeCluster, enforcer: KubernetesEnforcer
) -> None:
    assert await enforcer.annotate_namespace("does-not-exist", FREEZE) is False
    assert await enforcer.annotate_namespace("does-not-exist", None) is False
    assert await enforcer.read_namespace_annotations("does-not-exist") == {}
    assert not k8s.exists("Namespace", None, "does-not-exist")


async def test_list_namespaces(enforcer: KubernetesEnforcer) -> None:
    assert await enforcer.list_namespaces() == ["neural-hive-orchestration", "payments", "shop"]


# Workloads


async def test_workloads_selected_by_name_and_by_label(
    k8s: FakeCluster, enforcer: KubernetesEnforcer
) -> None:
    untouched = {
        ("shop", "checkout"): k8s.resource_version("Deployment", "shop", "checkout"),
        ("shop", "ledger"): k8s.resource_version("Deployment", "shop", "ledger"),
    }

    patched = await enforcer.annotate_workloads("shop", "cart", FREEZE)

    assert patched == ["Deployment/cart", "Deployment/cart-worker", "StatefulSet/cart-cache"]
    assert k8s.annotations("Deployment", "shop", "cart") == {
        "deployment.kubernetes.io/revision": "7",
        **FREEZE,
    }
    assert k8s.annotations("Deployment", "shop", "cart-worker") == FREEZE
    assert k8s.annotations("StatefulSet", "shop", "cart-cache") == FREEZE
    for (namespace, name), version in untouched.items():
        assert k8s.annotations("Deployment", namespace, name) == {}
        assert k8s.resource_version("Deployment", namespace, name) == version


async def test_same_service_name_in_another_namespace_is_untouched(
    k8s: FakeCluster, enforcer: KubernetesEnforcer
) -> None:
    patched = await enforcer.annotate_workloads("payments", "ledger", FREEZE)

    # The StatefulSet matches by name only (its label says postgresql), the Deployment by label only.
    assert patched == ["Deployment/ledger-api", "StatefulSet/ledger"]
    assert k8s.annotations("StatefulSet", "payments", "ledger") == FREEZE
    assert k8s.annotations("Deployment", "payments", "ledger-api") == FREEZE
    assert k8s.annotations("Deployment", "payments", "fraud-scoring") == {}
    assert k8s.annotations("Deployment", "shop", "ledger") == {}


async def test_workload_removal_keeps_the_break_glass_override(
    k8s: FakeCluster, enforcer: KubernetesEnforcer
) -> None:
    await enforcer.annotate_workloads("shop", "cart", FREEZE)
    k8s.annotate("Deployment", "shop", "cart", {OVERRIDE: "INC-7 hotfix, approved by on-call"})

    assert await enforcer.annotate_workloads("shop", "cart", None) == [
        "Deployment/cart",
        "Deployment/cart-worker",
        "StatefulSet/cart-cache",
    ]

    assert k8s.annotations("Deployment", "shop", "cart") == {
        "deployment.kubernetes.io/revision": "7",
        OVERRIDE: "INC-7 hotfix, approved by on-call",
    }
    assert k8s.annotations("StatefulSet", "shop", "cart-cache") == {}


async def test_no_matching_workloads_patches_nothing(k8s: FakeCluster, enforcer: KubernetesEnforcer) -> None:
    assert await enforcer.annotate_workloads("shop", "no-such-service", FREEZE) == []
    assert await enforcer.annotate_workloads("no-such-namespace", "cart", FREEZE) == []
    assert [r for r in k8s.requests if r.method == "PATCH"] == []


# Failures


async def test_stopped_api_server_is_unavailable(k8s: FakeCluster, enforcer: KubernetesEnforcer) -> None:
    await enforcer.list_namespaces()  # a pooled keep-alive connection exists now
    await k8s.stop()

    with pytest.raises(KubernetesUnavailable, match=k8s.url):
        await enforcer.annotate_namespace("shop", FREEZE)
    with pytest.raises(KubernetesUnavailable):
        await enforcer.annotate_workloads("shop", "cart", FREEZE)
    with pytest.raises(KubernetesUnavailable):
        await enforcer.read_namespace_annotations("shop")
    with pytest.raises(KubernetesUnavailable):
        await enforcer.list_namespaces()


async def test_hung_api_server_times_out_as_unavailable(k8s: FakeCluster) -> None:
    k8s.fail("PATCH", "/api/v1/namespaces/shop", 504, delay=2)
    enforcer = KubernetesEnforcer(client.ApiClient(client.Configuration(host=k8s.url)), request_timeout=0.3)
    try:
        with pytest.raises(KubernetesUnavailable, match="Timeout"):
            await enforcer.annotate_namespace("shop", FREEZE)
    finally:
        enforcer.close()


async def test_server_errors_are_unavailable(k8s: FakeCluster, enforcer: KubernetesEnforcer) -> None:
    k8s.fail("PATCH", "/api/v1/namespaces/shop", 503, reason="ServiceUnavailable", message="etcd leader lost")

    with pytest.raises(KubernetesUnavailable, match="etcd leader lost") as info:
        await enforcer.annotate_namespace("shop", FREEZE)

    assert info.value.status == 503
    assert k8s.namespace_annotations("shop") == {"team": "storefront"}


async def test_forbidden_names_the_missing_rbac_permission(
    k8s: FakeCluster, enforcer: KubernetesEnforcer
) -> None:
    k8s.fail(
        "PATCH",
        "/apis/apps/v1/namespaces/shop/statefulsets/.*",
        403,
        message='statefulsets.apps "cart-cache" is forbidden: User "system:serviceaccount:x:y" cannot patch',
    )

    with pytest.raises(KubernetesForbidden) as info:
        await enforcer.annotate_workloads("shop", "cart", FREEZE)

    error = info.value
    assert (error.verb, error.resource, error.group, error.namespace) == (
        "patch",
        "statefulsets",
        "apps",
        "shop",
    )
    assert 'verb "patch" on resource "statefulsets" in apiGroup "apps"' in str(error)
    assert 'in namespace "shop"' in str(error)
    assert "cannot patch" in str(error)  # the API server's own words are kept
    # What was patched before the denial stays patched; the retry after the RBAC fix converges.
    assert k8s.annotations("StatefulSet", "shop", "cart-cache") == {}
    assert k8s.annotations("Deployment", "shop", "cart-worker") == FREEZE


async def test_forbidden_namespace_patch_is_cluster_scoped(
    k8s: FakeCluster, enforcer: KubernetesEnforcer
) -> None:
    k8s.fail("PATCH", "/api/v1/namespaces/.*", 403)

    with pytest.raises(KubernetesForbidden, match='verb "patch" on resource "namespaces" in apiGroup ""'):
        await enforcer.annotate_namespace("shop", FREEZE)


async def test_transient_failure_then_retry_converges(k8s: FakeCluster, enforcer: KubernetesEnforcer) -> None:
    k8s.fail("GET", "/apis/apps/v1/namespaces/shop/statefulsets", 500, times=1)

    with pytest.raises(KubernetesUnavailable):
        await enforcer.annotate_workloads("shop", "cart", FREEZE)
    patched = await enforcer.annotate_workloads("shop", "cart", FREEZE)

    assert patched == ["Deployment/cart", "Deployment/cart-worker", "StatefulSet/cart-cache"]
    assert k8s.annotations("StatefulSet", "shop", "cart-cache") == FREEZE


# Configuration


async def test_explicit_url_sends_the_token(k8s: FakeCluster) -> None:
    enforcer = KubernetesEnforcer.from_config(k8s.url, token="t0k3n")
    try:
        await enforcer.list_namespaces()
    finally:
        enforcer.close()

    assert k8s.requests[-1].headers["Authorization"] == "Bearer t0k3n"


async def test_without_url_outside_a_cluster_uses_kubeconfig(
    k8s: FakeCluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        json.dumps(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "emulator", "cluster": {"server": k8s.url}}],
                "users": [{"name": "tester", "user": {"token": "from-kubeconfig"}}],
                "contexts": [{"name": "test", "context": {"cluster": "emulator", "user": "tester"}}],
                "current-context": "test",
            }
        )
    )
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    monkeypatch.setenv("KUBECONFIG", str(kubeconfig))

    enforcer = KubernetesEnforcer.from_config(None)
    try:
        assert await enforcer.list_namespaces() == ["neural-hive-orchestration", "payments", "shop"]
    finally:
        enforcer.close()

    assert k8s.requests[-1].headers["Authorization"] == "Bearer from-kubeconfig"


# The annotation values


def test_freeze_annotations() -> None:
    since = datetime(2025, 3, 4, 7, 6, 7, tzinfo=timezone(timedelta(hours=2)))

    annotations = freeze_annotations("pol-1", "evt-1", "budget\nexhausted", since)

    assert annotations == {
        "neural-hive.io/sla-freeze": "true",
        "neural-hive.io/freeze-policy-id": "pol-1",
        "neural-hive.io/freeze-event-id": "evt-1",
        "neural-hive.io/freeze-reason": "budget exhausted",
        "neural-hive.io/freeze-since": "2025-03-04T05:06:07Z",
    }
    assert tuple(annotations) == FREEZE_ANNOTATIONS


def test_long_reason_is_truncated() -> None:
    reason = freeze_annotations("p", "e", "x" * 5000, SINCE)["neural-hive.io/freeze-reason"]

    assert len(reason) == MAX_REASON_LENGTH
    assert reason.endswith("…")


def test_naive_since_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone"):
        freeze_annotations("p", "e", "r", datetime(2025, 1, 1))


# The emulator's gaps are really filled (tests/support/k8s.py), or the tests above could lie.


async def test_emulator_versions_objects_and_refuses_stale_patches(k8s: FakeCluster) -> None:
    before = int(k8s.resource_version("Deployment", "shop", "cart"))
    async with httpx.AsyncClient(base_url=k8s.url) as http:
        response = await http.patch(
            "/apis/apps/v1/namespaces/shop/deployments/cart",
            json={"metadata": {"labels": {"x": "y"}}},
            headers={"Content-Type": "application/merge-patch+json"},
        )
        assert response.status_code == 200
        after = int(response.json()["metadata"]["resourceVersion"])
        assert after > before

        stale = await http.patch(
            "/apis/apps/v1/namespaces/shop/deployments/cart",
            json={"metadata": {"resourceVersion": str(before), "labels": {"x": "z"}}},
            headers={"Content-Type": "application/merge-patch+json"},
        )
        assert stale.status_code == 409
        listed = await http.get("/apis/apps/v1/namespaces/shop/deployments", params={"labelSelector": "x=y"})
        assert [item["metadata"]["name"] for item in listed.json()["items"]] == ["cart"]
        assert int(listed.json()["metadata"]["resourceVersion"]) >= after


async def test_emulator_resumed_watch_does_not_replay_old_objects(k8s: FakeCluster) -> None:
    async with httpx.AsyncClient(base_url=k8s.url, timeout=5) as http:
        listed = await http.get("/apis/apps/v1/namespaces/shop/deployments")
        since = listed.json()["metadata"]["resourceVersion"]
        await http.patch(
            "/apis/apps/v1/namespaces/shop/deployments/checkout",
            json={"metadata": {"annotations": {"a": "b"}}},
            headers={"Content-Type": "application/merge-patch+json"},
        )
        params = {"watch": "true", "resourceVersion": since}
        async with http.stream("GET", "/apis/apps/v1/namespaces/shop/deployments", params=params) as stream:
            async for line in stream.aiter_lines():
                if line.strip():
                    first = json.loads(line)
                    break

    # Without the fix, the first event would be an ADDED replay of whatever was stored first.
    assert first["object"]["metadata"]["name"] == "checkout"
    assert first["object"]["metadata"]["annotations"] == {"a": "b"}
