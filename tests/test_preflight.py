"""`aistack preflight` against real endpoints on loopback: moto's server for AWS, a Compute API stand-in for GCP.

AWS: moto 5.2 serves EC2 (DescribeInstanceTypes, offerings, instances, addresses) and STS, but its
Service Quotas backend knows only the vpc service, and EC2 Capacity Reservations are not implemented.
So the tests extend moto in-process (its server runs in this process): GetServiceQuota answers ec2
codes from ``EC2_QUOTAS``, and CreateCapacityReservation / DescribeCapacityReservations are added to
moto's EC2 responder, answered through moto's own serializer (the botocore output shapes). Every
request still goes over HTTP to 127.0.0.1 through boto3.

GCP: tests/gcp_standin.py, an http.server thread answering regions.get, reservations.get /
aggregatedList and the OAuth token exchange in the Compute API's documented JSON formats;
google-cloud-compute's REST transport reaches it through AISTACK_GCP_COMPUTE_ENDPOINT, with a
service-account key file whose token_uri is the same server. The quota metrics a region reports are
names of the installed client's ``Quota.Metric`` enum, not of aistack's tables, so a metric the code
names wrongly finds no row. Nothing resolves outside loopback.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import math
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from aistack.preflight import needs as needs_mod
from aistack.preflight.needs import stack_needs
from aistack.preflight.report import QuotaState, evaluate_quotas
from components.spec import load_stack, parse_spec
from foundation import catalog
from tests import gcp_standin
from tests.conftest import no_aws_credentials, run_cli
from tests.gcp_standin import ComputeStandIn, region, reservation

# ------------------------------------------------------------------------------------------ helpers

EC2_QUOTAS: dict[str, float] = {}
SQ_REQUESTS: list[str] = []
CAPACITY_RESERVATIONS: list[dict[str, Any]] = []
# The names AWS gives these codes (as list-service-quotas returns them).
QUOTA_NAMES = dict([*needs_mod.AWS_ON_DEMAND.values(), *needs_mod.AWS_SPOT.values(), needs_mod.AWS_ELASTIC_IPS])


def _write_stack(tmp_path: Path, values: dict[str, Any], extra: dict[str, Any] | None = None) -> str:
    config = {f"aistack:{k}": v for k, v in values.items()}
    config.update(extra or {})
    path = tmp_path / "Pulumi.pf.yaml"
    path.write_text(yaml.safe_dump({"config": config}))
    return str(path)


def _flat(text: str) -> str:
    """Table cells fold long values across lines and borders: join them back for searching."""
    return re.sub(r"[\s│┃|]+", " ", text)


AWS_STACK: dict[str, Any] = {
    "target": "aws",
    "region": "us-east-1",
    "accelerator_pools": [
        {"name": "h100", "accelerator": "nvidia-h100-80gb", "count": 8, "max_nodes": 2},
        {"name": "l4", "accelerator": "nvidia-l4", "count": 1, "max_nodes": 4, "spot": True},
    ],
}

# ------------------------------------------------------------------------------------------ AWS (moto)


@pytest.fixture(scope="module")
def moto_url() -> Iterator[str]:
    from moto.core.responses import ActionResult
    from moto.ec2.responses import EC2Response
    from moto.server import ThreadedMotoServer
    from moto.servicequotas.exceptions import NoSuchResource
    from moto.servicequotas.models import ServiceQuotasBackend
    from moto.servicequotas.responses import ServiceQuotasResponse

    original = ServiceQuotasBackend.get_service_quota

    def get_service_quota(self: Any, service_code: str, quota_code: str) -> dict[str, Any]:
        SQ_REQUESTS.append(f"{service_code}/{quota_code}")
        if service_code != "ec2":
            return original(self, service_code, quota_code)  # type: ignore[no-any-return]
        if quota_code not in EC2_QUOTAS:
            raise NoSuchResource
        return {
            "ServiceCode": "ec2",
            "QuotaCode": quota_code,
            "QuotaName": QUOTA_NAMES.get(quota_code, quota_code),
            "Value": EC2_QUOTAS[quota_code],
        }

    def create_capacity_reservation(self: Any) -> ActionResult:
        n = int(self._get_param("InstanceCount"))
        r = {
            "CapacityReservationId": f"cr-{len(CAPACITY_RESERVATIONS):017x}",
            "InstanceType": self._get_param("InstanceType"),
            "InstancePlatform": self._get_param("InstancePlatform"),
            "AvailabilityZone": self._get_param("AvailabilityZone"),
            "TotalInstanceCount": n,
            "AvailableInstanceCount": n,
            "State": "active",
            "ReservationType": "default",
            "InstanceMatchCriteria": self._get_param("InstanceMatchCriteria") or "open",
        }
        CAPACITY_RESERVATIONS.append(r)
        return ActionResult({"CapacityReservation": r})

    def describe_capacity_reservations(self: Any) -> ActionResult:
        ids = self._get_param("CapacityReservationIds", [])
        filters = self._filters_from_querystring()
        keys = {"instance-type": "InstanceType", "state": "State", "instance-match-criteria": "InstanceMatchCriteria"}
        found = [
            r
            for r in CAPACITY_RESERVATIONS
            if (not ids or r["CapacityReservationId"] in ids)
            and all(r.get(keys.get(k, k)) in v for k, v in filters.items())
        ]
        return ActionResult({"CapacityReservations": found})

    def get_aws_default_service_quota(self: Any) -> str:  # not in moto 5.2: no default known for these codes
        params = json.loads(self.body)
        SQ_REQUESTS.append(f"default:{params.get('ServiceCode')}/{params.get('QuotaCode')}")
        raise NoSuchResource

    ServiceQuotasBackend.get_service_quota = get_service_quota  # type: ignore[method-assign]
    ServiceQuotasResponse.get_aws_default_service_quota = get_aws_default_service_quota  # type: ignore[attr-defined]
    EC2Response.create_capacity_reservation = create_capacity_reservation  # type: ignore[attr-defined]
    EC2Response.describe_capacity_reservations = describe_capacity_reservations  # type: ignore[attr-defined]
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()
        ServiceQuotasBackend.get_service_quota = original  # type: ignore[method-assign]
        del EC2Response.create_capacity_reservation  # type: ignore[attr-defined]
        del EC2Response.describe_capacity_reservations  # type: ignore[attr-defined]
        del ServiceQuotasResponse.get_aws_default_service_quota  # type: ignore[attr-defined]


@pytest.fixture
def aws(moto_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Any]:
    """Credentials for moto, every client pointed at it (AWS_ENDPOINT_URL), state reset per test."""
    import boto3
    import requests

    no_aws_credentials(monkeypatch, tmp_path)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_url)
    requests.post(f"{moto_url}/moto-api/reset", timeout=10)
    EC2_QUOTAS.clear()
    SQ_REQUESTS.clear()
    CAPACITY_RESERVATIONS.clear()
    yield boto3.client("ec2", region_name="us-east-1", endpoint_url=moto_url)


def _plenty() -> None:
    EC2_QUOTAS.update({"L-1216C47A": 1000, "L-417A185B": 1000, "L-3819A6DF": 1000, "L-0263D0A3": 5})


def test_aws_short_quota_exits_1_naming_the_code_and_the_fix(aws: Any, tmp_path: Path, capsys: Any) -> None:
    _plenty()
    EC2_QUOTAS["L-417A185B"] = 192  # one p5.48xlarge; the pool's 2 need 384
    code, out, err = run_cli(capsys, "preflight", _write_stack(tmp_path, AWS_STACK))
    flat = _flat(out)
    assert code == 1, out + err
    assert "L-417A185B" in flat and "SHORT" in flat
    assert "384 vCPUs" in flat
    assert "--service-code ec2 --quota-code L-417A185B --desired-value 384" in flat
    assert "ec2/L-417A185B" in SQ_REQUESTS  # moto was asked, over HTTP


def test_aws_usage_counts_running_instances(aws: Any, tmp_path: Path, capsys: Any) -> None:
    _plenty()
    EC2_QUOTAS["L-417A185B"] = 512
    image = aws.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
    aws.run_instances(ImageId=image, InstanceType="p5.48xlarge", MinCount=1, MaxCount=1)  # 192 vCPUs in use
    code, out, _ = run_cli(capsys, "preflight", _write_stack(tmp_path, AWS_STACK), "--json")
    doc = json.loads(out)
    (row,) = [c for c in doc["checks"] if c["item"] == "L-417A185B"]
    assert code == 1 and row["status"] == "short"
    assert "320 free of 512 (192 in use)" in row["have"]
    assert "--desired-value 576" in row["fix"]  # 192 in use + 384 needed
    assert doc["scope"] == "account 123456789012"


def test_aws_fitting_stack_exits_0(aws: Any, tmp_path: Path, capsys: Any) -> None:
    _plenty()
    code, out, err = run_cli(capsys, "preflight", _write_stack(tmp_path, AWS_STACK), "--json")
    doc = json.loads(out)
    assert code == 0, out + err
    by_item = {c["item"]: c for c in doc["checks"]}
    assert by_item["L-3819A6DF"]["status"] == "ok"  # spot G quota for the l4 pool
    assert by_item["L-0263D0A3"]["need"] == "3 addresses"  # three NAT gateways
    assert by_item["p5.48xlarge"]["kind"] == "offering" and "us-east-1a" in by_item["p5.48xlarge"]["have"]
    assert doc["exit_code"] == 0


def test_aws_quota_moto_does_not_know_is_not_checked(aws: Any, tmp_path: Path, capsys: Any) -> None:
    _plenty()
    del EC2_QUOTAS["L-3819A6DF"]  # GetServiceQuota and the default both answer NoSuchResource
    code, out, _ = run_cli(capsys, "preflight", _write_stack(tmp_path, AWS_STACK), "--json")
    (row,) = [c for c in json.loads(out)["checks"] if c["item"] == "L-3819A6DF"]
    assert code == 2 and row["status"] == "unchecked"


def _reservation_stack(reservation: str, max_nodes: int) -> dict[str, Any]:
    pool = {
        "name": "h100",
        "accelerator": "nvidia-h100-80gb",
        "count": 8,
        "max_nodes": max_nodes,
        "capacity": {"type": "reservation", "reservation": reservation},
    }
    return {"target": "aws", "region": "us-east-1", "accelerator_pools": [pool]}


def test_aws_capacity_reservation_covers_the_pool_or_says_why_not(aws: Any, tmp_path: Path, capsys: Any) -> None:
    _plenty()
    EC2_QUOTAS["L-417A185B"] = 0  # a reservation pool draws no extra on-demand quota
    cr = aws.create_capacity_reservation(
        InstanceType="p5.48xlarge", InstancePlatform="Linux/UNIX", AvailabilityZone="us-east-1a", InstanceCount=2
    )["CapacityReservation"]["CapacityReservationId"]
    code, out, err = run_cli(capsys, "preflight", _write_stack(tmp_path, _reservation_stack(cr, 2)), "--json")
    rows = {c["item"]: c for c in json.loads(out)["checks"]}
    assert code == 0, out + err
    assert rows[cr]["status"] == "ok" and "active, 2 of 2" in rows[cr]["have"]
    assert "L-417A185B" not in rows

    code, out, _ = run_cli(capsys, "preflight", _write_stack(tmp_path, _reservation_stack(cr, 3)), "--json")
    row = {c["item"]: c for c in json.loads(out)["checks"]}[cr]
    assert code == 1 and row["status"] == "short"
    assert row["over_limit"]  # a reservation of 2 cannot hold 3 nodes, whatever runs in it
    assert "2 free instances for 3 nodes" in row["fix"]
    assert f"modify-capacity-reservation --capacity-reservation-id {cr} --instance-count 3" in row["fix"]

    code, out, _ = run_cli(capsys, "preflight", _write_stack(tmp_path, _reservation_stack("cr-0ffffffffffffffff", 1)))
    assert code == 1 and "not found" in out
    code, out, _ = run_cli(
        capsys, "preflight", _write_stack(tmp_path, _reservation_stack("cr-0ffffffffffffffff", 1)), "--json"
    )
    assert [c["over_limit"] for c in json.loads(out)["checks"] if c["item"] == "cr-0ffffffffffffffff"] == [True]


def test_aws_no_credentials_exits_2_naming_them(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: Any) -> None:
    no_aws_credentials(monkeypatch, tmp_path)
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")  # never reached: nothing to sign with
    code, _, err = run_cli(capsys, "preflight", _write_stack(tmp_path, AWS_STACK))
    text = " ".join(err.split())
    assert code == 2
    assert "no AWS credentials found" in text and "AWS_ACCESS_KEY_ID" in text and "aws configure" in text


# ------------------------------------------------------------------------------------------ GCP


@pytest.fixture(scope="module")
def compute_server() -> Iterator[str]:
    with gcp_standin.serve() as url:
        yield url


@pytest.fixture
def gcp(compute_server: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> type[ComputeStandIn]:
    key = gcp_standin.service_account_key(tmp_path / "key.json", f"{compute_server}/token")
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(key))
    monkeypatch.setenv("AISTACK_GCP_COMPUTE_ENDPOINT", compute_server)
    ComputeStandIn.reset()
    return ComputeStandIn


GCP_STACK: dict[str, Any] = {
    "target": "gcp",
    "region": "us-central1",
    "accelerator_pools": [{"name": "l4", "accelerator": "nvidia-l4", "count": 2, "max_nodes": 4}],
}
GCP_PROJECT = {"gcp:project": "acme-ml"}


def test_gcp_short_quota_exits_1_with_the_console_link(gcp: Any, tmp_path: Path, capsys: Any) -> None:
    gcp.regions["us-central1"] = region({"NVIDIA_L4_GPUS": (4, 0), "CPUS": (500, 10), "IN_USE_ADDRESSES": (8, 0)})
    code, out, err = run_cli(capsys, "preflight", _write_stack(tmp_path, GCP_STACK, GCP_PROJECT))
    flat = _flat(out)
    assert code == 1, out + err
    assert "NVIDIA_L4_GPUS" in flat and "SHORT" in flat and "8 GPUs" in flat
    assert "metric=compute.googleapis.com%2Fnvidia_l4_gpus" in flat.replace(" ", "")
    # The system pool (12) and the l4 pool's g2 vCPUs (96; the region reports no G2_CPUS) share CPUS.
    code, out, _ = run_cli(capsys, "preflight", _write_stack(tmp_path, GCP_STACK, GCP_PROJECT), "--json")
    cpus = [c for c in json.loads(out)["checks"] if c["item"] == "CPUS"]
    assert [(c["pools"], c["need"], c["status"]) for c in cpus] == [
        (["system"], "12 vCPUs", "ok"),
        (["l4"], "96 vCPUs", "ok"),
    ]
    assert cpus[1]["have"] == "478 free of 500 (10 in use, 12 counted for the rows above), via CPUS"
    # The client signs a self-signed JWT with the key file (no token exchange): its issuer is the file's account.
    # Each run signs its own (two runs a second apart carry different iat), so check every one.
    auths = [a for a, p in gcp.seen if p.startswith("/compute/v1/projects/acme-ml/regions/us-central1")]
    assert len(auths) == 2  # one regions.get per run
    for auth in auths:
        payload = auth.removeprefix("Bearer ").split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        assert claims["iss"] == "preflight@acme-ml.iam.gserviceaccount.com"


def test_gcp_spot_tpu_fits_through_either_quota(gcp: Any, tmp_path: Path, capsys: Any) -> None:
    values = {
        "target": "gcp",
        "region": "us-central1",
        "zones": ["us-central1-a"],
        "accelerator_pools": [
            {"name": "v5e", "accelerator": "tpu-v5e", "count": 4, "tpu_topology": "4x4", "max_nodes": 4, "spot": True}
        ],
    }
    gcp.regions["us-central1"] = region(
        {
            "PREEMPTIBLE_TPU_LITE_PODSLICE_V5": (0, 0),
            "TPU_LITE_PODSLICE_V5": (32, 8),
            "CPUS": (24, 0),
            "IN_USE_ADDRESSES": (8, 0),
        }
    )
    code, out, err = run_cli(capsys, "preflight", _write_stack(tmp_path, values, GCP_PROJECT), "--json")
    rows = {c["item"]: c for c in json.loads(out)["checks"]}
    assert code == 0, out + err
    assert rows["TPU_LITE_PODSLICE_V5"]["need"] == "16 TPU chips"  # one 4x4 slice, whatever max_nodes says
    assert "via TPU_LITE_PODSLICE_V5" in rows["TPU_LITE_PODSLICE_V5"]["have"]


def test_gcp_reservation_pool_needs_the_reservation_not_quota(gcp: Any, tmp_path: Path, capsys: Any) -> None:
    values = {
        "target": "gcp",
        "region": "us-central1",
        "zones": ["us-central1-a"],
        "accelerator_pools": [
            {
                "name": "h100",
                "accelerator": "nvidia-h100-80gb",
                "count": 8,
                "max_nodes": 2,
                "capacity": {"type": "reservation", "reservation": "res-h100"},
            }
        ],
    }
    gcp.regions["us-central1"] = region({"CPUS": (24, 0), "IN_USE_ADDRESSES": (8, 0)})  # no H100 quota at all
    gcp.reservations[("acme-ml", "us-central1-a", "res-h100")] = reservation(
        "res-h100", "us-central1-a", "a3-highgpu-8g", 4, 1
    )
    code, out, err = run_cli(capsys, "preflight", _write_stack(tmp_path, values, GCP_PROJECT), "--json")
    rows = {c["item"]: c for c in json.loads(out)["checks"]}
    assert code == 0, out + err
    assert rows["res-h100"]["status"] == "ok" and "READY, 3 of 4 × a3-highgpu-8g" in rows["res-h100"]["have"]
    assert "NVIDIA_H100_GPUS" not in rows

    gcp.reservations[("acme-ml", "us-central1-a", "res-h100")] = reservation(
        "res-h100", "us-central1-a", "a3-highgpu-8g", 4, 3
    )
    code, out, _ = run_cli(capsys, "preflight", _write_stack(tmp_path, values, GCP_PROJECT), "--json")
    row = {c["item"]: c for c in json.loads(out)["checks"]}["res-h100"]
    assert code == 1 and "1 free VM for 2 nodes" in row["fix"]
    assert (
        "gcloud compute reservations update res-h100 --project acme-ml --zone us-central1-a --vm-count 5" in row["fix"]
    )


def test_gcp_quota_the_region_does_not_report_is_not_checked(gcp: Any, tmp_path: Path, capsys: Any) -> None:
    values = {
        "target": "gcp",
        "region": "us-central1",
        "zones": ["us-central1-b"],
        "accelerator_pools": [{"name": "v6e", "accelerator": "tpu-v6e", "count": 8, "tpu_topology": "2x4"}],
    }
    gcp.regions["us-central1"] = region({"CPUS": (24, 0), "IN_USE_ADDRESSES": (8, 0)})
    code, out, err = run_cli(capsys, "preflight", _write_stack(tmp_path, values, GCP_PROJECT))
    assert code == 2, out + err
    assert "TPUS_PER_TPU_FAMILY" in _flat(out) and "not checked" in _flat(out)


def _gcp_metrics_asked() -> set[str]:
    """Every quota metric (first choice and fallbacks) the needs name for a one-pool stack of each GKE
    accelerator in the catalog, on-demand and spot."""
    gke = catalog.gke()
    pools: list[tuple[dict[str, Any], dict[str, Any]]] = [
        ({"accelerator": acc, "count": min(per)}, {"region": "us-central1"})
        for acc, per in gke.gpu_machine_types.items()
    ]
    for acc, gen in gke.tpus.items():
        topo = gen.single_host[0]
        zone = gen.zones[0]
        chips = math.prod(int(d) for d in topo.split("x"))
        pools.append(
            (
                {"accelerator": acc, "count": chips, "tpu_topology": topo},
                {"region": zone.rsplit("-", 1)[0], "zones": [zone]},
            )
        )
    names: set[str] = set()
    for pool, where in pools:
        for spot in (False, True):
            pools_ = [{"name": "p", **pool, "spot": spot}]
            spec = parse_spec({"target": "gcp", "project": "acme-ml", **where, "accelerator_pools": pools_})
            for q in stack_needs(spec).quotas:
                names |= {q.quota, *q.alternatives}
    return names


def test_gcp_metric_names_are_the_compute_apis() -> None:
    """The metrics preflight asks regions.get for are Quota.Metric names of the installed client, except a
    hand-checked few the client's enum (google-cloud-compute 1.57) does not list yet."""
    not_in_the_enum = {
        # <SERIES>_CPUS: asked first, CPUS is the fallback (needs.gce_cpu_metrics), so no row is fine
        "A3_CPUS",
        "A4_CPUS",
        "G2_CPUS",
        # cloud.google.com/compute/resource-usage#gpu_quota lists these; the enum has only
        # PREEMPTIBLE_/COMMITTED_NVIDIA_H100_GPUS of them
        "NVIDIA_H100_GPUS",
        "NVIDIA_H100_MEGA_GPUS",
        "PREEMPTIBLE_NVIDIA_H100_MEGA_GPUS",
        "NVIDIA_H200_GPUS",
        "PREEMPTIBLE_NVIDIA_H200_GPUS",
        "NVIDIA_B200_GPUS",
        "PREEMPTIBLE_NVIDIA_B200_GPUS",
        # kept in Cloud Quotas, may be missing from regions.get: reported as not checked
        "TPU_V5P",
        "PREEMPTIBLE_TPU_V5P",
        "TPUS_PER_TPU_FAMILY",
        "PREEMPTIBLE_TPU_V6E",
    }
    asked = _gcp_metrics_asked()
    assert asked - gcp_standin.METRICS == not_in_the_enum
    # hand-picked from the enum: the metrics the pools above must ask for
    assert {
        "CPUS",
        "PREEMPTIBLE_CPUS",
        "A2_CPUS",
        "IN_USE_ADDRESSES",
        "NVIDIA_T4_GPUS",
        "NVIDIA_L4_GPUS",
        "PREEMPTIBLE_NVIDIA_L4_GPUS",
        "NVIDIA_A100_GPUS",
        "NVIDIA_A100_80GB_GPUS",
        "PREEMPTIBLE_NVIDIA_H100_GPUS",
        "TPU_PODSLICE_V4",
        "TPU_LITE_PODSLICE_V5",
        "PREEMPTIBLE_TPU_LITE_PODSLICE_V5",
    } <= asked


