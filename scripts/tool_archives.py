#!/usr/bin/env python3
"""Install a tool from its project's official release archive, verified against a pinned digest.

scripts/tools.sh calls ``tool_archives.py install NAME --bin DIR`` before it builds NAME from source.
The table (scripts/tool_archives.json) names each archive's URL, the binaries inside it, the digest the
project publishes and where that digest was read. Exit status, which tools.sh reads:

  0  every binary the archive provides is in DIR (installed now, or there already)
  3  not available here: no entry, no pinned digest, another platform, or the download failed
     (offline, for instance) — tools.sh then builds from source, as it always did
  4  refused: the download does not match the pinned digest, or lacks a binary; nothing was installed
  2  the table itself is wrong (a field is missing or malformed)

Standard library only: tools.sh runs before the project's virtual environment exists.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import os
import platform
import shutil
import sys
import tarfile
import tempfile
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

TABLE = Path(__file__).with_name("tool_archives.json")
PLATFORM = "linux-amd64"  # the only platform the table's URLs are for
TIMEOUT_S = 30  # per socket operation; offline, name resolution fails at once anyway
CHUNK = 1 << 20
ALGORITHMS = ("sha256", "sha512")

INSTALLED, UNAVAILABLE, REFUSED, BAD_TABLE = 0, 3, 4, 2


class TableError(Exception):
    """The table is malformed; the message names the entry and field."""


class UnavailableError(Exception):
    """No verified archive can be used here; the source build is the way."""


class RefusedError(Exception):
    """A download did not match what was pinned; nothing was installed."""


@dataclass(frozen=True)
class Archive:
    name: str
    version: str
    url: str | None
    format: str
    members: dict[str, str]
    digest: str | None
    checksums_url: str | None
    missing: str | None


def _field(entry: dict[str, Any], key: str, kind: type | tuple[type, ...], where: str) -> Any:
    if key not in entry:
        raise TableError(f"{where}: field '{key}' is missing. To fix: add it (see the other entries)")
    value = entry[key]
    if not isinstance(value, kind):
        raise TableError(f"{where}: field '{key}' is {value!r}, of the wrong type. To fix: correct it in the table")
    return value


def _digest(value: str | None, where: str) -> str | None:
    if value is None:
        return None
    algorithm, _, hexdigest = value.partition(":")
    size = {"sha256": 64, "sha512": 128}.get(algorithm)
    if size is None or len(hexdigest) != size or any(c not in "0123456789abcdef" for c in hexdigest):
        raise TableError(
            f"{where}: field 'digest' is {value!r}, not 'sha256:<64 hex>' or 'sha512:<128 hex>'. "
            "To fix: copy the value from the project's published checksums file"
        )
    return value


def parse_entry(entry: dict[str, Any]) -> Archive:
    where = f"archive {entry.get('name', '?')!r}"
    fmt = _field(entry, "format", str, where)
    if fmt not in ("tar.gz", "binary"):
        raise TableError(f"{where}: field 'format' is {fmt!r}, not 'tar.gz' or 'binary'. To fix: use one of them")
    digest = _digest(_field(entry, "digest", (str, type(None)), where), where)
    checksums_url = _field(entry, "checksums_url", (str, type(None)), where)
    if digest is not None and not checksums_url:
        raise TableError(f"{where}: a digest without 'checksums_url'. To fix: cite the project's checksums file")
    members = _field(entry, "members", dict, where)
    if not members or (fmt == "binary" and len(members) != 1):
        raise TableError(
            f"{where}: field 'members' must name the archive's binaries (exactly one for a 'binary'). "
            "To fix: list them as name: path inside the archive"
        )
    return Archive(
        name=_field(entry, "name", str, where),
        version=_field(entry, "version", str, where),
        url=_field(entry, "url", (str, type(None)), where),
        format=fmt,
        members={str(k): str(v) for k, v in members.items()},
        digest=digest,
        checksums_url=checksums_url,
        missing=entry.get("missing"),
    )


def load_table(path: Path) -> dict[str, Archive]:
    try:
        doc = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise TableError(f"{path}: cannot be read as JSON ({exc}). To fix: restore it from git") from exc
    entries = doc.get("archives") if isinstance(doc, dict) else None
    if not isinstance(entries, list):
        raise TableError(f"{path}: field 'archives' (a list) is missing. To fix: restore it from git")
    archives = [parse_entry(e) for e in entries]
    return {a.name: a for a in archives}


def this_platform() -> str:
    machine = {"x86_64": "amd64", "aarch64": "arm64"}.get(platform.machine(), platform.machine())
    return f"{sys.platform}-{machine}"


def _download(url: str, dest: Path, algorithm: str) -> str:
    """Stream ``url`` into ``dest``; return the hex digest of what arrived."""
    digest = hashlib.new(algorithm)
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT_S) as response, dest.open("wb") as out:
            while chunk := response.read(CHUNK):
                digest.update(chunk)
                out.write(chunk)
    except (urllib.error.URLError, OSError, TimeoutError) as exc:
        raise UnavailableError(f"download of {url} failed ({exc})") from exc
    return digest.hexdigest()


def _extract(archive: Archive, download: Path, staging: Path) -> dict[str, Path]:
    """Each wanted binary as a file in ``staging``; Refused when the archive lacks one."""
    if archive.format == "binary":
        return {name: download for name in archive.members}
    found: dict[str, Path] = {}
    try:
        with tarfile.open(download, "r:gz") as tar:
            for name, member_path in archive.members.items():
                try:
                    member = tar.getmember(member_path)
                except KeyError:
                    member = None
                source = tar.extractfile(member) if member is not None and member.isfile() else None
                if source is None:
                    raise RefusedError(f"{archive.name}: the archive has no regular file {member_path!r}")
                target = staging / name
                with source, target.open("wb") as out:
                    shutil.copyfileobj(source, out)
                found[name] = target
    except (tarfile.TarError, OSError) as exc:
        raise RefusedError(f"{archive.name}: the archive cannot be read ({exc})") from exc
    return found


def install(archive: Archive, bin_dir: Path) -> list[str]:
    """Download, verify and install the archive's binaries into ``bin_dir``; the names installed."""
    wanted = [n for n in archive.members if not (bin_dir / n).exists()]
    if not wanted:
        return []
    if archive.url is None or archive.digest is None:
        raise UnavailableError(
            f"{archive.name} {archive.version}: no verified archive ({archive.missing or 'no digest'})"
        )
    if this_platform() != PLATFORM:
        raise UnavailableError(f"{archive.name}: the pinned archive is for {PLATFORM}, this is {this_platform()}")
    algorithm, _, expected = archive.digest.partition(":")
    bin_dir.mkdir(parents=True, exist_ok=True)
    # Staged beside bin_dir (same file system) so each binary appears there whole, by rename.
    with tempfile.TemporaryDirectory(prefix=f".{archive.name}-", dir=bin_dir.parent) as tmp:
        download = Path(tmp) / "download"
        actual = _download(archive.url, download, algorithm)
        if not hmac.compare_digest(actual, expected):
            raise RefusedError(
                f"{archive.name} {archive.version}: {archive.url} has {algorithm} {actual}, but the pinned "
                f"{algorithm} (published at {archive.checksums_url}) is {expected}; nothing installed. To fix: "
                "retry (a truncated or altered download); if it persists, build from source (AISTACK_TOOLS_DOWNLOAD=0)"
            )
        staged = _extract(archive, download, Path(tmp))
        for name in wanted:
            staged[name].chmod(0o755)
            os.replace(staged[name], bin_dir / name)
    return wanted


