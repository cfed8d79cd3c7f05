"""Kubeflow's remote kustomize references resolve to the air-gapped mirror's remote/ copies.

The mapping rule (the mirror README's), and, against the shared mirror: every component path aistack
installs renders with `kubectl kustomize` with the network shut off, the mirror is never written, a missing
remote copy is named with the fix, and a second call reuses the materialized copy.
"""

from __future__ import annotations

import multiprocessing
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from components import kustomize_mirror as km
from components.platform.kubeflow import COMPONENT_PATHS, _common
from components.sources import manifest_directory
from components.spec.model import UpstreamSpec
from tests.conftest import TOOLS, built_tool

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
MIRROR = SHARED / "mirror"
TREE = "kubeflow-manifests-26.03"
# The kubectl scripts/tools.sh builds (the pinned Kubernetes release, kustomize v5), not whatever is on PATH.
KUBECTL = built_tool("kubectl")
needs_mirror = pytest.mark.need("mirror", f"no {MIRROR / TREE} in this workspace", have=(MIRROR / TREE).is_dir())
needs_kubectl = pytest.mark.need(
    "kubectl", f"no kubectl under {TOOLS} (scripts/tools.sh builds it)", have=KUBECTL is not None
)

# Every kustomization path aistack installs (install_plan picks from these), both Istio overlays included.
PATHS = sorted(
    {p for parts in COMPONENT_PATHS.values() for _, p in parts}
    | {p for o in ("gke", "oauth2-proxy") for _, p in _common(o)}
)
TRAINER = "applications/trainer/overlays"
PIPELINES = "applications/pipeline/upstream/env/cert-manager/platform-agnostic-multi-user"
# What each must render, beyond succeeding: the CRDs its remote references bring.
MUST_HOLD = {
    TRAINER: ["name: jobsets.jobset.x-k8s.io"],
    PIPELINES: ["name: workflows.argoproj.io"],
    # Not installed by aistack, but the only kustomizations that reach LWS and JobSet v0.6.0.
    "applications/trainer/upstream/overlays/data-cache": [
        "name: jobsets.jobset.x-k8s.io",
        "name: leaderworkersets.leaderworkerset.x-k8s.io",
    ],
    "applications/training-operator/upstream/v2/overlays/standalone": ["name: jobsets.jobset.x-k8s.io"],
}


# --- the rule -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "path", "kind", "version"),
    [
        (
            "https://github.com/kubernetes-sigs/lws//config/default?ref=v0.7.0",
            "remote/github.com/kubernetes-sigs/lws@v0.7.0/config/default",
            "git",
            "v0.7.0",
        ),
        (
            "https://github.com/argoproj/argo-workflows/manifests/base/crds/minimal?ref=v3.7.3",
            "remote/github.com/argoproj/argo-workflows@v3.7.3/manifests/base/crds/minimal",
            "git",
            "v3.7.3",
        ),
        (
            "https://github.com/kubernetes-sigs/jobset/releases/download/v0.10.1/manifests.yaml",
            "remote/github.com/kubernetes-sigs/jobset/releases/download/v0.10.1/manifests.yaml",
            "file",
            "v0.10.1",
        ),
        (
            "github.com/kubernetes-sigs/lws/config/default?ref=v0.7.0",
            "remote/github.com/kubernetes-sigs/lws@v0.7.0/config/default",
            "git",
            "v0.7.0",
        ),
        (
            "https://github.com/kubernetes-sigs/lws.git//config/default?ref=v0.7.0&timeout=90s",
            "remote/github.com/kubernetes-sigs/lws@v0.7.0/config/default",
            "git",
            "v0.7.0",
        ),
        (
            "https://gitlab.example.com/group/sub/repo//deploy/base?version=1a2b3c",
            "remote/gitlab.example.com/group/sub/repo@1a2b3c/deploy/base",
            "git",
            "1a2b3c",
        ),
        (
            "https://raw.githubusercontent.com/org/repo/v1/deploy/all.yaml",
            "remote/raw.githubusercontent.com/org/repo/v1/deploy/all.yaml",
            "file",
            "-",
        ),
    ],
)
def test_a_remote_url_maps_to_its_path_in_the_mirror(url: str, path: str, kind: str, version: str) -> None:
    got = km.remote_path(url)
    assert (got.path.as_posix(), got.kind, got.version) == (path, kind, version)


