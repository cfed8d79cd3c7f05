"""#23: versions per stack and `aistack upgrade plan`.

Oracles: the mirror's own charts (CRD served/storage versions, driver version, chart versions) for the
release records; hand-written deployments for the rules, each expected to block for one named reason.
"""

from __future__ import annotations

import json
import re
import tarfile
from pathlib import Path
from typing import Any

import pytest
import yaml

from aistack.cli import main
from aistack.upgrade.deployed import Deployed, chart_versions, from_objects, from_state, gpu_nodes
from aistack.upgrade.rules import Finding, Step, plan, stored_versions
from components.platform.gpu import DRIVER_UPGRADE_POLICY
from components.spec import SpecError, parse_spec
from components.versions import RELEASES, CrdApi, Release, known_versions, release

MIRROR = Path(__file__).resolve().parents[2] / "shared" / "mirror"
_COMMENT = re.compile(r"\{\{-?\s*/\*.*?\*/\s*-?\}\}", re.S)


def _chart_files(tgz: Path) -> dict[str, str]:
    with tarfile.open(tgz) as tar:
        return {
            m.name: tar.extractfile(m).read().decode()  # type: ignore[union-attr]
            for m in tar.getmembers()
            if m.isfile() and m.name.endswith((".yaml", ".yml"))
        }


def _mirror_crds(tgz: Path) -> dict[str, CrdApi]:
    """Served and stored versions of every CRD a chart ships (template lines dropped), read from the chart."""
    out: dict[str, CrdApi] = {}
    for name, text in _chart_files(tgz).items():
        if "CustomResourceDefinition" not in text or ("/templates/" in name and "/crd" not in name):
            continue
        plain = "\n".join(line for line in _COMMENT.sub("", text).splitlines() if "{{" not in line)
        try:
            docs = list(yaml.safe_load_all(plain))
        except yaml.YAMLError:
            continue
        for doc in docs:
            if isinstance(doc, dict) and doc.get("kind") == "CustomResourceDefinition":
                versions = doc["spec"]["versions"]
                served = tuple(v["name"] for v in versions if v.get("served"))
                (storage,) = [v["name"] for v in versions if v.get("storage")]
                out[doc["metadata"]["name"]] = CrdApi(served, storage)
    return out


def _mirror_values(tgz: Path, chart: str) -> dict[str, Any]:
    values: dict[str, Any] = yaml.safe_load(_chart_files(tgz)[f"{chart}/values.yaml"])
    return values


@pytest.mark.parametrize(("key", "version"), [(k, r.version) for k, rs in RELEASES.items() for r in rs])
def test_release_records_match_the_mirror_charts(key: str, version: str) -> None:
    tgz = MIRROR / f"{key}-{version}.tgz"
    record = release(key, version)
    assert record is not None and tgz.is_file()
    chart = yaml.safe_load(_chart_files(tgz)[f"{key}/Chart.yaml"])
    assert chart["version"] == version
    shipped = _mirror_crds(tgz)
    for name, api in record.crds.items():
        assert shipped[name] == api, name  # every CRD the record names, exactly as the chart ships it
    if key == "gpu-operator":
        assert record.driver == _mirror_values(tgz, key)["driver"]["version"]
        assert set(record.crds) >= {n for n in shipped if n.endswith(("nvidia.com", "nfd.k8s-sigs.io"))}
    if key == "kueue":
        assert set(record.crds) == set(shipped)


def test_the_drivers_move_as_the_issue_says() -> None:
    """v26.3.3 → v26.7.0 moves 580.126.20 → 595.91.07 (issue #23, and the two charts' values)."""
    assert release("gpu-operator", "v26.3.3").driver == "580.126.20"  # type: ignore[union-attr]
    assert release("gpu-operator", "v26.7.0").driver == "595.91.07"  # type: ignore[union-attr]


# ---------------------------------------------------------------------------------------------- spec


def _stack(**upstream: Any) -> dict[str, Any]:
    return {"target": "onprem", "region": "de", "onprem": {"volumes": "local-path"}, "upstream": upstream}