def test_the_standin_region_holds_only_compute_api_metrics(compute_server: str) -> None:
    """A test cannot seed a metric the API does not define, and one that slips in is never served."""
    import requests

    with pytest.raises(gcp_standin.UnknownMetricError, match="NVIDIA_L4_GPU"):
        region({"NVIDIA_L4_GPU": (8, 0)})  # the real one is NVIDIA_L4_GPUS
    ComputeStandIn.reset()
    doc = region({"NVIDIA_L4_GPUS": (8, 1)})
    doc["quotas"].append({"metric": "MADE_UP_GPUS", "limit": 8, "usage": 0})
    ComputeStandIn.regions["us-central1"] = doc
    got = requests.get(f"{compute_server}/compute/v1/projects/acme-ml/regions/us-central1", timeout=10).json()
    assert got["quotas"] == [{"metric": "NVIDIA_L4_GPUS", "limit": 8, "usage": 1}]
    ComputeStandIn.reset()


def test_gcp_no_credentials_exits_2_naming_them(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: Any) -> None:
    monkeypatch.delenv("GOOGLE_APPLICATION_CREDENTIALS", raising=False)
    monkeypatch.setenv("CLOUDSDK_CONFIG", str(tmp_path / "gcloud"))  # no ADC file there
    monkeypatch.setattr("aistack.preflight.credentials._on_google_vm", lambda: False)
    code, _, err = run_cli(capsys, "preflight", _write_stack(tmp_path, GCP_STACK, GCP_PROJECT))
    text = " ".join(err.split())
    assert code == 2
    assert "GOOGLE_APPLICATION_CREDENTIALS" in text and "gcloud auth application-default login" in text


