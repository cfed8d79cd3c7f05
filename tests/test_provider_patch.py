"""aistack's patches to the Kubernetes provider (scripts/tools/pulumi-kubernetes/patches): each applies to the
pinned provider source, and the provider scripts/tools.sh built carries exactly these patches.

The effect is measured, not asserted here: `benchmarks/apply.py` (README "Performance"); the end-to-end
suite deploys, upgrades and destroys the platform with the patched provider.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import ROOT, built_tool, need

PATCHES = sorted((ROOT / "scripts" / "tools" / "pulumi-kubernetes" / "patches").glob("*.patch"))
TOOLS_SH = ROOT / "scripts" / "tools.sh"


def pinned_ref() -> str:
    found = re.search(r"^K8S_PROVIDER_REF=(\S+)", TOOLS_SH.read_text(), re.MULTILINE)
    assert found, "K8S_PROVIDER_REF is not set in scripts/tools.sh"
    return found.group(1)


def provider_source() -> Path:
    """The pinned provider module in the Go module cache (scripts/tools.sh downloads it)."""
    go = shutil.which("go") or (Path("/usr/local/go/bin/go") if Path("/usr/local/go/bin/go").exists() else None)
    if go is None:
        need("tools", "no Go toolchain, which scripts/tools.sh needs")
    cache = subprocess.run([str(go), "env", "GOMODCACHE"], capture_output=True, text=True, check=True).stdout.strip()
    source = Path(cache) / "github.com" / "pulumi" / "pulumi-kubernetes" / "provider" / f"v4@{pinned_ref()}"
    if not source.is_dir():
        need("tools", f"no {source}: scripts/tools.sh downloads it")
    return source


def test_there_is_a_patch_and_each_says_why() -> None:
    assert PATCHES
    for patch in PATCHES:
        text = patch.read_text()
        preamble = text[: text.index("--- a/")]
        assert len(preamble.split()) > 40, f"{patch.name}: say what it changes, why, and what it was measured at"
        assert pinned_ref() in preamble, f"{patch.name}: name the provider commit it is made against"


@pytest.mark.parametrize("patch", PATCHES, ids=[p.name for p in PATCHES])
def test_each_patch_applies_to_the_pinned_provider(patch: Path, tmp_path: Path) -> None:
    source = provider_source()
    touched = re.findall(r"^\+\+\+ b/(\S+)", patch.read_text(), re.MULTILINE)
    assert touched
    for rel in touched:
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source / rel, tmp_path / rel)
    env = {"GIT_CEILING_DIRECTORIES": str(tmp_path.parent), "PATH": "/usr/bin:/bin"}
    check = subprocess.run(["git", "-C", str(tmp_path), "apply", "--check", str(patch)], capture_output=True, env=env)
    assert check.returncode == 0, check.stderr.decode()


def test_the_built_provider_carries_exactly_these_patches() -> None:
    provider = built_tool("pulumi-resource-kubernetes")
    if provider is None:
        need("tools", "no pulumi-resource-kubernetes built by scripts/tools.sh")
    stamp = provider.parent / ".pulumi-resource-kubernetes.patches"
    want = hashlib.sha256(b"".join(p.read_bytes() for p in PATCHES)).hexdigest()
    assert stamp.is_file(), f"{provider} was built without aistack's patches: rerun scripts/tools.sh"
    assert stamp.read_text().strip() == want, f"{provider} was built with other patches: rerun scripts/tools.sh"