def test_a_stack_pins_a_known_version() -> None:
    spec = parse_spec(_stack(versions={"kueue": "0.18.6", "gpu-operator": "v26.3.3"}))
    assert spec.upstream.versions == {"kueue": "0.18.6", "gpu-operator": "v26.3.3"}
    assert known_versions("kueue") == ("0.18.6", "0.19.2")


@pytest.mark.parametrize(
    ("versions", "words"),
    [
        ({"kueue": "0.17.0"}, ["kueue 0.17.0 is not a version aistack knows", "0.18.6, 0.19.2", "To fix"]),
        ({"gpu-operator": "26.7.0"}, ["v26.3.3, v26.7.0"]),  # the v matters
        ({"kuueue": "0.18.6"}, ["'kuueue' is not an upstream", "kube-prometheus-stack"]),
    ],
)
def test_an_unknown_version_is_an_error_listing_the_known_ones(versions: dict[str, str], words: list[str]) -> None:
    with pytest.raises(SpecError) as exc:
        parse_spec(_stack(versions=versions))
    text = str(exc.value)
    assert "upstream.versions" in text and all(w in text for w in words), text


def test_the_pins_reach_the_charts_and_images() -> None:
    from components.platform.gpu import driver_version
    from components.platform.scheduling import kueue_values
    from components.sources import chart_source

    spec = parse_spec(_stack(versions={"kueue": "0.18.6", "gpu-operator": "v26.3.3"}))
    assert chart_source("kueue", spec.upstream).version == "0.18.6"
    assert chart_source("gpu-operator", spec.upstream).version == "v26.3.3"
    assert chart_source("kube-prometheus-stack", spec.upstream).version == "88.5.3"  # not pinned: the default
    assert kueue_values(spec)["controllerManager"]["manager"]["image"]["tag"] == "v0.18.6"
    assert driver_version(spec) == "580.126.20"
    assert driver_version(parse_spec(_stack())) == "595.91.07"


def test_the_drain_plan_is_the_operators_own_fields() -> None:
    """aistack's driver upgrade policy uses only fields the NVIDIADriver CRD defines, with drain on."""
    crd = yaml.safe_load((MIRROR.parent / "crds" / "nvidia-gpu-operator" / "nvidia.com_nvidiadrivers.yaml").read_text())
    schema = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]
    fields = schema["upgradePolicy"]["properties"]
    assert set(DRIVER_UPGRADE_POLICY) <= set(fields)
    for key, value in DRIVER_UPGRADE_POLICY.items():
        if isinstance(value, dict):
            assert set(value) <= set(fields[key]["properties"]), key
    assert DRIVER_UPGRADE_POLICY["autoUpgrade"] is True and DRIVER_UPGRADE_POLICY["drain"]["enable"] is True


# ---------------------------------------------------------------------------------------------- rules

# What the local stack runs at N-1 (the mirror's previous releases), as the cluster reports it.
N_MINUS_1 = Deployed(
    kubernetes="1.34",
    charts={"kueue": "0.18.6", "gpu-operator": "v26.3.3", "kube-prometheus-stack": "87.21.0"},
    stored_versions={"workloads.kueue.x-k8s.io": ("v1beta2",), "clusterqueues.kueue.x-k8s.io": ("v1beta2",)},
    gpu_nodes={"gpu-0": "580.126.20", "gpu-1": "580.126.20"},
)
TODAY = {"kueue": "0.19.2", "gpu-operator": "v26.7.0", "kube-prometheus-stack": "88.5.3"}


def _blocks(findings: list[Finding]) -> list[Finding]:
    return [f for f in findings if f.level == "block"]


def test_the_real_n_minus_1_path_passes_and_says_what_will_happen() -> None:
    findings = plan(
        N_MINUS_1, TODAY, [Step("update", "Deployment", "kueue-system/kueue-controller-manager")], DRIVER_UPGRADE_POLICY
    )
    assert not _blocks(findings), findings
    text = " ".join(f.what for f in findings)
    assert "595.91.07 on 2 GPU node(s)" in text and "kueue 0.18.6 → 0.19.2" in text
    assert "new CRDs computedomaincliques.resource.nvidia.com" in text  # 26.7 brings the DRA CRDs
    assert "1 workloads roll out" in text


