"""The first-run download path of scripts/tools.sh (issue 28, item 2): an official release archive is
used only when it matches the digest pinned in scripts/tool_archives.json; otherwise the tool is built
from source, as on this offline machine.

Archives are built here (a tar.gz holding a fake binary) and served by a loopback HTTP server; the
expected digests are computed here with hashlib over the bytes served, not taken from the code.
"""

from __future__ import annotations

import functools
import hashlib
import io
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tarfile
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ROOT, need

SCRIPT = ROOT / "scripts" / "tool_archives.py"
TABLE = ROOT / "scripts" / "tool_archives.json"
TOOLS_SH = ROOT / "scripts" / "tools.sh"
FAKE = b"#!/bin/sh\necho fake-tool 1.0\n"

pytestmark = pytest.mark.need(
    "tools",
    "the pinned archives are for linux-amd64 only",
    have=sys.platform == "linux" and platform.machine() == "x86_64",
)


def tar_gz(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), 0o755
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    """A directory served on 127.0.0.1 (a free port) and its base URL; the server stops afterwards."""
    root = tmp_path / "www"
    root.mkdir()
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Quiet, directory=str(root)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield root, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def entry(name: str, url: str | None, digest: str | None, **extra: Any) -> dict[str, Any]:
    return {
        "name": name,
        "version": "v1.0.0",
        "url": url,
        "format": "tar.gz",
        "members": {name: f"pkg/{name}"},
        "digest": digest,
        "checksums_url": "http://127.0.0.1/checksums.txt" if digest else None,
        "read_at": "made by the test",
        **extra,
    }


def write_table(path: Path, *entries: dict[str, Any]) -> Path:
    path.write_text(json.dumps({"archives": list(entries)}))
    return path


def run(table: Path, name: str, bin_dir: Path) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, str(SCRIPT), "--table", str(table), "install", name, "--bin", str(bin_dir)]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=False)


def test_right_digest_installs_the_binary(served: tuple[Path, str], tmp_path: Path) -> None:
    www, base = served
    archive = tar_gz({"pkg/fake": FAKE, "pkg/README": b"not installed"})
    (www / "fake.tar.gz").write_bytes(archive)
    digest = "sha256:" + hashlib.sha256(archive).hexdigest()
    table = write_table(tmp_path / "t.json", entry("fake", f"{base}/fake.tar.gz", digest))
    bin_dir = tmp_path / "bin"
    result = run(table, "fake", bin_dir)
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in bin_dir.iterdir()) == ["fake"]
    assert subprocess.run([bin_dir / "fake"], capture_output=True, text=True, check=True).stdout == "fake-tool 1.0\n"
    assert not list(tmp_path.glob(".fake-*")), "the staging directory is left behind"


def test_sha512_digest_and_raw_binary(served: tuple[Path, str], tmp_path: Path) -> None:
    www, base = served
    (www / "fake-linux-amd64").write_bytes(FAKE)
    digest = "sha512:" + hashlib.sha512(FAKE).hexdigest()
    one = entry("fake", f"{base}/fake-linux-amd64", digest, format="binary", members={"fake": ""})
    bin_dir = tmp_path / "bin"
    result = run(write_table(tmp_path / "t.json", one), "fake", bin_dir)
    assert result.returncode == 0, result.stderr
    assert (bin_dir / "fake").read_bytes() == FAKE
    assert os.access(bin_dir / "fake", os.X_OK)


def test_wrong_digest_is_refused_and_installs_nothing(served: tuple[Path, str], tmp_path: Path) -> None:
    www, base = served
    (www / "fake.tar.gz").write_bytes(tar_gz({"pkg/fake": FAKE}))
    pinned = hashlib.sha256(tar_gz({"pkg/fake": b"#!/bin/sh\necho the genuine one\n"})).hexdigest()
    table = write_table(tmp_path / "t.json", entry("fake", f"{base}/fake.tar.gz", f"sha256:{pinned}"))
    bin_dir = tmp_path / "bin"
    result = run(table, "fake", bin_dir)
    assert result.returncode == 4
    assert "REFUSED" in result.stderr and pinned in result.stderr and "nothing installed" in result.stderr
    assert "To fix" in result.stderr
    assert not bin_dir.exists() or not any(bin_dir.iterdir())
    assert not list(tmp_path.glob(".fake-*"))


