"""A Kubernetes API on loopback: kmock's KubernetesEmulator served over real HTTP.

Adapters under test talk to it with the real official client, exactly as they would to a
cluster; tests read the results straight from the emulator's store, never through the adapter.

kmock 0.8 has gaps that would make the tests lie or fail; `ClusterEmulator` fills them:

- Objects carry no `resourceVersion`. Every create and patch here stamps one from a single
  counter (as etcd's revision is one counter), a patch carrying a stale one gets 409, and a
  list reports the current counter.
- `/api/v1/namespaces[/<name>]` cannot be parsed by kmock (the word "namespaces" is taken for
  the namespace prefix of namespaced paths), so list/get/create/patch of namespaces is routed
  here before kmock sees the request. Namespaces still live in `objects[NAMESPACES, None,
  name]`, like every other object. Namespace watches are not emulated (405).
- `key in objects` compares the raw key while `objects[key]` parses it, so a key with a string
  resource is never "in"; keys here always hold parsed `kmock.resource`s.
- A watch replays every stored object as ADDED, even when resumed from a resourceVersion.
  Here a resumed watch skips the replayed objects not newer than that version.
- `labelSelector` is ignored by kmock; equality-based selectors are honoured here and
  set-based ones are refused (400) rather than silently ignored.

What an operator (kopf) relies on besides, added for tests/operator/:

- `metadata.generateName` is ignored by kmock (kopf's events have no name, so the second one
  would conflict); a name is generated here.
- For resources served with a `status` subresource, a write to the resource ignores `status`
  and a write to `/status` changes nothing else, as on a real server (where an operator that
  patched status through the resource would silently lose it).
- `metadata.generation` goes up when a write changes `spec`.
- A JSON patch whose `test` op fails is 422 (kmock answers 500); kopf relies on that 422 for its
  optimistic finalizer patches.
- Marking an object with finalizers for deletion is a write with its own resourceVersion.
- `FakeCluster.serve_crds` declares custom resources from their CRD manifests (infra/crds/).

Every request is journaled (`FakeCluster.requests`) and failures can be injected per method
and path (`FakeCluster.fail`) before anything is stored, as a real API server's authorization
and admission reject a write before it reaches etcd. (kmock's own reactions cannot do that for
writes: its emulator stores a create or patch even when a reaction answers it with an error.)
"""

from __future__ import annotations

import asyncio
import copy
import re
import uuid
from collections.abc import AsyncIterator, Mapping
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import aiohttp.web
import attrs
import jsonpatch
import jsonpointer
import kmock
import pytest

# kind -> (kmock resource key, namespaced)
KINDS: dict[str, tuple[str, bool]] = {
    "Namespace": ("v1/namespaces", False),
    "Deployment": ("apps/v1/deployments", True),
    "StatefulSet": ("apps/v1/statefulsets", True),
    "DaemonSet": ("apps/v1/daemonsets", True),
    "Job": ("batch/v1/jobs", True),
    "Event": ("v1/events", True),
}
CRDS_RESOURCE = "apiextensions.k8s.io/v1/customresourcedefinitions"
NAME_LABEL = "app.kubernetes.io/name"
# Keys of `objects` must hold parsed resources: kmock parses a string resource when storing and
# reading, but `in` compares the raw key, so `("v1/namespaces", None, "x") in objects` is False.
NAMESPACES = kmock.resource("v1/namespaces")

_NAMESPACES = re.compile(r"/api/v1/namespaces/?")
_NAMESPACE = re.compile(r"/api/v1/namespaces/([^/]+)")
_NAMESPACE_SUBRESOURCE = re.compile(r"/api/v1/namespaces/([^/]+)/(status|finalize)")


@dataclass(frozen=True)
class SeenRequest:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    data: Any


@dataclass
class Failure:
    method: str
    path: re.Pattern[str]
    status: int
    reason: str
    message: str
    remaining: int | None  # None: every matching request fails
    delay: float = 0  # seconds to hang before answering, as an overloaded API server does


def _status(code: int, reason: str, message: str) -> aiohttp.web.Response:
    return aiohttp.web.json_response(
        {
            "apiVersion": "v1",
            "kind": "Status",
            "metadata": {},
            "status": "Failure",
            "code": code,
            "reason": reason,
            "message": message,
        },
        status=code,
    )


