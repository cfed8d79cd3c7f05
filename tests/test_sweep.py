"""`aistack sweep` against real endpoints on loopback: moto's server for AWS, the Compute API stand-in for GCP.

Each account is seeded with leftovers of every type the sweep checks, tagged/labelled with the stack
identity of stack 'dev' (or its cluster's controller tags), next to look-alikes of stack 'prod' (its own
identity, cluster and network) and untagged ones named like 'dev''s: the sweep lists exactly the
expected ones (written out by hand below), with the command that deletes each, exits 1; --delete
removes them and nothing else, exits 0; a clean account exits 0; no credentials exits 2.

GCP: tests/gcp_standin.py's server, subclassed here (``SweepStandIn``) with the list and delete methods
of every type in the Compute API's documented formats: ``<collection>.aggregatedList`` (a
``compute#<type>AggregatedList`` whose ``items`` are keyed 'zones/<z>', 'regions/<r>', 'global', an
empty scope carrying a ``warning``), ``firewalls.list`` and the global forwarding rules' and addresses'
``list``, ``delete`` (a ``compute#operation``, DONE) and ``<scope>Operations.get``. Like the real API it
refuses (400 resourceInUseByAnotherResource) to delete a target pool a forwarding rule points at, a NEG
a backend service uses, or a disk an instance uses: the order of --delete is tested by it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest
import yaml

from aistack.teardown import Owner
from aistack.teardown.aws import KINDS as AWS_KINDS
from aistack.teardown.aws import aws_findings
from aistack.teardown.gcp import KINDS as GCP_KINDS
from aistack.teardown.gcp import gcp_findings
from components.naming import GCP_PROJECT_LABEL, GCP_STACK_LABEL, PROJECT_TAG, STACK_TAG
from components.spec import load_stack
from tests import gcp_standin
from tests.conftest import no_aws_credentials, run_cli
from tests.gcp_standin import API, PROJECT, ComputeStandIn

REGION = "us-east-1"


def _stack(tmp_path: Path, name: str, values: dict[str, Any]) -> str:
    path = tmp_path / f"Pulumi.{name}.yaml"
    path.write_text(yaml.safe_dump({"config": values}))
    return str(path)


# ------------------------------------------------------------------------------------------ AWS (moto)

OURS = {PROJECT_TAG: "aistack", STACK_TAG: "dev"}
THEIRS = {PROJECT_TAG: "aistack", STACK_TAG: "prod", "karpenter.sh/discovery": "aistack-prod"}


def _tags(tags: dict[str, str]) -> list[dict[str, str]]:
    return [{"Key": k, "Value": v} for k, v in tags.items()]


def _spec(kind: str, tags: dict[str, str]) -> list[dict[str, Any]]:
    return [{"ResourceType": kind, "Tags": _tags(tags)}]


@pytest.fixture(scope="module")
def moto_url() -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@pytest.fixture
def aws(moto_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Any:
    import boto3
    import requests

    for var in ("AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_DEFAULT_PROFILE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_url)
    requests.post(f"{moto_url}/moto-api/reset", timeout=10)
    return boto3.Session(region_name=REGION)


def _seed_aws(session: Any, tags: dict[str, str], cluster_tag: dict[str, str], name: str) -> dict[str, str]:
    """One of every type the sweep checks, of one stack; returns {type: id}. ``cluster_tag``: what the
    cluster's controllers put on what they launch (used instead of the identity on some types)."""
    ec2, elbv2, elb = session.client("ec2"), session.client("elbv2"), session.client("elb")
    iam, logs = session.client("iam"), session.client("logs")
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnets = [
        ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.0.{i}.0/24", AvailabilityZone=f"{REGION}{z}")["Subnet"]["SubnetId"]
        for i, z in enumerate("ab")
    ]
    ids: dict[str, str] = {}
    ids["instance"] = ec2.run_instances(
        ImageId="ami-12c6146b",
        MinCount=1,
        MaxCount=1,
        InstanceType="g5.xlarge",
        SubnetId=subnets[0],
        TagSpecifications=_spec("instance", {**cluster_tag, "Name": f"{name}-gpu"}),
    )["Instances"][0]["InstanceId"]
    ids["volume"] = ec2.create_volume(AvailabilityZone=f"{REGION}a", Size=100, TagSpecifications=_spec("volume", tags))[
        "VolumeId"
    ]
    ids["network-interface"] = ec2.create_network_interface(
        SubnetId=subnets[0], TagSpecifications=_spec("network-interface", tags)
    )["NetworkInterface"]["NetworkInterfaceId"]
    lb = elbv2.create_load_balancer(Name=f"{name}-alb", Subnets=subnets, Tags=_tags(tags))["LoadBalancers"][0]
    ids["load-balancer"] = lb["LoadBalancerArn"]
    tg = elbv2.create_target_group(Name=f"{name}-tg", Protocol="HTTP", Port=80, VpcId=vpc, Tags=_tags(tags))
    ids["target-group"] = tg["TargetGroups"][0]["TargetGroupArn"]
    elbv2.create_listener(  # the load balancer uses the target group: it must go first
        LoadBalancerArn=lb["LoadBalancerArn"],
        Protocol="HTTP",
        Port=80,
        DefaultActions=[{"Type": "forward", "TargetGroupArn": ids["target-group"]}],
    )
    ids["classic-load-balancer"] = f"{name}-elb"
    elb.create_load_balancer(
        LoadBalancerName=f"{name}-elb",
        Listeners=[{"Protocol": "TCP", "LoadBalancerPort": 80, "InstancePort": 30080}],
        Subnets=subnets[:1],
        Tags=_tags(cluster_tag),
    )
    ids["elastic-ip"] = ec2.allocate_address(Domain="vpc", TagSpecifications=_spec("elastic-ip", tags))["AllocationId"]
    nat_ip = ec2.allocate_address(Domain="vpc")["AllocationId"]  # untagged: the NAT gateway's, Pulumi's
    ids["nat-gateway"] = ec2.create_nat_gateway(
        SubnetId=subnets[0], AllocationId=nat_ip, TagSpecifications=_spec("natgateway", tags)
    )["NatGateway"]["NatGatewayId"]
    ids["security-group"] = ec2.create_security_group(
        GroupName=f"{name}-lb", Description="lb", VpcId=vpc, TagSpecifications=_spec("security-group", cluster_tag)
    )["GroupId"]
    ec2.authorize_security_group_ingress(  # a rule naming a group: revoked before the delete
        GroupId=ids["security-group"],
        IpPermissions=[
            {
                "IpProtocol": "tcp",
                "FromPort": 80,
                "ToPort": 80,
                "UserIdGroupPairs": [{"GroupId": ids["security-group"]}],
            }
        ],
    )
    ids["launch-template"] = ec2.create_launch_template(
        LaunchTemplateName=f"{name}-karpenter",
        LaunchTemplateData={"InstanceType": "g5.xlarge"},
        TagSpecifications=_spec("launch-template", cluster_tag),
    )["LaunchTemplate"]["LaunchTemplateId"]
    role = iam.create_role(RoleName=f"{name}-nodes", AssumeRolePolicyDocument="{}")["Role"]["RoleName"]
    iam.create_instance_profile(InstanceProfileName=f"{name}-profile", Tags=_tags(cluster_tag))
    iam.add_role_to_instance_profile(InstanceProfileName=f"{name}-profile", RoleName=role)
    ids["instance-profile"] = f"{name}-profile"
    logs.create_log_group(logGroupName=f"/aistack/{name}/audit", tags=tags)
    ids["log-group"] = f"/aistack/{name}/audit"
    return ids


