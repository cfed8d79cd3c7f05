"""AWS: Service Quotas, instance-type offerings and Capacity Reservations, read with boto3.

Read-only calls, all in the stack's region: ec2 DescribeInstanceTypes (vCPUs per type),
DescribeInstances (vCPUs in use per quota family: Service Quotas gives limits, not usage),
DescribeAddresses, DescribeInstanceTypeOfferings (LocationType availability-zone) and
DescribeCapacityReservations (and, for an existing VPC, what networks.py reads); service-quotas
GetServiceQuota (the applied value, else GetAWSDefaultServiceQuota). ``endpoint_url`` points every
client elsewhere (tests: moto on loopback); boto3 also honours AWS_ENDPOINT_URL on its own.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from components.spec import StackSpec
from foundation.words import counted

from .needs import AWS_ELASTIC_IPS, AWS_ON_DEMAND, AWS_SPOT, StackNeeds, ec2_quota_class, ec2_vcpus, stack_needs
from .networks import aws_network_checks
from .report import Check, QuotaState, Report, Status, evaluate_quotas

SERVICE = "ec2"
_RUNNING = ["pending", "running"]


def request_fix(region: str, code: str, desired: int) -> str:
    return (
        f"aws service-quotas request-service-quota-increase --service-code {SERVICE} --quota-code {code} "
        f"--desired-value {desired} --region {region} "
        f"(or https://{region}.console.aws.amazon.com/servicequotas/home/services/{SERVICE}/quotas/{code})"
    )


def _vcpus(ec2: Any, types: set[str]) -> dict[str, int]:
    from botocore.exceptions import ClientError

    out: dict[str, int] = {}
    try:
        pages = ec2.get_paginator("describe_instance_types").paginate(InstanceTypes=sorted(types))
        for page in pages:
            for t in page["InstanceTypes"]:
                out[t["InstanceType"]] = int(t["VCpuInfo"]["DefaultVCpus"])
    except ClientError:  # one unknown type fails the whole call: ask one by one
        for name in sorted(types):
            try:
                for t in ec2.describe_instance_types(InstanceTypes=[name])["InstanceTypes"]:
                    out[t["InstanceType"]] = int(t["VCpuInfo"]["DefaultVCpus"])
            except ClientError:
                continue
    return out


def _usage(ec2: Any) -> dict[str, float]:
    """vCPUs of pending/running instances per quota code (Service Quotas gives limits, not usage),
    and the Elastic IPs allocated."""
    running: list[tuple[str, bool, int | None]] = []
    pages = ec2.get_paginator("describe_instances").paginate(
        Filters=[{"Name": "instance-state-name", "Values": _RUNNING}]
    )
    for page in pages:
        for reservation in page["Reservations"]:
            for inst in reservation["Instances"]:
                cpu = inst.get("CpuOptions") or {}
                vcpus = cpu.get("CoreCount", 0) * cpu.get("ThreadsPerCore", 1) or None
                running.append((inst["InstanceType"], inst.get("InstanceLifecycle") == "spot", vcpus))
    sizes = _vcpus(ec2, {t for t, _, v in running if v is None}) if any(v is None for *_, v in running) else {}
    used: dict[str, float] = defaultdict(float)
    for itype, spot, vcpus in running:
        row = (AWS_SPOT if spot else AWS_ON_DEMAND).get(ec2_quota_class(itype, spot=spot))
        if row:
            used[row[0]] += vcpus or sizes.get(itype) or ec2_vcpus(itype) or 0
    used[AWS_ELASTIC_IPS[0]] = float(len(ec2.describe_addresses().get("Addresses", [])))
    return used


def _quota(sq: Any, code: str) -> tuple[float, str] | None:
    from botocore.exceptions import ClientError

    for call in (sq.get_service_quota, sq.get_aws_default_service_quota):
        try:
            q = call(ServiceCode=SERVICE, QuotaCode=code)["Quota"]
            return float(q["Value"]), str(q.get("QuotaName", ""))
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "NoSuchResourceException":
                raise
    return None


def _offerings(ec2: Any, spec: StackSpec, needs: StackNeeds) -> list[Check]:
    types = sorted({o.instance_type for o in needs.offerings})
    if not types:
        return []
    zones: dict[str, set[str]] = defaultdict(set)
    pages = ec2.get_paginator("describe_instance_type_offerings").paginate(
        LocationType="availability-zone", Filters=[{"Name": "instance-type", "Values": types}]
    )
    for page in pages:
        for o in page["InstanceTypeOfferings"]:
            zones[o["InstanceType"]].add(o["Location"])
    checks = []
    for need in needs.offerings:
        offered = zones.get(need.instance_type, set())
        wanted = set(need.zones) or offered
        where = sorted(offered & wanted)
        scope = ", ".join(need.zones) if need.zones else f"any zone of {spec.region}"
        if where:
            checks.append(
                Check((need.pool,), "offering", need.instance_type, "offered in", scope, ", ".join(where), "ok")
            )
        else:
            fix = (
                f"set aistack:zones to zones that offer it: {', '.join(sorted(offered))}"
                if offered
                else f"pick a region that offers {need.instance_type}: aws ec2 describe-instance-type-offerings "
                f"--location-type region --filters Name=instance-type,Values={need.instance_type} --region <region>"
            )
            checks.append(
                Check(
                    (need.pool,),
                    "offering",
                    need.instance_type,
                    "offered in",
                    scope,
                    "not offered there",
                    "short",
                    fix,
                    over_limit=True,
                )
            )
    return checks


def _reservations(ec2: Any, spec: StackSpec, needs: StackNeeds) -> list[Check]:
    from botocore.exceptions import ClientError

    checks = []
    for need in needs.reservations:
        want = f"{need.nodes} × {need.machine_type}"
        if need.reservation is None:  # affinity any: report what open reservations would take
            found = ec2.describe_capacity_reservations(
                Filters=[
                    {"Name": "instance-type", "Values": [need.machine_type]},
                    {"Name": "state", "Values": ["active"]},
                    {"Name": "instance-match-criteria", "Values": ["open"]},
                ]
            ).get("CapacityReservations", [])
            free = sum(int(r.get("AvailableInstanceCount", 0)) for r in found)
            checks.append(
                Check(
                    (need.pool,),
                    "reservation",
                    "open reservations",
                    "matching open Capacity Reservations",
                    want,
                    f"{free} free in {counted(len(found), 'reservation')}",
                    "info",
                    note="affinity any: nodes they cannot hold run on-demand (that quota is checked above)",
                )
            )
            continue
        label = "Capacity Block" if need.kind == "capacity-block" else "Capacity Reservation"
        try:
            found = ec2.describe_capacity_reservations(CapacityReservationIds=[need.reservation]).get(
                "CapacityReservations", []
            )
        except ClientError as exc:
            if "NotFound" not in exc.response.get("Error", {}).get("Code", "") and "Malformed" not in exc.response.get(
                "Error", {}
            ).get("Code", ""):
                raise
            found = []
        create = (
            f"aws ec2 describe-capacity-block-offerings --instance-type {need.machine_type} "
            f"--instance-count {need.nodes} --capacity-duration-hours 24 --region {spec.region}, then "
            f"aws ec2 purchase-capacity-block"
            if need.kind == "capacity-block"
            else f"aws ec2 create-capacity-reservation --instance-type {need.machine_type} --instance-platform "
            f"Linux/UNIX --availability-zone <zone> --instance-count {need.nodes} --region {spec.region}"
        )
        if not found:
            checks.append(
                Check(
                    (need.pool,),
                    "reservation",
                    need.reservation,
                    label,
                    want,
                    "not found",
                    "short",
                    f"check the id ({spec.region}, this account), or create one: {create}",
                    over_limit=True,
                )
            )
            continue
        r = found[0]
        state, itype = r.get("State", "?"), r.get("InstanceType", "?")
        free = int(r.get("AvailableInstanceCount", 0))
        have = (
            f"{state}, {free} of {r.get('TotalInstanceCount', '?')} × {itype} free in {r.get('AvailabilityZone', '?')}"
        )
        problems = []
        if state != "active":
            problems.append(
                f"it is {state}, not active" + (f" (starts {r['StartDate']})" if r.get("StartDate") else "")
            )
        if itype != need.machine_type:
            problems.append(f"it holds {itype}, the pool launches {need.machine_type}")
        if free < need.nodes:
            problems.append(f"{free} free {'instance' if free == 1 else 'instances'} for {counted(need.nodes, 'node')}")
        if need.kind == "capacity-block" and r.get("ReservationType", "capacity-block") != "capacity-block":
            problems.append("it is not a Capacity Block")
        status: Status = "short" if problems else "ok"
        fix = ""
        if problems:
            fix = f"{'; '.join(problems)}: lower max_nodes to {free}, or " + (
                f"aws ec2 modify-capacity-reservation --capacity-reservation-id {need.reservation} "
                f"--instance-count {int(r.get('TotalInstanceCount', 0)) + need.nodes - free} --region {spec.region}"
                if need.kind == "reservation" and itype == need.machine_type and state == "active"
                else create
            )
        # Nodes of this stack running in it free up nothing that fixes the wrong type, a block that is not
        # one, or a reservation smaller than the pool.
        total = int(r.get("TotalInstanceCount", 0))
        wrong = itype != need.machine_type or total < need.nodes or "it is not a Capacity Block" in problems
        checks.append(
            Check((need.pool,), "reservation", need.reservation, label, want, have, status, fix, over_limit=wrong)
        )
    return checks


def check_aws(spec: StackSpec, session: Any = None, endpoint_url: str | None = None) -> Report:
    """Every need of the stack against the account. Errors reaching AWS become ``Report.problem``."""
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

    report = Report("aws", spec.region)
    session = session or boto3.Session(region_name=spec.region)
    ec2 = session.client("ec2", region_name=spec.region, endpoint_url=endpoint_url)
    sq = session.client("service-quotas", region_name=spec.region, endpoint_url=endpoint_url)
    sts = session.client("sts", region_name=spec.region, endpoint_url=endpoint_url)
    try:
        report.scope = f"account {sts.get_caller_identity()['Account']}"
        offline = stack_needs(spec)
        live = _vcpus(ec2, {o.instance_type for o in offline.offerings} | {q.machine_type for q in offline.quotas})
        needs = stack_needs(spec, live)
        used = _usage(ec2)
        states: dict[str, QuotaState] = {}
        for code in sorted({q.quota for q in needs.quotas} | {a for q in needs.quotas for a in q.alternatives}):
            found = _quota(sq, code)
            if found is not None:
                states[code] = QuotaState(found[0], used.get(code, 0.0), found[1])
        report.checks += evaluate_quotas(
            needs.quotas, states, lambda code, desired: request_fix(spec.region, code, desired)
        )
        report.checks += _offerings(ec2, spec, needs)
        report.checks += _reservations(ec2, spec, needs)
        report.checks += aws_network_checks(ec2, spec, needs)
        report.notes += list(needs.notes)
    except NoCredentialsError:
        report.problem = "no AWS credentials found"
    except ClientError as exc:
        err = exc.response.get("Error", {})
        report.problem = (
            f"AWS refused {exc.operation_name}: {err.get('Code', '?')}: {err.get('Message', '')}. To fix: use "
            "credentials allowed ec2:Describe* and servicequotas:GetServiceQuota (read-only), then run this again."
        )
    except BotoCoreError as exc:
        report.problem = f"could not reach AWS: {exc}. To fix: check the network, region and AWS_ENDPOINT_URL."
    return report
