"""The cluster side of the drain: list, delete and wait, through the kubernetes Python client.

Kinds are found by group and kind through discovery, at the group's preferred version, so a cluster
without Karpenter, Kueue or Gateway API simply has none of those objects to drain.
"""

from __future__ import annotations

import builtins
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from .drain import DrainKind, Obj, Release, meta

# A kind the cluster does not serve (its CRD is not installed).


class Kube:
    """One cluster, by kubeconfig."""

    def __init__(self, kubeconfig: Path, context: str | None = None) -> None:
        from kubernetes import config, dynamic

        client = config.new_client_from_config(config_file=str(kubeconfig), context=context)  # type: ignore[no-untyped-call]
        self.api = dynamic.DynamicClient(client)  # type: ignore[no-untyped-call]
        self._resources: dict[tuple[str, str], Any] = {}

    def resource(self, group: str, kind: str) -> Any | None:
        """The API resource of ``kind`` in ``group`` at its preferred version (None: not served)."""
        from kubernetes.dynamic.exceptions import ResourceNotFoundError

        key = (group, kind)
        if key not in self._resources:
            found = None
            # Always with the prefix: the client reads an empty group as "any group" and then walks every
            # group version, and one that fails discovery (an APIService with nothing behind it) makes the
            # whole search fail, core kinds included.
            prefix = "api" if group == "" else "apis"
            try:
                candidates = self.api.resources.search(prefix=prefix, group=group, kind=kind)
            except ResourceNotFoundError:
                candidates = []
            served = [r for r in candidates if not r.name.count("/")]  # the resource, not its subresources
            if served:
                preferred = [r for r in served if getattr(r, "preferred", False)]
                found = (preferred or served)[0]
            if found is None and group == "":  # every API server serves the core kinds: never skip one
                raise RuntimeError(f"the API server's discovery does not list core kind {kind}")
            self._resources[key] = found
        return self._resources[key]

    def list(self, group: str, kind: str) -> builtins.list[Obj]:
        """Every object of the kind, in every namespace ([] when the kind is not served)."""
        res = self.resource(group, kind)
        if res is None:
            return []
        items: list[Obj] = res.get().to_dict().get("items") or []
        for o in items:  # a built-in kind's list items carry no kind or apiVersion
            o.setdefault("kind", kind)  # type: ignore[attr-defined]
            o.setdefault("apiVersion", res.group_version)  # type: ignore[attr-defined]
        return items

    def list_kind(self, kind: DrainKind) -> builtins.list[Obj]:
        return [o for o in self.list(kind.group, kind.kind) if kind.select(o)]

    def delete(self, api_version: str, kind: str, name: str, namespace: str | None = None) -> str | None:
        """Delete one object (background propagation); None when done or already gone, else the refusal."""
        from kubernetes.client.exceptions import ApiException
        from kubernetes.dynamic.exceptions import NotFoundError

        group = api_version.rsplit("/", 1)[0] if "/" in api_version else ""
        res = self.resource(group, kind)
        if res is None:
            return None
        try:
            res.delete(name=name, namespace=namespace, body={"propagationPolicy": "Background"})
        except NotFoundError:
            return None
        except ApiException as exc:
            return f"{kind} {namespace + '/' if namespace else ''}{name}: {_reason(exc)}"
        return None

    def delete_obj(self, o: Obj) -> str | None:
        m = meta(o)
        return self.delete(str(o.get("apiVersion", "v1")), str(o["kind"]), str(m["name"]), m.get("namespace"))

    def scale_to_zero(self, api_version: str, kind: str, name: str, namespace: str) -> str | None:
        """Set a Deployment's, StatefulSet's or ReplicaSet's replicas to 0; None when done or gone, else why not."""
        from kubernetes.client.exceptions import ApiException
        from kubernetes.dynamic.exceptions import NotFoundError

        res = self.resource(api_version.rsplit("/", 1)[0] if "/" in api_version else "", kind)
        if res is None:
            return None
        try:
            body = {"spec": {"replicas": 0}}
            res.patch(name=name, namespace=namespace, body=body, content_type="application/merge-patch+json")
        except NotFoundError:
            return None
        except ApiException as exc:
            return f"{kind} {namespace}/{name}: {_reason(exc)}"
        return None

    def release(self, r: Release) -> str | None:
        """Remove the namespace's ownerReference to its Profile, so deleting the Profile leaves it."""
        from kubernetes.client.exceptions import ApiException

        res = self.resource("", "Namespace")
        assert res is not None  # every API server serves namespaces
        ns = res.get(name=r.namespace).to_dict()
        refs = [
            x for x in meta(ns).get("ownerReferences") or [] if not (x["kind"] == "Profile" and x["name"] == r.profile)
        ]
        patch = {"metadata": {"ownerReferences": refs, "resourceVersion": meta(ns)["resourceVersion"]}}
        try:
            res.patch(name=r.namespace, body=patch, content_type="application/merge-patch+json")
        except ApiException as exc:
            return f"Namespace {r.namespace}: {_reason(exc)}"
        return None

    def ready_services(self) -> tuple[set[tuple[str, str]], set[tuple[str, str]]]:
        """(services with a ready endpoint, all services) as (namespace, name)."""
        services = {(meta(s)["namespace"], meta(s)["name"]) for s in self.list("", "Service")}
        ready = set()
        for sl in self.list("discovery.k8s.io", "EndpointSlice"):
            name = (meta(sl).get("labels") or {}).get("kubernetes.io/service-name")
            ok = any((e.get("conditions") or {}).get("ready") for e in sl.get("endpoints") or [])
            if name and ok:
                ready.add((meta(sl)["namespace"], name))
        return ready, services


def _reason(exc: Any) -> str:
    import json

    try:
        return str(json.loads(exc.body).get("message") or exc.reason)
    except (TypeError, ValueError, AttributeError):
        return str(getattr(exc, "reason", exc))


def wait_gone(
    still_there: Callable[[], Iterable[Mapping[str, Any]]], deadline: float, poll_s: float = 1.0
) -> list[Mapping[str, Any]]:
    """Poll until ``still_there()`` is empty or the (monotonic) deadline passes; what is left."""
    while True:
        left = list(still_there())
        if not left or time.monotonic() >= deadline:
            return left
        time.sleep(poll_s)


__all__ = ["Kube", "wait_gone"]
