"""Platform layer under mocks: pinned charts, values from the spec, CRDs before CRs, protected
volumes, the air-gapped mirror, and the quota arithmetic behind the team queues."""

from __future__ import annotations

import copy
from collections import Counter
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aistack.offline import PlannedResource, plan
from components.handle import accelerator_inventory
from components.platform import scheduling, tenancy
from components.spec import SpecError, load_stack, parse_spec
from components.versions import UPSTREAMS
from tests.conftest import of_type, plan_values, stack_values

CHART = "kubernetes:helm.sh/v4:Chart"
DIRECTORY = "kubernetes:kustomize/v2:Directory"


def chart(resources: list[PlannedResource], key: str) -> PlannedResource:
    (found,) = [r for r in of_type(resources, CHART) if r.name.endswith(f"-{key}")]
    return found


def kind(resources: list[PlannedResource], k: str) -> list[PlannedResource]:
    return [r for r in resources if r.custom and r.inputs.get("kind") == k]


@pytest.fixture(scope="module")
def onprem() -> list[PlannedResource]:
    return plan(load_stack("onprem-gpu")).resources


@pytest.fixture(scope="module")
def aws() -> list[PlannedResource]:
    return plan(load_stack("aws-gpu")).resources


@pytest.fixture(scope="module")
def gcp() -> list[PlannedResource]:
    return plan(load_stack("gcp-tpu")).resources


# ------------------------------------------------------------------------------- pinned upstreams


@pytest.mark.parametrize("key", ["gpu-operator", "kueue", "kube-prometheus-stack"])
def test_charts_are_pinned_to_the_versions_table(onprem: list[PlannedResource], key: str) -> None:
    c = chart(onprem, key)
    u = UPSTREAMS[key]
    assert c.inputs["version"] == u.version
    if u.repo.startswith("oci://"):
        assert c.inputs["chart"] == f"{u.repo}/{u.name}"
    else:
        assert (c.inputs["chart"], c.inputs["repositoryOpts"]["repo"]) == (u.name, u.repo)


def test_kubeflow_manifests_come_from_the_pinned_commit(onprem: list[PlannedResource]) -> None:
    u = UPSTREAMS["kubeflow-manifests"]
    dirs = [r.inputs["directory"] for r in of_type(onprem, DIRECTORY)]
    assert dirs and all(d.startswith(f"{u.repo}/tree/{u.ref}/") for d in dirs)
    assert any(d.endswith("/common/cert-manager/overlays/kubeflow") for d in dirs)  # install order: the test below


# ------------------------------------------------------------------------------- values follow the spec


def test_gpu_operator_brings_what_the_target_lacks(onprem: list[PlannedResource], aws: list[PlannedResource]) -> None:
    bare = chart(onprem, "gpu-operator").inputs["values"]
    assert bare["driver"]["enabled"] and bare["toolkit"]["enabled"] and bare["devicePlugin"]["enabled"]
    assert bare["migManager"]["enabled"], "onprem-gpu has a MIG pool"
    eks = chart(aws, "gpu-operator").inputs["values"]
    assert not eks["driver"]["enabled"] and not eks["toolkit"]["enabled"], "the AL2023 NVIDIA AMI ships them"
    assert eks["devicePlugin"]["enabled"] and eks["dcgmExporter"]["enabled"]
    assert not kind(aws, "NVIDIADriver")
    assert {r.inputs["spec"]["nodeSelector"]["aistack.io/pool"] for r in kind(onprem, "NVIDIADriver")} == {
        p["name"] for p in stack_values("onprem-gpu")["accelerator_pools"]
    }


def test_gke_needs_no_gpu_operator(gcp: list[PlannedResource]) -> None:
    assert not [r for r in of_type(gcp, CHART) if "gpu-operator" in r.name]
    (monitor,) = kind(gcp, "PodMonitor")
    assert monitor.inputs["spec"]["namespaceSelector"] == {"matchNames": ["gke-managed-system"]}


