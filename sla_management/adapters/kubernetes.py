"""Deploy-freeze enforcement on Kubernetes: annotations on namespaces and workloads.

The freeze itself is a set of `neural-hive.io/*` annotations. A ValidatingAdmissionPolicy
(infra/kubernetes/admission/) reads them and denies deploys; this adapter only writes and reads
them. Every write is a JSON merge patch of `metadata.annotations`, so re-applying the same freeze
is a no-op on the server (no resourceVersion bump, no event) and every method is safe to retry.

The official client is synchronous. Each method runs its requests in one worker thread via
`asyncio.to_thread` so the Temporal worker's event loop is never blocked on the API server.
Retries with backoff belong to the caller (a Temporal activity retry policy); here errors are
only classified: `KubernetesUnavailable` is worth retrying, `KubernetesForbidden` is not until
someone fixes RBAC.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Final

import urllib3
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException
from kubernetes.config import ConfigException

from sla_management.errors import Unavailable

FREEZE: Final = "neural-hive.io/sla-freeze"
FREEZE_POLICY_ID: Final = "neural-hive.io/freeze-policy-id"
FREEZE_EVENT_ID: Final = "neural-hive.io/freeze-event-id"
FREEZE_REASON: Final = "neural-hive.io/freeze-reason"
FREEZE_SINCE: Final = "neural-hive.io/freeze-since"
# Only these are ours to remove. Other `neural-hive.io/` keys belong to people or other tools,
# notably `neural-hive.io/freeze-override`, the break-glass annotation a human puts on a workload.
FREEZE_ANNOTATIONS: Final = (FREEZE, FREEZE_POLICY_ID, FREEZE_EVENT_ID, FREEZE_REASON, FREEZE_SINCE)
# A freeze exception in force: on the namespace (the whole namespace may deploy) or on a service's
# workloads. The admission policy lets deploys through while `...-until` is present; the policy
# workflow removes the keys at expiry (CEL has no clock to compare `until` with).
EXCEPTION_UNTIL: Final = "neural-hive.io/freeze-exception-until"
EXCEPTION_ID: Final = "neural-hive.io/freeze-exception-id"
EXCEPTION_BY: Final = "neural-hive.io/freeze-exception-by"
EXCEPTION_ANNOTATIONS: Final = (EXCEPTION_UNTIL, EXCEPTION_ID, EXCEPTION_BY)
OVERRIDE: Final = "neural-hive.io/freeze-override"

# The reason is shown by `kubectl describe` and quoted in every admission denial; a paragraph
# there helps nobody, and all annotations of an object share one 256 KiB budget.
MAX_REASON_LENGTH: Final = 256

# Shown in managedFields and the audit log, so a stray annotation can be traced back to us.
FIELD_MANAGER: Final = "sla-management"
MERGE_PATCH: Final = "application/merge-patch+json"
PAGE_SIZE: Final = 500
WORKLOAD_NAME_LABEL: Final = "app.kubernetes.io/name"


class KubernetesError(Exception):
    """Base class; `str()` is the message shown to users. Not worth retrying as such."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class KubernetesUnavailable(KubernetesError, Unavailable):
    """The API server did not answer usefully (5xx, 429, connection refused, timeout): retry."""


class KubernetesForbidden(KubernetesError):
    """RBAC denied the request; retrying will not help until the role is fixed."""

    def __init__(self, message: str, *, verb: str, resource: str, group: str, namespace: str | None) -> None:
        super().__init__(message, status=403)
        self.verb = verb
        self.resource = resource
        self.group = group
        self.namespace = namespace


def freeze_annotations(policy_id: str, event_id: str, reason: str, since: datetime) -> dict[str, str]:
    """The annotations that mark a namespace or workload as frozen by one freeze event."""
    if since.tzinfo is None:
        # A naive time would be written as if it were UTC and silently shift by the host offset.
        raise ValueError("since must be timezone-aware")
    # One line: the reason ends up inside a one-line admission denial message.
    flat = " ".join(reason.split())
    if len(flat) > MAX_REASON_LENGTH:
        flat = flat[: MAX_REASON_LENGTH - 1] + "…"
    return {
        FREEZE: "true",
        FREEZE_POLICY_ID: policy_id,
        FREEZE_EVENT_ID: event_id,
        FREEZE_REASON: flat,
        FREEZE_SINCE: since.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }


def exception_annotations(exception_id: str, granted_by: str, until: datetime) -> dict[str, str]:
    if until.tzinfo is None:
        raise ValueError("until must be timezone-aware")
    return {
        EXCEPTION_UNTIL: until.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        EXCEPTION_ID: exception_id,
        EXCEPTION_BY: " ".join(granted_by.split())[:MAX_REASON_LENGTH],
    }


AnnotationsPatch = dict[str, dict[str, dict[str, str | None]]]