@pytest.mark.parametrize(
    "url",
    [
        "https://github.com/kubernetes-sigs/lws//config/default",  # a git reference without a pin
        "git@github.com:kubernetes-sigs/lws.git/config/default?ref=v0.7.0",
        "ssh://git@github.com/kubernetes-sigs/lws//config/default?ref=v0.7.0",
        "https://github.com/kubernetes-sigs/lws//config/../../etc?ref=v0.7.0",
        "https://github.com/kubernetes-sigs/lws//config/default?ref=v0.7.0&ref=v0.8.0",
        "https://github.com/kubernetes-sigs/lws//config/default?ref=v0.7.0&depth=1",
        "https://gitlab.example.com/group/repo/deploy?ref=v1",  # outside GitHub: where does the repo end?
        "https://github.com/kubernetes-sigs/jobset/releases/download/v0.10.1/manifests.yaml#x",
    ],
)
def test_a_url_no_rule_maps_is_refused_with_the_fix(url: str) -> None:
    with pytest.raises(km.RemoteReferenceError) as info:
        km.remote_path(url, "apps/x/kustomization.yaml")
    message = str(info.value)
    assert url in message and "apps/x/kustomization.yaml" in message
    assert "expected path" in message and "To fix:" in message


def test_a_local_path_is_not_remote() -> None:
    assert not km.is_remote("../../third-party/jobset")
    assert not km.is_remote("crd.yaml")
    assert km.is_remote("https://github.com/a/b//c?ref=d") and km.is_remote("github.com/a/b/c?ref=d")


# --- against the shared mirror --------------------------------------------------------------------------------


def _offline_env(tmp: Path) -> dict[str, str]:
    """No network and no git: a proxy that refuses every connection, and a PATH holding only kubectl."""
    bin_dir = tmp / "bin"
    bin_dir.mkdir(exist_ok=True)
    if not (bin_dir / "kubectl").exists():
        assert KUBECTL is not None
        (bin_dir / "kubectl").symlink_to(KUBECTL)
    proxy = "http://127.0.0.1:9"
    return {
        "HOME": str(tmp),
        "PATH": str(bin_dir),
        "HTTP_PROXY": proxy,
        "HTTPS_PROXY": proxy,
        "http_proxy": proxy,
        "https_proxy": proxy,
        "NO_PROXY": "127.0.0.1,localhost",
        "no_proxy": "127.0.0.1,localhost",
        "GIT_CONFIG_NOSYSTEM": "1",
    }


def _kustomize(directory: str, tmp: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(KUBECTL), "kustomize", directory],
        env=_offline_env(tmp),
        cwd=tmp,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("kustomize-cache")


def _snapshot(root: Path) -> dict[str, tuple[int, int, int]]:
    out: dict[str, tuple[int, int, int]] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            st = os.lstat(os.path.join(dirpath, name))
            out[os.path.join(dirpath, name)] = (st.st_size, st.st_mtime_ns, st.st_mode)
    st = os.lstat(root)
    out[str(root)] = (st.st_size, st.st_mtime_ns, st.st_mode)
    return out