def test_onprem_has_nothing_to_check(capsys: Any) -> None:
    code, out, _ = run_cli(capsys, "preflight", "onprem-gpu")
    assert code == 0
    assert "nothing to check" in out and len(out.strip().splitlines()) == 1


# ------------------------------------------------------------------------------------------ pure needs


def test_needs_follow_the_capacity_type() -> None:
    spec = parse_spec(
        {
            "target": "aws",
            "region": "us-east-1",
            "accelerator_pools": [
                {"name": "od", "accelerator": "nvidia-a100-40gb", "count": 8, "max_nodes": 3},
                {"name": "p5spot", "accelerator": "nvidia-h100-80gb", "count": 8, "max_nodes": 2, "spot": True},
                {
                    "name": "block",
                    "accelerator": "nvidia-h100-80gb",
                    "count": 8,
                    "max_nodes": 2,
                    "capacity": {"type": "capacity-block", "block_id": "cr-0123456789abcdef0"},
                },
            ],
        }
    )
    needs = stack_needs(spec)
    by_pool = {q.pool: q for q in needs.quotas}
    assert (by_pool["od"].quota, by_pool["od"].amount) == ("L-417A185B", 288)  # 3 × p4d.24xlarge (96)
    assert (by_pool["p5spot"].quota, by_pool["p5spot"].amount) == ("L-C4BD4855", 384)  # P5 spot has its own
    assert "block" not in by_pool  # runs in the block's capacity
    (block,) = needs.reservations
    assert (block.kind, block.reservation, block.machine_type, block.nodes) == (
        "capacity-block",
        "cr-0123456789abcdef0",
        "p5.48xlarge",
        2,
    )


