"""The offline plan: the real Pulumi program, run in-process under the SDK's mock monitor.

No CLI, no credentials, no network. The mock monitor hands each registration to
``RecordingMonitor``, which keeps what the engine would be asked to create: type, name,
parent, inputs and resource options. Mocked resources echo their inputs back as outputs, so
values a cloud provider would compute (ids, endpoints, generated names) are not real here.
"""

from __future__ import annotations

import json
import logging
import re
import threading
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import pulumi
from pulumi.runtime import mocks
from pulumi.runtime.config import set_all_config
from pulumi.runtime.settings import SETTINGS, set_root_resource
from pulumi.runtime.stack import run_pulumi_func
from pulumi.runtime.sync_await import _sync_await

from components.spec import LoadedStack, StackSpec

from .preflight.needs import StackNeeds, stack_needs

PROJECT = "aistack"
POOL_LABEL = "aistack.io/pool"  # components.handle.POOL_LABEL (not imported: it pulls in the Kubernetes SDK)
ZONE_LABEL = "topology.kubernetes.io/zone"
SECRET_MASK = "[secret]"
UNKNOWN_MARK = "[unknown]"  # a value only the provider knows, at deploy time
UNKNOWN_NOTE = (
    "Offline plan: resources are those the program registers; values a provider computes at "
    "deploy time (ids, endpoints, generated names) are unknown offline."
)
# How the SDK marks a secret inside deserialized properties (pulumi.runtime.rpc).
_SECRET_SIG_KEY = "4dabf18193072939515e22adb298388d"
_SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270"


@dataclass(frozen=True)
class PlannedResource:
    urn: str
    type: str
    name: str
    parent: str
    custom: bool
    inputs: dict[str, Any]
    protect: bool
    retain_on_delete: bool
    dependencies: tuple[str, ...] = ()  # URNs this resource waits for (depends_on and input references)

    def as_json(self) -> dict[str, Any]:
        return {
            "urn": self.urn,
            "type": self.type,
            "name": self.name,
            "parent": self.parent,
            "inputs": self.inputs,
            "protect": self.protect,
            "retain_on_delete": self.retain_on_delete,
            "dependencies": list(self.dependencies),
        }


