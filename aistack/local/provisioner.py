"""A simulated volume provisioner for the local cluster: PersistentVolumes for Pending claims.

No CSI driver or local-path provisioner pod runs in the local cluster (KWOK runs no containers), so
without this every PersistentVolumeClaim stays Pending and every pod that mounts one stays
unschedulable. This host process watches claims, volumes and storage classes and, like an external
provisioner would:

* for a Pending claim of an existing StorageClass (whatever its provisioner) creates a
  PersistentVolume pre-bound to it (``claimRef`` with the claim's uid): the claim's requested size
  and access modes, the class's name, reclaim policy and mount options, and a ``hostPath`` under the
  cluster's state directory (created; nothing is ever written to it). The controller-manager's
  PV controller then binds the pair, as it does for any external provisioner;
* for a ``WaitForFirstConsumer`` class, only once the scheduler has picked a node for the claim's
  first pod (the ``volume.kubernetes.io/selected-node`` annotation), with node affinity to that node,
  so the scheduler's volume binding completes and the pod lands there. The one exception is a class
  with provisioner ``kubernetes.io/no-provisioner`` (static local volumes): the scheduler never
  selects a node for those, so the volume is created at once, without node affinity, as if an
  administrator had prepared a matching local volume;
* deletes the volumes it created once they are ``Released`` (their claim is gone) and their reclaim
  policy is ``Delete``, so ``pulumi destroy`` leaves none behind; ``Retain`` volumes stay, as they would.

Everything it creates carries ``pv.kubernetes.io/provisioned-by: aistack.io/simulated`` (which also
tells the PV controller an external provisioner deletes it) and the label
``aistack.io/simulated-volume=true``; it never modifies a claim, a class or anybody else's volume.

Run by ``aistack local up`` (cluster.up), or by hand::

    python -m aistack.local.provisioner --kubeconfig ~/.cache/aistack/local/kubeconfig

It logs to stdout (cluster.up sends that to the cluster's logs/provisioner.log), restarts its watches
after errors and 410 Gone, resyncs every RESYNC_S seconds regardless, and exits on SIGTERM/SIGINT.
The decision logic (``plan``, ``volume_for``, ``deletable``) is pure: API objects in, objects out.
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

PROVISIONER = "aistack.io/simulated"
ANN_PROVISIONED_BY = "pv.kubernetes.io/provisioned-by"
ANN_SELECTED_NODE = "volume.kubernetes.io/selected-node"
ANN_CLASS_PROVISIONER = "aistack.io/class-provisioner"  # the class's own provisioner, for the record
LABEL = "aistack.io/simulated-volume"
NO_PROVISIONER = "kubernetes.io/no-provisioner"
HOSTNAME_LABEL = "kubernetes.io/hostname"
DEFAULT_SIZE = "1Gi"  # only for a claim without a storage request (the API server requires one)
RESYNC_S = 15.0
WATCH_TIMEOUT_S = 240

log = logging.getLogger("aistack.provisioner")

Obj = dict[str, Any]


# ------------------------------------------------------------------ decisions (pure)


def _meta(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    meta: Mapping[str, Any] = obj.get("metadata") or {}
    return meta


def _key(obj: Mapping[str, Any]) -> str:
    meta = _meta(obj)
    return f"{meta.get('namespace', '')}/{meta.get('name', '')}"


def pv_name(claim: Mapping[str, Any]) -> str:
    """pvc-<claim uid>, the name external provisioners give: one volume per claim, idempotent."""
    return f"pvc-{_meta(claim)['uid']}"


def ours(volume: Mapping[str, Any]) -> bool:
    return (_meta(volume).get("annotations") or {}).get(ANN_PROVISIONED_BY) == PROVISIONER


def wait_for_first_consumer(storage_class: Mapping[str, Any]) -> bool:
    return storage_class.get("volumeBindingMode") == "WaitForFirstConsumer"


def _claimed_by(volume: Mapping[str, Any], claim: Mapping[str, Any]) -> bool:
    """Whether a volume is (pre-)bound to this claim: same namespace/name, and same uid if it names one."""
    ref = (volume.get("spec") or {}).get("claimRef") or {}
    meta = _meta(claim)
    if (ref.get("namespace"), ref.get("name")) != (meta.get("namespace"), meta.get("name")):
        return False
    return not ref.get("uid") or ref.get("uid") == meta.get("uid")


@dataclass(frozen=True)
class Wait:
    """A claim this provisioner will serve, but not yet."""

    claim: str
    reason: str


def volume_for(claim: Mapping[str, Any], storage_class: Mapping[str, Any], volumes_root: Path) -> Obj | Wait:
    """The PersistentVolume to create for a Pending claim of ``storage_class``, or why it must wait."""
    meta, spec = _meta(claim), claim.get("spec") or {}
    class_name = _meta(storage_class)["name"]
    node = (meta.get("annotations") or {}).get(ANN_SELECTED_NODE)
    if wait_for_first_consumer(storage_class) and storage_class.get("provisioner") != NO_PROVISIONER and not node:
        return Wait(_key(claim), f"class {class_name} is WaitForFirstConsumer: no node selected yet")
    name = pv_name(claim)
    size = ((spec.get("resources") or {}).get("requests") or {}).get("storage") or DEFAULT_SIZE
    pv_spec: Obj = {
        "capacity": {"storage": size},
        "accessModes": list(spec.get("accessModes") or ["ReadWriteOnce"]),
        "persistentVolumeReclaimPolicy": storage_class.get("reclaimPolicy") or "Delete",
        "storageClassName": class_name,
        "volumeMode": spec.get("volumeMode") or "Filesystem",
        "claimRef": {
            "apiVersion": "v1",
            "kind": "PersistentVolumeClaim",
            "namespace": meta["namespace"],
            "name": meta["name"],
            "uid": meta["uid"],
        },
        "hostPath": {"path": str(volumes_root / name), "type": "DirectoryOrCreate"},
    }
    if storage_class.get("mountOptions"):
        pv_spec["mountOptions"] = list(storage_class["mountOptions"])
    if node:
        term = {"matchExpressions": [{"key": HOSTNAME_LABEL, "operator": "In", "values": [node]}]}
        pv_spec["nodeAffinity"] = {"required": {"nodeSelectorTerms": [term]}}
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolume",
        "metadata": {
            "name": name,
            "labels": {LABEL: "true"},
            "annotations": {
                ANN_PROVISIONED_BY: PROVISIONER,
                ANN_CLASS_PROVISIONER: str(storage_class.get("provisioner", "")),
            },
        },
        "spec": pv_spec,
    }


def deletable(volume: Mapping[str, Any], live_claims: Iterable[Mapping[str, Any]]) -> bool:
    """A volume this provisioner made, reclaim policy Delete, whose claim is gone (PV controller: Released)."""
    if not ours(volume) or _meta(volume).get("deletionTimestamp"):
        return False
    if (volume.get("spec") or {}).get("persistentVolumeReclaimPolicy", "Delete") != "Delete":
        return False
    if (volume.get("status") or {}).get("phase") not in ("Released", "Failed"):
        return False
    return not any(_claimed_by(volume, c) for c in live_claims)


def needs_volume(claim: Mapping[str, Any]) -> bool:
    """A claim waiting for a volume: Pending, not being deleted, not asking for a named volume."""
    meta, spec = _meta(claim), claim.get("spec") or {}
    return (
        not meta.get("deletionTimestamp")
        and (claim.get("status") or {}).get("phase", "Pending") == "Pending"
        and not spec.get("volumeName")
        and bool(spec.get("storageClassName"))
    )


@dataclass
class Plan:
    create: list[Obj] = field(default_factory=list)
    delete: list[str] = field(default_factory=list)
    waiting: list[Wait] = field(default_factory=list)


def plan(
    claims: Iterable[Mapping[str, Any]],
    volumes: Iterable[Mapping[str, Any]],
    classes: Iterable[Mapping[str, Any]],
    volumes_root: Path,
) -> Plan:
    """What to do for the cluster as listed: volumes to create, our volumes to delete, claims waiting.

    A claim is served when its class exists and no volume (ours or anybody's) is already bound or
    pre-bound to it; a claim without a class (``""``), or of a class that does not exist (yet), is left alone.
    """
    claims, volumes = list(claims), list(volumes)
    by_class = {_meta(c)["name"]: c for c in classes}
    out = Plan()
    for claim in claims:
        if not needs_volume(claim):
            continue
        sc = by_class.get(claim["spec"]["storageClassName"])
        if sc is None:
            continue
        if any(_claimed_by(v, claim) or _meta(v).get("name") == pv_name(claim) for v in volumes):
            continue
        decided = volume_for(claim, sc, volumes_root)
        if isinstance(decided, Wait):
            out.waiting.append(decided)
        else:
            out.create.append(decided)
    out.delete = [_meta(v)["name"] for v in volumes if deletable(v, claims)]
    return out


# ------------------------------------------------------------------ the process


class Provisioner:
    """Watches PVCs, PVs and StorageClasses (each on its own thread, only as a trigger) and reconciles
    the whole picture on the main thread after each change and every RESYNC_S seconds."""

    def __init__(self, core: Any, storage: Any, volumes_root: Path) -> None:
        """``core``, ``storage``: kubernetes.client.CoreV1Api and StorageV1Api (or stand-ins with their methods)."""
        self.core = core
        self.storage = storage
        self.volumes_root = volumes_root
        self.changed = threading.Event()
        self.stop = threading.Event()
        self.stopping = False  # set by the signal handler (a plain flag: no locks in a handler)
        self._waiting_logged: set[str] = set()

    @classmethod
    def from_kubeconfig(cls, kubeconfig: Path, volumes_root: Path) -> Provisioner:
        from kubernetes import client, config

        api = config.new_client_from_config(config_file=str(kubeconfig))  # type: ignore[no-untyped-call]
        return cls(client.CoreV1Api(api), client.StorageV1Api(api), volumes_root)

    # -- reconcile

    def _list(self, fn: Callable[..., Any], **kwargs: Any) -> list[Obj]:
        resp = fn(_preload_content=False, **kwargs)
        items: list[Obj] = json.loads(resp.data)["items"]
        return items

    def reconcile(self) -> Plan:
        from kubernetes.client.exceptions import ApiException

        # Claims before volumes: a volume listed after its claim was seen gone is really orphaned.
        claims = self._list(self.core.list_persistent_volume_claim_for_all_namespaces)
        classes = self._list(self.storage.list_storage_class)
        volumes = self._list(self.core.list_persistent_volume)
        todo = plan(claims, volumes, classes, self.volumes_root)
        for pv in todo.create:
            name, ref = pv["metadata"]["name"], pv["spec"]["claimRef"]
            try:
                Path(pv["spec"]["hostPath"]["path"]).mkdir(parents=True, exist_ok=True)
                self.core.create_persistent_volume(body=pv)  # a dict is sent as is
            except ApiException as e:
                if e.status != 409:  # 409: made already (a previous pass)
                    raise
                continue
            node = f", node {_selected_node(pv)}" if "nodeAffinity" in pv["spec"] else ""
            log.info(
                "created %s for %s/%s (%s, %s, class %s%s)",
                name,
                ref["namespace"],
                ref["name"],
                pv["spec"]["capacity"]["storage"],
                ",".join(pv["spec"]["accessModes"]),
                pv["spec"]["storageClassName"],
                node,
            )
            self._waiting_logged.discard(f"{ref['namespace']}/{ref['name']}")
        for name in todo.delete:
            try:
                self.core.delete_persistent_volume(name)
            except ApiException as e:
                if e.status != 404:
                    raise
            self._remove_dir(name)
            log.info("deleted %s (its claim is gone, reclaim policy Delete)", name)
        for wait in todo.waiting:
            if wait.claim not in self._waiting_logged:
                log.info("waiting: %s: %s", wait.claim, wait.reason)
                self._waiting_logged.add(wait.claim)
        return todo

    def _remove_dir(self, name: str) -> None:
        path = self.volumes_root / name
        if path.parent == self.volumes_root and path.is_dir():
            shutil.rmtree(path, ignore_errors=True)

    # -- watches

    def _watch(self, what: str, fn: Callable[..., Any], **kwargs: Any) -> None:
        """Trigger a reconcile on every event of ``fn``'s resource; relist after 410 Gone, back off on errors."""
        from kubernetes import watch
        from kubernetes.client.exceptions import ApiException

        rv: str | None = None
        backoff = 0.5
        failing = False
        while not self.stop.is_set():
            try:
                if rv is None:
                    rv = fn(limit=1, **kwargs).metadata.resource_version
                    self.changed.set()  # whatever happened while we were not watching
                    if failing:
                        log.info("watch %s: resumed", what)
                        failing, backoff = False, 0.5
                w = watch.Watch()  # type: ignore[no-untyped-call]
                events = w.stream(fn, resource_version=rv, timeout_seconds=WATCH_TIMEOUT_S, **kwargs)  # type: ignore[no-untyped-call]
                for _ in events:
                    self.changed.set()
                    if self.stop.is_set():
                        w.stop()  # type: ignore[no-untyped-call]
                        break
                rv = w.resource_version or rv
            except Exception as e:  # 410 Gone; connection refused or reset while the API server restarts
                rv = None  # list again: our resource version may be gone, and events were missed
                if isinstance(e, ApiException) and e.status == 410:
                    log.info("watch %s: 410 Gone, relisting", what)
                    continue
                # Once per outage at warning level; the retries (every ≤10 s) only at debug.
                level = logging.DEBUG if failing else logging.WARNING
                reason = (str(e).splitlines() or [""])[0][:160]
                log.log(level, "watch %s: %s: %s; retrying in %.1f s", what, type(e).__name__, reason, backoff)
                failing = True
                self.stop.wait(backoff)
                backoff = min(backoff * 2, 10.0)

    def run(self) -> None:
        watches: dict[str, tuple[Callable[..., Any], dict[str, Any]]] = {
            "persistentvolumeclaims": (self.core.list_persistent_volume_claim_for_all_namespaces, {}),
            "persistentvolumes": (self.core.list_persistent_volume, {}),
            "storageclasses": (self.storage.list_storage_class, {}),
        }
        for what, (fn, kwargs) in watches.items():
            threading.Thread(target=self._watch, args=(what, fn), kwargs=kwargs, name=what, daemon=True).start()
        log.info("provisioning volumes under %s for every storage class (as %s)", self.volumes_root, PROVISIONER)
        last = 0.0
        failures = 0
        while not self.stopping:
            if not self.changed.wait(0.5) and time.monotonic() - last < RESYNC_S:
                continue
            self.changed.clear()
            last = time.monotonic()
            try:
                self.reconcile()
                if failures:
                    log.info("reconcile: working again after %d failed attempts", failures)
                failures = 0
            except Exception as e:
                failures += 1
                reason = (str(e).splitlines() or [""])[0][:160]
                level = logging.WARNING if failures == 1 else logging.DEBUG  # once per outage
                log.log(level, "reconcile failed (%s: %s); retrying", type(e).__name__, reason)
                time.sleep(min(0.5 * failures, 5.0))
                self.changed.set()
        self.stop.set()
        log.info("stopped")

    def handle_signal(self, signum: int, frame: FrameType | None) -> None:
        self.stopping = True


def _selected_node(pv: Mapping[str, Any]) -> str:
    terms = pv["spec"]["nodeAffinity"]["required"]["nodeSelectorTerms"]
    return str(terms[0]["matchExpressions"][0]["values"][0])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m aistack.local.provisioner", description=__doc__.split("\n")[0])
    parser.add_argument("--kubeconfig", type=Path, required=True)
    parser.add_argument("--volumes", type=Path, help="where volumes live (default: volumes/ beside the kubeconfig)")
    parser.add_argument("--once", action="store_true", help="reconcile once and exit")
    args = parser.parse_args(argv)
    logging.basicConfig(
        stream=sys.stdout, level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s", force=True
    )
    logging.getLogger("urllib3").setLevel(logging.ERROR)  # its retry warnings repeat what the watches say
    volumes = (args.volumes or args.kubeconfig.parent / "volumes").resolve()
    volumes.mkdir(parents=True, exist_ok=True)
    prov = Provisioner.from_kubeconfig(args.kubeconfig, volumes)
    if args.once:
        prov.reconcile()
        return 0
    signal.signal(signal.SIGTERM, prov.handle_signal)
    signal.signal(signal.SIGINT, prov.handle_signal)
    prov.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