def test_operator_tolerates_every_nvidia_pool_taint() -> None:
    values = stack_values("onprem-gpu")
    values["accelerator_pools"][0]["taints"] = [{"key": "dedicated", "value": "vision", "effect": "NoExecute"}]
    tol = chart(plan_values(values), "gpu-operator").inputs["values"]["daemonsets"]["tolerations"]
    assert {"key": "dedicated", "operator": "Exists", "effect": "NoExecute"} in tol
    assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in tol


def test_time_slicing_config_per_pool() -> None:
    values = stack_values("local")
    values["accelerator_pools"][0]["sharing"] = {"mode": "time-slicing", "replicas": 4}
    values["teams"] = [{"name": "alpha", "quotas": {"h100": 64}}]
    resources = plan_values(values)
    (cm,) = [r for r in kind(resources, "ConfigMap") if r.inputs["metadata"]["name"] == "aistack-device-plugin"]
    cfg = yaml.safe_load(cm.inputs["data"]["h100"])
    assert cfg["sharing"]["timeSlicing"]["resources"] == [{"name": "nvidia.com/gpu", "replicas": 4}]
    (cq,) = kind(resources, "ClusterQueue")
    (gpu_group,) = [g for g in cq.inputs["spec"]["resourceGroups"] if g["coveredResources"] == ["nvidia.com/gpu"]]
    # a string, as Kueue itself writes quantities back: an int here would hand the field to Kueue's manager
    assert gpu_group["flavors"][0]["resources"][0]["nominalQuota"] == "64"


def test_monitoring_values_follow_the_spec(gcp: list[PlannedResource]) -> None:
    values = chart(gcp, "kube-prometheus-stack").inputs["values"]
    prom = values["prometheus"]["prometheusSpec"]
    assert prom["retention"] == stack_values("gcp-tpu")["monitoring"]["retention"]
    assert prom["serviceMonitorSelectorNilUsesHelmValues"] is False
    assert prom["podMonitorSelectorNilUsesHelmValues"] is False and prom["ruleSelectorNilUsesHelmValues"] is False
    receivers = {r["name"] for r in values["alertmanager"]["config"]["receivers"]}
    assert "oncall" in receivers


def test_grafana_reads_its_admin_login_from_a_secret_aistack_creates_first(gcp: list[PlannedResource]) -> None:
    """The chart's own admin Secret re-renders differently on the second `up` (quoted, then looked up
    unquoted), which rolled Grafana on every first re-run; aistack's Secret is created once, before the chart."""
    stack = chart(gcp, "kube-prometheus-stack")
    assert stack.inputs["values"]["grafana"]["admin"] == {"existingSecret": "aistack-grafana-admin"}
    (secret,) = [s for s in kind(gcp, "Secret") if s.inputs["metadata"]["name"] == "aistack-grafana-admin"]
    assert secret.inputs["metadata"]["namespace"] == "monitoring"
    assert secret.inputs["stringData"] == "[secret]"  # the generated password never shows in a plan or state
    assert secret.urn in stack.dependencies
    without = stack_values("local")
    without["upstream"] = {"install": False}
    assert not [s for s in kind(plan_values(without), "Secret") if "grafana" in s.inputs["metadata"]["name"]]


def test_idle_gpu_alert_uses_the_spec_threshold() -> None:
    values = stack_values("local")
    values["monitoring"] = {"idle_gpu_utilization_percent": 15, "idle_gpu_minutes": 45}
    (rule,) = kind(plan_values(values), "PrometheusRule")
    gpu = {r["alert"]: r for g in rule.inputs["spec"]["groups"] for r in g["rules"]}
    assert gpu["GPUAllocatedButIdle"]["expr"].endswith("[45m]) < 0.15")
    assert {"GPUXidError", "QueueBacklog", "QueueInadmissible"} <= set(gpu)


