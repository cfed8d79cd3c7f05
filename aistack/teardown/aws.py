"""AWS: what of the stack is still in the account, and deleting it (boto3).

``aws_findings`` is pure: the API's own responses (per type, the resources as Describe*/List* return
them, each with its tags under ``Tags`` as a Key/Value list) → findings. ``AwsApi`` makes the calls.

A resource is the stack's when it carries the stack identity tags (aistack.io/project and
aistack.io/stack, both equal), or a tag the cluster's controllers put on what they launch:
``karpenter.sh/discovery: <cluster>``, ``kubernetes.io/cluster/<cluster>: owned`` (Karpenter's
instances, launch templates and instance profiles; the in-tree cloud provider's classic ELBs and their
security groups), ``elbv2.k8s.aws/cluster: <cluster>`` (the AWS Load Balancer Controller's load
balancers, target groups and security groups) and ``cluster.k8s.amazonaws.com/name: <cluster>``
(ENIs of the VPC CNI). ``shared`` cluster tags (subnets used by several clusters) never match. EKS's
control-plane log group ``/aws/eks/<cluster>/cluster`` is matched by its name: EKS creates it untagged.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from components import naming

from .model import Finding, Owner, SweepReport

# Every type checked, in the order --delete removes them: what holds a resource goes before it
# (instances before their volumes and ENIs, load balancers before target groups and security groups,
# NAT gateways before their Elastic IPs).
KINDS: dict[str, str] = {
    "instance": "EC2 instances",
    "load-balancer": "load balancers (ELBv2)",
    "classic-load-balancer": "classic load balancers",
    "target-group": "target groups",
    "nat-gateway": "NAT gateways",
    "elastic-ip": "Elastic IPs",
    "network-interface": "ENIs (unattached)",
    "volume": "EBS volumes (unattached)",
    "launch-template": "launch templates",
    "instance-profile": "instance profiles",
    "security-group": "security groups",
    "log-group": "CloudWatch log groups",
}
CLUSTER_TAGS = ("karpenter.sh/discovery", "elbv2.k8s.aws/cluster", "cluster.k8s.amazonaws.com/name")


def tag_map(resource: Mapping[str, Any]) -> dict[str, str]:
    tags = resource.get("Tags", resource.get("TagSet", []))
    if isinstance(tags, Mapping):
        return {str(k): str(v) for k, v in tags.items()}
    return {str(t.get("Key")): str(t.get("Value", "")) for t in tags or []}


def matched_by(tags: Mapping[str, str], owner: Owner) -> str | None:
    """Why a resource with these tags is the stack's, or None."""
    ident = owner.identity
    if tags.get(naming.PROJECT_TAG) == ident.project and tags.get(naming.STACK_TAG) == ident.stack:
        return f"tags {naming.PROJECT_TAG}={ident.project}, {naming.STACK_TAG}={ident.stack}"
    for key in CLUSTER_TAGS:
        if tags.get(key) == owner.cluster:
            return f"tag {key}={owner.cluster}"
    owned = f"kubernetes.io/cluster/{owner.cluster}"
    if tags.get(owned) == "owned":
        return f"tag {owned}=owned"
    return None


def _name(resource: Mapping[str, Any], tags: Mapping[str, str], key: str) -> str:
    return tags.get("Name") or str(resource.get(key, ""))


