"""Drift: the event-to-report logic over the Automation API's typed engine events, the formats,
and the CLI's error paths. (The end-to-end run against the local cluster belongs with it.)"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
from pulumi import automation as auto
from pulumi.automation import events as ev

from aistack.drift import report
from aistack.drift.report import StackReport, diff_paths, pending_items, refresh_items
from aistack.drift.runner import explain
from tests.conftest import ROOT

SIG = "4dabf18193072939515e22adb298388d"
PREFIX = "urn:pulumi:local::aistack::aistack:index:AiStack$aistack:index:Platform$"


def state(type_: str, name: str, outputs: dict[str, Any] | None, custom: bool = True) -> ev.StepEventStateMetadata:
    return ev.StepEventStateMetadata(
        type=type_, urn=PREFIX + f"{type_}::{name}", id=name, parent="", provider="", custom=custom, outputs=outputs
    )


def refreshed(
    type_: str, name: str, old: dict[str, Any], new: dict[str, Any] | None, custom: bool = True
) -> ev.EngineEvent:
    meta = ev.StepEventMetadata(
        op=ev.OpType.REFRESH,
        urn=PREFIX + f"{type_}::{name}",
        type=type_,
        provider="",
        old=state(type_, name, old, custom),
        new=state(type_, name, new, custom) if new is not None else None,
    )
    return ev.EngineEvent(sequence=1, timestamp=0, res_outputs_event=ev.ResOutputsEvent(metadata=meta))


NS = {"metadata": {"name": "alpha", "labels": {"aistack.io/team": "alpha"}, "resourceVersion": "10"}}
DEPLOY = {"spec": {"replicas": 1, "template": {"spec": {"containers": [{"name": "a", "image": "x:1"}]}}}}
CM = {"data": {"threshold": "10"}, "metadata": {"name": "cfg"}}


def events_for_out_of_band_changes() -> list[ev.EngineEvent]:
    """What a refresh preview reports after: a label added, replicas scaled, ConfigMap data edited,
    a NetworkPolicy deleted; and things that must not count (status, resourceVersion, components)."""
    label = {"metadata": {**NS["metadata"], "labels": {**NS["metadata"]["labels"], "owner": "mallory"}}}
    label["metadata"]["resourceVersion"] = "11"
    scaled = {"spec": {**DEPLOY["spec"], "replicas": 3}, "status": {"readyReplicas": 3}}
    return [
        refreshed("kubernetes:core/v1:Namespace", "ns-alpha", NS, label),
        refreshed("kubernetes:apps/v1:Deployment", "web", DEPLOY, scaled),
        refreshed("kubernetes:core/v1:ConfigMap", "cfg", CM, {**CM, "data": {"threshold": "90"}}),
        refreshed("kubernetes:networking.k8s.io/v1:NetworkPolicy", "deny", {"spec": {}}, None),
        # no drift: only fields the cluster rewrites itself
        refreshed(
            "kubernetes:core/v1:ConfigMap",
            "same",
            {**CM, "metadata": {"name": "same", "resourceVersion": "1"}},
            {**CM, "metadata": {"name": "same", "resourceVersion": "7", "managedFields": [{"manager": "x"}]}},
        ),
        # components have no live state
        refreshed("aistack:index:Tenancy", "tenancy", {"a": 1}, {"a": 2}, custom=False),
    ]


def test_refresh_finds_each_out_of_band_change_and_nothing_else() -> None:
    items = {i.name: i for i in refresh_items("local", events_for_out_of_band_changes())}
    assert set(items) == {"ns-alpha", "web", "cfg", "deny"}
    assert [(c.path, c.recorded, c.live) for c in items["ns-alpha"].changes] == [
        ("metadata.labels.owner", "(absent)", "mallory")
    ]
    assert [(c.path, c.recorded, c.live) for c in items["web"].changes] == [("spec.replicas", 1, 3)]
    assert [(c.path, c.recorded, c.live) for c in items["cfg"].changes] == [("data.threshold", "10", "90")]
    assert items["deny"].kind == "deleted" and not items["deny"].changes
    assert {i.kind for n, i in items.items() if n != "deny"} == {"changed"}


def test_secrets_are_masked_in_reports() -> None:
    old = {"stringData": {SIG: "1b47061264138c4ac30d75fd1eb44270", "value": "old-password"}}
    new = {"stringData": {SIG: "1b47061264138c4ac30d75fd1eb44270", "value": "new-password"}}
    (item,) = refresh_items("local", [refreshed("kubernetes:core/v1:Secret", "s", old, new)])
    assert [(c.path, c.recorded, c.live) for c in item.changes] == [("stringData", "[secret]", "[secret]")]
    text = report.as_json([StackReport("local", [item])]) + report.as_markdown([StackReport("local", [item])])
    assert "password" not in text


def test_pending_changes_from_a_preview() -> None:
    meta = ev.StepEventMetadata(
        op=ev.OpType.UPDATE,
        urn=PREFIX + "kubernetes:core/v1:ResourceQuota::quota",
        type="kubernetes:core/v1:ResourceQuota",
        provider="",
        old=ev.StepEventStateMetadata(
            type="t", urn="u", id="i", parent="", provider="", custom=True, inputs={"spec": {"hard": {"gpu": "8"}}}
        ),
        new=ev.StepEventStateMetadata(
            type="t", urn="u", id="i", parent="", provider="", custom=True, inputs={"spec": {"hard": {"gpu": "16"}}}
        ),
        detailed_diff={"spec.hard.gpu": ev.PropertyDiff(ev.DiffKind.UPDATE, True)},
    )
    same = ev.StepEventMetadata(op=ev.OpType.SAME, urn="urn:x::same", type="t", provider="")
    stream = [
        ev.EngineEvent(1, 0, resource_pre_event=ev.ResourcePreEvent(metadata=meta)),
        ev.EngineEvent(2, 0, resource_pre_event=ev.ResourcePreEvent(metadata=same)),
    ]
    (item,) = pending_items("local", stream)
    assert item.kind == "pending" and item.op == "update"
    assert [(c.path, c.recorded, c.live) for c in item.changes] == [("spec.hard.gpu", "8", "16")]


def test_events_round_trip_from_engine_json() -> None:
    """The CLI's event log (--event-log) parses into the same typed events."""
    raw = {
        "sequence": 3,
        "timestamp": 1,
        "resOutputsEvent": {
            "metadata": {
                "op": "refresh",
                "urn": PREFIX + "kubernetes:core/v1:ConfigMap::cfg",
                "type": "kubernetes:core/v1:ConfigMap",
                "provider": "",
                "old": {
                    "type": "kubernetes:core/v1:ConfigMap",
                    "urn": "u",
                    "id": "cfg",
                    "parent": "",
                    "provider": "",
                    "custom": True,
                    "outputs": CM,
                },
                "new": {
                    "type": "kubernetes:core/v1:ConfigMap",
                    "urn": "u",
                    "id": "cfg",
                    "parent": "",
                    "provider": "",
                    "custom": True,
                    "outputs": {**CM, "data": {"threshold": "50"}},
                },
            }
        },
    }
    (item,) = refresh_items("local", [ev.EngineEvent.from_json(raw)])
    assert item.changes[0].path == "data.threshold"