def test_kueue_manages_the_training_apis_that_are_installed(onprem: list[PlannedResource]) -> None:
    config = yaml.safe_load(chart(onprem, "kueue").inputs["values"]["managerConfig"]["controllerManagerConfigYaml"])
    assert config["apiVersion"] == "config.kueue.x-k8s.io/v1beta2"
    assert "trainer.kubeflow.org/trainjob" in config["integrations"]["frameworks"]
    image = chart(onprem, "kueue").inputs["values"]["controllerManager"]["manager"]["image"]
    assert image["tag"] == f"v{UPSTREAMS['kueue'].version}"


# ------------------------------------------------------------------------------- ordering and protection


def _depends(r: PlannedResource, on: PlannedResource) -> bool:
    return on.urn in r.dependencies


def test_custom_resources_wait_for_the_chart_with_their_crds(onprem: list[PlannedResource]) -> None:
    kueue = chart(onprem, "kueue")
    for k in ("ResourceFlavor", "ClusterQueue", "LocalQueue", "WorkloadPriorityClass"):
        assert kind(onprem, k) and all(_depends(r, kueue) for r in kind(onprem, k)), k
    kps = chart(onprem, "kube-prometheus-stack")
    assert all(_depends(r, kps) for r in kind(onprem, "PrometheusRule") + kind(onprem, "PodMonitor"))
    operator = chart(onprem, "gpu-operator")
    assert all(_depends(r, operator) for r in kind(onprem, "NVIDIADriver"))
    # Profiles wait for the part that brings their CRD and controller (the graph: tests/test_destroy.py).
    (profiles,) = [r for r in of_type(onprem, DIRECTORY) if r.name.endswith("-profiles")]
    assert all(_depends(p, profiles) for p in kind(onprem, "Profile"))


def test_local_queues_wait_for_their_namespace(onprem: list[PlannedResource]) -> None:
    namespaces = {r.inputs["metadata"]["name"]: r for r in kind(onprem, "Namespace")}
    for lq in kind(onprem, "LocalQueue"):
        assert _depends(lq, namespaces[lq.inputs["metadata"]["namespace"]])


def test_workspaces_are_protected_under_data_protection(onprem: list[PlannedResource]) -> None:
    claims = kind(onprem, "PersistentVolumeClaim")
    assert claims and all(c.protect and c.retain_on_delete for c in claims)
    local = plan(load_stack("local")).resources  # data_protection: false
    assert not any(c.protect for c in kind(local, "PersistentVolumeClaim"))


def test_storage_classes_retain_volumes_under_data_protection(aws: list[PlannedResource]) -> None:
    classes = {r.inputs["metadata"]["name"]: r.inputs for r in kind(aws, "StorageClass")}
    assert classes["gp3"]["reclaimPolicy"] == "Retain"
    assert classes["gp3"]["parameters"]["encrypted"] == "true" and "kmsKeyId" in classes["gp3"]["parameters"]
    assert classes["gp3"]["volumeBindingMode"] == "WaitForFirstConsumer"


# ------------------------------------------------------------------------------- air-gapped mirror


def test_oci_mirror_replaces_every_chart_source() -> None:
    values = stack_values("onprem-gpu")
    values["upstream"] = {"charts_mirror": "oci://registry.corp/aistack", "manifests_mirror": "/srv/mirror"}
    resources = plan_values(values)
    for c in of_type(resources, CHART):
        assert c.inputs["chart"].startswith("oci://registry.corp/aistack/"), c.inputs
        assert "repositoryOpts" not in c.inputs
    assert all(
        r.inputs["directory"].startswith("/srv/mirror/kubeflow-manifests-26.03/") for r in of_type(resources, DIRECTORY)
    )


def test_directory_mirror_names_each_chart_archive() -> None:
    values = stack_values("local")
    values["upstream"] = {"charts_mirror": "/srv/charts/", "manifests_mirror": "/srv/mirror"}
    sources = {c.name: c.inputs["chart"] for c in of_type(plan_values(values), CHART)}
    assert sources["aistack-platform-scheduling-kueue"] == "/srv/charts/kueue-0.19.2.tgz"
    assert sources["aistack-platform-accelerators-gpu-operator"] == "/srv/charts/gpu-operator-v26.7.0.tgz"