def _one(kind: str, r: Mapping[str, Any], owner: Owner, region: str) -> Finding | None:
    tags = tag_map(r)
    why = matched_by(tags, owner)
    rg = f"--region {region}"
    if kind == "log-group":
        name = str(r["logGroupName"])
        if why is None and name == f"/aws/eks/{owner.cluster}/cluster":
            why = "name (EKS's control-plane log group of the cluster)"
        if why is None:
            return None
        return Finding(kind, name, name, region, why, f"aws logs delete-log-group --log-group-name {name} {rg}")
    if why is None:
        return None
    if kind == "instance":
        if r.get("State", {}).get("Name") == "terminated":
            return None
        i = str(r["InstanceId"])
        where = str(r.get("Placement", {}).get("AvailabilityZone") or region)
        state = r.get("State", {}).get("Name", "?")
        return Finding(
            kind,
            i,
            _name(r, tags, "InstanceId"),
            f"{where}, {state}",
            why,
            f"aws ec2 terminate-instances --instance-ids {i} {rg}",
        )
    if kind == "volume":
        if r.get("State") != "available":
            return None  # attached: goes with its instance (or is listed with it)
        v = str(r["VolumeId"])
        where = str(r.get("AvailabilityZone") or region)
        size = f"{r.get('Size', '?')} GiB"
        return Finding(
            kind, v, _name(r, tags, "VolumeId"), f"{where}, {size}", why, f"aws ec2 delete-volume --volume-id {v} {rg}"
        )
    if kind == "network-interface":
        if r.get("Status") != "available":
            return None  # attached ENIs go with their instance, load balancer or NAT gateway
        e = str(r["NetworkInterfaceId"])
        where = str(r.get("AvailabilityZone") or region)
        return Finding(
            kind,
            e,
            _name(r, tags, "NetworkInterfaceId"),
            where,
            why,
            f"aws ec2 delete-network-interface --network-interface-id {e} {rg}",
        )
    if kind == "load-balancer":
        arn = str(r["LoadBalancerArn"])
        return Finding(
            kind,
            arn,
            str(r.get("LoadBalancerName", arn)),
            region,
            why,
            f"aws elbv2 delete-load-balancer --load-balancer-arn {arn} {rg}",
        )
    if kind == "classic-load-balancer":
        n = str(r["LoadBalancerName"])
        return Finding(kind, n, n, region, why, f"aws elb delete-load-balancer --load-balancer-name {n} {rg}")
    if kind == "target-group":
        arn = str(r["TargetGroupArn"])
        return Finding(
            kind,
            arn,
            str(r.get("TargetGroupName", arn)),
            region,
            why,
            f"aws elbv2 delete-target-group --target-group-arn {arn} {rg}",
        )
    if kind == "elastic-ip":
        a = str(r["AllocationId"])
        assoc = str(r.get("AssociationId") or "")
        release = f"aws ec2 release-address --allocation-id {a} {rg}"
        command = f"aws ec2 disassociate-address --association-id {assoc} {rg} && {release}" if assoc else release
        return Finding(
            kind,
            a,
            f"{tags.get('Name') or r.get('PublicIp', a)}",
            region,
            why,
            command,
            (("association", assoc),) if assoc else (),
        )
    if kind == "nat-gateway":
        if r.get("State") in ("deleted", "failed"):
            return None
        n = str(r["NatGatewayId"])
        return Finding(
            kind,
            n,
            _name(r, tags, "NatGatewayId"),
            f"{region}, {r.get('State', '?')}",
            why,
            f"aws ec2 delete-nat-gateway --nat-gateway-id {n} {rg}",
        )
    if kind == "security-group":
        if r.get("GroupName") == "default":
            return None  # every VPC has one; it goes with the VPC
        g = str(r["GroupId"])
        return Finding(
            kind, g, str(r.get("GroupName", g)), region, why, f"aws ec2 delete-security-group --group-id {g} {rg}"
        )
    if kind == "launch-template":
        t = str(r["LaunchTemplateId"])
        return Finding(
            kind,
            t,
            str(r.get("LaunchTemplateName", t)),
            region,
            why,
            f"aws ec2 delete-launch-template --launch-template-id {t} {rg}",
        )
    if kind == "instance-profile":
        n = str(r["InstanceProfileName"])
        roles = [str(role["RoleName"]) for role in r.get("Roles", [])]
        steps = [
            f"aws iam remove-role-from-instance-profile --instance-profile-name {n} --role-name {x}" for x in roles
        ]
        steps.append(f"aws iam delete-instance-profile --instance-profile-name {n}")
        return Finding(kind, n, n, "global (IAM)", why, " && ".join(steps), (("roles", ",".join(roles)),))
    raise ValueError(f"unknown AWS resource type {kind!r}")


def aws_findings(listing: Mapping[str, Iterable[Mapping[str, Any]]], owner: Owner, region: str) -> list[Finding]:
    """Pure: the resources the API returned, per type (keys of KINDS) → what of them is the stack's and
    still costs or blocks something, in KINDS order."""
    out: list[Finding] = []
    for kind in KINDS:
        for r in listing.get(kind, ()):
            found = _one(kind, r, owner, region)
            if found is not None:
                out.append(found)
    return out


# ------------------------------------------------------------------------------------------ the API


def _chunks(items: list[str], n: int) -> Iterable[list[str]]:
    for i in range(0, len(items), n):
        yield items[i : i + n]


