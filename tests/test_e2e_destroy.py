"""`aistack destroy` end to end on a SMALL deploy: the `local` stack on the CRDs-only route (upstream.install:
false, the upstream CRDs seeded: benchmarks/apply.py's small size), with data_protection ON, in its own
cluster. About a minute or two, not another full deploy; the full platform's destroy with data_protection
off is the main e2e's final step (tests/test_e2e_local.py calls tests/e2e_destroy.py).

1. Users' work running (a Kueue-admitted GPU Job on a bound claim with a file in it, a Notebook in the team's
   Profile namespace, a TrainJob, a LoadBalancer Service), plus a seeded finalizer whose controller is gone
   and a webhook that fails: the destroy stops before `pulumi destroy`, exit 1, naming each.
2. Both removed, a `pulumi destroy` killed halfway (stale lock), then `aistack destroy` again: exit 0; the
   protected claims and volumes kept and listed, the users' claim kept with its file, nothing Terminating.
3. The documented release step (data_protection false, `pulumi up`), the users' work again, and a destroy:
   exit 0 and nothing left, volumes included.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from aistack.local import cluster, deploy, seed
from benchmarks.apply import offline
from components.spec import load_stack
from tests import e2e_destroy
from tests.conftest import need
from tests.test_e2e_local import ROOT, tools_bin

pytestmark = pytest.mark.e2e
SHARED_CRDS = ROOT.parent / "shared" / "crds"
# The class the local-path manifest (rancher/local-path-provisioner deploy/local-path-storage.yaml) creates and
# users' claims name; the CRDs-only route installs no manifest, so the test makes it as that file has it.
LOCAL_PATH_CLASS = {
    "apiVersion": "storage.k8s.io/v1",
    "kind": "StorageClass",
    "metadata": {"name": "local-path"},
    "provisioner": "rancher.io/local-path",
    "volumeBindingMode": "WaitForFirstConsumer",
    "reclaimPolicy": "Delete",
}


def _config(tmp: Path, data_protection: bool) -> Path:
    """stacks/Pulumi.local.yaml with data_protection set, in a private stacks directory."""
    doc = yaml.safe_load((ROOT / "stacks" / "Pulumi.local.yaml").read_text())
    doc["config"]["aistack:data_protection"] = data_protection
    stacks = tmp / "stacks"
    stacks.mkdir(exist_ok=True)
    (stacks / "Pulumi.local.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
    return stacks


def _cli(env: dict[str, Any], data_protection: bool) -> deploy.Cli:
    stacks = _config(env["state"], data_protection)
    copy = deploy.prepare(
        "local", state=env["state"], kubeconfig=env["layout"].kubeconfig, stacks_dir=stacks, upstream={"install": False}
    )
    return deploy.Cli("local", env["bin"], env["state"], copy, ROOT)


def _spec(env: dict[str, Any]) -> Any:
    return load_stack(str(env["cli"].config_file)).spec


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    bin_dir = tools_bin()
    if bin_dir is None:
        need("tools", "no engine and cluster tools (scripts/tools.sh builds them)")
    if deploy.language_host(bin_dir) is None:
        need("tools", f"no Pulumi language host under {bin_dir}: aistack destroy runs the pulumi CLI")
    state = tmp_path_factory.mktemp("destroy")
    with offline():  # every download through a closed proxy: the machine has no internet
        layout = cluster.up(bin_dir, cluster.Layout(state))
        try:
            seed.apply(layout.kubeconfig, list(seed.crd_documents()))
            # The kinds users create that aistack's own CRD set lacks (Notebook, TrainJob; Karpenter's NodeClaim
            # so the drain meets that kind too), from the CRD mirror beside the checkout.
            for extra in ("kubeflow", "karpenter"):
                if (SHARED_CRDS / extra).is_dir():
                    seed.apply(layout.kubeconfig, list(seed.crd_documents(SHARED_CRDS / extra)))
            env: dict[str, Any] = {"bin": bin_dir, "layout": layout, "state": state}
            env["cli"] = _cli(env, data_protection=True)
            env["cli"].ensure_stack()
            spec = _spec(env)
            seed.apply(layout.kubeconfig, seed.fake_nodes(spec))
            seed.apply(layout.kubeconfig, seed.resource_slices(spec))
            seed.apply(layout.kubeconfig, [LOCAL_PATH_CLASS])
            yield env
        finally:
            cluster.down(layout)


def _up(env: dict[str, Any]) -> None:
    outcome = env["cli"].run("up", "--yes", "--skip-preview", on_line=lambda line: print(line, end=""))
    assert outcome.rc == 0, outcome.tail(40)


def test_1_stuck_finalizer_and_failing_webhook_stop_the_destroy_and_are_named(env: dict[str, Any]) -> None:
    _up(env)
    env["users"] = e2e_destroy.users_work(env)
    e2e_destroy.seed_stuck(env)
    report = e2e_destroy.destroy(env, _spec(env), wait_s=15)
    e2e_destroy.assert_stuck_named(report)
    assert e2e_destroy.get(env, "clusterqueues.kueue.x-k8s.io")["items"], "pulumi destroy must not have run"


def test_2_killed_halfway_then_rerun_converges_keeping_what_data_protection_protects(env: dict[str, Any]) -> None:
    e2e_destroy.unseed_stuck(env)
    deleted = e2e_destroy.kill_destroy_halfway(env)
    assert deleted >= 1
    stale = e2e_destroy.lock_files(env)
    report = e2e_destroy.destroy(env, _spec(env))
    if stale:  # the killed run's lock: cleared by the rerun, said
        assert any("stale lock" in n for n in report.notes), report.notes
    assert not e2e_destroy.lock_files(env)
    e2e_destroy.assert_destroyed(env, report, data_protection=True, users=env["users"])


def test_3_the_release_step_then_destroy_leaves_nothing(env: dict[str, Any]) -> None:
    """RELEASE_STEP: data_protection false, `pulumi up` (unprotects), then destroy: the volumes go too."""
    env["cli"] = _cli(env, data_protection=False)
    _up(env)
    users = e2e_destroy.users_work(env)
    report = e2e_destroy.destroy(env, _spec(env))
    assert report.protected == []
    e2e_destroy.assert_destroyed(env, report, data_protection=False, users=users)