def test_gcp_flex_start_uses_preemptible_then_standard() -> None:
    spec = parse_spec(
        {
            "target": "gcp",
            "region": "us-central1",
            "project": "acme-ml",
            "accelerator_pools": [
                {
                    "name": "a100",
                    "accelerator": "nvidia-a100-40gb",
                    "count": 8,
                    "max_nodes": 2,
                    "capacity": {"type": "flex-start"},
                }
            ],
        }
    )
    gpus, cpus = stack_needs(spec).for_pool("a100")
    assert (gpus.quota, gpus.alternatives, gpus.amount) == ("PREEMPTIBLE_NVIDIA_A100_GPUS", ("NVIDIA_A100_GPUS",), 16)
    assert (cpus.quota, cpus.alternatives, cpus.amount) == ("PREEMPTIBLE_CPUS", ("A2_CPUS",), 192)


def test_free_room_is_counted_once() -> None:
    spec = parse_spec(
        {
            "target": "gcp",
            "region": "us-central1",
            "project": "acme-ml",
            "accelerator_pools": [
                {"name": "od", "accelerator": "nvidia-l4", "count": 1, "max_nodes": 4},
                {"name": "spot", "accelerator": "nvidia-l4", "count": 1, "max_nodes": 4, "spot": True},
            ],
        }
    )
    gpus = [q for q in stack_needs(spec).quotas if q.unit == "GPUs"]
    states = {"NVIDIA_L4_GPUS": QuotaState(6, 0), "PREEMPTIBLE_NVIDIA_L4_GPUS": QuotaState(0, 0)}
    checks = evaluate_quotas(gpus, states, lambda q, n: f"ask {q} {n}")
    # on-demand takes 4 of the 6; the spot pool's 4 cannot fit in the 2 left, nor in 0 preemptible.
    status = {c.pools: c.status for c in checks}
    assert status == {("od",): "ok", ("spot",): "short"}
    short = next(c for c in checks if c.status == "short")
    assert short.fix == "ask PREEMPTIBLE_NVIDIA_L4_GPUS 4"