class AwsApi:
    """The calls, one lister and one deleter per type; clients for the stack's region."""

    def __init__(self, session: Any, region: str, endpoint_url: str | None = None, wait_s: float = 600.0) -> None:
        def client(service: str) -> Any:
            return session.client(service, region_name=region, endpoint_url=endpoint_url)

        self.region = region
        self.wait_s = wait_s
        self.ec2, self.elbv2, self.elb = client("ec2"), client("elbv2"), client("elb")
        self.iam, self.logs, self.sts = client("iam"), client("logs"), client("sts")
        self.eks = client("eks")

    def live_cluster(self, name: str) -> str | None:
        """The status of the stack's EKS cluster while it exists (None: gone, or going)."""
        try:
            status = str(self.eks.describe_cluster(name=name)["cluster"].get("status", "ACTIVE"))
        except self.eks.exceptions.ResourceNotFoundException:
            return None
        return None if status == "DELETING" else status

    def account(self) -> str:
        return str(self.sts.get_caller_identity()["Account"])

    def _pages(self, client: Any, op: str, key: str, **kw: Any) -> list[dict[str, Any]]:
        return [item for page in client.get_paginator(op).paginate(**kw) for item in page.get(key, [])]

    # --- listers: resources as the API returns them, tags under "Tags"

    def resources(self, kind: str) -> list[dict[str, Any]]:
        return self._listers()[kind]()

    def _listers(self) -> dict[str, Callable[[], list[dict[str, Any]]]]:
        ec2 = self.ec2
        return {
            "instance": lambda: [
                i for r in self._pages(ec2, "describe_instances", "Reservations") for i in r.get("Instances", [])
            ],
            "volume": lambda: self._pages(ec2, "describe_volumes", "Volumes"),
            "network-interface": lambda: self._pages(ec2, "describe_network_interfaces", "NetworkInterfaces"),
            "load-balancer": self._elbv2_load_balancers,
            "classic-load-balancer": self._classic_load_balancers,
            "target-group": self._target_groups,
            "elastic-ip": lambda: list(ec2.describe_addresses().get("Addresses", [])),
            "nat-gateway": lambda: self._pages(ec2, "describe_nat_gateways", "NatGateways"),
            "security-group": lambda: self._pages(ec2, "describe_security_groups", "SecurityGroups"),
            "launch-template": lambda: self._pages(ec2, "describe_launch_templates", "LaunchTemplates"),
            "instance-profile": self._instance_profiles,
            "log-group": self._log_groups,
        }

    def _elbv2_tags(self, arns: list[str]) -> dict[str, list[dict[str, str]]]:
        tags: dict[str, list[dict[str, str]]] = {}
        for chunk in _chunks(arns, 20):
            for d in self.elbv2.describe_tags(ResourceArns=chunk).get("TagDescriptions", []):
                tags[d["ResourceArn"]] = d.get("Tags", [])
        return tags

    def _elbv2_load_balancers(self) -> list[dict[str, Any]]:
        lbs = self._pages(self.elbv2, "describe_load_balancers", "LoadBalancers")
        tags = self._elbv2_tags([lb["LoadBalancerArn"] for lb in lbs])
        return [{**lb, "Tags": tags.get(lb["LoadBalancerArn"], [])} for lb in lbs]

    def _target_groups(self) -> list[dict[str, Any]]:
        groups = self._pages(self.elbv2, "describe_target_groups", "TargetGroups")
        tags = self._elbv2_tags([g["TargetGroupArn"] for g in groups])
        return [{**g, "Tags": tags.get(g["TargetGroupArn"], [])} for g in groups]

    def _classic_load_balancers(self) -> list[dict[str, Any]]:
        lbs = self._pages(self.elb, "describe_load_balancers", "LoadBalancerDescriptions")
        tags: dict[str, list[dict[str, str]]] = {}
        for chunk in _chunks([lb["LoadBalancerName"] for lb in lbs], 20):
            for d in self.elb.describe_tags(LoadBalancerNames=chunk).get("TagDescriptions", []):
                tags[d["LoadBalancerName"]] = d.get("Tags", [])
        return [{**lb, "Tags": tags.get(lb["LoadBalancerName"], [])} for lb in lbs]

    def _instance_profiles(self) -> list[dict[str, Any]]:
        # ListInstanceProfiles returns no tags (the API reference says so): GetInstanceProfile does.
        out = []
        for p in self._pages(self.iam, "list_instance_profiles", "InstanceProfiles"):
            if "Tags" not in p:
                p = self.iam.get_instance_profile(InstanceProfileName=p["InstanceProfileName"])["InstanceProfile"]
            out.append(p)
        return out

    def _log_groups(self) -> list[dict[str, Any]]:
        out = []
        for g in self._pages(self.logs, "describe_log_groups", "logGroups"):
            arn = str(g.get("arn", "")).removesuffix(":*")
            tags = self.logs.list_tags_for_resource(resourceArn=arn).get("tags", {}) if arn else {}
            out.append({**g, "Tags": tags})
        return out

    # --- deleters

    def delete(self, kind: str, found: list[Finding]) -> list[str]:
        """Delete every finding of one type; returns what failed, one line each (the API's reason)."""
        from botocore.exceptions import ClientError

        errors = []
        if kind == "instance":
            ids = [f.id for f in found]
            for chunk in _chunks(ids, 100):
                try:
                    self.ec2.terminate_instances(InstanceIds=chunk)
                except ClientError as exc:
                    errors.append(f"terminate {' '.join(chunk)}: {_reason(exc)}")
            errors += self._wait_gone("instance", ids)
            return errors
        if kind == "security-group":
            return self._delete_security_groups(found)
        for f in found:
            try:
                self._delete_one(kind, f)
            except ClientError as exc:
                if "NotFound" in _code(exc):
                    continue  # gone already (a volume deleted with its instance)
                errors.append(f"{KINDS[kind]} {f.name}: {_reason(exc)} (by hand: {f.command})")
        if kind == "nat-gateway":
            errors += self._wait_gone(kind, [f.id for f in found])
        return errors

    def _delete_one(self, kind: str, f: Finding) -> None:
        ec2 = self.ec2
        if kind == "volume":
            ec2.delete_volume(VolumeId=f.id)
        elif kind == "network-interface":
            ec2.delete_network_interface(NetworkInterfaceId=f.id)
        elif kind == "load-balancer":
            self.elbv2.delete_load_balancer(LoadBalancerArn=f.id)
        elif kind == "classic-load-balancer":
            self.elb.delete_load_balancer(LoadBalancerName=f.id)
        elif kind == "target-group":
            self.elbv2.delete_target_group(TargetGroupArn=f.id)
        elif kind == "elastic-ip":
            if f.extra("association"):
                ec2.disassociate_address(AssociationId=f.extra("association"))
            ec2.release_address(AllocationId=f.id)
        elif kind == "nat-gateway":
            ec2.delete_nat_gateway(NatGatewayId=f.id)
        elif kind == "launch-template":
            ec2.delete_launch_template(LaunchTemplateId=f.id)
        elif kind == "instance-profile":
            for role in filter(None, f.extra("roles").split(",")):
                self.iam.remove_role_from_instance_profile(InstanceProfileName=f.id, RoleName=role)
            self.iam.delete_instance_profile(InstanceProfileName=f.id)
        elif kind == "log-group":
            self.logs.delete_log_group(logGroupName=f.id)
        else:
            raise ValueError(f"unknown AWS resource type {kind!r}")

    def _delete_security_groups(self, found: list[Finding]) -> list[str]:
        """Rules of these groups that name another group are revoked first (two groups that refer to each
        other could not be deleted otherwise); a group still used by an ENI that is going away (a load
        balancer's) is retried until the wait runs out."""
        from botocore.exceptions import ClientError

        ids = [f.id for f in found]
        if ids:
            for g in self.ec2.describe_security_groups(GroupIds=ids).get("SecurityGroups", []):
                for perms, revoke in (
                    (g.get("IpPermissions", []), self.ec2.revoke_security_group_ingress),
                    (g.get("IpPermissionsEgress", []), self.ec2.revoke_security_group_egress),
                ):
                    referring = [p for p in perms if p.get("UserIdGroupPairs")]
                    if referring:
                        with contextlib.suppress(ClientError):  # the delete below reports what still blocks it
                            revoke(GroupId=g["GroupId"], IpPermissions=referring)
        deadline = time.monotonic() + self.wait_s
        pending: list[Finding] = list(found)
        errors: list[str] = []
        while pending:
            retry = []
            for f in pending:
                try:
                    self.ec2.delete_security_group(GroupId=f.id)
                except ClientError as exc:
                    if _code(exc) == "DependencyViolation" and time.monotonic() < deadline:
                        retry.append(f)
                    else:
                        errors.append(f"{KINDS['security-group']} {f.name}: {_reason(exc)} (by hand: {f.command})")
            pending = retry
            if pending:
                time.sleep(5)
        return errors

    def _wait_gone(self, kind: str, ids: list[str]) -> list[str]:
        """Instances until terminated, NAT gateways until deleted (what they hold is released only then)."""
        if not ids:
            return []
        from botocore.exceptions import ClientError

        deadline = time.monotonic() + self.wait_s
        while True:
            try:
                left = self._left(kind, ids)
            except ClientError as exc:
                if "NotFound" in _code(exc):
                    return []  # no longer known at all
                raise
            if not left:
                return []
            if time.monotonic() >= deadline:
                return [f"{KINDS[kind]} still going after {self.wait_s:.0f} s: {' '.join(left)}"]
            time.sleep(5)

    def _left(self, kind: str, ids: list[str]) -> list[str]:
        """Of ``ids``, the instances not yet terminated / NAT gateways not yet deleted."""
        if kind == "instance":
            return [
                i["InstanceId"]
                for r in self.ec2.describe_instances(InstanceIds=ids).get("Reservations", [])
                for i in r.get("Instances", [])
                if i.get("State", {}).get("Name") != "terminated"
            ]
        return [
            n["NatGatewayId"]
            for n in self.ec2.describe_nat_gateways(NatGatewayIds=ids).get("NatGateways", [])
            if n.get("State") not in ("deleted", "failed")
        ]