def _seed_untagged(session: Any) -> None:
    """Look-alikes named like dev's but carrying no tag: the sweep never matches AWS resources by name."""
    ec2, logs = session.client("ec2"), session.client("logs")
    ec2.create_volume(AvailabilityZone=f"{REGION}a", Size=1, TagSpecifications=_spec("volume", {"Name": "aistack-dev"}))
    ec2.create_security_group(GroupName="aistack-dev-nodes", Description="look-alike")
    logs.create_log_group(logGroupName="/aistack/aistack-dev/untagged")


def _seed_both(session: Any) -> tuple[dict[str, str], dict[str, str]]:
    ours = _seed_aws(session, OURS, {"kubernetes.io/cluster/aistack-dev": "owned"}, "dev")
    # EKS's own control-plane log group: untagged, matched by its documented name
    session.client("logs").create_log_group(logGroupName="/aws/eks/aistack-dev/cluster")
    session.client("logs").create_log_group(logGroupName="/aws/eks/aistack-prod/cluster")
    theirs = _seed_aws(session, THEIRS, {"kubernetes.io/cluster/aistack-prod": "owned", **THEIRS}, "prod")
    _seed_untagged(session)
    return ours, theirs


def _present(session: Any) -> dict[str, set[str]]:
    """What each type holds now, read straight from moto (not through the sweep)."""
    ec2, elbv2, elb = session.client("ec2"), session.client("elbv2"), session.client("elb")
    iam, logs = session.client("iam"), session.client("logs")
    return {
        "instance": {
            i["InstanceId"]
            for r in ec2.describe_instances()["Reservations"]
            for i in r["Instances"]
            if i["State"]["Name"] != "terminated"
        },
        "volume": {v["VolumeId"] for v in ec2.describe_volumes()["Volumes"]},
        "network-interface": {e["NetworkInterfaceId"] for e in ec2.describe_network_interfaces()["NetworkInterfaces"]},
        "load-balancer": {lb["LoadBalancerArn"] for lb in elbv2.describe_load_balancers()["LoadBalancers"]},
        "classic-load-balancer": {
            lb["LoadBalancerName"] for lb in elb.describe_load_balancers()["LoadBalancerDescriptions"]
        },
        "target-group": {g["TargetGroupArn"] for g in elbv2.describe_target_groups()["TargetGroups"]},
        "elastic-ip": {a["AllocationId"] for a in ec2.describe_addresses()["Addresses"]},
        "nat-gateway": {
            n["NatGatewayId"] for n in ec2.describe_nat_gateways()["NatGateways"] if n["State"] != "deleted"
        },
        "security-group": {g["GroupId"] for g in ec2.describe_security_groups()["SecurityGroups"]},
        "launch-template": {t["LaunchTemplateId"] for t in ec2.describe_launch_templates()["LaunchTemplates"]},
        "instance-profile": {p["InstanceProfileName"] for p in iam.list_instance_profiles()["InstanceProfiles"]},
        "log-group": {g["logGroupName"] for g in logs.describe_log_groups()["logGroups"]},
    }