def test_controller_rewrites_are_not_drift() -> None:
    """What Kueue's controller does to a ClusterQueue: its finalizer, quantities re-serialized as strings."""
    old = {"metadata": {"name": "q"}, "spec": {"quota": 8}}
    new = {"metadata": {"name": "q", "finalizers": ["kueue.x-k8s.io/resource-in-use"]}, "spec": {"quota": "8"}}
    assert diff_paths(old, new) == []
    assert diff_paths({"spec": {"quota": 8}}, {"spec": {"quota": "16"}})


def test_diff_paths_is_leaf_level_and_symmetric() -> None:
    a = {"x": {"y": [1, 2]}, "z": 1}
    b = {"x": {"y": [1, 3]}, "w": 2}
    assert [(c.path, c.recorded, c.live) for c in diff_paths(a, b)] == [
        ("w", "(absent)", 2),
        ("x.y[1]", 2, 3),
        ("z", 1, "(absent)"),
    ]
    assert diff_paths(a, a) == []


def reports() -> list[StackReport]:
    return [
        StackReport("local", refresh_items("local", events_for_out_of_band_changes())),
        StackReport("gcp-tpu"),
        StackReport("aws-gpu", error="stack 'aws-gpu' does not exist in this backend. To fix: `pulumi stack ls`"),
    ]