def test_archive_without_the_binary_is_refused(served: tuple[Path, str], tmp_path: Path) -> None:
    www, base = served
    archive = tar_gz({"pkg/other": FAKE})
    (www / "fake.tar.gz").write_bytes(archive)
    digest = "sha256:" + hashlib.sha256(archive).hexdigest()
    bin_dir = tmp_path / "bin"
    result = run(write_table(tmp_path / "t.json", entry("fake", f"{base}/fake.tar.gz", digest)), "fake", bin_dir)
    assert result.returncode == 4 and "pkg/fake" in result.stderr
    assert not (bin_dir / "fake").exists()


def test_entry_without_digest_falls_through_without_downloading(served: tuple[Path, str], tmp_path: Path) -> None:
    www, base = served
    (www / "fake.tar.gz").write_bytes(tar_gz({"pkg/fake": FAKE}))
    table = write_table(tmp_path / "t.json", entry("fake", f"{base}/fake.tar.gz", None, missing="no published sum"))
    result = run(table, "fake", tmp_path / "bin")
    assert result.returncode == 3
    assert "no published sum" in result.stderr and "building from source" in result.stderr
    assert not (tmp_path / "bin" / "fake").exists()


def test_unreachable_server_falls_through(tmp_path: Path) -> None:
    """Offline: the download fails at once and tools.sh goes on to the source build."""
    with ThreadingHTTPServer(("127.0.0.1", 0), _Quiet) as closed:
        port = closed.server_address[1]  # bound, then closed: nothing listens there any more
    digest = "sha256:" + "0" * 64
    table = write_table(tmp_path / "t.json", entry("fake", f"http://127.0.0.1:{port}/fake.tar.gz", digest))
    result = run(table, "fake", tmp_path / "bin")
    assert result.returncode == 3 and "building from source" in result.stderr
    assert not (tmp_path / "bin" / "fake").exists()


def test_malformed_digest_names_the_field(tmp_path: Path) -> None:
    table = write_table(tmp_path / "t.json", entry("fake", "http://127.0.0.1/x", "sha256:abc"))
    result = run(table, "fake", tmp_path / "bin")
    assert result.returncode == 2
    assert "'fake'" in result.stderr and "digest" in result.stderr and "To fix" in result.stderr


# ------------------------------------------------------------------ the committed table vs tools.sh


def pinned_versions() -> dict[str, str]:
    """NAME_VERSION=... assignments in tools.sh, the one place the versions are written."""
    text = TOOLS_SH.read_text()
    return dict(re.findall(r"^([A-Z_]+_VERSION)=(\S+)", text, flags=re.MULTILINE))


# Which tools.sh pin each archive must match (by hand: the archive names are upstream's, not ours).
ARCHIVE_PIN = {
    "pulumi": "PULUMI_VERSION",
    "kubernetes-server": "KUBE_VERSION",
    "etcd": "ETCD_VERSION",
    "kwok": "KWOK_VERSION",
    "kueue": "KUEUE_VERSION",
    "helm": "HELM_VERSION",
    "actionlint": "ACTIONLINT_VERSION",
    "registry": "REGISTRY_VERSION",
}


def test_committed_table_matches_the_pins_and_cites_every_digest() -> None:
    doc = json.loads(TABLE.read_text())
    versions = pinned_versions()
    entries = {e["name"]: e for e in doc["archives"]}
    assert set(entries) == set(ARCHIVE_PIN)
    for name, e in entries.items():
        pin = versions[ARCHIVE_PIN[name]]
        assert e["version"] == pin, f"{name}: table {e['version']} != tools.sh {pin}"
        if e["url"]:
            assert pin.removeprefix("v") in e["url"], f"{name}: the URL is not for {pin}"
        if e["digest"]:
            assert e["checksums_url"].startswith("https://") and e["read_at"], name
        else:
            assert e["missing"], f"{name}: an entry without a digest must say why"


def test_committed_table_passes_the_scripts_own_checks() -> None:
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "status"], capture_output=True, text=True, timeout=30, check=False
    )
    assert result.returncode == 0, result.stderr
    assert "kubernetes-server v1.34.4: sha512 pinned" in result.stdout


# -------------------------------------------------------------- through tools.sh itself