def test_aws_clean_account_exits_0(aws: Any, tmp_path: Path, capsys: Any) -> None:
    _seed_aws(aws, THEIRS, {"kubernetes.io/cluster/aistack-prod": "owned"}, "prod")  # another stack's only
    _seed_untagged(aws)
    stack = _stack(tmp_path, "dev", {"aistack:target": "aws", "aistack:region": REGION})
    code, out, err = run_cli(capsys, "sweep", stack)
    assert code == 0, out + err
    assert "clean" in out and "12 types" in out
    code, out, _ = run_cli(capsys, "sweep", stack, "--json")
    doc = json.loads(out)
    assert (code, doc["clean"], doc["findings"], doc["exit_code"]) == (0, True, [], 0)
    assert doc["checked"] == list(AWS_KINDS)


def test_aws_leftovers_of_every_type_are_listed_with_their_delete_command(
    aws: Any, tmp_path: Path, capsys: Any
) -> None:
    ours, theirs = _seed_both(aws)
    stack = _stack(tmp_path, "dev", {"aistack:target": "aws", "aistack:region": REGION})
    code, out, err = run_cli(capsys, "sweep", stack, "--json")
    assert code == 1, err
    doc = json.loads(out)
    got = {(f["type"], f["id"]) for f in doc["findings"]}
    want = {(k, v) for k, v in ours.items()} | {("log-group", "/aws/eks/aistack-dev/cluster")}
    assert got == want
    assert not {v for _, v in got} & set(theirs.values())
    by_id = {f["id"]: f for f in doc["findings"]}
    r = f"--region {REGION}"
    assert (
        by_id[ours["instance"]]["delete_command"]
        == f"aws ec2 terminate-instances --instance-ids {ours['instance']} {r}"
    )
    assert by_id[ours["instance"]]["matched_by"] == "tag kubernetes.io/cluster/aistack-dev=owned"
    assert by_id[ours["volume"]]["delete_command"] == f"aws ec2 delete-volume --volume-id {ours['volume']} {r}"
    assert by_id[ours["volume"]]["matched_by"] == f"tags {PROJECT_TAG}=aistack, {STACK_TAG}=dev"
    assert by_id[ours["network-interface"]]["delete_command"] == (
        f"aws ec2 delete-network-interface --network-interface-id {ours['network-interface']} {r}"
    )
    assert by_id[ours["load-balancer"]]["delete_command"] == (
        f"aws elbv2 delete-load-balancer --load-balancer-arn {ours['load-balancer']} {r}"
    )
    assert by_id["dev-elb"]["delete_command"] == f"aws elb delete-load-balancer --load-balancer-name dev-elb {r}"
    assert by_id[ours["target-group"]]["delete_command"] == (
        f"aws elbv2 delete-target-group --target-group-arn {ours['target-group']} {r}"
    )
    assert (
        by_id[ours["elastic-ip"]]["delete_command"]
        == f"aws ec2 release-address --allocation-id {ours['elastic-ip']} {r}"
    )
    assert by_id[ours["nat-gateway"]]["delete_command"] == (
        f"aws ec2 delete-nat-gateway --nat-gateway-id {ours['nat-gateway']} {r}"
    )
    assert by_id[ours["security-group"]]["delete_command"] == (
        f"aws ec2 delete-security-group --group-id {ours['security-group']} {r}"
    )
    assert by_id[ours["launch-template"]]["delete_command"] == (
        f"aws ec2 delete-launch-template --launch-template-id {ours['launch-template']} {r}"
    )
    assert by_id["dev-profile"]["delete_command"] == (
        "aws iam remove-role-from-instance-profile --instance-profile-name dev-profile --role-name dev-nodes && "
        "aws iam delete-instance-profile --instance-profile-name dev-profile"
    )
    assert by_id["/aistack/dev/audit"]["delete_command"] == (
        f"aws logs delete-log-group --log-group-name /aistack/dev/audit {r}"
    )
    # the table: every type named, with its commands
    code, out, err = run_cli(capsys, "sweep", stack)
    assert code == 1
    for plural in AWS_KINDS.values():
        assert f"{plural} (" in out, plural
    assert out.count("    delete: ") == len(want)
    assert f"{len(want)} left" in err and "--delete" in err


def test_aws_delete_removes_the_stack_s_leftovers_and_nothing_else(aws: Any, tmp_path: Path, capsys: Any) -> None:
    ours, _ = _seed_both(aws)
    before = _present(aws)
    roots = {
        m["Ebs"]["VolumeId"]
        for r in aws.client("ec2").describe_instances(InstanceIds=[ours["instance"]])["Reservations"]
        for i in r["Instances"]
        for m in i.get("BlockDeviceMappings", [])
    }
    assert roots <= before["volume"]
    stack = _stack(tmp_path, "dev", {"aistack:target": "aws", "aistack:region": REGION})
    code, out, err = run_cli(capsys, "sweep", stack, "--delete", "--json")
    doc = json.loads(out)
    assert code == 0, (doc["errors"], doc["findings"], err)
    assert doc["findings"] == [] and doc["errors"] == []
    ours_all = {**{k: {v} for k, v in ours.items()}, "log-group": {ours["log-group"], "/aws/eks/aistack-dev/cluster"}}
    assert {(f["type"], f["id"]) for f in doc["deleted"]} == {(k, v) for k, vs in ours_all.items() for v in vs}
    after = _present(aws)
    ours_all["volume"] |= roots  # the instance's root volume (DeleteOnTermination) goes with it
    for kind in AWS_KINDS:
        # exactly the stack's are gone: the other stack's, the untagged and Pulumi's own (VPC default group,
        # the NAT gateway's untagged Elastic IP) are all still there
        assert after[kind] == before[kind] - ours_all[kind], kind
    code, out, _ = run_cli(capsys, "sweep", stack)
    assert code == 0 and "clean" in out