def test_formats() -> None:
    doc = json.loads(report.as_json(reports()))
    assert doc["drift"] is True
    local = doc["stacks"][0]
    assert {r["kind"] for r in local["resources"]} == {"changed", "deleted"}
    md = report.as_markdown(reports())
    assert "### `local`: 4 resource(s) drifted" in md and "### `gcp-tpu`: no drift" in md
    assert "| `web` | `kubernetes:apps/v1:Deployment` | changed | `spec.replicas` | `1` | `3` |" in md
    junit = ET.fromstring(report.as_junit(reports()))
    suites = {s.get("name"): s for s in junit.iter("testsuite")}
    assert suites["local"].get("failures") == "4"
    assert suites["gcp-tpu"].get("failures") == "0"
    assert suites["aws-gpu"].find("testcase/error") is not None


def test_errors_are_explained() -> None:
    assert "pulumi stack ls" in explain(auto.StackNotFoundError(auto.CommandResult("", "no stack", 255)), "x")
    assert "pulumi cancel" in explain(auto.ConcurrentUpdateError(auto.CommandResult("", "locked", 255)), "x")
    passphrase = auto.CommandError(auto.CommandResult("", "error: incorrect passphrase", 255))
    assert "PULUMI_CONFIG_PASSPHRASE" in explain(passphrase, "x")


def aistack(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "aistack", *args], capture_output=True, text=True, cwd=ROOT, env=env or dict(os.environ)
    )


def test_no_cli_is_exit_2_with_what_to_do(tmp_path: Path) -> None:
    env = {**os.environ, "PATH": "/usr/bin:/bin", "AISTACK_TOOLS_DIR": str(tmp_path)}
    result = aistack("drift", "--all", env=env)
    assert result.returncode == 2
    text = " ".join(result.stderr.split())
    assert "no pulumi CLI" in text and "install the Pulumi CLI" in text and "never downloads" in text


def test_no_stack_is_usage_error() -> None:
    assert aistack("drift").returncode == 2


@pytest.mark.parametrize("flag", ["--json", "--markdown"])
def test_workflow_runs_drift_on_every_stack(flag: str) -> None:
    workflow = (ROOT / ".github" / "workflows" / "drift.yml").read_text()
    assert "aistack drift --all --markdown" in workflow and "schedule" in workflow and "workflow_dispatch" in workflow
    assert flag in (ROOT / "docs" / "drift.md").read_text()


def test_recorded_refresh_events_from_a_real_run() -> None:
    """Engine events recorded by the end-to-end test (tests/test_e2e_local.py): a PSS label weakened,
    a LimitRange edited and a NetworkPolicy deleted with kubectl; exactly those are drift."""
    recorded = json.loads((ROOT / "tests" / "fixtures" / "drift-refresh-events.json").read_text())
    items = refresh_items("local", [ev.EngineEvent.from_json(e) for e in recorded])
    found = {(i.type.rsplit(":", 1)[-1], i.kind) for i in items}
    assert found == {("Namespace", "changed"), ("LimitRange", "changed"), ("NetworkPolicy", "deleted")}
    (ns,) = [i for i in items if i.type.endswith("Namespace")]
    assert [(c.path, c.live) for c in ns.changes] == [
        ("metadata.labels.pod-security.kubernetes.io/enforce", "privileged")
    ]