def _selects(selector: str, labels: Mapping[str, str]) -> bool:
    for term in filter(None, (t.strip() for t in selector.split(","))):
        if term.startswith("!"):
            if term[1:] in labels:
                return False
        elif "!=" in term:
            key, value = term.split("!=", 1)
            if labels.get(key.strip()) == value.strip():
                return False
        elif "=" in term:
            key, value = term.replace("==", "=").split("=", 1)
            if labels.get(key.strip()) != value.strip():
                return False
        elif term not in labels:
            return False
    return True


def _check_selector(selector: str) -> None:
    if re.search(r"\(|\s(in|notin)\s", selector):
        raise kmock.KubernetesError(
            status=400,
            reason="BadRequest",
            message=f"set-based label selectors are not emulated by tests/support/k8s.py: {selector!r}",
        )


def _set_revision(data: Any, revision: str) -> None:
    """Make the patch or body also set metadata.resourceVersion, in whichever format it came."""
    if isinstance(data, dict):
        if not isinstance(data.get("metadata"), dict):
            data["metadata"] = {}
        data["metadata"]["resourceVersion"] = revision
    elif isinstance(data, list):  # a JSON patch
        data.append({"op": "add", "path": "/metadata/resourceVersion", "value": revision})


def _merge_patched(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch, on copies."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = _merge_patched(result.get(key), value)
    return result


def _only_status(data: Any, status_write: bool) -> Any:
    """What of a write a server with a status subresource keeps: through `/status` only the
    status (and the resourceVersion precondition), through the resource everything else."""
    if isinstance(data, dict):
        if status_write:
            kept = {k: v for k, v in data.items() if k == "status"}
            version = (data.get("metadata") or {}).get("resourceVersion")
            if version is not None:
                kept["metadata"] = {"resourceVersion": version}
            return kept
        return {k: v for k, v in data.items() if k != "status"}
    if isinstance(data, list):

        def on_status(op: dict[str, Any]) -> bool:
            path = str(op.get("path", ""))
            return path == "/status" or path.startswith("/status/")

        return [op for op in data if op.get("op") == "test" or on_status(op) == status_write]
    return data


@attrs.define(kw_only=True)
class ClusterEmulator(kmock.KubernetesEmulator):
    """kmock's emulator with the 0.8 gaps listed in the module docstring filled in."""

    journal: list[SeenRequest] = attrs.field(factory=list, init=False)
    failures: list[Failure] = attrs.field(factory=list, init=False)
    _revision: int = attrs.field(default=0, init=False)

    def next_revision(self) -> str:
        self._revision += 1
        return str(self._revision)

    def stamp(self, body: dict[str, Any]) -> dict[str, Any]:
        """What the API server adds to an object on creation."""
        metadata = body.setdefault("metadata", {})
        metadata["resourceVersion"] = self.next_revision()
        metadata.setdefault("uid", str(uuid.uuid4()))
        metadata.setdefault("creationTimestamp", datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"))
        metadata.setdefault("generation", 1)
        return body

    async def __call__(self, raw_request: aiohttp.web.BaseRequest) -> aiohttp.web.StreamResponse:
        body = await raw_request.read()  # aiohttp caches it, so kmock can read it again
        data: Any = None
        if body:
            try:
                data = await raw_request.json()
            except ValueError:
                data = None
        # A copy, as sent: the handlers below add a resourceVersion to the data they store.
        seen = SeenRequest(
            raw_request.method,
            raw_request.path,
            dict(raw_request.query),
            dict(raw_request.headers),
            copy.deepcopy(data),
        )
        self.journal.append(seen)

        for failure in self.failures:
            if failure.remaining == 0 or failure.method != raw_request.method.upper():
                continue
            if failure.path.fullmatch(raw_request.path):
                if failure.remaining is not None:
                    failure.remaining -= 1
                if failure.delay:
                    await asyncio.sleep(failure.delay)
                return _status(failure.status, failure.reason, failure.message)

        path = raw_request.path
        if _NAMESPACES.fullmatch(path):
            return await self._namespaces(raw_request, data)
        if match := _NAMESPACE.fullmatch(path):
            return await self._namespace(raw_request, match.group(1), data)
        if _NAMESPACE_SUBRESOURCE.fullmatch(path):
            return _status(405, "MethodNotAllowed", "namespace subresources are not emulated")
        return await super().__call__(raw_request)

    # Namespaces, routed here because kmock cannot parse their paths.

    async def _namespaces(self, raw_request: aiohttp.web.BaseRequest, data: Any) -> aiohttp.web.Response:
        if raw_request.method == "GET" and raw_request.query.get("watch") in ("true", "1"):
            return _status(
                405, "MethodNotAllowed", "namespace watches are not emulated by tests/support/k8s.py"
            )
        if raw_request.method == "GET":
            selector = raw_request.query.get("labelSelector", "")
            try:
                _check_selector(selector)
            except kmock.KubernetesError as exc:
                return _status(exc.status, str(exc.reason), str(exc.message))
            items = [
                obj.raw
                for (resource, _, _), obj in self.objects.items()
                if resource == NAMESPACES and not obj.deleted
                if _selects(selector, obj.raw.get("metadata", {}).get("labels") or {})
            ]
            return aiohttp.web.json_response(
                {
                    "apiVersion": "v1",
                    "kind": "NamespaceList",
                    "metadata": {"resourceVersion": str(self._revision)},
                    "items": sorted(items, key=lambda item: str(item["metadata"]["name"])),
                }
            )
        if raw_request.method == "POST" and isinstance(data, dict):
            name = str(data.get("metadata", {}).get("name", ""))
            key = (NAMESPACES, None, name)
            if key in self.objects and not self.objects[key].deleted:
                return _status(409, "AlreadyExists", f'namespaces "{name}" already exists')
            body = self.stamp({**data, "apiVersion": "v1", "kind": "Namespace"})
            self.objects[key] = body
            return aiohttp.web.json_response(body, status=201)
        return _status(405, "MethodNotAllowed", f"{raw_request.method} namespaces is not emulated")

    async def _namespace(
        self, raw_request: aiohttp.web.BaseRequest, name: str, data: Any
    ) -> aiohttp.web.Response:
        key = (NAMESPACES, None, name)
        if key not in self.objects or self.objects[key].deleted:
            return _status(404, "NotFound", f'namespaces "{name}" not found')
        obj = self.objects[key]
        if raw_request.method == "GET":
            return aiohttp.web.json_response(obj.raw)
        if raw_request.method == "PATCH" and isinstance(data, list):
            return _status(415, "UnsupportedMediaType", "JSON patches of namespaces are not emulated")
        if raw_request.method == "PATCH" and isinstance(data, dict):
            # Merge and strategic-merge patches of a map such as annotations are the same thing.
            wanted = data.get("metadata", {}).get("resourceVersion")
            if wanted is not None and wanted != obj.raw["metadata"].get("resourceVersion"):
                return _status(
                    409,
                    "Conflict",
                    f'Operation cannot be fulfilled on namespaces "{name}": the object has been modified',
                )
            _set_revision(data, self.next_revision())
            try:
                obj.patch(data)
            except (ValueError, TypeError, LookupError) as exc:
                return _status(422, "Invalid", f"patch cannot be applied: {exc}")
            return aiohttp.web.json_response(obj.raw)
        return _status(405, "MethodNotAllowed", f"{raw_request.method} of a namespace is not emulated")

    # Everything else goes through kmock, with resourceVersions and selectors added.

    def _has_status_subresource(self, resource: kmock.resource) -> bool:
        return resource in self.resources and "status" in self.resources[resource].subresources

    def _prepare_update(self, request: kmock.Request, key: tuple[Any, ...]) -> None:
        """Status subresource, JSON-patch preconditions and generation (module docstring)."""
        assert request.resource is not None
        if self._has_status_subresource(request.resource):
            # In place: kmock stores `request.data` itself once this hook returns.
            filtered = _only_status(request.data, request.subresource == "status")
            if isinstance(request.data, dict):
                request.data.clear()
                request.data.update(filtered)
            elif isinstance(request.data, list):
                request.data[:] = filtered
        if key not in self.objects or self.objects[key].deleted:
            return
        current = self.objects[key].raw
        if isinstance(request.data, list):
            try:
                after = jsonpatch.apply_patch(copy.deepcopy(current), request.data)
            except (jsonpatch.JsonPatchException, jsonpointer.JsonPointerException) as exc:
                raise kmock.KubernetesError(
                    status=422, reason="Invalid", message=f"the JSON patch cannot be applied: {exc}"
                ) from exc
        else:
            after = _merge_patched(current, request.data)
        if request.subresource is None and after.get("spec") != current.get("spec"):
            generation = int(current.get("metadata", {}).get("generation") or 0) + 1
            if isinstance(request.data, dict):
                request.data.setdefault("metadata", {})["generation"] = generation
            else:
                request.data.append({"op": "add", "path": "/metadata/generation", "value": generation})

    async def _handle(self, request: kmock.Request) -> aiohttp.web.StreamResponse:
        if (
            request.resource is not None
            and request.action == kmock.action.DELETE
            and request.name is not None
        ):
            key = (request.resource, request.namespace, request.name)
            if key in self.objects and not self.objects[key].deleted:
                meta = self.objects[key].raw.get("metadata", {})
                if meta.get("finalizers") and not meta.get("deletionTimestamp"):
                    # The deletion mark that kmock adds next is a write like any other.
                    self.objects[key].patch({"metadata": {"resourceVersion": self.next_revision()}})
        if request.resource is not None and isinstance(request.data, dict | list):
            if request.action == kmock.action.UPDATE and request.name is not None:
                key = (request.resource, request.namespace, request.name)
                self._prepare_update(request, key)
                wanted = (
                    request.data.get("metadata", {}).get("resourceVersion")
                    if isinstance(request.data, dict)
                    else None
                )
                if wanted is not None and key in self.objects and not self.objects[key].deleted:
                    current = self.objects[key].raw.get("metadata", {}).get("resourceVersion")
                    if wanted != current:
                        raise kmock.KubernetesError(
                            status=409,
                            reason="Conflict",
                            message=(
                                f'Operation cannot be fulfilled on {request.resource.plural} "{request.name}"'
                            ),
                        )
                # kmock stores `request.data` right after this hook, so the version rides along.
                _set_revision(request.data, self.next_revision())
            elif request.action == kmock.action.CREATE and isinstance(request.data, dict):
                metadata = request.data.setdefault("metadata", {})
                if not metadata.get("name") and metadata.get("generateName"):
                    metadata["name"] = f"{metadata['generateName']}{uuid.uuid4().hex[:5]}"
                self.stamp(request.data)
        return await super()._handle(request)

    async def _serve_list(self, request: kmock.Request) -> kmock.Payload:
        selector = request.params.get("labelSelector", "")
        _check_selector(selector)
        payload = await super()._serve_list(request)
        assert isinstance(payload, dict)
        payload["metadata"] = {"resourceVersion": str(self._revision)}
        payload["items"] = [
            item
            for item in payload["items"]
            if _selects(selector, item.get("metadata", {}).get("labels") or {})
        ]
        return payload

    async def _serve_watch(self, request: kmock.Request) -> AsyncIterator[kmock.Payload]:
        since = request.params.get("resourceVersion", "")
        # "0" and absent both mean "start with everything", as on a real server.
        floor = int(since) if since.isdigit() and since != "0" else None
        async for event in super()._serve_watch(request):
            if floor is not None and isinstance(event, dict) and event.get("type") == "ADDED":
                version = str(event.get("object", {}).get("metadata", {}).get("resourceVersion", ""))
                if version.isdigit() and int(version) <= floor:
                    continue
            yield event


@dataclass
class FakeCluster:
    """What the `k8s` fixture yields: the URL to give the adapter, and honest read-backs."""

    url: str
    emulator: ClusterEmulator
    _stack: AsyncExitStack = field(repr=False)
    # KINDS, plus the custom kinds given to `serve_crds`.
    kinds: dict[str, tuple[str, bool]] = field(default_factory=lambda: dict(KINDS))

    @property
    def requests(self) -> list[SeenRequest]:
        return self.emulator.journal

    def _key(self, kind: str, namespace: str | None, name: str) -> tuple[kmock.resource, str | None, str]:
        resource, namespaced = self.kinds[kind]
        return kmock.resource(resource), namespace if namespaced else None, name

    def exists(self, kind: str, namespace: str | None, name: str) -> bool:
        key = self._key(kind, namespace, name)
        return key in self.emulator.objects and not self.emulator.objects[key].deleted

    def read(self, kind: str, namespace: str | None, name: str) -> dict[str, Any]:
        """A deep copy of the object as stored now; KeyError when absent."""
        if not self.exists(kind, namespace, name):
            raise KeyError(f"{kind} {namespace}/{name} does not exist in the emulator")
        return copy.deepcopy(self.emulator.objects[self._key(kind, namespace, name)].raw)

    def annotations(self, kind: str, namespace: str | None, name: str) -> dict[str, str]:
        return dict(self.read(kind, namespace, name).get("metadata", {}).get("annotations") or {})

    def namespace_annotations(self, name: str) -> dict[str, str]:
        return self.annotations("Namespace", None, name)

    def resource_version(self, kind: str, namespace: str | None, name: str) -> str:
        return str(self.read(kind, namespace, name)["metadata"]["resourceVersion"])

    def annotate(
        self, kind: str, namespace: str | None, name: str, annotations: dict[str, str | None]
    ) -> None:
        """Change annotations in the store, as someone else (a human, another tool) would."""
        self.emulator.objects[self._key(kind, namespace, name)].patch(
            {"metadata": {"annotations": annotations, "resourceVersion": self.emulator.next_revision()}}
        )

    def add_namespace(
        self, name: str, *, annotations: dict[str, str] | None = None, labels: dict[str, str] | None = None
    ) -> None:
        body = {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {
                "name": name,
                "labels": {"kubernetes.io/metadata.name": name, **(labels or {})},
                "annotations": dict(annotations or {}),
            },
            "spec": {"finalizers": ["kubernetes"]},
            "status": {"phase": "Active"},
        }
        self.emulator.objects[self._key("Namespace", None, name)] = self.emulator.stamp(body)

    def add_workload(
        self,
        kind: str,
        namespace: str,
        name: str,
        *,
        labels: dict[str, str] | None = None,
        annotations: dict[str, str] | None = None,
    ) -> None:
        resource, _ = KINDS[kind]
        selector = {"app": name}
        template = {
            "metadata": {"labels": selector},
            "spec": {"containers": [{"name": name, "image": f"registry.example/{name}:1.0"}]},
        }
        spec: dict[str, Any] = {"replicas": 1, "selector": {"matchLabels": selector}, "template": template}
        if kind == "StatefulSet":
            spec["serviceName"] = name
        body = {
            "apiVersion": resource.rsplit("/", 1)[0],
            "kind": kind,
            "metadata": {
                "name": name,
                "namespace": namespace,
                "labels": dict(labels or {}),
                "annotations": dict(annotations or {}),
            },
            "spec": spec,
        }
        self.emulator.objects[self._key(kind, namespace, name)] = self.emulator.stamp(body)

    def fail(
        self,
        method: str,
        path: str,
        status: int,
        *,
        reason: str = "",
        message: str = "",
        times: int | None = None,
        delay: float = 0,
    ) -> None:
        """Answer requests whose path fully matches the regex `path` with an error Status.

        `times` limits how many requests fail (None: all); `delay` hangs before answering.
        """
        self.emulator.failures.append(
            Failure(
                method=method.upper(),
                path=re.compile(path),
                status=status,
                reason=reason or {403: "Forbidden", 404: "NotFound"}.get(status, "InternalError"),
                message=message or f"injected by the test: HTTP {status}",
                remaining=times,
                delay=delay,
            )
        )

    def serve_crds(self, manifests: list[dict[str, Any]]) -> None:
        """Serve the custom resources that CustomResourceDefinition manifests declare (kind,
        plural, scope, short names, subresources), and store the CRDs, as `kubectl apply` would.
        The schemas are not enforced here; tests/operator/crds.py judges resources by them."""
        verbs = {"get", "list", "watch", "create", "update", "patch", "delete"}
        self.emulator.resources[CRDS_RESOURCE] = kmock.ResourceInfo(
            kind="CustomResourceDefinition", namespaced=False, verbs=verbs
        )
        for crd in manifests:
            spec, names = crd["spec"], crd["spec"]["names"]
            namespaced = spec["scope"] == "Namespaced"
            for version in spec["versions"]:
                resource = f"{spec['group']}/{version['name']}/{names['plural']}"
                self.emulator.resources[resource] = kmock.ResourceInfo(
                    kind=names["kind"],
                    singular=names.get("singular"),
                    namespaced=namespaced,
                    verbs=verbs,
                    shortnames=names.get("shortNames", []),
                    categories=names.get("categories", []),
                    subresources=set(version.get("subresources") or {}),
                )
                self.kinds[names["kind"]] = (resource, namespaced)
            key = (kmock.resource(CRDS_RESOURCE), None, crd["metadata"]["name"])
            self.emulator.objects[key] = self.emulator.stamp(copy.deepcopy(crd))

    def events(self, namespace: str, involved: str | None = None) -> list[dict[str, Any]]:
        """Events stored in a namespace, optionally only those about the object `involved`."""
        resource = kmock.resource(KINDS["Event"][0])
        return [
            copy.deepcopy(obj.raw)
            for (res, ns, _), obj in self.emulator.objects.items()
            if res == resource and ns == namespace and not obj.deleted
            if involved is None or obj.raw.get("involvedObject", {}).get("name") == involved
        ]

    async def stop(self) -> None:
        """Shut the server down: its port refuses connections from now on."""
        await self._stack.aclose()


def seed(cluster: FakeCluster) -> None:
    """Namespaces and workloads the adapter tests rely on; see the comments for what is what."""
    cluster.add_namespace(
        "neural-hive-orchestration",
        annotations={"neural-hive.io/owner": "platform-team"},  # ours by prefix, not by key
    )
    cluster.add_namespace("shop", annotations={"team": "storefront"}, labels={"tier": "frontend"})
    cluster.add_namespace("payments", annotations={"team": "payments"}, labels={"tier": "backend"})

    cluster.add_workload(
        "Deployment", "neural-hive-orchestration", "orchestrator", labels={NAME_LABEL: "orchestrator"}
    )

    # service "cart" in shop: by name, and two more by label
    cluster.add_workload(
        "Deployment",
        "shop",
        "cart",
        labels={NAME_LABEL: "cart"},
        annotations={"deployment.kubernetes.io/revision": "7"},
    )
    cluster.add_workload("Deployment", "shop", "cart-worker", labels={NAME_LABEL: "cart"})
    cluster.add_workload("StatefulSet", "shop", "cart-cache", labels={NAME_LABEL: "cart"})
    # unrelated to "cart"; "ledger" shares a service name with payments but not the namespace
    cluster.add_workload("Deployment", "shop", "checkout", labels={NAME_LABEL: "checkout"})
    cluster.add_workload("Deployment", "shop", "ledger", labels={NAME_LABEL: "ledger"})

    # service "ledger" in payments: the StatefulSet by name only, the Deployment by label only
    cluster.add_workload("StatefulSet", "payments", "ledger", labels={NAME_LABEL: "postgresql"})
    cluster.add_workload("Deployment", "payments", "ledger-api", labels={NAME_LABEL: "ledger"})
    cluster.add_workload("Deployment", "payments", "fraud-scoring", labels={NAME_LABEL: "fraud-scoring"})


@asynccontextmanager
async def serve_cluster() -> AsyncIterator[FakeCluster]:
    """An empty emulator on 127.0.0.1 and a random port (the benchmarks use it too)."""
    emulator = ClusterEmulator()
    for kind, (resource, namespaced) in KINDS.items():
        emulator.resources[resource] = kmock.ResourceInfo(
            kind=kind,
            namespaced=namespaced,
            verbs={"get", "list", "watch", "create", "update", "patch", "delete"},
        )
    stack = AsyncExitStack()
    await stack.enter_async_context(emulator)
    server = await stack.enter_async_context(kmock.Server(emulator))
    try:
        yield FakeCluster(url=str(server.url).rstrip("/"), emulator=emulator, _stack=stack)
    finally:
        await stack.aclose()


@pytest.fixture(name="k8s")
async def k8s_fixture() -> AsyncIterator[FakeCluster]:
    """A fresh, seeded emulator per test."""
    async with serve_cluster() as cluster:
        seed(cluster)
        yield cluster