def test_aws_delete_refuses_while_the_stack_s_cluster_runs(aws: Any, tmp_path: Path, capsys: Any) -> None:
    """On a live stack the sweep's findings are the stack itself: --delete must not touch them."""
    _seed_both(aws)
    role = aws.client("iam").create_role(RoleName="eks", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    vpc = aws.client("ec2").describe_vpcs()["Vpcs"][0]["VpcId"]
    subnets = [
        s["SubnetId"]
        for s in aws.client("ec2").describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc]}])["Subnets"]
    ]
    aws.client("eks").create_cluster(name="aistack-dev", roleArn=role, resourcesVpcConfig={"subnetIds": subnets})
    before = _present(aws)
    stack = _stack(tmp_path, "dev", {"aistack:target": "aws", "aistack:region": REGION})
    code, out, err = run_cli(capsys, "sweep", stack, "--delete")
    assert code == 2 and "aistack-dev still exists" in err and "pulumi destroy" in err
    assert _present(aws) == before  # nothing deleted
    aws.client("eks").delete_cluster(name="aistack-dev")  # gone: the sweep may delete again
    code, out, _ = run_cli(capsys, "sweep", stack, "--delete", "--json")
    assert code == 0 and json.loads(out)["deleted"]


def test_aws_without_credentials_exits_2_with_the_fix(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: Any
) -> None:
    no_aws_credentials(monkeypatch, tmp_path)
    stack = _stack(tmp_path, "dev", {"aistack:target": "aws", "aistack:region": REGION})
    code, out, err = run_cli(capsys, "sweep", stack)
    assert code == 2 and out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "no AWS credentials" in lines[0] and "To fix: run `aws configure`" in lines[0]


def test_aws_findings_is_pure_and_filters_what_no_longer_costs() -> None:
    loaded_owner = Owner.of(_spec_of("aws"), "dev")
    tags = _tags(OURS)
    listing: dict[str, list[dict[str, Any]]] = {
        "instance": [
            {"InstanceId": "i-1", "State": {"Name": "running"}, "Tags": tags},
            {"InstanceId": "i-2", "State": {"Name": "terminated"}, "Tags": tags},
        ],
        "volume": [
            {"VolumeId": "vol-1", "State": "available", "Tags": tags},
            {"VolumeId": "vol-2", "State": "in-use", "Tags": tags},
        ],
        "network-interface": [
            {"NetworkInterfaceId": "eni-1", "Status": "available", "TagSet": tags},
            {"NetworkInterfaceId": "eni-2", "Status": "in-use", "TagSet": tags},
        ],
        "security-group": [
            {"GroupId": "sg-1", "GroupName": "default", "Tags": tags},
            {"GroupId": "sg-2", "GroupName": "lb", "Tags": _tags({"kubernetes.io/cluster/aistack-dev": "shared"})},
            {"GroupId": "sg-3", "GroupName": "lb", "Tags": _tags({"elbv2.k8s.aws/cluster": "aistack-dev"})},
        ],
        "nat-gateway": [{"NatGatewayId": "nat-1", "State": "deleted", "Tags": tags}],
        "elastic-ip": [{"AllocationId": "eipalloc-1", "AssociationId": "eipassoc-1", "Tags": tags}],
        "log-group": [{"logGroupName": "/x", "Tags": {STACK_TAG: "dev"}}],  # half the identity: not ours
    }
    got = aws_findings(listing, loaded_owner, REGION)
    assert [(f.kind, f.id) for f in got] == [
        ("instance", "i-1"),
        ("elastic-ip", "eipalloc-1"),
        ("network-interface", "eni-1"),
        ("volume", "vol-1"),
        ("security-group", "sg-3"),
    ]
    eip = next(f for f in got if f.kind == "elastic-ip")
    assert eip.command == (
        f"aws ec2 disassociate-address --association-id eipassoc-1 --region {REGION} && "
        f"aws ec2 release-address --allocation-id eipalloc-1 --region {REGION}"
    )