def test_a_half_mirror_is_refused() -> None:
    values = stack_values("onprem-gpu")
    values["upstream"] = {"charts_mirror": "oci://registry.corp/aistack"}
    with pytest.raises(SpecError) as info:
        parse_spec(values)
    assert "upstream.manifests_mirror" in str(info.value) and "To fix" in str(info.value)


def test_helm_repository_mirror_names_each_chart_in_its_index() -> None:
    values = stack_values("local")
    values["upstream"] = {"charts_mirror": "http://127.0.0.1:8879/charts/", "manifests_mirror": "/srv/mirror"}
    charts = {c.name: c.inputs for c in of_type(plan_values(values), CHART)}
    kueue = charts["aistack-platform-scheduling-kueue"]
    assert (kueue["chart"], kueue["version"]) == ("kueue", "0.19.2")
    assert kueue["repositoryOpts"]["repo"] == "http://127.0.0.1:8879/charts"


@pytest.mark.parametrize("bad", ["registry.corp/aistack", "relative/dir", "ftp://charts.example"])
def test_mirror_must_be_oci_or_absolute(bad: str) -> None:
    values = stack_values("local")
    values["upstream"] = {"charts_mirror": bad}
    with pytest.raises(SpecError) as info:
        parse_spec(values)
    assert "upstream.charts_mirror" in str(info.value)


def test_without_upstream_installs_only_aistack_objects_remain() -> None:
    values = stack_values("local")
    values["upstream"] = {"install": False}
    resources = plan_values(values)
    assert not of_type(resources, CHART) and not of_type(resources, DIRECTORY)
    assert kind(resources, "ClusterQueue") and kind(resources, "Profile")
    # Nothing waits for an install that is not there: a LocalQueue waits for its namespace and queue only.
    urns = {(r.inputs.get("kind"), r.inputs.get("metadata", {}).get("name")): r.urn for r in resources if r.custom}
    for lq in kind(resources, "LocalQueue"):
        team = lq.inputs["metadata"]["namespace"]
        assert set(lq.dependencies) == {urns[("Namespace", team)], urns[("ClusterQueue", team)]}


# ------------------------------------------------------------------------------- quota arithmetic

QUOTA_TABLE = [
    # (pools: name -> (count, max_nodes, sharing), teams: name -> quotas, expected nominal per team per pool,
    #  expected pool -> (units promised, capacity), worked by hand: capacity = count × max_nodes × units per
    #  accelerator (time-slicing: replicas; MIG: the profile's instances per GPU, NVIDIA's MIG user guide))
    (
        {"h100": (8, 2, None)},
        {"a": {"h100": 8}, "b": {"h100": 8}},
        {"a": {"h100": 8}, "b": {"h100": 8}},
        {"h100": (8 + 8, 8 * 2)},
    ),
    (
        {"h100": (8, 2, None)},
        {"a": {"h100": 16}, "b": {}},
        {"a": {"h100": 16}, "b": {"h100": 0}},
        {"h100": (16, 8 * 2)},
    ),
    (
        {"h100": (8, 1, None), "l4": (2, 4, ("time-slicing", 4))},
        {"a": {"h100": 4, "l4": 16}, "b": {"h100": 4, "l4": 16}},
        {"a": {"h100": 4, "l4": 16}, "b": {"h100": 4, "l4": 16}},
        {"h100": (4 + 4, 8 * 1), "l4": (16 + 16, 2 * 4 * 4)},
    ),
    (
        {"a100": (8, 1, ("mig", "1g.10gb"))},  # A100 80GB: 7 × 1g.10gb per GPU
        {"a": {"a100": 28}, "b": {"a100": 28}},
        {"a": {"a100": 28}, "b": {"a100": 28}},
        {"a100": (28 + 28, 8 * 1 * 7)},
    ),
]
ACCELERATOR = {"h100": "nvidia-h100-80gb", "l4": "nvidia-l4", "a100": "nvidia-a100-80gb"}