def _annotations_patch(annotations: dict[str, str] | None, managed: tuple[str, ...]) -> AnnotationsPatch:
    # In a JSON merge patch null deletes a key and deleting an absent key is a no-op, so removal
    # is as idempotent as setting. Keys of `managed` not in `annotations` are removed.
    values: dict[str, str | None] = dict.fromkeys(managed)
    values.update(annotations or {})
    return {"metadata": {"annotations": values}}


def _api_message(exc: ApiException) -> str:
    # The Status object's own message ("namespaces \"x\" is forbidden: User ... cannot patch ...")
    # says more than the HTTP reason phrase; fall back when the body is not a Status.
    try:
        body = json.loads(exc.body or "")
    except ValueError:
        body = None
    if isinstance(body, dict) and isinstance(body.get("message"), str):
        return str(body["message"])
    return f"{exc.status} {exc.reason}"


@contextmanager
def _classified(verb: str, resource: str, group: str, namespace: str | None, url: str) -> Iterator[None]:
    """Translate client and transport errors into this module's exceptions."""
    scope = f'in namespace "{namespace}"' if namespace else "cluster-wide"
    target = f"{verb} {resource}" + (f".{group}" if group else "") + f" {scope}"
    try:
        yield
    except ApiException as exc:
        status = exc.status or 0
        detail = _api_message(exc)
        if status == 403:
            raise KubernetesForbidden(
                f'Kubernetes RBAC forbids {target}: the service account needs verb "{verb}" on '
                f'resource "{resource}" in apiGroup "{group}" {scope}. API server said: {detail}',
                verb=verb,
                resource=resource,
                group=group,
                namespace=namespace,
            ) from exc
        # status 0 is the client's wrapper for TLS failures; 409 only happens under a concurrent
        # writer with preconditions and 429 is API priority-and-fairness pushing back.
        if status == 0 or status >= 500 or status in (409, 429):
            raise KubernetesUnavailable(
                f"Kubernetes API at {url} failed to {target}: {detail}", status=status or None
            ) from exc
        raise KubernetesError(f"Kubernetes API at {url} rejected {target}: {detail}", status=status) from exc
    except (urllib3.exceptions.HTTPError, OSError) as exc:
        # Connection refused/reset, DNS, timeouts: urllib3 has already done its quick reconnects.
        raise KubernetesUnavailable(
            f"Kubernetes API at {url} unreachable while trying to {target}: {type(exc).__name__}: {exc}"
        ) from exc


def _annotations_of(meta: client.V1ObjectMeta | None) -> dict[str, str]:
    return dict(meta.annotations or {}) if meta is not None else {}


