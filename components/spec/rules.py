"""Rules that need the catalog or several fields at once.

Each rule is a pure function ``StackSpec -> Iterable[SpecIssue]``; ``check`` runs all of them so
one run reports every problem. A rule that depends on a value another rule rejects (an unknown
accelerator, say) skips quietly instead of piling on a second error for the same mistake.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Iterator

from foundation import catalog
from foundation.errors import SpecIssue, did_you_mean, join_path

from .. import capacity, naming
from ..shapes import ShapeError, eks_instance_type, gke_gpu_machine_type, supports_efa, tpu_slice
from .model import AcceleratorPool, OnPremSpec, StackSpec

Rule = Callable[[StackSpec], Iterable[SpecIssue]]
RULES: list[Rule] = []

# Namespaces the platform owns or Kubernetes reserves; a team may not take them over.
RESERVED_NAMESPACES = frozenset(
    {
        "default",
        "kube-system",
        "kube-public",
        "kube-node-lease",
        "kubeflow",
        "kueue-system",
        "monitoring",
        "gpu-operator",
        "cert-manager",
        "istio-system",
        "auth",
        "knative-serving",
    }
)


def rule(fn: Rule) -> Rule:
    RULES.append(fn)
    return fn


def check(spec: StackSpec) -> list[SpecIssue]:
    issues: list[SpecIssue] = []
    for r in RULES:
        issues.extend(r(spec))
    return issues


def _pool_path(i: int, field: str) -> str:
    return join_path("accelerator_pools", i, field)


def accelerator_of(pool: AcceleratorPool) -> catalog.Accelerator | None:
    return catalog.accelerators().get(pool.accelerator)


def mig_instances(pool: AcceleratorPool) -> int:
    """How many schedulable slices one physical GPU of this pool becomes."""
    acc = accelerator_of(pool)
    if pool.sharing.mode == "time-slicing" and pool.sharing.replicas:
        return pool.sharing.replicas
    if pool.sharing.mode == "mig" and acc is not None and pool.sharing.profile in acc.mig_profiles:
        return acc.mig_profiles[pool.sharing.profile]
    return 1


def pool_capacity(pool: AcceleratorPool) -> int:
    """Schedulable accelerator units the pool offers at its node ceiling.

    max_nodes x accelerators per node x slices per accelerator (time-slicing replicas or MIG instances).
    """
    return pool.max_nodes * pool.count * mig_instances(pool)


# ----------------------------------------------------------------------------------- where


@rule
def region_exists(spec: StackSpec) -> Iterator[SpecIssue]:
    known = catalog.regions().for_target(spec.target)
    if known and spec.region not in known:
        yield SpecIssue(
            "region",
            f"unknown {spec.target} region '{spec.region}'.",
            did_you_mean(spec.region, sorted(known)),
        )


@rule
def zones_in_region(spec: StackSpec) -> Iterator[SpecIssue]:
    if spec.target == "onprem":
        return
    for i, zone in enumerate(spec.zones):
        # GCP zones are <region>-<letter>, AWS AZs <region><letter>.
        suffix = zone[len(spec.region) :]
        ok = zone.startswith(spec.region) and (
            (spec.target == "gcp" and len(suffix) == 2 and suffix[0] == "-" and suffix[1].isalpha())
            or (spec.target == "aws" and len(suffix) == 1 and suffix.isalpha())
        )
        if not ok:
            example = f"{spec.region}-a" if spec.target == "gcp" else f"{spec.region}a"
            yield SpecIssue(
                join_path("zones", i),
                f"zone '{zone}' is not in region '{spec.region}'.",
                f"use zones of {spec.region}, e.g. '{example}', or drop zones to use the region's.",
            )


@rule
def target_specific_fields(spec: StackSpec) -> Iterator[SpecIssue]:
    if spec.target != "onprem":
        for field in ("kubeconfig", "context", "simulated"):
            if getattr(spec.cluster, field) not in (None, False):
                yield SpecIssue(
                    join_path("cluster", field),
                    f"only the onprem target connects to an existing cluster; target is {spec.target}.",
                    f"remove cluster.{field}, or set target: onprem.",
                )
        if spec.country is not None:
            yield SpecIssue(
                "country", "country is for onprem sites; clouds take it from the region.", "remove country."
            )
    if spec.target == "gcp" and spec.project is None:
        yield SpecIssue(
            "project", "the gcp target needs a project.", "set gcp:project (or aistack:project) to your project id."
        )
    if spec.target != "gcp" and spec.project is not None:
        yield SpecIssue("project", f"project is a GCP setting; target is {spec.target}.", "remove project.")


# ----------------------------------------------------------------------------------- pools


@rule
def pool_names_unique(spec: StackSpec) -> Iterator[SpecIssue]:
    seen: set[str] = set()
    for i, pool in enumerate(spec.accelerator_pools):
        if pool.name in seen:
            yield SpecIssue(
                _pool_path(i, "name"), f"pool name '{pool.name}' is used twice.", "give each pool its own name."
            )
        seen.add(pool.name)


@rule
def pool_accelerator(spec: StackSpec) -> Iterator[SpecIssue]:
    cat = catalog.accelerators()
    for i, pool in enumerate(spec.accelerator_pools):
        acc = cat.get(pool.accelerator)
        if acc is None:
            yield SpecIssue(
                _pool_path(i, "accelerator"),
                f"unknown '{pool.accelerator}';",
                did_you_mean(pool.accelerator, cat.ids),
            )
            continue
        if spec.target not in acc.targets:
            offered = [a.id for a in cat.accelerators if spec.target in a.targets and a.kind == acc.kind]
            alt = f"use one of {', '.join(offered)}" if offered else "choose another accelerator"
            yield SpecIssue(
                _pool_path(i, "accelerator"),
                f"{acc.name} ({acc.kind}) is not offered on target {spec.target}; it runs on {', '.join(acc.targets)}.",
                f"{alt}, or set target to {acc.targets[0]}.",
            )


@rule
def pool_tpu_topology(spec: StackSpec) -> Iterator[SpecIssue]:
    for i, pool in enumerate(spec.accelerator_pools):
        acc = accelerator_of(pool)
        if acc is None:
            continue
        if acc.kind == "tpu" and pool.tpu_topology is None:
            yield SpecIssue(
                _pool_path(i, "tpu_topology"),
                f"TPU pool '{pool.name}' needs a slice topology.",
                "set tpu_topology, e.g. '2x4' (8 chips, one host) or '4x4' (16 chips, 4 hosts).",
            )
        if acc.kind != "tpu" and pool.tpu_topology is not None:
            yield SpecIssue(
                _pool_path(i, "tpu_topology"),
                f"tpu_topology applies to TPU pools; '{pool.accelerator}' is a {acc.kind}.",
                "remove tpu_topology.",
            )


@rule
def gke_pool_shapes(spec: StackSpec) -> Iterator[SpecIssue]:
    """GKE only has certain VM shapes: GPUs per VM, and TPU topologies per generation."""
    if spec.target != "gcp":
        return
    for i, pool in enumerate(spec.accelerator_pools):
        acc = accelerator_of(pool)
        if acc is None or spec.target not in acc.targets:
            continue
        if acc.kind == "gpu" and pool.machine_type is None:
            try:
                gke_gpu_machine_type(acc.id, pool.count)
            except ShapeError as exc:
                yield SpecIssue(_pool_path(i, "count"), f"{exc}.", "use one of those counts, or set machine_type.")
        if acc.kind == "tpu" and not spec.zones:
            yield SpecIssue(
                "zones",
                f"TPU pool '{pool.name}' needs a zone: a TPU slice lives in exactly one zone.",
                f"set zones to a zone of {spec.region} that offers {acc.id}, e.g. [{spec.region}-a]; "
                "TPU pools use the first zone listed.",
            )
        if acc.kind == "tpu" and pool.tpu_topology is not None:
            try:
                tpu = tpu_slice(acc.id, pool.tpu_topology)
            except ShapeError as exc:
                yield SpecIssue(_pool_path(i, "tpu_topology"), f"{exc}.", "pick one of the valid topologies.")
                continue
            if pool.count != tpu.chips_per_vm:
                yield SpecIssue(
                    _pool_path(i, "count"),
                    f"a {tpu.topology} {acc.id} slice runs {tpu.chips_per_vm} "
                    f"chip{'' if tpu.chips_per_vm == 1 else 's'} per node ({tpu.machine_type}), "
                    f"not {pool.count}.",
                    f"set count: {tpu.chips_per_vm}.",
                )
            if tpu.multi_host and (pool.max_nodes != tpu.nodes or pool.min_nodes not in (0, tpu.nodes)):
                yield SpecIssue(
                    _pool_path(i, "max_nodes"),
                    f"a {tpu.topology} slice is {tpu.nodes} nodes that scale as one unit; "
                    f"got min_nodes {pool.min_nodes}, max_nodes {pool.max_nodes}.",
                    f"set max_nodes: {tpu.nodes} and min_nodes: 0 (scale to zero) or {tpu.nodes}; "
                    "for more slices add identical pools.",
                )


@rule
def eks_pool_shapes(spec: StackSpec) -> Iterator[SpecIssue]:
    """EC2 sells accelerators in fixed groups per instance; EFA exists on some instance types only."""
    for i, pool in enumerate(spec.accelerator_pools):
        if spec.target != "aws":
            if pool.efa:
                yield SpecIssue(
                    _pool_path(i, "efa"), f"EFA is an AWS network interface; target is {spec.target}.", "remove efa."
                )
            continue
        acc = accelerator_of(pool)
        if acc is None or spec.target not in acc.targets:
            continue
        instance = pool.machine_type
        if instance is None:
            try:
                instance = eks_instance_type(acc.id, pool.count)
            except ShapeError as exc:
                yield SpecIssue(_pool_path(i, "count"), f"{exc}.", "use one of those counts, or set machine_type.")
                continue
        if pool.efa and not supports_efa(instance):
            efa = ", ".join(catalog.eks().efa_instance_types)
            yield SpecIssue(
                _pool_path(i, "efa"), f"{instance} has no EFA interface.", f"remove efa, or use one of: {efa}."
            )


@rule
def pool_sharing(spec: StackSpec) -> Iterator[SpecIssue]:
    for i, pool in enumerate(spec.accelerator_pools):
        acc = accelerator_of(pool)
        sharing = pool.sharing
        path = join_path("accelerator_pools", i, "sharing")
        if sharing.mode == "none":
            if sharing.replicas is not None or sharing.profile is not None:
                yield SpecIssue(
                    path, "replicas/profile are set but mode is none.", "set mode: time-slicing or mig, or remove them."
                )
            continue
        if acc is not None and acc.kind != "gpu":
            yield SpecIssue(
                join_path(path, "mode"),
                f"GPU sharing does not apply to {acc.kind} '{acc.id}'.",
                "set sharing.mode: none.",
            )
            continue
        if sharing.mode == "time-slicing":
            if sharing.replicas is None:
                yield SpecIssue(
                    join_path(path, "replicas"),
                    "time-slicing needs a replica count.",
                    "set replicas: 2..48 (pods per GPU).",
                )
            if sharing.profile is not None:
                yield SpecIssue(join_path(path, "profile"), "profile is for mig, not time-slicing.", "remove profile.")
        if sharing.mode == "mig":
            if sharing.replicas is not None:
                yield SpecIssue(
                    join_path(path, "replicas"), "replicas is for time-slicing, not mig.", "remove replicas."
                )
            if acc is None:
                continue
            if not acc.supports_mig:
                mig_gpus = [a.id for a in catalog.accelerators().accelerators if a.supports_mig]
                yield SpecIssue(
                    join_path(path, "mode"),
                    f"{acc.name} has no MIG support.",
                    f"use time-slicing, or a MIG-capable GPU: {', '.join(mig_gpus)}.",
                )
            elif sharing.profile is None:
                yield SpecIssue(
                    join_path(path, "profile"),
                    "mig needs a profile.",
                    f"set profile to one of {', '.join(acc.mig_profiles)}.",
                )
            elif sharing.profile not in acc.mig_profiles:
                yield SpecIssue(
                    join_path(path, "profile"),
                    f"'{sharing.profile}' is not a MIG profile of {acc.name};",
                    did_you_mean(sharing.profile, acc.mig_profiles),
                )


@rule
def pool_sizes(spec: StackSpec) -> Iterator[SpecIssue]:
    for i, pool in enumerate(spec.accelerator_pools):
        if pool.min_nodes > pool.max_nodes:
            yield SpecIssue(
                _pool_path(i, "min_nodes"),
                f"min_nodes ({pool.min_nodes}) is above max_nodes ({pool.max_nodes}).",
                "lower min_nodes or raise max_nodes.",
            )


@rule
def pool_target_fields(spec: StackSpec) -> Iterator[SpecIssue]:
    for i, pool in enumerate(spec.accelerator_pools):
        if spec.target == "onprem":
            if pool.spot:
                yield SpecIssue(
                    _pool_path(i, "spot"), "spot capacity exists only on clouds.", "remove spot for onprem pools."
                )
            if not pool.nodes and not pool.node_selector:
                yield SpecIssue(
                    _pool_path(i, "nodes"),
                    f"onprem pool '{pool.name}' does not say which existing nodes it is.",
                    "list the node names under nodes, or give a node_selector that matches them.",
                )
            if pool.machine_type is not None:
                yield SpecIssue(
                    _pool_path(i, "machine_type"),
                    "onprem nodes already exist; machine_type is for clouds.",
                    "remove machine_type.",
                )
        else:
            for field in ("nodes", "node_selector"):
                if getattr(pool, field):
                    yield SpecIssue(
                        _pool_path(i, field),
                        f"{field} picks existing onprem nodes; on {spec.target} the pool creates its nodes.",
                        f"remove {field}.",
                    )


# ----------------------------------------------------------------------------------- capacity
# How a pool's machines are bought (components/capacity.py holds the providers' facts, with sources).

_ELSEWHERE = {
    "gcp": "on gcp use capacity.type flex-start (queued until GKE finds the capacity, up to "
    f"{capacity.FLEX_START_MAX_DAYS} days a node) or reservation (a Compute Engine reservation you hold)",
    "aws": "on aws use capacity.type capacity-block (an EC2 Capacity Block for ML, bought for fixed dates) "
    "or reservation (an On-Demand Capacity Reservation you hold)",
    "onprem": "remove capacity: an onprem pool is the nodes listed under nodes or node_selector",
}


def _capacity_path(i: int, field: str) -> str:
    return join_path("accelerator_pools", i, "capacity", field)


@rule
def pool_capacity_type(spec: StackSpec) -> Iterator[SpecIssue]:
    """The legacy spot flag agrees with capacity.type, and the target sells that kind of capacity."""
    for i, pool in enumerate(spec.accelerator_pools):
        cap = pool.capacity
        explicit = "type" in cap.model_fields_set
        if pool.spot and (cap.type != "on-demand" or explicit) and cap.type != "spot":
            yield SpecIssue(
                _pool_path(i, "spot"),
                f"spot: true asks for spot capacity, but capacity.type is '{cap.type}'.",
                "remove spot (capacity.type decides how the pool is bought), or set capacity.type: spot.",
            )
        if cap.type in capacity.TYPES_BY_TARGET[spec.target]:
            continue
        if spec.target == "onprem":
            what = {
                "reservation": "on-prem capacity is your own nodes: there is no cloud reservation to consume",
                "spot": "spot capacity exists only on clouds",
            }.get(cap.type, f"{cap.type} is a way to buy cloud capacity; on-prem capacity is your own nodes")
            yield SpecIssue(_capacity_path(i, "type"), f"{what}.", f"{_ELSEWHERE['onprem']}.")
            continue
        owner = "AWS (EC2 Capacity Blocks for ML)" if cap.type == "capacity-block" else "GKE (DWS flex-start)"
        yield SpecIssue(
            _capacity_path(i, "type"),
            f"capacity.type {cap.type} is offered by {owner} only; target is {spec.target}.",
            f"{_ELSEWHERE[spec.target]}.",
        )


def _reservation_problem(target: str, name: str) -> tuple[str, str] | None:
    """(reason, fix) when a reservation name is not one the target can consume."""
    if target == "aws" and not capacity.AWS_RESERVATION_ID.match(name):
        return (
            f"'{name}' is not an EC2 Capacity Reservation id.",
            "use the id `aws ec2 describe-capacity-reservations` shows, like cr-0123456789abcdef0.",
        )
    if target == "gcp" and not (
        capacity.GCP_RESERVATION_NAME.match(name) or capacity.GCP_SHARED_RESERVATION.match(name)
    ):
        return (
            f"'{name}' is not a Compute Engine reservation name.",
            "use the name `gcloud compute reservations list` shows (lowercase letters, digits and '-', at most "
            "63), or projects/<owner-project>/reservations/<name> for a reservation shared with this project.",
        )
    return None


@rule
def pool_capacity_fields(spec: StackSpec) -> Iterator[SpecIssue]:
    """Each capacity type gets exactly the fields it uses: a reservation to consume, a block to run in."""
    for i, pool in enumerate(spec.accelerator_pools):
        cap = pool.capacity
        kind = pool.capacity_type
        if kind == "reservation" and spec.target != "onprem":
            if cap.affinity == "specific" and cap.reservation is None:
                yield SpecIssue(
                    _capacity_path(i, "reservation"),
                    "affinity specific consumes one named reservation, and none is named.",
                    "set reservation to the reservation's name (gcp) or cr- id (aws), or set affinity: any to "
                    "consume any matching open reservation.",
                )
            elif cap.affinity == "any" and cap.reservation is not None:
                yield SpecIssue(
                    _capacity_path(i, "reservation"),
                    f"affinity any consumes whichever open reservation matches, so '{cap.reservation}' would be "
                    "ignored.",
                    "remove reservation, or set affinity: specific to consume only that one.",
                )
            elif cap.reservation is not None and (problem := _reservation_problem(spec.target, cap.reservation)):
                yield SpecIssue(_capacity_path(i, "reservation"), *problem)
        elif kind != "reservation":
            if cap.reservation is not None:
                yield SpecIssue(
                    _capacity_path(i, "reservation"),
                    f"reservation names capacity to consume, for capacity.type reservation; type is {kind}.",
                    "remove reservation, or set capacity.type: reservation.",
                )
            if "affinity" in cap.model_fields_set:
                yield SpecIssue(
                    _capacity_path(i, "affinity"),
                    f"affinity says which reservation to consume, for capacity.type reservation; type is {kind}.",
                    "remove affinity, or set capacity.type: reservation.",
                )
        if kind != "capacity-block" and cap.block_id is not None:
            yield SpecIssue(
                _capacity_path(i, "block_id"),
                f"block_id names an EC2 Capacity Block, for capacity.type capacity-block; type is {kind}.",
                "remove block_id, or set capacity.type: capacity-block.",
            )


@rule
def capacity_block_pools(spec: StackSpec) -> Iterator[SpecIssue]:
    """EC2 Capacity Blocks: a block id, and an instance type AWS sells that way."""
    if spec.target != "aws":
        return  # pool_capacity_type reports capacity-block elsewhere
    for i, pool in enumerate(spec.accelerator_pools):
        if pool.capacity_type != "capacity-block":
            continue
        block = pool.capacity.block_id
        if block is None:
            yield SpecIssue(
                _capacity_path(i, "block_id"),
                "a capacity-block pool runs in one Capacity Block you bought, and none is named.",
                "set block_id to the block's reservation id (cr-…), as "
                "`aws ec2 describe-capacity-reservations --filters Name=reservation-type,Values=capacity-block` "
                "shows it; buy one first with `aws ec2 purchase-capacity-block`.",
            )
        elif not capacity.AWS_RESERVATION_ID.match(block):
            yield SpecIssue(
                _capacity_path(i, "block_id"),
                f"'{block}' is not a Capacity Block reservation id (cr- and 8 to 17 hex digits).",
                "use the block's Capacity Reservation id, like cr-0123456789abcdef0; the cb- id of the "
                "offering is not it.",
            )
        acc = accelerator_of(pool)
        if acc is None or spec.target not in acc.targets:
            continue
        instance = pool.machine_type
        if instance is None:
            try:
                instance = eks_instance_type(acc.id, pool.count)
            except ShapeError:
                continue  # eks_pool_shapes reports the count
        if instance not in capacity.CAPACITY_BLOCK_INSTANCE_TYPES:
            sold = ", ".join(sorted(capacity.CAPACITY_BLOCK_INSTANCE_TYPES))
            field = "machine_type" if pool.machine_type else "accelerator"
            yield SpecIssue(
                _pool_path(i, field),
                f"{instance} is not sold as an EC2 Capacity Block for ML.",
                f"use an accelerator and count whose instance type is one of {sold}; or buy this one as "
                "capacity.type reservation (an On-Demand Capacity Reservation) or on-demand.",
            )


@rule
def flex_start_pools(spec: StackSpec) -> Iterator[SpecIssue]:
    """GKE flex-start with queued provisioning: the pool starts empty and nodes come only when queued work asks.

    GKE allocates a flex-start request all at once, single- or multi-host TPU slices included
    (https://cloud.google.com/kubernetes-engine/docs/how-to/provisioningrequest, read 2026-12-01).
    """
    if spec.target != "gcp":
        return
    for i, pool in enumerate(spec.accelerator_pools):
        if pool.capacity_type == "flex-start" and pool.min_nodes != 0:
            yield SpecIssue(
                _pool_path(i, "min_nodes"),
                f"a flex-start pool has no standing nodes: GKE creates them only for queued work; got min_nodes "
                f"{pool.min_nodes}.",
                "set min_nodes: 0, or use capacity.type reservation or on-demand for nodes that always run.",
            )


# ----------------------------------------------------------------------------------- teams


@rule
def team_names(spec: StackSpec) -> Iterator[SpecIssue]:
    seen: set[str] = set()
    for i, team in enumerate(spec.teams):
        if team.name in seen:
            yield SpecIssue(
                join_path("teams", i, "name"), f"team '{team.name}' is listed twice.", "merge the two entries."
            )
        if team.name in RESERVED_NAMESPACES:
            yield SpecIssue(
                join_path("teams", i, "name"),
                f"'{team.name}' is a system namespace.",
                f"rename the team, e.g. 'team-{team.name}'.",
            )
        seen.add(team.name)


@rule
def team_quota_pools(spec: StackSpec) -> Iterator[SpecIssue]:
    names = [p.name for p in spec.accelerator_pools]
    for i, team in enumerate(spec.teams):
        for pool_name in team.quotas:
            if pool_name not in names:
                hint = did_you_mean(pool_name, names) if names else "define accelerator_pools first."
                yield SpecIssue(
                    join_path("teams", i, "quotas", pool_name),
                    f"quota names pool '{pool_name}', which does not exist;",
                    hint,
                )


@rule
def quotas_fit_capacity(spec: StackSpec) -> Iterator[SpecIssue]:
    if spec.scheduling.allow_overcommit:
        return
    demand: Counter[str] = Counter()
    for team in spec.teams:
        demand.update(team.quotas)
    for i, pool in enumerate(spec.accelerator_pools):
        capacity = pool_capacity(pool)
        if demand[pool.name] > capacity:
            yield SpecIssue(
                _pool_path(i, "max_nodes"),
                f"teams are promised {demand[pool.name]} units of pool '{pool.name}', which holds at most "
                f"{capacity} ({pool.max_nodes} nodes x {pool.count} x {mig_instances(pool)} per accelerator).",
                "raise max_nodes, lower the team quotas, or set scheduling.allow_overcommit: true on purpose.",
            )


# ----------------------------------------------------------------------------------- kubeflow

# Components that run per user namespace and so need Profiles (Kubeflow's multi-user mode).
NEEDS_PROFILES = ("pipelines", "notebooks", "dashboard", "katib")


@rule
def kubeflow_components(spec: StackSpec) -> Iterator[SpecIssue]:
    kf = spec.kubeflow
    if not kf.enabled:
        return
    chosen = list(kf.components)
    for i, name in enumerate(chosen):
        if chosen.index(name) != i:
            yield SpecIssue(join_path("kubeflow", "components", i), f"'{name}' is listed twice.", "list it once.")
    needing = [c for c in chosen if c in NEEDS_PROFILES]
    if needing and "profiles" not in chosen:
        yield SpecIssue(
            "kubeflow.components",
            f"{', '.join(needing)} run in multi-user mode and need Kubeflow Profiles, which are not listed.",
            "add 'profiles' to kubeflow.components.",
        )


@rule
def air_gapped_covers_everything(spec: StackSpec) -> Iterator[SpecIssue]:
    up = spec.upstream
    if not up.install or up.charts_mirror is None or up.manifests_mirror is not None:
        return
    if spec.kubeflow.enabled and spec.kubeflow.components:
        yield SpecIssue(
            "upstream.manifests_mirror",
            "charts come from a mirror but the Kubeflow manifests would still be fetched from github.com, "
            "which an air-gapped cluster cannot reach.",
            "set upstream.manifests_mirror to a directory holding kubeflow-manifests-<version>/ "
            "(see `aistack upstreams`), or disable kubeflow.",
        )


# ----------------------------------------------------------------------------------- storage and on-prem

# Which shared filesystem each target can provide ("auto" resolves per target).
SHARED_FILESYSTEM_KINDS = {"gcp": ("filestore",), "aws": ("efs", "fsx-lustre"), "onprem": ("nfs",)}


@rule
def shared_filesystem_kind(spec: StackSpec) -> Iterator[SpecIssue]:
    fs = spec.storage.shared_filesystem
    if not fs.enabled:
        return
    allowed = SHARED_FILESYSTEM_KINDS[spec.target]
    if fs.kind != "auto" and fs.kind not in allowed:
        yield SpecIssue(
            "storage.shared_filesystem.kind",
            f"'{fs.kind}' is not available on {spec.target}.",
            f"use auto or {' / '.join(allowed)}.",
        )
    if spec.target == "onprem" and fs.nfs_server is None:
        yield SpecIssue(
            "storage.shared_filesystem.nfs_server",
            "the onprem shared filesystem is an NFS export served by the NFS CSI driver; no server is given.",
            "set nfs_server (and nfs_path) to your NFS export, or disable the shared filesystem.",
        )
    if spec.target != "onprem" and fs.nfs_server is not None:
        yield SpecIssue(
            "storage.shared_filesystem.nfs_server",
            f"nfs_server is for onprem; on {spec.target} the filesystem is created for you.",
            "remove nfs_server.",
        )


@rule
def onprem_section(spec: StackSpec) -> Iterator[SpecIssue]:
    op = spec.onprem
    if spec.target != "onprem":
        if op != OnPremSpec():
            yield SpecIssue(
                "onprem",
                f"the onprem section configures an existing cluster; target is {spec.target}.",
                "remove the onprem section.",
            )
        return
    if op.volumes == "existing" and spec.storage.default_storage_class is None:
        yield SpecIssue(
            "storage.default_storage_class",
            "onprem volumes come from an existing StorageClass (onprem.volumes: existing), but none is named.",
            "name your RWO class here (e.g. ceph-rbd), or set onprem.volumes: local-path to install one.",
        )
    store = op.object_store
    if store.kind == "s3" and store.endpoint is None:
        yield SpecIssue(
            "onprem.object_store.endpoint",
            "an existing S3-compatible store needs its endpoint.",
            "set endpoint, e.g. https://rgw.dc1.internal:7480.",
        )
    if store.kind != "s3" and store.endpoint is not None:
        yield SpecIssue(
            "onprem.object_store.endpoint",
            f"endpoint is for kind s3; kind is {store.kind}.",
            "remove endpoint, or set kind: s3.",
        )


# ----------------------------------------------------------------------------------- compliance


@rule
def gdpr_residency(spec: StackSpec) -> Iterator[SpecIssue]:
    if spec.compliance != "gdpr":
        return
    regions = catalog.regions()
    if spec.target == "onprem":
        if spec.country is None or spec.country not in regions.eu_eea_countries:
            got = f"'{spec.country}'" if spec.country else "not set"
            yield SpecIssue(
                "country",
                f"the gdpr profile keeps data in the EU/EEA; the site's country is {got}.",
                "set country to the ISO code of an EU/EEA site (e.g. DE), or use another compliance profile.",
            )
        return
    region = regions.for_target(spec.target).get(spec.region)
    if region is not None and not region.eu:
        eu = sorted(name for name, r in regions.for_target(spec.target).items() if r.eu)
        yield SpecIssue(
            "region",
            f"the gdpr profile keeps data in the EU/EEA; {spec.region} ({region.location}) is outside it.",
            f"use an EU region: {', '.join(eu)}.",
        )


@rule
def hipaa_controls(spec: StackSpec) -> Iterator[SpecIssue]:
    if spec.compliance != "hipaa":
        return
    if spec.target != "onprem" and not spec.cluster.private_endpoint:
        yield SpecIssue(
            "cluster.private_endpoint",
            "the hipaa profile requires a private control-plane endpoint.",
            "set cluster.private_endpoint: true and reach the API through the VPC (VPN, bastion or CI runner inside).",
        )
    if not spec.security.customer_managed_keys:
        yield SpecIssue(
            "security.customer_managed_keys", "the hipaa profile requires customer-managed keys.", "set it to true."
        )
    if not spec.security.audit_logging:
        yield SpecIssue("security.audit_logging", "the hipaa profile requires audit logs.", "set it to true.")
    if not spec.data_protection:
        yield SpecIssue(
            "data_protection", "the hipaa profile forbids unprotected data stores.", "set data_protection: true."
        )


# ----------------------------------------------------------------------------------- names
# Every name the stack creates must be one its provider accepts; components/naming.py builds them
# and holds the limits (with their sources), so what is checked here is exactly what is created.


def _name_issue(name: naming.GeneratedName) -> SpecIssue | None:
    if name.ok():
        return None
    limit = name.limit
    shorten = name.shortenable
    path = shorten[-1].path
    others = [s for s in name.sources if s.path != path]
    given = f"'{shorten[-1].value}'" + "".join(f" with {s.path} '{s.value}'" for s in others)
    fields = " and ".join(s.path for s in shorten)
    if name.too_long():
        pulumi = "; Pulumi appends '-' and 7 random characters" if name.autonamed else ""
        reason = (
            f"{given} makes the {limit.what} '{name.shown}' of {name.length} characters "
            f"(limit {limit.max_len}{pulumi})."
        )
        room = name.room()
        if room < len(shorten):
            fix = (
                f"the {limit.what} cannot fit; choose shorter values for {' and '.join(s.path for s in name.sources)}."
            )
        elif len(shorten) == 1:
            fix = f"shorten {fields} to at most {room} characters."
        else:
            now = sum(len(s.value) for s in shorten)
            fix = f"shorten {fields} to at most {room} characters together (now {now})."
        return SpecIssue(path, reason, fix)
    if name.too_short():
        return SpecIssue(
            path,
            f"{given} makes the {limit.what} '{name.shown}' of {name.length} characters (at least {limit.min_len}).",
            f"lengthen {fields}.",
        )
    return SpecIssue(
        path,
        f"{given} makes the {limit.what} '{name.shown}', which {name.charset_problem()}.",
        f"change {fields}; a {limit.what} takes {limit.rule}.",
    )


@rule
def generated_names(spec: StackSpec) -> Iterator[SpecIssue]:
    """Each cloud and Kubernetes name built from spec values fits its provider's length and character set."""
    bad_project = spec.project is not None and naming.project_id_problem(spec.project) is not None
    for name in naming.generated_names(spec):
        if bad_project and any(s.path == "project" for s in name.sources):
            continue  # gcp_project_id reports the project itself
        issue = _name_issue(name)
        if issue is not None:
            yield issue


@rule
def gcp_project_id(spec: StackSpec) -> Iterator[SpecIssue]:
    """The project id becomes part of bucket names and the Workload Identity pool."""
    if spec.target != "gcp" or spec.project is None:
        return
    problem = naming.project_id_problem(spec.project)
    if problem is not None:
        yield SpecIssue(
            "project",
            f"'{spec.project}' is not a GCP project id: {problem}.",
            "set the project id (not its display name or number), as `gcloud projects list` shows it.",
        )


def _key_issues(path: str, key: str, target: str, what: str) -> Iterator[SpecIssue]:
    """A node label or taint key, as Kubernetes and the target's node pools accept it."""
    problem = naming.label_key_problem(key)
    if problem is not None:
        yield SpecIssue(
            path,
            f"'{key}' is not a Kubernetes {what} key: it {problem}.",
            "write it as [prefix/]name: an optional DNS subdomain (at most 253 characters) and '/', then at most "
            "63 letters, digits, '-', '_' and '.', starting and ending with a letter or digit.",
        )
        return
    limit = naming.EKS_LABEL_KEY_MAX if what == "label" else naming.EKS_TAINT_KEY_MAX
    if target == "aws" and len(key) > limit:
        yield SpecIssue(
            path,
            f"'{key}' is {len(key)} characters; EKS node groups take {what} keys of at most {limit}, prefix included.",
            f"shorten the {what} key to at most {limit} characters.",
        )
    if target in ("gcp", "aws") and what == "label" and (problem := naming.kubelet_label_problem(key)) is not None:
        yield SpecIssue(
            path,
            f"'{key}' {problem}; node pools label their nodes through the kubelet, which would refuse to start.",
            "use a key in your own namespace (e.g. example.com/<name>), or label the nodes with kubectl instead.",
        )


def _value_issues(path: str, value: str, target: str, what: str) -> Iterator[SpecIssue]:
    """A node label or taint value, as Kubernetes and the target's node pools accept it."""
    problem = naming.label_value_problem(value)
    if problem is not None:
        yield SpecIssue(
            path,
            f"'{value}' is not a Kubernetes {what} value: it {problem}.",
            "use at most 63 letters, digits, '-', '_' and '.', starting and ending with a letter or digit.",
        )
    elif target == "aws" and what == "label" and not value:
        yield SpecIssue(path, "EKS node groups do not take empty label values.", "give the label a value.")


@rule
def node_labels_and_taints(spec: StackSpec) -> Iterator[SpecIssue]:
    """Pool labels, taints and on-prem node selectors are valid Kubernetes (and EKS) keys and values."""
    for i, pool in enumerate(spec.accelerator_pools):
        for key, value in pool.labels.items():
            path = join_path("accelerator_pools", i, "labels", key)
            yield from _key_issues(path, key, spec.target, "label")
            yield from _value_issues(path, value, spec.target, "label")
        for j, taint in enumerate(pool.taints):
            path = join_path("accelerator_pools", i, "taints", j)
            yield from _key_issues(join_path(path, "key"), taint.key, spec.target, "taint")
            yield from _value_issues(join_path(path, "value"), taint.value, spec.target, "taint")
        if spec.target == "onprem":
            for key, value in pool.node_selector.items():
                path = join_path("accelerator_pools", i, "node_selector", key)
                yield from _key_issues(path, key, spec.target, "label")
                yield from _value_issues(path, value, spec.target, "label")


@rule
def onprem_node_names(spec: StackSpec) -> Iterator[SpecIssue]:
    """Node names reach the Kubernetes API as object names; anything else is a mistake (or an injection)."""
    if spec.target != "onprem":
        return
    for i, pool in enumerate(spec.accelerator_pools):
        for j, node in enumerate(pool.nodes):
            problem = naming.subdomain_problem(node)
            if problem is not None:
                yield SpecIssue(
                    join_path("accelerator_pools", i, "nodes", j),
                    f"'{node}' is not a Kubernetes node name: it {problem}.",
                    "use the node's name as `kubectl get nodes` shows it.",
                )


@rule
def storage_class_name(spec: StackSpec) -> Iterator[SpecIssue]:
    name = spec.storage.default_storage_class
    if name is None:
        return
    problem = naming.subdomain_problem(name)
    if problem is not None:
        yield SpecIssue(
            "storage.default_storage_class",
            f"'{name}' is not a StorageClass name: it {problem}.",
            "use the class's name as `kubectl get storageclass` shows it.",
        )


# The allocation: dra rules live in their own module; importing it registers them here.
from . import dra as _dra  # noqa: E402, F401

# The network section and where pools may run (#26): its rules live in their own module, registered here.
from . import network_rules as _network_rules  # noqa: E402, F401