def quota_spec(pools: dict[str, Any], teams: dict[str, dict[str, int]], overcommit: bool = False) -> dict[str, Any]:
    pool_list = []
    for name, (count, max_nodes, sharing) in pools.items():
        p: dict[str, Any] = {"name": name, "accelerator": ACCELERATOR[name], "count": count, "max_nodes": max_nodes}
        p["nodes"] = [f"{name}-{i}" for i in range(max_nodes)]
        if sharing and sharing[0] == "time-slicing":
            p["sharing"] = {"mode": "time-slicing", "replicas": sharing[1]}
        elif sharing:
            p["sharing"] = {"mode": "mig", "profile": sharing[1]}
        pool_list.append(p)
    return {
        "target": "onprem",
        "region": "dc1",
        "storage": {"default_storage_class": "ceph-rbd"},
        "accelerator_pools": pool_list,
        "teams": [{"name": t, "quotas": q} for t, q in teams.items()],
        "scheduling": {"allow_overcommit": overcommit},
    }


def nominal(cq: dict[str, Any]) -> dict[str, int]:
    out = {}
    for group in cq["spec"]["resourceGroups"][1:]:
        for flavor in group["flavors"]:
            quota = flavor["resources"][0]["nominalQuota"]
            assert isinstance(quota, str), "quantities are sent as Kueue writes them back: strings"
            out[flavor["name"]] = int(quota)
    return out


@pytest.mark.parametrize(("pools", "teams", "expected", "commitments"), QUOTA_TABLE)
def test_quota_table(
    pools: dict[str, Any],
    teams: dict[str, dict[str, int]],
    expected: dict[str, dict[str, int]],
    commitments: dict[str, tuple[int, int]],
) -> None:
    spec = parse_spec(quota_spec(pools, teams))
    inventory = accelerator_inventory(spec)
    got = {t.name: nominal(scheduling.cluster_queue(t, inventory)) for t in spec.teams}
    assert got == expected
    assert {p.pool: p.capacity for p in inventory} == {pool: cap for pool, (_, cap) in commitments.items()}
    assert scheduling.pool_commitments(spec, inventory) == commitments
    for pool, (promised, capacity) in commitments.items():
        assert promised <= capacity, pool  # the table itself: none of these rows over-commits


def test_overcommit_only_on_purpose() -> None:
    pools, teams = {"h100": (8, 1, None)}, {"a": {"h100": 8}, "b": {"h100": 8}}
    with pytest.raises(SpecError) as info:
        parse_spec(quota_spec(pools, teams))
    assert "allow_overcommit" in str(info.value)
    spec = parse_spec(quota_spec(pools, teams, overcommit=True))
    assert scheduling.pool_commitments(spec, accelerator_inventory(spec)) == {"h100": (16, 8)}


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(st.integers(1, 8), min_size=1, max_size=3),
    st.lists(st.lists(st.integers(0, 40), min_size=3, max_size=3), min_size=1, max_size=5),
    st.booleans(),
)
def test_queue_quotas_never_exceed_capacity_unless_overcommitted(
    node_counts: list[int], team_quotas: list[list[int]], overcommit: bool
) -> None:
    names = ["h100", "l4", "a100"][: len(node_counts)]
    pools = {n: (8 if n != "l4" else 2, max_nodes, None) for n, max_nodes in zip(names, node_counts, strict=False)}
    teams = {f"t{i}": {n: q for n, q in zip(names, qs, strict=False) if q} for i, qs in enumerate(team_quotas)}
    try:
        spec = parse_spec(quota_spec(pools, teams, overcommit))
    except SpecError as err:
        assert not overcommit and "max_nodes" in str(err)
        return
    inventory = accelerator_inventory(spec)
    sums: Counter[str] = Counter()
    for team in spec.teams:
        sums.update(nominal(scheduling.cluster_queue(team, inventory)))
    assert set(sums) == set(pools)
    for pool, (count, max_nodes, _) in pools.items():
        # from the generated input, not from the code: what the teams asked, and count × nodes whole GPUs
        assert sums[pool] == sum(q.get(pool, 0) for q in teams.values())
        assert overcommit or sums[pool] <= count * max_nodes