def test_catalog_shapes_match_the_describe_instance_types_data() -> None:
    """The catalog's one copy of the EC2 shapes against the DescribeInstanceTypes data moto ships."""
    from moto.ec2.models.instance_types import INSTANCE_TYPES

    shapes = catalog.eks().instance_shapes
    wrong = {
        t: ((s.vcpus, s.memory_gib), INSTANCE_TYPES[t]["VCpuInfo"]["DefaultVCpus"], INSTANCE_TYPES[t]["MemoryInfo"])
        for t, s in shapes.items()
        if t in INSTANCE_TYPES
        and (
            INSTANCE_TYPES[t]["VCpuInfo"]["DefaultVCpus"] != s.vcpus
            or INSTANCE_TYPES[t]["MemoryInfo"]["SizeInMiB"] != s.memory_gib * 1024
        )
    }
    assert not wrong
    assert {"p5.48xlarge", "g6e.xlarge", "m7i.xlarge"} <= set(INSTANCE_TYPES)
    # every instance type the catalog maps an accelerator to, and the system type, has a shape
    named = {t for per in catalog.eks().instance_types.values() for t in per.values()}
    assert named | {catalog.eks().system.instance_type} <= set(shapes)


def test_system_pools_match_the_targets() -> None:
    """The needs count the system pools the targets register (checked on a plan)."""
    from aistack.offline import plan
    from components.spec import load_stack

    for stack, type_, machine_key in (
        ("aws-gpu", "aws:eks/nodeGroup:NodeGroup", "instanceTypes"),
        ("gcp-tpu", "gcp:container/nodePool:NodePool", "nodeConfig"),
    ):
        p = plan(load_stack(stack, Path("stacks")))
        (system,) = [r for r in p.resources if r.type == type_ and r.name.endswith("-system")]
        assert p.needs is not None
        (need,) = [n for n in p.needs.for_pool("system") if n.unit == "vCPUs"]
        if machine_key == "instanceTypes":
            assert system.inputs["instanceTypes"] == [need.machine_type] == ["m7i.xlarge"]
            assert system.inputs["scalingConfig"]["maxSize"] == need.nodes == 3
            assert need.amount == 3 * 4  # m7i.xlarge: 4 vCPUs (aws.amazon.com/ec2/instance-types/m7i)
        else:
            assert system.inputs["nodeConfig"]["machineType"] == need.machine_type == "e2-standard-4"
            assert system.inputs["autoscaling"]["totalMaxNodeCount"] == need.nodes == 3
            assert need.amount == 3 * 4