@dataclass
class Plan:
    stack: str
    spec: StackSpec
    resources: list[PlannedResource] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    needs: StackNeeds | None = None  # the quota, reservations and offerings each pool needs (preflight)

    def summary(self) -> dict[str, Any]:
        by_type = Counter(r.type for r in self.resources)
        return {
            "total": len(self.resources),
            "custom": sum(r.custom for r in self.resources),
            "components": sum(not r.custom for r in self.resources),
            "protected": sum(r.protect for r in self.resources),
            "by_type": dict(sorted(by_type.items())),
            "note": UNKNOWN_NOTE,
        }

    def pool_zones(self) -> dict[str, list[str]]:
        """Where each pool's nodes may run, as the program registered it: a GKE node pool's node locations
        (none: the cluster's), a Karpenter NodePool's zone requirement (the zones EC2 offers its instance type
        in; offline every zone is offered), a managed node group's subnets' zones. Empty: no limit of its own."""
        subnet_zone = {
            f"{r.name}-id": str(r.inputs["availabilityZone"])  # EchoMocks' ids
            for r in self.resources
            if r.type == "aws:ec2/subnet:Subnet" and "availabilityZone" in r.inputs
        }
        out: dict[str, list[str]] = {}
        for r in self.resources:
            inputs = r.inputs
            if r.type == "gcp:container/nodePool:NodePool":
                pool = (inputs.get("nodeConfig") or {}).get("labels", {}).get(POOL_LABEL)
                zones = list(inputs.get("nodeLocations") or [])
            elif r.type == "kubernetes:karpenter.sh/v1:NodePool":
                pool = inputs["metadata"]["name"]
                terms = inputs["spec"]["template"]["spec"].get("requirements", [])
                zones = [z for t in terms if t["key"] == ZONE_LABEL for z in t.get("values", [])]
            elif r.type == "aws:eks/nodeGroup:NodeGroup":
                pool = (inputs.get("labels") or {}).get(POOL_LABEL)
                pool = f"{pool} (floor)" if pool and pool != "system" else pool
                zones = [subnet_zone.get(str(s), str(s)) for s in inputs.get("subnetIds") or []]
            else:
                continue
            if pool:
                out[str(pool)] = zones
        return dict(sorted(out.items()))

    def as_json(self) -> dict[str, Any]:
        return {
            "stack": self.stack,
            "target": self.spec.target,
            "resources": [r.as_json() for r in self.resources],
            "summary": self.summary(),
            "warnings": self.warnings,
            "quota_needs": self.needs.as_json() if self.needs is not None else None,
            "pool_zones": self.pool_zones(),
        }

    def dumps(self) -> str:
        return json.dumps(self.as_json(), indent=2, sort_keys=True)

    def kubernetes_objects(self) -> list[dict[str, Any]]:
        """Every Kubernetes object in the plan, rebuilt as a manifest (providers excluded)."""
        out: dict[tuple[str, str, str, str], dict[str, Any]] = {}
        for r in self.resources:
            if not r.custom or not r.type.startswith("kubernetes:") or r.type.startswith("pulumi:providers:"):
                continue
            obj = {k: v for k, v in r.inputs.items() if not k.startswith("__")}
            if "apiVersion" not in obj or "kind" not in obj:
                continue
            if obj["kind"] == "Secret" and obj["apiVersion"] == "v1":
                continue  # its data is a Pulumi secret, unknown offline: see omitted_secrets()
            meta = obj.get("metadata", {})
            annotations = {k: v for k, v in meta.get("annotations", {}).items() if not k.startswith("pulumi.com/")}
            obj["metadata"] = {k: v for k, v in meta.items() if k != "annotations"}
            if annotations:
                obj["metadata"]["annotations"] = annotations
            key = (obj["apiVersion"], obj["kind"], meta.get("namespace", ""), meta.get("name", ""))
            # Several patches of one object (a node's labels and its taints) are one manifest to apply.
            out[key] = _merge(out[key], obj) if key in out else obj
        return list(out.values())

    def omitted_secrets(self) -> list[str]:
        """namespace/name of the Secrets kubernetes_objects leaves out (their data never leaves Pulumi)."""
        return _secret_names(self.resources)


def _secret_names(resources: list[PlannedResource]) -> list[str]:
    return sorted(
        f"{r.inputs['metadata'].get('namespace', '')}/{r.inputs['metadata']['name']}"
        for r in resources
        if r.custom and r.inputs.get("kind") == "Secret" and r.inputs.get("apiVersion") == "v1"
    )