class _FakeEc2:
    """An EC2 client whose security group is held by a departing ENI for ``busy`` delete attempts."""

    def __init__(self, busy: int) -> None:
        self.busy = busy
        self.calls: list[str] = []

    def describe_security_groups(self, GroupIds: list[str]) -> dict[str, Any]:  # noqa: N803 (boto3's names)
        return {"SecurityGroups": [{"GroupId": g, "IpPermissions": [], "IpPermissionsEgress": []} for g in GroupIds]}

    def revoke_security_group_ingress(self, **_: Any) -> None:
        raise AssertionError("no rule names a group here")

    revoke_security_group_egress = revoke_security_group_ingress

    def delete_security_group(self, GroupId: str) -> None:  # noqa: N803
        from botocore.exceptions import ClientError

        self.calls.append(GroupId)
        if len(self.calls) <= self.busy:
            error = {"Error": {"Code": "DependencyViolation", "Message": "resource sg-1 has a dependent object"}}
            raise ClientError(error, "DeleteSecurityGroup")  # type: ignore[arg-type]


@pytest.mark.parametrize(("busy", "wait_s", "errors"), [(2, 60.0, 0), (1, 0.0, 1)])
def test_aws_security_group_held_by_a_departing_eni_is_retried_within_the_wait(
    monkeypatch: pytest.MonkeyPatch, busy: int, wait_s: float, errors: int
) -> None:
    from aistack.teardown.aws import AwsApi
    from aistack.teardown.model import Finding

    api = AwsApi.__new__(AwsApi)
    api.ec2, api.wait_s = _FakeEc2(busy), wait_s
    monkeypatch.setattr("aistack.teardown.aws.time.sleep", lambda _: None)
    found = [Finding("security-group", "sg-1", "lb", REGION, "tags", "aws ec2 delete-security-group --group-id sg-1")]
    got = api.delete("security-group", found)
    assert len(got) == errors
    assert api.ec2.calls == ["sg-1"] * (busy + 1 if errors == 0 else 1)
    if errors:
        assert "DependencyViolation" in got[0] and "by hand: aws ec2 delete-security-group --group-id sg-1" in got[0]


def _spec_of(target: str) -> Any:
    from components.spec import parse_spec

    region = REGION if target == "aws" else "us-central1"
    return parse_spec({"target": target, "region": region, **({"project": PROJECT} if target == "gcp" else {})})


# ------------------------------------------------------------------------------------------ GCP (stand-in)

SINGULAR = {
    "instances": "instance",
    "instanceGroups": "instanceGroup",
    "disks": "disk",
    "forwardingRules": "forwardingRule",
    "targetPools": "targetPool",
    "backendServices": "backendService",
    "networkEndpointGroups": "networkEndpointGroup",
    "addresses": "address",
    "firewalls": "firewall",
}
_COLL = "|".join(SINGULAR)
_SCOPE = r"(zones/[^/]+|regions/[^/]+|global)"


def _aggregated(h: ComputeStandIn, m: re.Match[str]) -> tuple[int, dict[str, Any]]:
    project, coll = m.group(1), m.group(2)
    items: dict[str, Any] = {
        "zones/us-central1-f": {  # an empty scope, as the API reports it
            "warning": {
                "code": "NO_RESULTS_ON_PAGE",
                "message": "There are no results for scope 'zones/us-central1-f' on this page.",
                "data": [{"key": "scope", "value": "zones/us-central1-f"}],
            }
        }
    }
    for (p, c, scope, _), r in SweepStandIn.resources.items():
        if p == project and c == coll:
            items.setdefault(scope, {}).pop("warning", None)
            items[scope].setdefault(coll, []).append(r)
    return 200, {
        "kind": f"compute#{SINGULAR[coll]}AggregatedList",
        "id": f"projects/{project}/aggregated/{coll}",
        "items": items,
    }


def _global_list(h: ComputeStandIn, m: re.Match[str]) -> tuple[int, dict[str, Any]]:
    project, coll = m.group(1), m.group(2)
    found = [r for (p, c, s, _), r in SweepStandIn.resources.items() if p == project and c == coll and s == "global"]
    return 200, {"kind": f"compute#{SINGULAR[coll]}List", "id": f"projects/{project}/global/{coll}", "items": found}


def _operation_get(h: ComputeStandIn, m: re.Match[str]) -> tuple[int, dict[str, Any]]:
    return 200, _operation(m.group(1), m.group(2), m.group(3), "")


def _operation(project: str, scope: str, name: str, target: str) -> dict[str, Any]:
    op: dict[str, Any] = {
        "kind": "compute#operation",
        "id": "1",
        "name": name,
        "operationType": "delete",
        "targetLink": target,
        "status": "DONE",
        "progress": 100,
        "selfLink": f"{API}/projects/{project}/{scope}/operations/{name}",
    }
    if scope.startswith("zones/"):
        op["zone"] = f"{API}/projects/{project}/{scope}"
    elif scope.startswith("regions/"):
        op["region"] = f"{API}/projects/{project}/{scope}"
    return op