# ------------------------------------------------------------------------------------------ pulumi up hook


@pytest.fixture(autouse=True)
def sources_answer(monkeypatch: pytest.MonkeyPatch) -> None:
    """The hook first tries the stack's chart and manifest hosts (aistack/preflight/sources.py): they answer here,
    so these tests see the quota preflight alone (no connection leaves the machine)."""
    from aistack.preflight import sources

    monkeypatch.setattr(sources, "unreachable", lambda spec: [])


def test_program_hook_stops_at_an_unreachable_source_before_the_quota_check(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import pulumi
    from pulumi.runtime.settings import SETTINGS

    from aistack.preflight import sources
    from aistack.preflight.hook import run_preflight

    monkeypatch.setattr(SETTINGS, "monitor", None)  # outside mocks, as under the engine
    down = sources.Endpoint("helm.ngc.nvidia.com", 443, ("gpu-operator",))
    monkeypatch.setattr(sources, "unreachable", lambda spec: [(down, "Name or service not known")])
    spec = load_stack(_write_stack(tmp_path, AWS_STACK), Path("stacks")).spec
    with pytest.raises(pulumi.RunError) as exc:
        run_preflight(spec, {})
    assert "helm.ngc.nvidia.com:443 (Name or service not known) for gpu-operator" in str(exc.value)


def test_program_hook_fails_before_any_resource_when_short(
    aws: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import pulumi
    from pulumi.runtime.settings import SETTINGS

    from aistack.preflight.hook import run_preflight

    monkeypatch.setattr(SETTINGS, "monitor", None)  # as in a real `pulumi up`: not the mock monitor of a plan
    _plenty()
    EC2_QUOTAS["L-417A185B"] = 0
    spec = parse_spec(AWS_STACK)
    with pytest.raises(pulumi.RunError) as exc:
        run_preflight(spec, {})
    assert "SHORT" in str(exc.value) and "L-417A185B" in str(exc.value) and "--desired-value 384" in str(exc.value)


def test_program_hook_without_credentials_logs_and_continues(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import pulumi
    from pulumi.runtime.settings import SETTINGS

    from aistack.preflight.hook import run_preflight

    monkeypatch.setattr(SETTINGS, "monitor", None)
    no_aws_credentials(monkeypatch, tmp_path)
    logged: list[str] = []
    monkeypatch.setattr(pulumi.log, "info", lambda msg, *a, **k: logged.append(msg))
    run_preflight(parse_spec(AWS_STACK), {})  # no exception: the deployment goes on
    assert len(logged) == 1 and "preflight skipped" in logged[0] and "AWS_ACCESS_KEY_ID" in logged[0]


def test_program_hook_is_off_under_mocks_and_when_disabled(aws: Any, tmp_path: Path, monkeypatch: Any) -> None:
    from aistack.offline import plan
    from aistack.preflight.hook import run_preflight
    from components.spec import load_stack

    EC2_QUOTAS["L-417A185B"] = 0  # would be short
    p = plan(load_stack(_write_stack(tmp_path, AWS_STACK), Path("stacks")))  # the plan runs under mocks
    assert p.resources and not SQ_REQUESTS
    run_preflight(parse_spec({**AWS_STACK, "preflight": False}), {})
    monkeypatch.setenv("AISTACK_PREFLIGHT", "0")
    run_preflight(parse_spec(AWS_STACK), {})
    assert not SQ_REQUESTS
    # and the plan shows what each pool would need
    rows = {q.pool: q for q in p.needs.quotas} if p.needs else {}
    assert rows["h100"].quota == "L-417A185B" and rows["h100"].amount == 384
    assert p.as_json()["quota_needs"]["quotas"][0]["pool"] == "system"


def test_plan_shows_the_quota_each_pool_needs(capsys: Any) -> None:
    code, out, err = run_cli(capsys, "plan", "aws-gpu")
    assert code == 0, err
    assert "quota each pool needs" in out
    assert "L-417A185B" in out and "L-0263D0A3" in out  # the h100 pool's P quota; the NAT gateways' Elastic IPs
    code, out, _ = run_cli(capsys, "plan", "aws-gpu", "--json")
    doc = json.loads(out)
    h100 = [q for q in doc["quota_needs"]["quotas"] if q["pool"] == "h100"]
    assert [(q["quota"], q["amount"], q["unit"]) for q in h100] == [("L-417A185B", 384, "vCPUs")]


def test_gcp_shared_reservation_and_affinity_any(gcp: Any, tmp_path: Path, capsys: Any) -> None:
    pools = [
        {
            "name": "shared",
            "accelerator": "nvidia-l4",
            "count": 1,
            "max_nodes": 2,
            "capacity": {"type": "reservation", "reservation": "projects/acme-shared/reservations/res-l4"},
        },
        {
            "name": "open",
            "accelerator": "nvidia-l4",
            "count": 1,
            "max_nodes": 3,
            "capacity": {"type": "reservation", "affinity": "any"},
        },
    ]
    values = {"target": "gcp", "region": "us-central1", "accelerator_pools": pools}
    gcp.regions["us-central1"] = region({"NVIDIA_L4_GPUS": (8, 0), "CPUS": (100, 0), "IN_USE_ADDRESSES": (8, 0)})
    gcp.reservations[("acme-shared", "us-central1-c", "res-l4")] = reservation(
        "res-l4", "us-central1-c", "g2-standard-8", 2, 0
    )
    open_res = reservation("any-l4", "us-central1-b", "g2-standard-8", 5, 3)
    open_res["specificReservationRequired"] = False
    gcp.reservations[("acme-ml", "us-central1-b", "any-l4")] = open_res
    code, out, err = run_cli(capsys, "preflight", _write_stack(tmp_path, values, GCP_PROJECT), "--json")
    rows = {(tuple(c["pools"]), c["item"]): c for c in json.loads(out)["checks"]}
    assert code == 0, out + err
    shared = rows[(("shared",), "projects/acme-shared/reservations/res-l4")]
    assert shared["status"] == "ok" and "us-central1-c" in shared["have"]  # found in the owner project's zone
    assert rows[(("open",), "open reservations")]["have"] == "2 free in 1 reservation"
    assert rows[(("open",), "NVIDIA_L4_GPUS")]["need"] == "3 GPUs"  # affinity any still needs on-demand quota
    assert any(p == "/compute/v1/projects/acme-ml/aggregated/reservations" for _, p in gcp.seen)


def test_aws_unknown_profile_exits_2_not_a_crash(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: Any) -> None:
    no_aws_credentials(monkeypatch, tmp_path)
    monkeypatch.setenv("AWS_PROFILE", "does-not-exist")
    code, _, err = run_cli(capsys, "preflight", _write_stack(tmp_path, AWS_STACK))
    text = " ".join(err.split())
    assert code == 2 and "does-not-exist" in text and "To fix:" in text


def test_a_row_short_only_because_of_usage_is_not_over_its_limit() -> None:
    spec = parse_spec(
        {
            "target": "gcp",
            "region": "us-central1",
            "project": "acme-ml",
            "accelerator_pools": [{"name": "od", "accelerator": "nvidia-l4", "count": 1, "max_nodes": 4}],
        }
    )
    gpus = [q for q in stack_needs(spec).quotas if q.unit == "GPUs"]
    (busy,) = evaluate_quotas(gpus, {"NVIDIA_L4_GPUS": QuotaState(8, 6)}, lambda q, n: f"ask {q} {n}")
    assert busy.status == "short" and not busy.over_limit  # 8 would hold all 4: 6 are in use (maybe our own)
    (small,) = evaluate_quotas(gpus, {"NVIDIA_L4_GPUS": QuotaState(3, 0)}, lambda q, n: f"ask {q} {n}")
    assert small.status == "short" and small.over_limit


def test_program_hook_warns_when_only_usage_is_short(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every `pulumi up` after the first sees the stack's own nodes as usage: that must not stop it."""
    import pulumi
    from pulumi.runtime.settings import SETTINGS

    import aistack.preflight as preflight
    from aistack.preflight.hook import run_preflight
    from aistack.preflight.report import Check, Report

    monkeypatch.setattr(SETTINGS, "monitor", None)
    monkeypatch.setattr(preflight, "credentials_missing", lambda spec: None)
    row = Check(
        ("h100",), "quota", "L-417A185B", "Running On-Demand P instances", "384 vCPUs", "0 free of 384", "short"
    )
    report = Report("aws", "us-east-1", checks=[row])
    monkeypatch.setattr(preflight, "run", lambda spec, bag: report)
    warned: list[str] = []
    monkeypatch.setattr(pulumi.log, "warn", lambda msg, *a, **k: warned.append(msg))
    run_preflight(parse_spec(AWS_STACK), {})  # goes on
    assert len(warned) == 1 and "L-417A185B" in warned[0] and "own nodes" in warned[0]
    report.checks[0] = dataclasses.replace(row, over_limit=True)  # the same row, its limit below the need
    with pytest.raises(pulumi.RunError, match="L-417A185B"):
        run_preflight(parse_spec(AWS_STACK), {})