def _with(**changes: Any) -> Deployed:
    base = {f: getattr(N_MINUS_1, f) for f in ("kubernetes", "charts", "stored_versions", "gpu_nodes")}
    return Deployed(**{**base, **changes})


# Seeded bad combinations: (deployed, targets, steps, policy) → the component and words of the one block.
BAD: dict[str, tuple[Deployed, dict[str, str], list[Step], Any, str, str]] = {
    "kubernetes too old for kueue": (
        _with(kubernetes="1.33"),
        {"kueue": "0.19.2"},
        [],
        None,
        "kueue",
        "Kubernetes 1.34–1.36",
    ),
    "kubernetes too new for kueue": (
        _with(kubernetes="1.37"),
        {"kueue": "0.19.2"},
        [],
        None,
        "kueue",
        "the cluster runs 1.37",
    ),
    "kubernetes too old for the operator": (
        _with(kubernetes="1.29"),
        {"gpu-operator": "v26.7.0"},
        [],
        DRIVER_UPGRADE_POLICY,
        "gpu-operator",
        "1.30 and newer",
    ),
    "operator skips a major": (
        _with(charts={"gpu-operator": "v25.10.1"}),
        {"gpu-operator": "v26.7.0"},
        [],
        DRIVER_UPGRADE_POLICY,
        "gpu-operator",
        "skips the major 26.3",
    ),
    "operator older than every known major": (
        _with(charts={"gpu-operator": "v24.9.2"}),
        {"gpu-operator": "v26.3.3"},
        [],
        DRIVER_UPGRADE_POLICY,
        "gpu-operator",
        "older than every major",
    ),
    "operator downgrade": (
        _with(charts={"gpu-operator": "v26.7.0"}, gpu_nodes={}),
        {"gpu-operator": "v26.3.3"},
        [],
        DRIVER_UPGRADE_POLICY,
        "gpu-operator",
        "is a downgrade",
    ),
    "kueue downgrade": (_with(charts={"kueue": "0.19.2"}), {"kueue": "0.18.6"}, [], None, "kueue", "is a downgrade"),
    "prometheus stack skips a major": (
        _with(charts={"kube-prometheus-stack": "86.2.1"}),
        {"kube-prometheus-stack": "88.5.3"},
        [],
        None,
        "kube-prometheus-stack",
        "skips major 87",
    ),
    # Kueue ≤ 0.2 stored ClusterQueues as v1alpha1; a cluster never migrated still lists it.
    "stored version no longer served": (
        _with(stored_versions={"clusterqueues.kueue.x-k8s.io": ("v1alpha1", "v1beta2")}),
        {"kueue": "0.19.2"},
        [],
        None,
        "kueue",
        "stored as v1alpha1",
    ),
    "pvc replaced": (
        N_MINUS_1,
        TODAY,
        [Step("replace", "PersistentVolumeClaim", "team-a/data", ("spec.storageClassName",))],
        DRIVER_UPGRADE_POLICY,
        "PersistentVolumeClaim",
        "team-a/data would be replaced",
    ),
    "statefulset claim template changed": (
        N_MINUS_1,
        TODAY,
        [Step("create-replacement", "StatefulSet", "monitoring/prometheus", ("spec.volumeClaimTemplates",))],
        DRIVER_UPGRADE_POLICY,
        "StatefulSet",
        "spec.volumeClaimTemplates",
    ),
    "deployment selector changed": (
        N_MINUS_1,
        TODAY,
        [Step("replace", "Deployment", "kueue-system/kueue", ("spec.selector",))],
        DRIVER_UPGRADE_POLICY,
        "Deployment",
        "spec.selector",
    ),
    "driver change without a drain plan": (N_MINUS_1, TODAY, [], None, "gpu-operator", "no drain plan"),
    "driver change with drain off": (
        N_MINUS_1,
        TODAY,
        [],
        {**DRIVER_UPGRADE_POLICY, "drain": {"enable": False}},
        "gpu-operator",
        "no drain plan",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_a_seeded_bad_combination_blocks_for_its_reason(case: str) -> None:
    deployed, targets, steps, policy, component, words = BAD[case]
    blocks = _blocks(plan(deployed, targets, steps, policy))
    assert len(blocks) == 1, blocks
    assert blocks[0].component == component and words in blocks[0].what, blocks[0]
    assert blocks[0].fix and blocks[0].fix != "none needed"


def test_the_kueue_0_20_api_removal_blocks_a_cluster_that_stored_v1beta1() -> None:
    """Kueue 0.20 stops serving v1beta1 (kubernetes-sigs/kueue #14558): a cluster whose Workloads were
    written by 0.14 lists v1beta1 among its stored versions until they are migrated."""
    kueue_0_20 = Release("0.20.0", ("1.34", None), {"workloads.kueue.x-k8s.io": CrdApi(("v1beta2",), "v1beta2")}, "-")
    (block,) = stored_versions("kueue", kueue_0_20, {"workloads.kueue.x-k8s.io": ("v1beta1", "v1beta2")})
    assert "stored as v1beta1" in block.what and "storedVersions" in block.fix and "v1beta2" in block.fix
    assert not stored_versions("kueue", kueue_0_20, {"workloads.kueue.x-k8s.io": ("v1beta2",)})


# ---------------------------------------------------------------------------------------------- reading


def _labelled(chart: str) -> dict[str, Any]:
    return {"metadata": {"labels": {"helm.sh/chart": chart}}}


def test_chart_versions_from_the_helm_label() -> None:
    objects = [
        _labelled("kueue-0.18.6"),
        _labelled("gpu-operator-v26.3.3"),
        _labelled("grafana-12.10.0"),
        _labelled("kueue-0.19.2"),
        {"metadata": {}},
    ]
    # a half-done upgrade keeps the lower version; charts aistack does not pin are ignored
    assert chart_versions(objects) == {"kueue": "0.18.6", "gpu-operator": "v26.3.3"}


def test_kube_prometheus_stack_is_found_by_the_label_its_chart_really_writes() -> None:
    """kube-prometheus-stack labels its own objects `chart: <name>-<version>` (read from the mirror's chart
    templates), not helm.sh/chart: the plan must still see 87.21.0 deployed, or the major bump goes unchecked."""
    with tarfile.open(MIRROR / "kube-prometheus-stack-87.21.0.tgz") as tgz:
        member = tgz.extractfile("kube-prometheus-stack/templates/_helpers.tpl")
        assert member is not None
        helpers = member.read().decode()
    assert re.search(r"^chart: ", helpers, re.MULTILINE) and "helm.sh/chart" not in helpers
    assert chart_versions([{"metadata": {"labels": {"chart": "kube-prometheus-stack-87.21.0"}}}]) == {
        "kube-prometheus-stack": "87.21.0"
    }


def test_gpu_nodes_and_their_drivers() -> None:
    nodes = [
        {
            "metadata": {
                "name": "a",
                "labels": {"nvidia.com/gpu.present": "true", "nvidia.com/cuda.driver-version.full": "580.126.20"},
            }
        },
        {
            "metadata": {
                "name": "b",
                "labels": {
                    "nvidia.com/cuda.driver.major": "580",
                    "nvidia.com/cuda.driver.minor": "126",
                    "nvidia.com/cuda.driver.rev": "20",
                },
            },
            "status": {"capacity": {"nvidia.com/gpu": "8"}},
        },
        {"metadata": {"name": "cpu"}, "status": {"capacity": {"cpu": "4"}}},
    ]
    assert gpu_nodes(nodes) == {"a": "580.126.20", "b": "580.126.20"}


def test_from_objects_reads_the_api_json() -> None:
    crd = {"metadata": {"name": "workloads.kueue.x-k8s.io"}, "status": {"storedVersions": ["v1beta2"]}}
    found = from_objects({"major": "1", "minor": "34+"}, [crd], [], [_labelled("kueue-0.18.6")], "test")
    assert found.kubernetes == "1.34" and found.stored_versions == {"workloads.kueue.x-k8s.io": ("v1beta2",)}


def _export(*charts: str) -> dict[str, Any]:
    resources = [{"type": "kubernetes:apps/v1:Deployment", "inputs": _labelled(c)} for c in charts]
    return {"version": 3, "deployment": {"resources": [{"type": "pulumi:pulumi:Stack"}, *resources]}}


def test_from_state() -> None:
    assert from_state(_export("kueue-0.18.6")).charts == {"kueue": "0.18.6"}


# ---------------------------------------------------------------------------------------------- the command


def _run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], export: dict[str, Any] | None, *extra: str
) -> tuple[int, str]:
    args = ["upgrade", "plan", "onprem-gpu", "--kubeconfig", str(tmp_path / "absent")]
    if export is not None:
        (tmp_path / "state.json").write_text(json.dumps(export))
        args += ["--state", str(tmp_path / "state.json")]
    code = main([*args, *extra])
    out = capsys.readouterr()
    return code, out.out if "--json" in extra else out.out + out.err