def _code(exc: Any) -> str:
    return str(exc.response.get("Error", {}).get("Code", "?"))


def _reason(exc: Any) -> str:
    err = exc.response.get("Error", {})
    return f"{err.get('Code', '?')}: {err.get('Message', '')}"


def sweep_aws(
    owner: Owner,
    region: str,
    session: Any,
    *,
    delete: bool = False,
    endpoint_url: str | None = None,
    wait_s: float = 600,
) -> SweepReport:
    """List (and with ``delete``, remove then list again) what of the stack is left in the region."""
    from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

    report = SweepReport("aws", region, owner.describe(), dict(KINDS))
    try:
        api = AwsApi(session, region, endpoint_url, wait_s)
        report.scope = f"account {api.account()}, {region}"
        live = api.live_cluster(owner.cluster) if delete else None
        if live is not None:  # what the sweep would delete is the running stack itself
            report.problem = (
                f"the stack's cluster {owner.cluster} still exists ({live}): --delete removes only what a destroy "
                "left behind. To fix: destroy the stack first (pulumi destroy), then sweep again"
            )
            return report
        if delete:
            for kind in KINDS:  # listed afresh per type: what an earlier type held is released by now
                try:
                    found = aws_findings({kind: api.resources(kind)}, owner, region)
                except ClientError as exc:
                    report.errors.append(f"{KINDS[kind]}: AWS refused {exc.operation_name}: {_reason(exc)}")
                    continue
                report.errors += api.delete(kind, found)
                report.deleted += found
        listing: dict[str, list[dict[str, Any]]] = {}
        for kind in KINDS:
            try:
                listing[kind] = api.resources(kind)
            except ClientError as exc:
                report.unchecked.append(f"{KINDS[kind]}: AWS refused {exc.operation_name}: {_reason(exc)}")
        report.findings = aws_findings(listing, owner, region)
        gone = {(f.kind, f.id) for f in report.deleted} - {(f.kind, f.id) for f in report.findings}
        report.deleted = [f for f in report.deleted if (f.kind, f.id) in gone]
    except NoCredentialsError:
        report.problem = (
            "no AWS credentials found. To fix: run `aws configure` or `aws sso login`, then run this again."
        )
    except ClientError as exc:
        report.problem = (
            f"AWS refused {exc.operation_name}: {_reason(exc)}. To fix: use credentials allowed to describe "
            "(and, for --delete, delete) EC2, ELB, IAM instance profiles and CloudWatch Logs, then run this again."
        )
    except BotoCoreError as exc:
        report.problem = f"could not reach AWS: {exc}. To fix: check the network, region and AWS_ENDPOINT_URL."
    return report