def _status(table: dict[str, Archive]) -> None:
    for a in table.values():
        state = f"{a.digest.split(':')[0]} pinned" if a.digest else f"source build ({a.missing})"
        print(f"{a.name} {a.version}: {state}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--table", type=Path, default=TABLE)
    sub = parser.add_subparsers(dest="command", required=True)
    one = sub.add_parser("install", help="install NAME's binaries into --bin from its verified archive")
    one.add_argument("name")
    one.add_argument("--bin", type=Path, required=True)
    sub.add_parser("status", help="which archives have a pinned digest")
    args = parser.parse_args(argv)
    try:
        table = load_table(args.table)
        if args.command == "status":
            _status(table)
            return INSTALLED
        archive = table.get(args.name)
        if archive is None:
            raise UnavailableError(f"{args.name}: no archive in {args.table}")
        names = install(archive, args.bin)
    except TableError as exc:
        print(f"tool_archives: {exc}", file=sys.stderr)
        return BAD_TABLE
    except UnavailableError as exc:
        print(f"tool_archives: {exc}; building from source", file=sys.stderr)
        return UNAVAILABLE
    except RefusedError as exc:
        print(f"tool_archives: REFUSED: {exc}", file=sys.stderr)
        return REFUSED
    done = ", ".join(names) or "nothing (all present)"
    print(
        f"tool_archives: {archive.name} {archive.version}: verified {archive.digest}; installed {done}", file=sys.stderr
    )
    return INSTALLED


if __name__ == "__main__":
    sys.exit(main())