def test_the_command_exit_codes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, text = _run(tmp_path, capsys, None)
    assert code == 2 and "could not be read" in text
    code, text = _run(tmp_path, capsys, _export("gpu-operator-v25.10.1"))
    assert code == 1 and "skips the major 26.3" in text and "BLOCKED" in text
    code, text = _run(tmp_path, capsys, _export("kueue-0.18.6", "kube-prometheus-stack-87.21.0"), "--json")
    body = json.loads(text[text.index("{") :])
    assert (
        code == 0 and not body["blocked"] and body["targets"] == {"kueue": "0.19.2", "kube-prometheus-stack": "88.5.3"}
    )
    assert {f["component"] for f in body["findings"]} == {"kueue", "kube-prometheus-stack"}


def test_the_command_reads_the_preview_steps(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    step = {
        "op": "replace",
        "urn": "urn:pulumi:onprem-gpu::aistack::kubernetes:core/v1:PersistentVolumeClaim::data",
        "replaceReasons": ["spec.resources"],
        "newState": {
            "type": "kubernetes:core/v1:PersistentVolumeClaim",
            "inputs": {"kind": "PersistentVolumeClaim", "metadata": {"name": "data", "namespace": "team-a"}},
        },
    }
    (tmp_path / "preview.json").write_text(json.dumps({"steps": [step]}))
    code, text = _run(tmp_path, capsys, _export("kueue-0.19.2"), "--preview", str(tmp_path / "preview.json"))
    assert code == 1 and "team-a/data" in text


def test_unreadable_preview_is_bad_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "preview.json").write_text("not json")
    code, text = _run(tmp_path, capsys, _export("kueue-0.19.2"), "--preview", str(tmp_path / "preview.json"))
    assert code == 2 and "To fix" in text