def _merge(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    merged = dict(a)
    for k, v in b.items():
        merged[k] = _merge(merged[k], v) if isinstance(v, dict) and isinstance(merged.get(k), dict) else v
    return merged


def _clean(value: Any) -> Any:
    """Inputs as JSON: secrets masked, SDK objects reduced to plain values."""
    if isinstance(value, dict):
        if value.get(_SECRET_SIG_KEY) == _SECRET_SIG:
            return SECRET_MASK
        return {k: _clean(v) for k, v in sorted(value.items())}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if isinstance(value, pulumi.output.Unknown):
        return UNKNOWN_MARK
    if isinstance(value, pulumi.Resource):
        return "[resource reference]"
    return str(value)


# Invokes the program makes, answered with placeholders that read as "unknown offline".
_INVOKE_ANSWERS: dict[str, dict[str, Any]] = {
    "gcp:organizations/getProject:getProject": {"number": "[project-number]"},
    "aws:index/getAvailabilityZones:getAvailabilityZones": {"names": ["[az-1]", "[az-2]", "[az-3]"]},
    # Where EC2 offers an instance type (asked per pool at deploy time): offline, every zone.
    "aws:ec2/getInstanceTypeOfferings:getInstanceTypeOfferings": {"locations": ["[az-1]", "[az-2]", "[az-3]"]},
    # An existing VPC's private subnets (network.vpc_id): their route tables, for the S3 gateway endpoint.
    "aws:ec2/getRouteTable:getRouteTable": {"routeTableId": "[route-table]"},
}


class EchoMocks(mocks.Mocks):
    """Resources echo their inputs; invokes get placeholders. Ids derive from names so plans are stable."""

    def new_resource(self, args: mocks.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        return f"{args.name}-id", dict(args.inputs)

    def call(self, args: mocks.MockCallArgs) -> tuple[dict[str, Any], list[tuple[str, str]] | None]:
        return dict(_INVOKE_ANSWERS.get(args.token, {})), []


class RecordingMonitor(mocks.MockMonitor):
    """The SDK's mock monitor, keeping the resource options it is sent as well."""

    def __init__(self, mock: mocks.Mocks) -> None:
        super().__init__(mock)
        self.planned: list[PlannedResource] = []
        self._lock = threading.Lock()

    def RegisterResource(self, request: Any) -> Any:  # noqa: N802 (gRPC method name)
        response = super().RegisterResource(request)  # type: ignore[no-untyped-call]
        if request.type == "pulumi:pulumi:Stack":
            return response
        state = self.resources[response.urn].state
        item = PlannedResource(
            urn=response.urn,
            type=request.type,
            name=request.name,
            parent=request.parent,
            custom=bool(request.custom),
            inputs=_clean(state),
            protect=bool(request.protect),
            retain_on_delete=bool(request.retainOnDelete),
            dependencies=tuple(sorted(request.dependencies)),
        )
        with self._lock:
            self.planned.append(item)
        return response


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def config_for_engine(config: dict[str, Any]) -> dict[str, str]:
    """Config as the engine would pass it: text values, structured ones as JSON."""
    return {k: v if isinstance(v, str) else json.dumps(v) for k, v in config.items()}


def engine_secret_keys(paths: tuple[str, ...]) -> list[str]:
    """Secret config keys as the engine lists them: a structured key with a secure value anywhere inside
    (``aistack:alert_credentials.oncall``) is a secret as a whole (``aistack:alert_credentials``)."""
    tops = {f"{ns}:{re.split(r'[.[]', rest, maxsplit=1)[0]}" for ns, _, rest in (p.partition(":") for p in paths)}
    return sorted(set(paths) | tops)


def _offline_nodes(source: Any) -> Any:
    return lambda spec: source


def plan(loaded: LoadedStack) -> Plan:
    """Run the Pulumi program for a validated stack under mocks and return what it registers."""
    from aistack.preflight.hook import run_preflight
    from components.program import main  # imported late: it pulls in the cloud SDKs
    from components.targets import onprem
    from components.targets.onprem.nodes import OfflineNodes

    mock = EchoMocks()
    monitor = RecordingMonitor(mock)
    logger = logging.getLogger(f"aistack.plan.{loaded.name}")
    logger.propagate = False
    collect = _Collect()
    logger.handlers[:] = [collect]
    # A fresh root Stack per plan: set_mocks keeps an existing one, which would carry the
    # previous stack's name into this plan's URNs when several plans run in one process.
    set_root_resource(None)  # type: ignore[arg-type]
    SETTINGS.rpc_manager.clear()
    mocks.set_mocks(mock, project=PROJECT, stack=loaded.name, preview=True, monitor=monitor, logger=logger)
    set_all_config(config_for_engine(loaded.config), engine_secret_keys(loaded.secret_keys))

    def program() -> None:
        main(preflight=run_preflight)

    # No cluster offline: existing nodes are taken as named (their current taints unknown), unless
    # a caller (a test) has put its own node source in place.
    cluster_nodes = onprem.node_source
    if cluster_nodes is onprem.cluster_nodes:
        onprem.node_source = _offline_nodes(OfflineNodes())
    try:
        _sync_await(run_pulumi_func(program))
    finally:
        set_all_config({}, [])
        onprem.node_source = cluster_nodes
    resources = sorted(monitor.planned, key=lambda r: r.urn)
    return Plan(
        stack=loaded.name,
        spec=loaded.spec,
        resources=resources,
        warnings=collect.messages,
        needs=stack_needs(loaded.spec),
    )
