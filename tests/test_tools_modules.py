"""Supply chain of the source builds (issue 28, item 3): every tool scripts/tools.sh builds from source
resolves through a committed wrapper module (scripts/tools/<tool>/go.mod + go.sum), tools.sh builds with
-mod=readonly, each go.sum is complete, and a tampered wrapper fails instead of being silently fixed.

The completeness and tampering checks run `go list -mod=readonly -deps` (no compile, no link) and so
need the Go toolchain; modules come from the module cache scripts/tools.sh filled, else the proxy.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import ROOT, need

TOOLS_SH = ROOT / "scripts" / "tools.sh"
WRAPPERS = ROOT / "scripts" / "tools"

# Written by hand from what tools.sh provides: each wrapper and the main packages built through it.
# (pulumi-kubernetes and pulumi-language-python are upstream modules built from a copied source tree;
# their go.sum is checked where the source is.)
TOOL_PACKAGES: dict[str, list[str]] = {
    "pulumi": ["github.com/pulumi/pulumi/pkg/v3/cmd/pulumi"],
    "helm": ["helm.sh/helm/v3/cmd/helm"],
    "etcd": ["go.etcd.io/etcd/server/v3"],
    "kwok": ["sigs.k8s.io/kwok/cmd/kwok"],
    "kueue": ["sigs.k8s.io/kueue/cmd/kueue"],
    "kueue-previous": ["sigs.k8s.io/kueue/cmd/kueue"],
    "actionlint": ["github.com/rhysd/actionlint/cmd/actionlint"],
    "registry": ["github.com/distribution/distribution/v3/cmd/registry"],
    "kubernetes": [
        f"k8s.io/kubernetes/cmd/{c}" for c in ("kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubectl")
    ],
    "pulumi-kubernetes/source": [],  # only pins the provider's source module (go mod download)
}
OTHER_WRAPPERS = ["pulumi-kubernetes", "pulumi-language-python"]
STEPS = [
    "pulumi",
    "language_python",
    "k8s_provider",
    "etcd",
    "kwok",
    "kube",
    "kueue",
    "kueue_previous",
    "actionlint",
    "helm",
    "registry",
]


def build_section() -> str:
    """tools.sh without its --refresh-sums part (the only place allowed to write go.mod/go.sum)."""
    text = TOOLS_SH.read_text()
    start = text.index("# ---", text.index("build_registry()"))
    end = text.index('if [[ "${1:-}" == "--refresh-sums" ]]')
    return text[:start] + text[end:]


def test_every_tool_has_a_committed_wrapper_with_go_sum() -> None:
    for name in [*TOOL_PACKAGES, *OTHER_WRAPPERS]:
        for file in ("go.mod", "go.sum"):
            path = WRAPPERS / name / file
            assert path.is_file() and path.stat().st_size > 0, f"missing {path.relative_to(ROOT)}"


def test_tools_sh_has_exactly_the_expected_steps_and_wrappers() -> None:
    text = TOOLS_SH.read_text()
    default = re.search(r"AISTACK_TOOLS:-([a-z0-9_ ]+)\}", text)
    assert default is not None and default.group(1).split() == STEPS
    assert sorted(re.findall(r"^build_([a-z0-9_]+)\(\)", text, flags=re.MULTILINE)) == sorted(STEPS)
    # Every wrapper tools.sh names exists (go_build WRAPPER ..., mod_dir WRAPPER ..., "$WRAPPERS/NAME).
    named = set(re.findall(r"(?:go_build|mod_dir) ([a-z0-9/-]+) ", text))
    named |= set(re.findall(r'"\$WRAPPERS"?/([a-z0-9-]+)', text))
    assert named, "tools.sh names no wrapper"
    for wrapper in named:
        assert (WRAPPERS / wrapper / "go.mod").is_file(), f"tools.sh uses scripts/tools/{wrapper}, which is missing"


def test_tools_sh_builds_read_only() -> None:
    build = build_section()
    assert re.search(r'^export GOFLAGS="-mod=readonly', build, flags=re.MULTILINE)
    assert "-mod=mod" not in build and "GOSUMDB=off" not in build
    for line in build.splitlines():
        if re.search(r"\bgo (build|install|get)\b", line) and not line.lstrip().startswith("#"):
            assert "go install" not in line and "go get" not in line, line
            assert "-mod=readonly" in line or "go_build" in line, f"a build without -mod=readonly: {line}"
    assert "go build -mod=readonly" in build


def go_list(module_dir: Path, packages: list[str], **env: str) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, "GOFLAGS": "-mod=readonly", **env}
    cmd = ["go", "list", "-deps", "-test=false", *packages]
    return subprocess.run(cmd, cwd=module_dir, capture_output=True, text=True, env=full_env, timeout=300, check=False)


def require_go() -> None:
    if shutil.which("go") is None:
        need("tools", "no Go toolchain (scripts/tools.sh needs one too)")


@pytest.mark.parametrize("wrapper", [w for w, pkgs in TOOL_PACKAGES.items() if pkgs])
def test_wrapper_go_sum_is_complete(wrapper: str) -> None:
    """Every module the build needs is in go.sum, so -mod=readonly resolves without changing anything."""
    module_dir, packages = WRAPPERS / wrapper, TOOL_PACKAGES[wrapper]
    require_go()
    before = {f: (module_dir / f).read_bytes() for f in ("go.mod", "go.sum")}
    # From the module cache scripts/tools.sh filled; what is missing there comes from the proxy.
    result = go_list(module_dir, packages)
    assert result.returncode == 0, result.stderr[-2000:]
    assert {f: (module_dir / f).read_bytes() for f in before} == before


# The smallest wrapper keeps the tampering checks cheap.
SMALL = "actionlint"


@pytest.fixture
def small_copy(tmp_path: Path) -> Path:
    copy = tmp_path / SMALL
    shutil.copytree(WRAPPERS / SMALL, copy)
    require_go()
    control = go_list(copy, TOOL_PACKAGES[SMALL])
    assert control.returncode == 0, f"the untouched copy must resolve: {control.stderr[-1000:]}"
    return copy


def test_a_changed_go_sum_line_fails(small_copy: Path) -> None:
    go_sum = small_copy / "go.sum"
    lines = go_sum.read_text().splitlines()
    index = next(i for i, line in enumerate(lines) if not line.split()[1].endswith("/go.mod"))
    module, version, digest = lines[index].split()
    flipped = digest[:3] + ("A" if digest[3] != "A" else "B") + digest[4:]
    lines[index] = f"{module} {version} {flipped}"
    go_sum.write_text("\n".join(lines) + "\n")
    result = go_list(small_copy, TOOL_PACKAGES[SMALL])
    assert result.returncode != 0
    assert "checksum mismatch" in result.stderr and module in result.stderr


def test_an_extra_require_of_another_version_fails(small_copy: Path, tmp_path: Path) -> None:
    """A module version go.sum does not list (golang.org/x/sys at the version the registry wrapper uses)
    is refused under -mod=readonly; the same edit resolves with -mod=mod, which would have added it."""

    def x_sys(wrapper: Path) -> str:
        found = re.search(r"golang.org/x/sys (v\S+)", (wrapper / "go.mod").read_text())
        assert found is not None
        return found.group(1)

    other = x_sys(WRAPPERS / "registry")
    assert other != x_sys(small_copy), "pick a wrapper with another golang.org/x/sys"
    subprocess.run(["go", "mod", "edit", f"-require=golang.org/x/sys@{other}"], cwd=small_copy, check=True)
    lenient = tmp_path / "lenient"
    shutil.copytree(small_copy, lenient)
    control = go_list(lenient, TOOL_PACKAGES[SMALL], GOFLAGS="-mod=mod", GOSUMDB="off")
    assert control.returncode == 0, f"the edit itself must be resolvable: {control.stderr[-1000:]}"
    result = go_list(small_copy, TOOL_PACKAGES[SMALL])
    assert result.returncode != 0
    assert "missing go.sum entry" in result.stderr and "golang.org/x/sys" in result.stderr
    assert other not in (small_copy / "go.sum").read_text(), "go.sum was changed"


def test_the_previous_kueue_controller_is_the_newest_0_18_patch_the_proxy_serves() -> None:
    """The wrapper pins Kueue v0.18.4: the proxy refused v0.18.5 and v0.18.6 (403) when this was written, and
    the mirror's previous chart is 0.18.6 (same minor: the same CRD API versions)."""
    gomod = (WRAPPERS / "kueue-previous" / "go.mod").read_text()
    assert "\tsigs.k8s.io/kueue v0.18.4" in gomod
    assert "KUEUE_PREVIOUS_VERSION=v0.18.4" in TOOLS_SH.read_text()