@pytest.mark.parametrize("version", ["v26.3.3", "v26.7.0"])
def test_the_nvidiadriver_objects_declare_only_what_that_releases_crd_does(version: str) -> None:
    """The N-1 deploy failed on the API server with `.spec.default: field not declared in schema`: each release's
    NVIDIADriver objects must fit that release's own CRD, read from its chart in the mirror."""
    from components.handle import NvidiaStack, PoolInventory
    from components.platform.gpu import driver_objects

    with tarfile.open(MIRROR / f"gpu-operator-{version}.tgz") as tgz:
        member = tgz.extractfile("gpu-operator/crds/nvidia.com_nvidiadrivers.yaml")
        assert member is not None
        crd = yaml.safe_load(member.read())
    declared = set(crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"])
    operator = release("gpu-operator", version)
    assert operator is not None
    pool = PoolInventory(
        pool="h100",
        accelerator="nvidia-h100-80gb",
        kind="gpu",
        resource_name="nvidia.com/gpu",
        per_node=8,
        units_per_node=8,
        max_nodes=2,
        spot=False,
        node_labels={},
        taints=(),
    )
    (obj,) = driver_objects((pool,), NvidiaStack(), operator)
    assert set(obj["spec"]) <= declared, set(obj["spec"]) - declared
    assert obj["spec"]["version"] == operator.driver
