"""Karpenter: the node autoscaler that turns a pending accelerator pod into an EC2 instance.

Managed node groups scale only when something asks them to; Karpenter watches unschedulable pods
and launches the instance they fit on, then removes it once it is empty. Per accelerator pool:
one ``EC2NodeClass`` (AMI, subnets, security groups, disks, EFA, reservations) and one
``NodePool`` (instance type, capacity type, the pool's labels and taints, limits, disruption).

Pure functions decide (spec → plain data: manifests, chart values; IAM documents in
karpenter_iam.py); ``build_karpenter_cloud`` and ``install_karpenter`` register them. What is set
and why follows Karpenter v1.14's own docs (https://karpenter.sh/v1.14/, read 2026-12-01):

- IAM: the getting-started CloudFormation of v1.14, narrowed (karpenter_iam.py). Nodes get a
  pre-made instance profile (``spec.instanceProfile``): no IAM endpoint is needed to launch a node.
- Reservations and Capacity Blocks: https://karpenter.sh/v1.14/tasks/odcrs/ (capacity type ``reserved``; feature gate
  ReservedCapacity, beta and on by default in 1.14; Karpenter does not use open ODCRs unless a
  selector term names them, hence ``instanceMatchCriteria: open`` for affinity any).
- EFA: https://karpenter.sh/v1.14/concepts/nodeclasses/#specnetworkinterfaces (``efa-only``).
- Accelerated AMIs: the ``al2023`` alias resolves the standard, NVIDIA and Neuron variants and
  picks the one matching the instance type (aws/karpenter-provider-aws pkg/providers/amifamily/al2023.go:
  nvidia/neuron), so one alias serves GPU and Trainium/Inferentia pools.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from foundation import catalog

from ... import naming
from ...charts import install_chart
from ...handle import POOL_LABEL, PoolInventory
from ...objects import register
from ...shapes import eks_instance_type
from ...spec import AcceleratorPool, StackSpec
from .iam import MANAGED, trust
from .karpenter_iam import controller_policies, queue_policy
from .network import DISCOVERY_TAG, ZONE_INDEX_TAG, EksNetwork

NAMESPACE = "kube-system"  # where the getting-started guide installs it (KARPENTER_NAMESPACE)
SERVICE_ACCOUNT = "karpenter"
NODE_POLICIES = (
    "AmazonEKSWorkerNodePolicy",
    "AmazonEKS_CNI_Policy",
    "AmazonEC2ContainerRegistryPullOnly",
    "AmazonSSMManagedInstanceCore",
)
# Newest EKS AL2023 AMI for the cluster's Kubernetes version. A new AMI marks running nodes drifted;
# the budgets below never act on drift, so only nodes launched afterwards (accelerator nodes live
# for one job's lifetime here) pick it up, and a running job is never moved for an AMI.
AMI_ALIAS = "al2023@latest"
# Root volume: CUDA/Neuron training images are 10-25 GB compressed and several versions stay cached.
ROOT_VOLUME = "200Gi"
# An empty accelerator node is removed after this long: long enough for the next queued job of the
# same pool to land on it, short enough that an idle 8-GPU node costs minutes, not hours.
CONSOLIDATE_AFTER = "5m"
# Pod annotation that blocks Karpenter's voluntary disruption of the pod's node (documented in README).
DO_NOT_DISRUPT = "karpenter.sh/do-not-disrupt"

# EventBridge rules feeding the interruption queue: (rule suffix, source, detail-type), as the v1.14
# CloudFormation lists them. The health rule carries scheduled maintenance (AWS Health Event).
INTERRUPTION_EVENTS: tuple[tuple[str, str, str], ...] = (
    ("spot-interruption", "aws.ec2", "EC2 Spot Instance Interruption Warning"),
    ("rebalance", "aws.ec2", "EC2 Instance Rebalance Recommendation"),
    ("instance-state", "aws.ec2", "EC2 Instance State-change Notification"),
    ("scheduled-change", "aws.health", "AWS Health Event"),
    ("reservation-warning", "aws.ec2", "EC2 Capacity Reservation Instance Interruption Warning"),
)
QUEUE_RETENTION_SECONDS = 300  # an interruption message older than the 2-minute warning is useless

# EFA interfaces an instance type takes (one per network card; DescribeInstanceTypes
# NetworkInfo.EfaInfo.MaximumEfaInterfaces). Source: https://docs.aws.amazon.com/ec2/latest/instancetypes/ac.html
# (network specifications); p5.48xlarge's 32 also in https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/
# efa-acc-inst-types.html. An EFA type not listed gets one EFA interface on its primary card: asking for
# more than the type has would make Karpenter drop the type and leave the pool unable to launch.
EFA_INTERFACES: dict[str, int] = {
    "p4d.24xlarge": 4,
    "p4de.24xlarge": 4,
    "p5.48xlarge": 32,
    "p5en.48xlarge": 16,
    "p6-b200.48xlarge": 8,
    "trn1.32xlarge": 8,
    "trn2.48xlarge": 16,
}


# ----------------------------------------------------------------------------------- names


def queue_name(stack: str) -> str:
    """The interruption queue: named after the cluster, as the docs do (at most 50 of SQS's 80 characters)."""
    return naming.karpenter_queue_name(stack)


def rule_name(stack: str, suffix: str) -> str:
    """An EventBridge rule: at most 40 + 4 + 19 characters, inside EventBridge's 64 for every stack name."""
    return naming.karpenter_rule_name(stack, suffix)


# ----------------------------------------------------------------------------------- decisions


def offered_zones(spec: StackSpec, pool: AcceleratorPool) -> list[str]:
    """The AZs of the stack's region where EC2 offers the pool's instance type (DescribeInstanceTypeOfferings,
    asked at deploy time; the offline plan's mocks answer it)."""
    found = aws.ec2.get_instance_type_offerings(
        filters=[{"name": "instance-type", "values": [instance_type(pool)]}],
        location_type="availability-zone",
        region=spec.region,
    )
    return sorted(set(found.locations or []))


def pool_zones(spec: StackSpec, pool: AcceleratorPool, network_zones: list[str | None]) -> list[str]:
    """Where the pool may launch: the zones that offer its instance type, among the network's (when known)."""
    offered = offered_zones(spec, pool)
    known = [z for z in network_zones if z is not None]
    return [z for z in offered if z in known] if known and len(known) == len(network_zones) else offered


def instance_type(pool: AcceleratorPool) -> str:
    acc = catalog.accelerators().get(pool.accelerator)
    assert acc is not None  # guaranteed by spec validation
    return pool.machine_type or eks_instance_type(acc.id, pool.count)


def autoscaled_nodes(pool: AcceleratorPool) -> int:
    """Nodes Karpenter may add: above min_nodes, which a fixed managed node group keeps (nodegroups.py).

    Karpenter's NodePools have no floor (a static NodePool's ``replicas`` is an exact count, alpha in
    1.14, and cannot later be turned into a dynamic one), so a pool's floor stays a GA managed group.
    """
    return pool.max_nodes - pool.min_nodes


def karpenter_pools(spec: StackSpec) -> tuple[AcceleratorPool, ...]:
    return tuple(p for p in spec.accelerator_pools if autoscaled_nodes(p) > 0)


def capacity_types(pool: AcceleratorPool) -> list[str]:
    """Values of karpenter.sh/capacity-type the pool may launch with (reservations: ``reserved``)."""
    kind = pool.capacity_type
    if kind == "reservation":
        # any: open reservations first, on-demand when none is free; specific: only the named one.
        return ["reserved", "on-demand"] if pool.capacity.affinity == "any" else ["reserved"]
    if kind == "capacity-block":
        return ["reserved"]
    if kind in ("on-demand", "spot"):
        return [kind]
    raise ValueError(f"capacity.type {kind} is not sold on AWS; spec validation rejects it")


def reservation_terms(pool: AcceleratorPool) -> list[dict[str, str]]:
    """capacityReservationSelectorTerms: the reservation or Capacity Block to launch into, if any."""
    cap = pool.capacity
    if pool.capacity_type == "reservation":
        if cap.affinity == "any":
            return [{"instanceMatchCriteria": "open"}]
        assert cap.reservation is not None  # rules.py: required for affinity specific
        return [{"id": cap.reservation}]
    if pool.capacity_type == "capacity-block":
        assert cap.block_id is not None  # rules.py: required for capacity-block
        return [{"id": cap.block_id}]
    return []


def pool_limits(pool: AcceleratorPool, inventory: PoolInventory, instance: str) -> dict[str, str]:
    """At most autoscaled_nodes instances: in accelerators always, in vCPU and memory where the shape is known.

    Karpenter counts an instance's accelerators as EC2 reports them (physical GPUs / Neuron devices,
    before time-slicing or MIG), which is ``per_node``.
    """
    n = autoscaled_nodes(pool)
    limits = {inventory.resource_name: str(inventory.per_node * n)}
    shape = catalog.eks().instance_shapes.get(instance)
    if shape is not None:
        limits["cpu"] = str(shape.vcpus * n)
        limits["memory"] = f"{shape.memory_gib * n}Gi"
    return limits


def network_interfaces(instance: str) -> list[dict[str, Any]]:
    """EFA as AWS recommends it: an ENA primary interface, an EFA-only one beside it on card 0, one per other card."""
    cards = EFA_INTERFACES.get(instance, 1)
    nics: list[dict[str, Any]] = [
        {"networkCardIndex": 0, "deviceIndex": 0, "interfaceType": "interface"},
        {"networkCardIndex": 0, "deviceIndex": 1, "interfaceType": "efa-only"},
    ]
    nics += [{"networkCardIndex": c, "deviceIndex": 0, "interfaceType": "efa-only"} for c in range(1, cards)]
    return nics


def subnet_terms(
    spec: StackSpec, pool: AcceleratorPool, identity: naming.StackIdentity | None = None
) -> list[dict[str, Any]]:
    """subnetSelectorTerms: the discovery tag on subnets aistack creates; on an existing VPC the subnets by id
    (subnets shared from another account often cannot be tagged by the account that uses them)."""
    net = spec.network
    if net.vpc_id is not None:
        ids = net.private_subnet_ids[:1] if pool.efa else net.private_subnet_ids
        return [{"id": s} for s in ids]
    subnets: dict[str, str] = {DISCOVERY_TAG: _cluster(spec, identity)}
    if pool.efa:
        subnets[ZONE_INDEX_TAG] = "0"  # EFA traffic does not cross zones: one job's nodes share one
    return [{"tags": subnets}]


def _cluster(spec: StackSpec, identity: naming.StackIdentity | None = None) -> str:
    """The cluster's name; ``identity`` None (the pure functions' tests): as before the stack identity."""
    return naming.eks_cluster_name(naming.physical_prefix(spec, identity) if identity else spec.name)


def _metadata(spec: StackSpec, name: str) -> dict[str, Any]:
    return {"name": name, "labels": {"app.kubernetes.io/managed-by": "aistack", "aistack.io/stack": spec.name}}


def node_class(
    spec: StackSpec,
    pool: AcceleratorPool,
    instance_profile: pulumi.Input[str],
    key_arn: pulumi.Input[str] | None,
    identity: naming.StackIdentity | None = None,
) -> dict[str, Any]:
    """The pool's EC2NodeClass: its subnets and the discovered security group, accelerated AL2023, encrypted
    disk, and the stack identity on everything it launches."""
    cluster = _cluster(spec, identity)
    ebs: dict[str, Any] = {
        "volumeSize": ROOT_VOLUME,
        "volumeType": "gp3",
        "encrypted": True,
        "deleteOnTermination": True,
    }
    if key_arn is not None:
        ebs["kmsKeyID"] = key_arn
    spec_: dict[str, Any] = {
        "instanceProfile": instance_profile,
        "amiSelectorTerms": [{"alias": AMI_ALIAS}],
        "subnetSelectorTerms": subnet_terms(spec, pool, identity),
        "securityGroupSelectorTerms": [{"tags": {DISCOVERY_TAG: cluster}}],
        "blockDeviceMappings": [{"deviceName": "/dev/xvda", "rootVolume": True, "ebs": ebs}],
        # IMDSv2 only and one hop: pods cannot reach the node's credentials (they use Pod Identity).
        "metadataOptions": {
            "httpEndpoint": "enabled",
            "httpProtocolIPv6": "disabled",
            "httpPutResponseHopLimit": 1,
            "httpTokens": "required",
        },
        "tags": {
            "managed-by": "aistack",
            "stack": spec.name,
            "aistack.io/pool": pool.name,
            **(identity.tags() if identity is not None else {}),
        },
    }
    terms = reservation_terms(pool)
    if terms:
        spec_["capacityReservationSelectorTerms"] = terms
    if pool.efa:
        spec_["networkInterfaces"] = network_interfaces(instance_type(pool))
    return {
        "apiVersion": "karpenter.k8s.aws/v1",
        "kind": "EC2NodeClass",
        "metadata": _metadata(spec, pool.name),
        "spec": spec_,
    }


def node_pool(
    spec: StackSpec, pool: AcceleratorPool, inventory: PoolInventory, zones: list[str] | None = None
) -> dict[str, Any]:
    """The pool's NodePool: exactly the labels and taints its managed node group had, so the inventory is
    unchanged; ``zones``: only the AZs that offer its instance type (None: wherever its subnets are)."""
    instance = instance_type(pool)
    requirements = [
        {"key": "node.kubernetes.io/instance-type", "operator": "In", "values": [instance]},
        {"key": "karpenter.sh/capacity-type", "operator": "In", "values": capacity_types(pool)},
        {"key": "kubernetes.io/os", "operator": "In", "values": ["linux"]},
    ]
    if zones:
        requirements.append({"key": "topology.kubernetes.io/zone", "operator": "In", "values": list(zones)})
    if pool.capacity_type == "capacity-block":
        requirements.append(
            {"key": "karpenter.k8s.aws/capacity-reservation-type", "operator": "In", "values": ["capacity-block"]}
        )
    return {
        "apiVersion": "karpenter.sh/v1",
        "kind": "NodePool",
        "metadata": _metadata(spec, pool.name),
        "spec": {
            "template": {
                "metadata": {"labels": dict(inventory.node_labels)},
                "spec": {
                    "nodeClassRef": {"group": "karpenter.k8s.aws", "kind": "EC2NodeClass", "name": pool.name},
                    "requirements": requirements,
                    "taints": [{"key": t.key, "value": t.value, "effect": t.effect} for t in inventory.taints],
                    # Expiry is a forced disruption that ignores budgets: a training job is never cut
                    # short for node age. Nodes go when empty instead.
                    "expireAfter": "Never",
                },
            },
            "limits": pool_limits(pool, inventory, instance),
            "disruption": {
                # Only empty nodes are removed; a node running a pod is never consolidated away.
                "consolidationPolicy": "WhenEmpty",
                "consolidateAfter": CONSOLIDATE_AFTER,
                "budgets": [
                    {"nodes": "0", "reasons": ["Underutilized", "Drifted"]},
                    {"nodes": "100%", "reasons": ["Empty"]},
                ],
            },
        },
    }


def chart_values(cluster_name: pulumi.Input[str], queue: pulumi.Input[str]) -> dict[str, Any]:
    """The chart's values (keys from its values.yaml at 1.14.1): on the system nodes, two replicas."""
    resources = {"cpu": "1", "memory": "1Gi"}  # the getting-started guide's requests = limits
    return {
        "settings": {
            "clusterName": cluster_name,
            "interruptionQueue": queue,
            "featureGates": {"reservedCapacity": True},  # the default in 1.14; reservations depend on it
        },
        "serviceAccount": {"create": True, "name": SERVICE_ACCOUNT},  # the Pod Identity association's name
        "replicas": 2,
        "controller": {"resources": {"requests": resources, "limits": resources}},
        # On the managed system group: never on a node it manages itself (the chart's own affinity),
        # nor on an accelerator node.
        "nodeSelector": {"kubernetes.io/os": "linux", POOL_LABEL: "system"},
        "tolerations": [{"key": "CriticalAddonsOnly", "operator": "Exists"}],
    }


def event_pattern(source: str, detail_type: str) -> str:
    return json.dumps({"source": [source], "detail-type": [detail_type]})


# ----------------------------------------------------------------------------------- provisioning


@dataclass(frozen=True)
class KarpenterCloud:
    """The AWS side: the controller's identity, the nodes' identity, the interruption queue."""

    controller_role: aws.iam.Role
    association: aws.eks.PodIdentityAssociation
    node_role: aws.iam.Role
    instance_profile: aws.iam.InstanceProfile
    access_entry: aws.eks.AccessEntry
    queue: aws.sqs.Queue
    rules: Mapping[str, aws.cloudwatch.EventRule]


def build_karpenter_cloud(
    name: str,
    spec: StackSpec,
    cluster: aws.eks.Cluster,
    key: aws.kms.Key | None,
    parent: pulumi.Resource,
) -> KarpenterCloud:
    """Roles, instance profile, access entry, discovery tag, interruption queue and its rules.

    The subnets carry their discovery tag from network.py; the security group is EKS's, so it is tagged here.
    """
    opts = pulumi.ResourceOptions(parent=parent)
    identity = naming.current_identity()
    tags = {"managed-by": "aistack", "stack": spec.name, **identity.tags()}
    cluster_name = _cluster(spec, identity)
    # Nodes: their own role (managed node groups make access entries for theirs; one role cannot have two).
    node_role = aws.iam.Role(
        f"{name}-kp-nodes",  # auto-named from this; no longer than the node groups' role name
        assume_role_policy=trust("ec2.amazonaws.com"),
        managed_policy_arns=[MANAGED + p for p in NODE_POLICIES],
        tags=tags,
        opts=opts,
    )
    profile = aws.iam.InstanceProfile(f"{name}-kp-nodes", role=node_role.name, tags=tags, opts=opts)
    access = aws.eks.AccessEntry(
        f"{name}-kp-nodes",
        cluster_name=cluster.name,
        principal_arn=node_role.arn,
        type="EC2_LINUX",  # joins as system:nodes; no access policy may be attached to this type
        tags=tags,
        opts=opts,
    )
    # The security group every node and the control plane share (EKS made it): Karpenter finds it by tag.
    aws.ec2.Tag(
        f"{name}-kp-discovery",
        resource_id=cluster.vpc_config.cluster_security_group_id,
        key=DISCOVERY_TAG,
        value=cluster_name,
        opts=opts,
    )
    queue = aws.sqs.Queue(
        f"{name}-kp-interruption",
        name=queue_name(naming.physical_prefix(spec, identity)),
        message_retention_seconds=QUEUE_RETENTION_SECONDS,
        sqs_managed_sse_enabled=True,
        tags=tags,
        opts=opts,
    )
    aws.sqs.QueuePolicy(
        f"{name}-kp-interruption",
        queue_url=queue.url,
        policy=queue.arn.apply(lambda arn: json.dumps(queue_policy(arn))),
        opts=opts,
    )
    rules = {}
    for suffix, source, detail in INTERRUPTION_EVENTS:
        rule = aws.cloudwatch.EventRule(
            f"{name}-{suffix}",
            name=rule_name(naming.physical_prefix(spec, identity), suffix),
            description=f"{detail} → Karpenter's interruption queue",
            event_pattern=event_pattern(source, detail),
            tags=tags,
            opts=opts,
        )
        aws.cloudwatch.EventTarget(
            f"{name}-{suffix}",
            rule=rule.name,
            arn=queue.arn,
            target_id="KarpenterInterruptionQueueTarget",
            opts=opts,
        )
        rules[suffix] = rule

    def policies(args: list[Any]) -> list[aws.iam.RoleInlinePolicyArgsDict]:
        cluster_arn, queue_arn, role_arn, profile_arn, key_arn = args
        account = str(cluster_arn).split(":")[4]
        docs = controller_policies(
            cluster=cluster_name,
            region=spec.region,
            account=account,
            queue_arn=queue_arn,
            node_role_arn=role_arn,
            instance_profile_arn=profile_arn,
            key_arn=key_arn,
        )
        return [{"name": n, "policy": json.dumps(d)} for n, d in docs.items()]

    key_arn: pulumi.Input[str | None] = key.arn if key is not None else None
    role = aws.iam.Role(
        f"{name}-karpenter",  # auto-named from this
        assume_role_policy=trust("pods.eks.amazonaws.com", ("sts:AssumeRole", "sts:TagSession")),
        inline_policies=pulumi.Output.all(cluster.arn, queue.arn, node_role.arn, profile.arn, key_arn).apply(policies),
        tags=tags,
        opts=opts,
    )
    association = aws.eks.PodIdentityAssociation(
        f"{name}-karpenter",
        cluster_name=cluster.name,
        namespace=NAMESPACE,
        service_account=SERVICE_ACCOUNT,
        role_arn=role.arn,
        tags=tags,
        opts=opts,
    )
    return KarpenterCloud(role, association, node_role, profile, access, queue, rules)


def install_karpenter(
    name: str,
    spec: StackSpec,
    provider: k8s.Provider,
    cloud: KarpenterCloud,
    cluster: aws.eks.Cluster,
    inventory: tuple[PoolInventory, ...],
    key: aws.kms.Key | None,
    parent: pulumi.Resource,
    network: EksNetwork | None = None,
) -> tuple[k8s.helm.v4.Chart | None, list[pulumi.CustomResource]]:
    """The chart (with its CRDs), then one EC2NodeClass and one NodePool per autoscaled pool."""
    chart = install_chart(
        f"{name}-karpenter",
        "karpenter",
        NAMESPACE,
        chart_values(cluster.name, cloud.queue.name),
        spec,
        pulumi.ResourceOptions(parent=parent, provider=provider, depends_on=[cloud.association]),
    )
    opts = pulumi.ResourceOptions(
        parent=parent,
        provider=provider,
        # Nodes must be able to join before the first one is launched.
        depends_on=[r for r in (chart, cloud.access_entry) if r is not None],
    )
    by_name = {inv.pool: inv for inv in inventory}
    created = []
    key_arn = key.arn if key is not None else None
    identity = naming.current_identity()
    for pool in karpenter_pools(spec):
        created.append(register(name, node_class(spec, pool, cloud.instance_profile.name, key_arn, identity), opts))
        zones = pool_zones(spec, pool, network.private_subnet_zones if network is not None else [])
        created.append(register(name, node_pool(spec, pool, by_name[pool.name], zones), opts))
    return chart, created