def test_borrowing_follows_the_team_flag() -> None:
    spec = parse_spec(quota_spec({"h100": (8, 2, None)}, {"a": {"h100": 8}, "b": {"h100": 8}}))
    inventory = accelerator_inventory(spec)
    a = scheduling.cluster_queue(spec.teams[0], inventory)
    assert all(
        "borrowingLimit" not in r for g in a["spec"]["resourceGroups"] for f in g["flavors"] for r in f["resources"]
    )
    assert a["spec"]["preemption"]["reclaimWithinCohort"] == "Any"
    locked = copy.deepcopy(quota_spec({"h100": (8, 2, None)}, {"a": {"h100": 8}}))
    locked["teams"][0]["can_borrow"] = False
    spec = parse_spec(locked)
    cq = scheduling.cluster_queue(spec.teams[0], accelerator_inventory(spec))
    assert all(
        r["borrowingLimit"] == "0" for g in cq["spec"]["resourceGroups"] for f in g["flavors"] for r in f["resources"]
    )
    # The namespace ceiling matches: a team that cannot borrow gets exactly its quota.
    assert tenancy.quota_hard(spec.teams[0], accelerator_inventory(spec)) == {"requests.nvidia.com/gpu": "8"}


def test_profile_quota_matches_the_namespace_quota(onprem: list[PlannedResource]) -> None:
    quotas = {r.inputs["metadata"]["namespace"]: r.inputs["spec"]["hard"] for r in kind(onprem, "ResourceQuota")}
    profiles = {
        r.inputs["metadata"]["name"]: r.inputs["spec"]["resourceQuotaSpec"]["hard"] for r in kind(onprem, "Profile")
    }
    assert quotas == profiles and quotas


# ------------------------------------------------------------------------------- tenancy


def test_team_namespace_is_closed_by_default(onprem: list[PlannedResource]) -> None:
    policies = [r.inputs for r in kind(onprem, "NetworkPolicy") if r.inputs["metadata"]["namespace"] == "vision"]
    by_name = {p["metadata"]["name"]: p["spec"] for p in policies}
    assert by_name["default-deny"] == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}
    egress = by_name["allow-https-egress"]["egress"][0]["to"][0]["ipBlock"]
    assert egress["except"] == ["169.254.0.0/16"], "the metadata range stays closed"
    assert {"allow-dns", "allow-same-namespace", "allow-from-platform"} <= set(by_name)


def test_groups_get_role_bindings(gcp: list[PlannedResource]) -> None:
    (binding,) = [r.inputs for r in kind(gcp, "RoleBinding") if r.inputs["metadata"]["namespace"] == "research"]
    assert binding["roleRef"]["name"] == "kubeflow-admin"
    assert binding["subjects"] == [
        {"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": "ml-research-leads@acme.example"}
    ]


def test_gke_team_service_account_carries_workload_identity(gcp: list[PlannedResource]) -> None:
    sas = [r.inputs for r in kind(gcp, "ServiceAccount") if r.inputs["metadata"]["name"] == "default-editor"]
    assert sas and all("iam.gke.io/gcp-service-account" in s["metadata"]["annotations"] for s in sas)
    patches = [r for r in gcp if r.type == "kubernetes:core/v1:ServiceAccountPatch"]
    assert [p.inputs["metadata"]["name"] for p in patches] == ["pipeline-runner"]


def test_tpu_teams_get_baseline_pod_security(gcp: list[PlannedResource]) -> None:
    levels = {
        r.inputs["metadata"]["name"]: r.inputs["metadata"]["labels"]["pod-security.kubernetes.io/enforce"]
        for r in kind(gcp, "Namespace")
        if "aistack.io/team" in r.inputs["metadata"]["labels"]
    }
    assert levels == {"research": "baseline", "product": "restricted"}


def test_kubeflow_components_need_profiles() -> None:
    values = stack_values("local")
    values["kubeflow"] = {"components": ["pipelines", "trainer"]}
    with pytest.raises(SpecError) as info:
        parse_spec(values)
    assert "kubeflow.components" in str(info.value) and "profiles" in str(info.value)