class KubernetesEnforcer:
    """Writes and reads freeze annotations through the official `kubernetes` client."""

    def __init__(self, api_client: client.ApiClient, *, request_timeout: float = 15.0) -> None:
        self._api = api_client
        self._core = client.CoreV1Api(api_client)
        self._apps = client.AppsV1Api(api_client)
        # (connect, read): a hung API server must not pin a worker thread forever.
        self._timeout = (min(5.0, request_timeout), request_timeout)

    @classmethod
    def from_config(
        cls, api_url: str | None, token: str | None = None, verify_ssl: bool = True
    ) -> KubernetesEnforcer:
        """Explicit URL (tests, `kubectl proxy`), else in-cluster service account, else kubeconfig."""
        configuration = client.Configuration()
        if api_url:
            # An explicit URL means explicit credentials: we do not mix in a service-account
            # token meant for a different server.
            configuration.host = api_url.rstrip("/")
        else:
            try:
                config.load_incluster_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
            except ConfigException:
                # KUBECONFIG is read now, not at the client's import time, so a CLI or test that
                # sets it late is still honoured; None falls back to ~/.kube/config.
                config.load_kube_config(  # type: ignore[no-untyped-call]
                    config_file=os.environ.get("KUBECONFIG") or None,
                    client_configuration=configuration,
                    persist_config=False,
                )
        if token:
            configuration.api_key["BearerToken"] = token
            configuration.api_key_prefix["BearerToken"] = "Bearer"
            # The in-cluster loader re-reads its token file before each request through this
            # hook, which would quietly replace the token we were given.
            configuration.refresh_api_key_hook = None
        if not verify_ssl:
            configuration.verify_ssl = False
        api_client = client.ApiClient(configuration)
        api_client.user_agent = "sla-management/kubernetes-enforcer"
        return cls(api_client)

    @property
    def url(self) -> str:
        return str(self._api.configuration.host)

    def close(self) -> None:
        self._api.close()  # type: ignore[no-untyped-call]

    # Namespaces

    async def annotate_namespace(
        self,
        namespace: str,
        annotations: dict[str, str] | None,
        *,
        managed: tuple[str, ...] = FREEZE_ANNOTATIONS,
    ) -> bool:
        """Merge `annotations` into the namespace, or remove our `managed` keys when None.

        False when the namespace does not exist: nothing to freeze, and not an error worth a retry.
        """
        patch = _annotations_patch(annotations, managed)

        def call() -> bool:
            with _classified("patch", "namespaces", "", None, self.url):
                try:
                    self._core.patch_namespace(
                        namespace,
                        patch,
                        field_manager=FIELD_MANAGER,
                        _content_type=MERGE_PATCH,
                        _request_timeout=self._timeout,
                    )
                except ApiException as exc:
                    if exc.status == 404:
                        return False
                    raise
            return True

        return await asyncio.to_thread(call)

    async def read_namespace_annotations(self, namespace: str) -> dict[str, str]:
        """All annotations of the namespace; empty when it does not exist (so: not frozen)."""

        def call() -> dict[str, str]:
            with _classified("get", "namespaces", "", None, self.url):
                try:
                    ns = self._core.read_namespace(namespace, _request_timeout=self._timeout)
                except ApiException as exc:
                    if exc.status == 404:
                        return {}
                    raise
            return _annotations_of(ns.metadata)

        return await asyncio.to_thread(call)

    async def list_namespaces(self) -> list[str]:
        def call() -> list[str]:
            names: list[str] = []
            token: str | None = None
            with _classified("list", "namespaces", "", None, self.url):
                while True:
                    page = self._core.list_namespace(
                        limit=PAGE_SIZE, _continue=token, _request_timeout=self._timeout
                    )
                    names.extend(ns.metadata.name for ns in page.items if ns.metadata and ns.metadata.name)
                    token = page.metadata.var_continue if page.metadata else None
                    if not token:
                        break
            return sorted(names)

        return await asyncio.to_thread(call)

    async def read_secret(self, namespace: str, name: str, key: str) -> str:
        """One key of a Secret, decoded. Raises KubernetesError (KeyError when the key is absent)."""
        import base64

        def call() -> str:
            with _classified("get", "secrets", "", namespace, self.url):
                secret = self._core.read_namespaced_secret(name, namespace, _request_timeout=self._timeout)
            data = secret.data or {}
            if key not in data:
                raise KeyError(f"secret {namespace}/{name} has no key {key!r}")
            return base64.b64decode(data[key]).decode()

        return await asyncio.to_thread(call)

    # Workloads

    async def annotate_workloads(
        self,
        namespace: str,
        service: str,
        annotations: dict[str, str] | None,
        *,
        managed: tuple[str, ...] = FREEZE_ANNOTATIONS,
    ) -> list[str]:
        """Patch the service's Deployments and StatefulSets; returns "Kind/name" of each patched.

        A workload belongs to the service when its name is the service name or its
        `app.kubernetes.io/name` label is. One label selector cannot express that OR, so the
        namespace's workloads are listed once and filtered here; a namespace holds tens of
        them, not thousands.
        """
        body = _annotations_patch(annotations, managed)

        def call() -> list[str]:
            patched: list[str] = []
            for name in self._matching("deployments", namespace, service):
                with _classified("patch", "deployments", "apps", namespace, self.url):
                    if self._patch_or_gone(self._apps.patch_namespaced_deployment, name, namespace, body):
                        patched.append(f"Deployment/{name}")
            for name in self._matching("statefulsets", namespace, service):
                with _classified("patch", "statefulsets", "apps", namespace, self.url):
                    if self._patch_or_gone(self._apps.patch_namespaced_stateful_set, name, namespace, body):
                        patched.append(f"StatefulSet/{name}")
            return patched

        return await asyncio.to_thread(call)

    def _matching(self, resource: str, namespace: str, service: str) -> list[str]:
        names: list[str] = []
        token: str | None = None
        with _classified("list", resource, "apps", namespace, self.url):
            while True:
                if resource == "deployments":
                    page: client.V1DeploymentList | client.V1StatefulSetList = (
                        self._apps.list_namespaced_deployment(
                            namespace, limit=PAGE_SIZE, _continue=token, _request_timeout=self._timeout
                        )
                    )
                else:
                    page = self._apps.list_namespaced_stateful_set(
                        namespace, limit=PAGE_SIZE, _continue=token, _request_timeout=self._timeout
                    )
                for item in page.items:
                    meta = item.metadata
                    if meta is None or not meta.name:
                        continue
                    if meta.name == service or (meta.labels or {}).get(WORKLOAD_NAME_LABEL) == service:
                        names.append(meta.name)
                token = page.metadata.var_continue if page.metadata else None
                if not token:
                    break
        return sorted(names)

    def _patch_or_gone(
        self,
        patch: Callable[..., object],
        name: str,
        namespace: str,
        body: AnnotationsPatch,
    ) -> bool:
        # Deleted between the list and the patch: nothing left to freeze, not an error.
        try:
            patch(
                name,
                namespace,
                body,
                field_manager=FIELD_MANAGER,
                _content_type=MERGE_PATCH,
                _request_timeout=self._timeout,
            )
        except ApiException as exc:
            if exc.status == 404:
                return False
            raise
        return True