@pytest.fixture
def tools_env(tmp_path: Path) -> dict[str, str]:
    """tools.sh with its own cache, and a PATH with the programs it runs but no helm or actionlint
    (a pinned one there would be linked instead of the archive or the build under test)."""
    dirs: list[str] = []
    for program in ("go", "python3", "bash", "sed", "sha256sum"):
        found = shutil.which(program)
        if found and os.path.dirname(found) not in dirs:
            dirs.append(os.path.dirname(found))
    clean = [d for d in dirs if not any(os.path.exists(os.path.join(d, t)) for t in ("helm", "actionlint"))]
    return {**os.environ, "AISTACK_TOOLS_DIR": str(tmp_path / "cache"), "PATH": os.pathsep.join(clean)}


def tools_sh(env: dict[str, str], steps: str, table: Path) -> subprocess.CompletedProcess[str]:
    env = {**env, "AISTACK_TOOLS": steps, "AISTACK_TOOL_ARCHIVES": str(table)}
    return subprocess.run(["bash", str(TOOLS_SH)], capture_output=True, text=True, env=env, timeout=900, check=False)


def test_tools_sh_installs_a_verified_archive_instead_of_building(
    served: tuple[Path, str], tmp_path: Path, tools_env: dict[str, str]
) -> None:
    www, base = served
    archive = tar_gz({"linux-amd64/helm": FAKE})
    (www / "helm.tar.gz").write_bytes(archive)
    helm = entry("helm", f"{base}/helm.tar.gz", "sha256:" + hashlib.sha256(archive).hexdigest())
    helm["members"] = {"helm": "linux-amd64/helm"}
    result = tools_sh(tools_env, "helm", write_table(tmp_path / "t.json", helm))
    assert result.returncode == 0, result.stderr
    assert "helm v3.18.6 (renders" not in result.stderr, "it built from source"
    bin_dir = Path(result.stdout.strip().splitlines()[-1])
    assert (bin_dir / "helm").read_bytes() == FAKE


def test_tools_sh_falls_through_to_the_source_build_without_a_digest(tmp_path: Path, tools_env: dict[str, str]) -> None:
    if shutil.which("go") is None:
        need("tools", "no Go toolchain to build actionlint from its wrapper module")
    missing = entry("actionlint", "http://127.0.0.1:9/never-fetched.tar.gz", None, missing="test: no sum")
    result = tools_sh(tools_env, "actionlint", write_table(tmp_path / "t.json", missing))
    assert result.returncode == 0, result.stderr
    assert "test: no sum" in result.stderr and "actionlint built in" in result.stderr
    bin_dir = Path(result.stdout.strip().splitlines()[-1])
    version = subprocess.run([bin_dir / "actionlint", "--version"], capture_output=True, text=True, check=True)
    assert version.stdout.splitlines()[0] == "v1.7.12"


def fake_helm_on_path(env: dict[str, str], where: Path, prints: str) -> dict[str, str]:
    where.mkdir()
    helm = where / "helm"
    helm.write_text(f"#!/bin/sh\necho '{prints}'\n")
    helm.chmod(0o755)
    return {**env, "PATH": f"{where}{os.pathsep}{env['PATH']}"}


def test_tools_sh_prefers_the_pinned_version_on_path_to_the_archive(
    served: tuple[Path, str], tmp_path: Path, tools_env: dict[str, str]
) -> None:
    www, base = served
    archive = tar_gz({"linux-amd64/helm": FAKE})
    (www / "helm.tar.gz").write_bytes(archive)
    helm = entry("helm", f"{base}/helm.tar.gz", "sha256:" + hashlib.sha256(archive).hexdigest())
    helm["members"] = {"helm": "linux-amd64/helm"}
    table = write_table(tmp_path / "t.json", helm)

    pinned = fake_helm_on_path(tools_env, tmp_path / "pinned", "v3.18.6")
    result = tools_sh(pinned, "helm", table)
    assert result.returncode == 0, result.stderr
    bin_dir = Path(result.stdout.strip().splitlines()[-1])
    assert (bin_dir / "helm").resolve() == (tmp_path / "pinned" / "helm").resolve()

    # Another version on PATH (v3.18.60 contains v3.18.6 as text) is passed over for the archive.
    other = fake_helm_on_path(
        {**tools_env, "AISTACK_TOOLS_DIR": str(tmp_path / "cache2")}, tmp_path / "other", "v3.18.60"
    )
    result = tools_sh(other, "helm", table)
    assert result.returncode == 0, result.stderr
    bin_dir = Path(result.stdout.strip().splitlines()[-1])
    assert not (bin_dir / "helm").is_symlink() and (bin_dir / "helm").read_bytes() == FAKE