class SweepStandIn(ComputeStandIn):
    """The stand-in with list, aggregatedList and delete of every type the sweep checks."""

    # (project, collection, scope, name) → the resource as the API returns it
    resources: ClassVar[dict[tuple[str, str, str, str], dict[str, Any]]] = {}
    deletes: ClassVar[list[str]] = []
    routes: ClassVar[list[tuple[str, Any]]] = [
        *ComputeStandIn.routes,
        (rf"/compute/v1/projects/([^/]+)/aggregated/({_COLL})", _aggregated),
        (r"/compute/v1/projects/([^/]+)/global/(firewalls|forwardingRules|addresses)", _global_list),
        (rf"/compute/v1/projects/([^/]+)/{_SCOPE}/operations/([^/]+)", _operation_get),
    ]

    def _in_use(self, resource: dict[str, Any]) -> str | None:
        """What uses ``resource``, the way the API refuses its delete: a disk's users (the instances it is
        attached to), a forwarding rule whose target it is, a backend service whose backend it is."""
        if resource.get("users"):
            return str(resource["users"][0])
        link = resource["selfLink"]
        for r in self.resources.values():
            if r.get("target") == link or any(b.get("group") == link for b in r.get("backends", [])):
                return str(r["selfLink"])
        return None

    def do_DELETE(self) -> None:  # noqa: N802 (http.server's name)
        path = self.path.split("?")[0]
        m = re.fullmatch(rf"/compute/v1/projects/([^/]+)/{_SCOPE}/({_COLL})/([^/]+)", path)
        key = (m.group(1), m.group(3), m.group(2), m.group(4)) if m else None
        if key is None or key not in self.resources:
            return self._send(404, {"error": {"code": 404, "message": f"The resource '{path}' was not found"}})
        link = str(self.resources[key]["selfLink"])
        user = self._in_use(self.resources[key])
        if user is not None:
            message = f"The {SINGULAR[key[1]]} resource '{link}' is already being used by '{user}'"
            reason = {"domain": "global", "reason": "resourceInUseByAnotherResource", "message": message}
            return self._send(400, {"error": {"code": 400, "message": message, "errors": [reason]}})
        del self.resources[key]
        for r in self.resources.values():  # deleting an instance detaches its disks
            if link in r.get("users", []):
                r["users"] = [u for u in r["users"] if u != link]
        self.deletes.append(f"{key[1]}/{key[2]}/{key[3]}")
        self._send(200, _operation(key[0], key[2], f"operation-{len(self.deletes)}", link))


def _put(coll: str, scope: str, name: str, **fields: Any) -> str:
    link = f"{API}/projects/{PROJECT}/{scope}/{coll}/{name}"
    r: dict[str, Any] = {"kind": f"compute#{SINGULAR[coll]}", "id": str(abs(hash(link)) % 10**12), "name": name}
    if scope.startswith("zones/"):
        r["zone"] = f"{API}/projects/{PROJECT}/{scope}"
    elif scope.startswith("regions/"):
        r["region"] = f"{API}/projects/{PROJECT}/{scope}"
    r.update(fields, selfLink=link)
    SweepStandIn.resources[(PROJECT, coll, scope, name)] = r
    return link


def _net(name: str) -> str:
    return f"{API}/projects/{PROJECT}/global/networks/{name}"


def _seed_gcp_stack(stack: str) -> set[tuple[str, str, str]]:
    """One of every type of stack ``stack`` (labels where the type takes them, else what links it to the
    stack); returns the (type, name, scope) of each."""
    labels = {GCP_PROJECT_LABEL: "aistack", GCP_STACK_LABEL: stack}
    prefix, za, rg = f"aistack-{stack}", "zones/us-central1-a", "regions/us-central1"
    vm = _put("instances", za, f"gke-{prefix}-l4-1a2b-x9", labels={"goog-k8s-cluster-name": prefix}, status="RUNNING")
    vm2 = _put("instances", "zones/us-central1-b", f"{stack}-notebook", labels=labels, status="RUNNING")
    _put("disks", za, f"pvc-{stack}-attached", labels=labels, sizeGb="100", users=[vm])
    _put("disks", rg, f"pvc-{stack}-regional", labels=labels, sizeGb="200", users=[])
    pool = _put("targetPools", rg, f"a{stack}0123456789", instances=[vm])  # GKE L4 LB: named after the Service
    _put("targetPools", rg, f"{stack}-held", instances=[vm2])
    _put("forwardingRules", rg, f"a{stack}0123456789", labels=labels, IPAddress="34.1.2.3", target=pool)
    neg = _put("networkEndpointGroups", za, f"k8s1-{stack}-team-svc-80", network=_net(f"{prefix}-vpc"))
    _put("instanceGroups", za, f"k8s-ig--{stack}", network=_net(f"{prefix}-vpc"))
    backend = _put("backendServices", "global", f"k8s1-{stack}-team-svc-80", backends=[{"group": neg}])
    _put("forwardingRules", "global", f"{prefix}-ingress", labels=labels, target=backend)
    _put("firewalls", "global", f"k8s-fw-a{stack}0123456789", network=_net(f"{prefix}-vpc"))
    _put("firewalls", "global", f"{prefix}-master-webhooks", network=_net("shared-vpc"))
    _put("addresses", rg, f"{prefix}-lb", labels=labels, address="34.1.2.3")
    _put("addresses", "global", f"{prefix}-ingress-ip", labels=labels, address="34.9.9.9")
    return {(k[1], k[3], k[2]) for k in SweepStandIn.resources if stack in k[3]}


def _seed_gcp() -> tuple[set[tuple[str, str, str]], set[tuple[str, str, str]]]:
    theirs = _seed_gcp_stack("prod")
    ours = _seed_gcp_stack("dev") - theirs
    # look-alikes: named like dev's, but a labelled type without the labels, in another network
    _put("disks", "zones/us-central1-a", "aistack-dev-scratch", labels={GCP_STACK_LABEL: "dev"}, users=[])
    _put("firewalls", "global", "allow-dev-ssh", network=_net("default"))
    return ours, theirs