def test_trainer_alone_needs_no_istio() -> None:
    values = stack_values("local")
    values["kubeflow"] = {"components": ["trainer"]}
    values["upstream"] = {"install": True}  # the local stack switches upstream installs off
    names = [r.name for r in of_type(plan_values(values), DIRECTORY)]
    assert names == ["aistack-platform-kubeflow-trainer"]


# ------------------------------------------------------------------------------- provisioning admission checks


def test_flex_start_pool_gets_a_provisioning_admission_check(gcp: list[PlannedResource]) -> None:
    """gcp-tpu's l4-batch pool is flex-start: its flavor, and only its flavor, waits for queued provisioning."""
    from tests.test_manifest_schema import validate_custom

    flex = gcp
    (config,) = kind(flex, "ProvisioningRequestConfig")
    (check,) = kind(flex, "AdmissionCheck")
    assert config.inputs["spec"]["provisioningClassName"] == "queued-provisioning.gke.io"
    assert config.inputs["spec"]["managedResources"] == ["nvidia.com/gpu"]  # the flex pool's resource only
    assert check.inputs["spec"] == {
        "controllerName": "kueue.x-k8s.io/provisioning-request",
        "parameters": {
            "apiGroup": "kueue.x-k8s.io",
            "kind": "ProvisioningRequestConfig",
            "name": config.inputs["metadata"]["name"],
        },
    }
    queues = kind(flex, "ClusterQueue")
    assert len(queues) == 2
    for cq in queues:
        # Only the queued pool's flavor is gated; the spot TPU slice and the other L4s admit as before.
        assert cq.inputs["spec"]["admissionChecksStrategy"] == {
            "admissionChecks": [{"name": check.inputs["metadata"]["name"], "onFlavors": ["l4-batch"]}]
        }
    for r in [config, check, *queues]:
        validate_custom(r.inputs)
    kueue = chart(flex, "kueue")
    assert _depends(config, kueue) and _depends(check, kueue)


def test_flex_start_flavor_tolerates_the_queued_taint(gcp: list[PlannedResource]) -> None:
    flavors = {r.inputs["metadata"]["name"]: r.inputs["spec"] for r in kind(gcp, "ResourceFlavor")}
    queued = {"key": "cloud.google.com/gke-queued", "operator": "Equal", "value": "true", "effect": "NoSchedule"}
    assert queued in flavors["l4-batch"]["tolerations"]
    assert queued not in flavors["l4"]["tolerations"]


def test_without_queued_pools_no_admission_checks(onprem: list[PlannedResource], aws: list[PlannedResource]) -> None:
    for resources in (onprem, aws):
        assert kind(resources, "ClusterQueue")
        assert not kind(resources, "AdmissionCheck") and not kind(resources, "ProvisioningRequestConfig")
        assert all("admissionChecksStrategy" not in cq.inputs["spec"] for cq in kind(resources, "ClusterQueue"))


def test_provisioning_checks_follow_the_inventory_not_the_cloud() -> None:
    """One check per class, whatever target set it: scheduling reads the handle's facts only."""
    import dataclasses

    spec = parse_spec(stack_values("onprem-gpu"))
    base = accelerator_inventory(spec)
    assert base and not scheduling.provisioning_checks(base)
    marked = tuple(dataclasses.replace(p, provisioning_class="check-capacity.autoscaling.x-k8s.io") for p in base)
    (check,) = scheduling.provisioning_checks(marked)
    assert check.name == "check-capacity-autoscaling-x-k8s-io"
    assert check.flavors == tuple(p.pool for p in base)
    assert check.resources == tuple(sorted({p.resource_name for p in base}))
    objects = scheduling.provisioning_objects(marked)
    assert [o["kind"] for o in objects] == ["ProvisioningRequestConfig", "AdmissionCheck"]
    cq = scheduling.cluster_queue(spec.teams[0], marked)
    assert cq["spec"]["admissionChecksStrategy"]["admissionChecks"] == [
        {"name": check.name, "onFlavors": list(check.flavors)}
    ]
