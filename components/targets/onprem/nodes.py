"""On-prem accelerator nodes: which existing nodes form each pool, and the patches that mark them.

The platform layer finds pools by the labels and taints in the inventory; on clouds the node
pool sets them, on-prem aistack applies them to machines someone else manages. It does so with
server-side apply patches under its own field manager, so it owns exactly what it adds:

* labels are a map with per-key ownership, so the label patch owns only aistack's keys, and
  destroying the stack removes only those;
* ``spec.taints`` is an *atomic* list in the Node API (``x-kubernetes-list-type: atomic`` in the
  1.34 OpenAPI schema): whoever applies it owns the whole list. The taint patch therefore carries
  the node's current taints plus the pool's, read from the cluster at deploy time, is forced over
  the previous owner, and is retained on delete: removing the list on destroy would strip taints
  that are not aistack's (other teams' dedications).
* taints Kubernetes manages itself (``node.kubernetes.io/*``: not-ready, unreachable, the cordon's
  unschedulable, pressure conditions) are never carried: the node lifecycle controller adds and
  removes them as conditions change, so carrying them would re-assert a stale not-ready and make
  every deploy differ from the last (the end-to-end test caught exactly that on fresh nodes).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from ...handle import PoolInventory
from ...spec import AcceleratorPool

# Pulumi's SSA patch resources take over fields another manager holds when this annotation is set.
PATCH_FORCE = "pulumi.com/patchForce"
# Taints the kubelet and the node lifecycle controller own (they follow node conditions and spec.unschedulable).
CONTROLLER_TAINT_PREFIXES = ("node.kubernetes.io/", "node.cloudprovider.kubernetes.io/")


@dataclass(frozen=True)
class ExistingNode:
    name: str
    taints: tuple[Mapping[str, str], ...] = ()
    labels: Mapping[str, str] = field(default_factory=dict)


class NodeSource(Protocol):
    """Reads existing nodes: the live cluster when deploying, nothing at all for the offline plan."""

    offline: bool

    def named(self, names: Sequence[str]) -> list[ExistingNode]: ...

    def selected(self, selector: Mapping[str, str]) -> list[ExistingNode]: ...


class OfflineNodes:
    """No cluster: named nodes are taken as given (current taints unknown), selectors match nothing."""

    offline = True

    def named(self, names: Sequence[str]) -> list[ExistingNode]:
        return [ExistingNode(n) for n in names]

    def selected(self, selector: Mapping[str, str]) -> list[ExistingNode]:
        return []


class ClusterNodes:
    """The live cluster, through the official Kubernetes client and the stack's kubeconfig."""

    offline = False

    def __init__(self, kubeconfig: str | None, context: str | None) -> None:
        self._kubeconfig = kubeconfig
        self._context = context
        self._api: Any = None

    def _core(self) -> Any:
        if self._api is None:
            import os

            import yaml
            from kubernetes import client, config

            if self._kubeconfig is not None and "\n" in self._kubeconfig:
                api = config.new_client_from_config_dict(  # type: ignore[no-untyped-call]
                    yaml.safe_load(self._kubeconfig), context=self._context
                )
            else:
                path = os.path.expanduser(self._kubeconfig) if self._kubeconfig else None
                api = config.new_client_from_config(config_file=path, context=self._context)  # type: ignore[no-untyped-call]
            self._api = client.CoreV1Api(api)
        return self._api

    def named(self, names: Sequence[str]) -> list[ExistingNode]:
        from kubernetes.client.exceptions import ApiException

        out = []
        for name in names:
            try:
                out.append(_existing(self._core().read_node(name)))
            except ApiException as exc:
                if exc.status == 404:
                    raise LookupError(
                        f"node '{name}' is listed in an accelerator pool but does not exist in the cluster. "
                        "To fix: correct the pool's nodes list (kubectl get nodes shows the names)."
                    ) from None
                raise
        return out

    def selected(self, selector: Mapping[str, str]) -> list[ExistingNode]:
        text = ",".join(f"{k}={v}" for k, v in sorted(selector.items()))
        return [_existing(n) for n in self._core().list_node(label_selector=text).items]


def _existing(node: Any) -> ExistingNode:
    taints = tuple(
        {k: v for k, v in {"key": t.key, "value": t.value, "effect": t.effect}.items() if v is not None}
        for t in (node.spec.taints or [])
    )
    return ExistingNode(node.metadata.name, taints, dict(node.metadata.labels or {}))


def pool_nodes(pool: AcceleratorPool, source: NodeSource) -> list[ExistingNode]:
    """The nodes of one pool: its named nodes and whatever its selector matches, each once."""
    found = {n.name: n for n in source.named(pool.nodes)}
    if pool.node_selector:
        for n in source.selected(pool.node_selector):
            found.setdefault(n.name, n)
    return [found[k] for k in sorted(found)]


def merged_taints(current: Iterable[Mapping[str, str]], wanted: Iterable[Mapping[str, str]]) -> list[dict[str, str]]:
    """The node's taints with the pool's in place: one per (key, effect), the pool's value winning,
    other owners' taints kept in their original order, Kubernetes' own condition taints left out."""
    add = [dict(t) for t in wanted]
    ours = {(t["key"], t["effect"]) for t in add}
    kept = [
        dict(t)
        for t in current
        if (t.get("key"), t.get("effect")) not in ours
        and not str(t.get("key", "")).startswith(CONTROLLER_TAINT_PREFIXES)
    ]
    return kept + add


def label_patch(node: str, labels: Mapping[str, str]) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Node", "metadata": {"name": node, "labels": dict(labels)}}


def taint_patch(node: ExistingNode, pool: PoolInventory) -> dict[str, Any]:
    wanted = [{"key": t.key, **({"value": t.value} if t.value else {}), "effect": t.effect} for t in pool.taints]
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": node.name, "annotations": {PATCH_FORCE: "true"}},
        "spec": {"taints": merged_taints(node.taints, wanted)},
    }


def node_patches(pool: PoolInventory, nodes: Sequence[ExistingNode]) -> list[tuple[str, dict[str, Any]]]:
    """(role, patch) per node: role 'labels' or 'taints'."""
    out: list[tuple[str, dict[str, Any]]] = []
    for node in nodes:
        out.append(("labels", label_patch(node.name, pool.node_labels)))
        out.append(("taints", taint_patch(node, pool)))
    return out