# The dev stack's, by hand: (type as the sweep names it, name, where, how it was matched).
GCP_EXPECTED = {
    ("instance", "gke-aistack-dev-l4-1a2b-x9", "us-central1-a", "label goog-k8s-cluster-name=aistack-dev"),
    ("instance", "dev-notebook", "us-central1-b", "labels aistack-project=aistack, aistack-stack=dev"),
    ("forwarding-rule", "adev0123456789", "us-central1", "labels aistack-project=aistack, aistack-stack=dev"),
    ("forwarding-rule", "aistack-dev-ingress", "global", "labels aistack-project=aistack, aistack-stack=dev"),
    ("target-pool", "adev0123456789", "us-central1", "target of a forwarding rule of the stack"),
    ("target-pool", "dev-held", "us-central1", "holds instance dev-notebook of the stack"),
    ("backend-service", "k8s1-dev-team-svc-80", "global", "backend k8s1-dev-team-svc-80 is the stack's"),
    ("network-endpoint-group", "k8s1-dev-team-svc-80", "us-central1-a", "network aistack-dev-vpc"),
    ("instance-group", "k8s-ig--dev", "us-central1-a", "network aistack-dev-vpc"),
    ("firewall", "k8s-fw-adev0123456789", "global", "network aistack-dev-vpc"),
    ("firewall", "aistack-dev-master-webhooks", "global", "name prefix aistack-dev-"),
    ("address", "aistack-dev-lb", "us-central1", "labels aistack-project=aistack, aistack-stack=dev"),
    ("address", "aistack-dev-ingress-ip", "global", "labels aistack-project=aistack, aistack-stack=dev"),
    ("disk", "pvc-dev-attached", "us-central1-a", "labels aistack-project=aistack, aistack-stack=dev"),
    ("disk", "pvc-dev-regional", "us-central1", "labels aistack-project=aistack, aistack-stack=dev"),
}
GCP_COMMANDS = {
    "gke-aistack-dev-l4-1a2b-x9": "gcloud compute instances delete gke-aistack-dev-l4-1a2b-x9 --zone us-central1-a",
    "adev0123456789/forwarding-rule": "gcloud compute forwarding-rules delete adev0123456789 --region us-central1",
    "aistack-dev-ingress": "gcloud compute forwarding-rules delete aistack-dev-ingress --global",
    "adev0123456789/target-pool": "gcloud compute target-pools delete adev0123456789 --region us-central1",
    "k8s1-dev-team-svc-80/backend-service": "gcloud compute backend-services delete k8s1-dev-team-svc-80 --global",
    "k8s1-dev-team-svc-80/network-endpoint-group": (
        "gcloud compute network-endpoint-groups delete k8s1-dev-team-svc-80 --zone us-central1-a"
    ),
    "k8s-ig--dev": "gcloud compute instance-groups unmanaged delete k8s-ig--dev --zone us-central1-a",
    "k8s-fw-adev0123456789": "gcloud compute firewall-rules delete k8s-fw-adev0123456789",
    "aistack-dev-lb": "gcloud compute addresses delete aistack-dev-lb --region us-central1",
    "aistack-dev-ingress-ip": "gcloud compute addresses delete aistack-dev-ingress-ip --global",
    "pvc-dev-attached": "gcloud compute disks delete pvc-dev-attached --zone us-central1-a",
    "pvc-dev-regional": "gcloud compute disks delete pvc-dev-regional --region us-central1",
}


@pytest.fixture(scope="module")
def compute_server() -> Iterator[str]:
    with gcp_standin.serve(SweepStandIn) as url:
        yield url


@pytest.fixture
def gcp(compute_server: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> str:
    key = gcp_standin.service_account_key(tmp_path / "key.json", f"{compute_server}/token")
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(key))
    monkeypatch.setenv("AISTACK_GCP_COMPUTE_ENDPOINT", compute_server)
    ComputeStandIn.reset()
    SweepStandIn.resources = {}
    SweepStandIn.deletes = []
    return _stack(tmp_path, "dev", {"aistack:target": "gcp", "aistack:region": "us-central1", "gcp:project": PROJECT})


def _gcp_rows(doc: dict[str, Any]) -> set[tuple[str, str, str, str]]:
    return {(f["type"], f["name"], f["location"], f["matched_by"].split(" (")[0]) for f in doc["findings"]}


def test_gcp_clean_project_exits_0(gcp: str, capsys: Any) -> None:
    _seed_gcp_stack("prod")
    _put("firewalls", "global", "allow-dev-ssh", network=_net("default"))
    code, out, err = run_cli(capsys, "sweep", gcp, "--json")
    doc = json.loads(out)
    assert code == 0, (doc, err)
    assert doc["findings"] == [] and doc["checked"] == list(GCP_KINDS)
    # every type was asked for, through aggregatedList or list
    asked = {p.split("?")[0].rsplit("/", 1)[-1] for _, p in ComputeStandIn.seen}
    assert set(SINGULAR) <= asked