@needs_mirror
@needs_kubectl
@pytest.mark.parametrize("path", sorted({*PATHS, *MUST_HOLD}))
def test_each_component_renders_with_the_network_off(path: str, cache: Path, tmp_path: Path) -> None:
    directory = km.offline_directory(MIRROR, TREE, path, cache)
    found = km.closure(MIRROR, TREE, path)
    if found.remotes:
        assert directory.startswith(f"{cache}/") and directory.endswith(f"/{TREE}/{path}")
    else:
        assert directory == f"{MIRROR}/{TREE}/{path}"  # nothing remote: the mirror's own directory
    result = _kustomize(directory, tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    for needle in MUST_HOLD.get(path, []):
        assert needle in result.stdout, needle


@needs_mirror
@needs_kubectl
def test_without_the_rewrite_trainer_does_not_render_offline(tmp_path: Path) -> None:
    """The check above is a real one: offline, the mirror's own trainer overlay fails on its remote reference."""
    result = _kustomize(str(MIRROR / TREE / TRAINER), tmp_path)
    assert result.returncode != 0
    assert "github.com/kubernetes-sigs/jobset" in result.stderr


@needs_mirror
def test_the_mirror_is_never_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    before = _snapshot(MIRROR)
    cache = tmp_path / "cache"
    for path in (TRAINER, PIPELINES, *MUST_HOLD):
        km.offline_directory(MIRROR, TREE, path, cache)
    assert _snapshot(MIRROR) == before
    assert list(home.iterdir()) == []  # nothing under ~/.cache when a cache directory is given
    assert not [p for p in cache.iterdir() if p.name.startswith(".tmp-")]  # no temporary copy left behind


@needs_mirror
def test_a_cache_inside_the_mirror_is_refused() -> None:
    with pytest.raises(km.RemoteReferenceError, match="inside the mirror"):
        km.offline_directory(MIRROR, TREE, TRAINER, MIRROR / "cache")


def _partial_mirror(tmp_path: Path, leave_out: str) -> Path:
    """A mirror whose tree is the shared one and whose remote/ lacks one upstream (links, no copies)."""
    mirror = tmp_path / "mirror"
    (mirror / "remote" / "github.com").mkdir(parents=True)
    (mirror / TREE).symlink_to(MIRROR / TREE)
    for org in (MIRROR / "remote" / "github.com").iterdir():
        (mirror / "remote" / "github.com" / org.name).mkdir()
        for repo in org.iterdir():
            if repo.name != leave_out:
                (mirror / "remote" / "github.com" / org.name / repo.name).symlink_to(repo)
    return mirror


@needs_mirror
def test_a_missing_remote_copy_is_named_with_the_fix(tmp_path: Path) -> None:
    mirror = _partial_mirror(tmp_path, "jobset")
    cache = tmp_path / "cache"
    with pytest.raises(km.RemoteReferenceError) as info:
        km.offline_directory(mirror, TREE, TRAINER, cache)
    message = str(info.value)
    assert "https://github.com/kubernetes-sigs/jobset/releases/download/v0.10.1/manifests.yaml" in message
    assert f"{TREE}/applications/trainer/upstream/third-party/jobset/kustomization.yaml" in message
    assert f"{mirror}/remote/github.com/kubernetes-sigs/jobset/releases/download/v0.10.1/manifests.yaml" in message
    assert "To fix:" in message
    assert not cache.exists()  # nothing materialized
    # A component without remote references is unaffected: its path in the mirror.
    assert (
        km.offline_directory(mirror, TREE, "applications/profiles/pss", cache)
        == f"{mirror}/{TREE}/applications/profiles/pss"
    )


@needs_mirror
def test_a_missing_git_copy_is_named_with_the_fix(tmp_path: Path) -> None:
    mirror = _partial_mirror(tmp_path, "argo-workflows@v3.7.3")
    with pytest.raises(km.RemoteReferenceError) as info:
        km.offline_directory(mirror, TREE, PIPELINES, tmp_path / "cache")
    message = str(info.value)
    assert "https://github.com/argoproj/argo-workflows/manifests/base/workflow-controller?ref=v3.7.3" in message
    assert "remote/github.com/argoproj/argo-workflows@v3.7.3/manifests/base/workflow-controller" in message
    assert "To fix:" in message


@needs_mirror
def test_a_second_call_reuses_the_copy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cache = tmp_path / "cache"
    started = time.perf_counter()
    first = [km.offline_directory(MIRROR, TREE, p, cache) for p in (TRAINER, PIPELINES)]
    cold = time.perf_counter() - started
    made = {p: p.stat().st_mtime_ns for p in cache.iterdir()}
    assert len(made) == 2

    def no_build(*_: object) -> None:
        raise AssertionError("materialized again")

    monkeypatch.setattr(km, "_build", no_build)
    started = time.perf_counter()
    second = [km.offline_directory(MIRROR, TREE, p, cache) for p in (TRAINER, PIPELINES)]
    warm = time.perf_counter() - started
    assert second == first
    assert {p: p.stat().st_mtime_ns for p in cache.iterdir()} == made
    assert warm < 2.0, (cold, warm)


def _trainer_mirror(tmp_path: Path) -> Path:
    """A writable mirror holding what trainer/overlays reaches (copies, so a test may change one)."""
    mirror = tmp_path / "mirror"
    shutil.copytree(MIRROR / TREE / "applications" / "trainer", mirror / TREE / "applications" / "trainer")
    shutil.copytree(
        MIRROR / "remote" / "github.com" / "kubernetes-sigs", mirror / "remote" / "github.com" / "kubernetes-sigs"
    )
    return mirror


@needs_mirror
def test_a_changed_mirror_is_materialized_afresh(tmp_path: Path) -> None:
    mirror = _trainer_mirror(tmp_path)
    cache = tmp_path / "cache"
    first = km.offline_directory(mirror, TREE, TRAINER, cache)
    assert km.offline_directory(mirror, TREE, TRAINER, cache) == first
    asset = mirror / "remote/github.com/kubernetes-sigs/jobset/releases/download/v0.10.1/manifests.yaml"
    asset.write_text(asset.read_text() + "\n# changed\n")
    second = km.offline_directory(mirror, TREE, TRAINER, cache)
    assert second != first and Path(second).is_dir() and Path(first).is_dir()
    wrapped = cache / Path(second).relative_to(cache).parts[0] / km.ASSETS
    assert "# changed" in next(wrapped.rglob("manifests.yaml/manifests.yaml")).read_text()


def _materialize(args: tuple[str, str]) -> str:
    mirror, cache = args
    return km.offline_directory(mirror, TREE, TRAINER, cache)


@needs_mirror
def test_concurrent_runs_agree(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    with multiprocessing.get_context("fork").Pool(4) as pool:
        results = pool.map(_materialize, [(str(MIRROR), str(cache))] * 8)
    assert len(set(results)) == 1
    assert [p.name for p in cache.iterdir()] == [Path(results[0]).relative_to(cache).parts[0]]
    assert (Path(results[0]) / "kustomization.yaml").is_file()


@needs_mirror
def test_rewritten_references_are_relative_and_local(cache: Path) -> None:
    directory = Path(km.offline_directory(MIRROR, TREE, TRAINER, cache))
    root = directory.parents[len(Path(TRAINER).parts)]
    jobset = (root / TREE / "applications/trainer/upstream/third-party/jobset/kustomization.yaml").read_text()
    assert "https://" not in jobset.replace("# ", "")
    assert (
        "- ../../../../../../remote-assets/github.com/kubernetes-sigs/jobset/releases/download/v0.10.1/manifests.yaml"
        in jobset
    )
    assert "patches/jobset_remove_namespace.yaml" in jobset  # the rest as upstream wrote it


# --- wired into the program -----------------------------------------------------------------------------------


@needs_mirror
def test_manifest_directory_takes_the_offline_copy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(km, "DEFAULT_CACHE", tmp_path / "cache")
    upstream = UpstreamSpec(manifests_mirror=str(MIRROR))
    assert manifest_directory("kubeflow-manifests", TRAINER, upstream).startswith(f"{tmp_path}/cache/")
    profiles = manifest_directory("kubeflow-manifests", "applications/profiles/pss", upstream)
    assert profiles == f"{MIRROR}/{TREE}/applications/profiles/pss"
    listed = manifest_directory("kubeflow-manifests", TRAINER, upstream, offline=False)
    assert listed == f"{MIRROR}/{TREE}/{TRAINER}"


def test_without_a_mirror_nothing_changes() -> None:
    assert manifest_directory("kubeflow-manifests", TRAINER, UpstreamSpec()) == (
        "https://github.com/kubeflow/manifests/tree/d68ebc7fab366ab40ddd1541d2ec22febb31bc83/" + TRAINER
    )
    absent = UpstreamSpec(manifests_mirror="/srv/mirror")
    assert manifest_directory("kubeflow-manifests", TRAINER, absent) == f"/srv/mirror/{TREE}/{TRAINER}"


@needs_mirror
def test_losing_the_race_uses_the_winners_copy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Another run renames its copy into place while this one builds: this one's copy goes, the winner's stays."""
    cache = tmp_path / "cache"
    build = km._build

    def build_while_another_run_wins(out: Path, *args: object) -> None:
        winner = out.parent / out.name.split("-")[1]  # .tmp-<hash>-<pid>-<random> → <hash>
        build(winner, *args)  # type: ignore[arg-type]
        build(out, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(km, "_build", build_while_another_run_wins)
    directory = km.offline_directory(MIRROR, TREE, TRAINER, cache)
    assert (Path(directory) / "kustomization.yaml").is_file()
    assert [p.name for p in cache.iterdir()] == [Path(directory).relative_to(cache).parts[0]]