def test_gcp_leftovers_of_every_type_are_listed_with_their_delete_command(gcp: str, capsys: Any) -> None:
    _seed_gcp()
    code, out, err = run_cli(capsys, "sweep", gcp, "--json")
    assert code == 1, err
    doc = json.loads(out)
    assert _gcp_rows(doc) == GCP_EXPECTED
    assert {f["type"] for f in doc["findings"]} == set(GCP_KINDS)
    commands = {}
    for f in doc["findings"]:
        assert f["delete_command"].endswith(f" --project {PROJECT} --quiet")
        commands[f["name"]] = commands[f"{f['name']}/{f['type']}"] = f["delete_command"].removesuffix(
            f" --project {PROJECT} --quiet"
        )
    for key, command in GCP_COMMANDS.items():
        assert commands[key] == command, key
    unlabeled = {f["type"] for f in doc["findings"] if "this type takes no labels" in f["matched_by"]}
    assert unlabeled == {"target-pool", "backend-service", "network-endpoint-group", "instance-group", "firewall"}
    assert any("take no labels" in n for n in doc["notes"])
    code, out, err = run_cli(capsys, "sweep", gcp)
    assert code == 1
    for kind in GCP_KINDS.values():
        assert f"{kind.plural} (" in out, kind.plural
    assert "15 left" in err


def test_gcp_delete_removes_in_dependency_order_and_nothing_else(gcp: str, capsys: Any) -> None:
    ours, theirs = _seed_gcp()
    before = set(SweepStandIn.resources)
    code, out, err = run_cli(capsys, "sweep", gcp, "--delete", "--json")
    doc = json.loads(out)
    assert code == 0, (doc["errors"], doc["findings"], err)
    assert doc["findings"] == [] and doc["errors"] == [] and len(doc["deleted"]) == len(GCP_EXPECTED)
    left = set(SweepStandIn.resources)
    assert before - left == {(PROJECT, c, s, n) for c, n, s in ours}
    assert {(k[1], k[3], k[2]) for k in left} >= theirs
    order = [d.split("/")[0] for d in SweepStandIn.deletes]
    # holders before what they hold: the stand-in refuses the other order (resourceInUseByAnotherResource)
    assert order.index("instances") < order.index("disks")
    assert order.index("forwardingRules") < order.index("targetPools") < order.index("addresses")
    assert order.index("backendServices") < order.index("networkEndpointGroups")
    code, out, _ = run_cli(capsys, "sweep", gcp)
    assert code == 0 and "clean" in out


def test_gcp_delete_reports_what_the_api_refused(gcp: str, capsys: Any) -> None:
    _seed_gcp()
    # a disk of the stack used by an instance that is not the stack's: it cannot go, and says why
    other = _put("instances", "zones/us-central1-a", "someone-else", labels={}, status="RUNNING")
    SweepStandIn.resources[(PROJECT, "disks", "zones/us-central1-a", "pvc-dev-attached")]["users"] = [other]
    code, out, _ = run_cli(capsys, "sweep", gcp, "--delete", "--json")
    doc = json.loads(out)
    assert code == 1
    assert [f["name"] for f in doc["findings"]] == ["pvc-dev-attached"]
    assert len(doc["errors"]) == 1 and "already being used by" in doc["errors"][0]
    assert "gcloud compute disks delete pvc-dev-attached --zone us-central1-a" in doc["errors"][0]


def test_gcp_without_credentials_exits_2_with_the_fix(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: Any
) -> None:
    monkeypatch.delenv("GOOGLE_APPLICATION_CREDENTIALS", raising=False)
    monkeypatch.setenv("CLOUDSDK_CONFIG", str(tmp_path / "gcloud"))
    monkeypatch.setattr("aistack.preflight.credentials._on_google_vm", lambda: False)
    stack = _stack(tmp_path, "dev", {"aistack:target": "gcp", "aistack:region": "us-central1", "gcp:project": PROJECT})
    code, out, err = run_cli(capsys, "sweep", stack)
    lines = err.strip().splitlines()
    assert code == 2 and out == "" and len(lines) == 1
    assert "gcloud auth application-default login" in lines[0]


def test_gcp_findings_is_pure() -> None:
    owner = Owner.of(_spec_of("gcp"), "dev")
    listing: dict[str, list[tuple[str, dict[str, Any]]]] = {
        "disk": [
            ("zones/us-central1-a", {"name": "d", "labels": {GCP_PROJECT_LABEL: "aistack", GCP_STACK_LABEL: "dev"}})
        ],
        "firewall": [
            ("global", {"name": "aistack-dev-x"}),
            ("global", {"name": "aistack-devx-y"}),  # another prefix that only starts the same
            ("global", {"name": "gke-aistack-dev-abc-all"}),
        ],
    }
    got = [(f.kind, f.id) for f in gcp_findings(listing, owner, "p")]
    assert got == [("firewall", "aistack-dev-x"), ("firewall", "gke-aistack-dev-abc-all"), ("disk", "d")]


def test_onprem_has_nothing_to_sweep(tmp_path: Path, capsys: Any) -> None:
    loaded = load_stack(str(Path("stacks/Pulumi.onprem-gpu.yaml").resolve()))
    assert loaded.spec.target == "onprem"
    code, out, _ = run_cli(capsys, "sweep", "stacks/Pulumi.onprem-gpu.yaml")
    assert code == 0 and "on-prem" in out
