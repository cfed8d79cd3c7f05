"""Kustomize's internet references, resolved to an air-gapped mirror's ``remote/`` copies.

Some kustomizations in a pinned manifest tree name internet resources (a git repository at a ref, a
release asset). An air-gapped directory mirror holds their content under ``remote/``, one path per
URL (the mirror's README):

- a git reference ``https://github.com/ORG/REPO[/]/PATH?ref=REF`` is at ``remote/github.com/ORG/REPO@REF/PATH``;
- a release asset (any plain file URL) keeps its path: ``https://HOST/PATH`` is at ``remote/HOST/PATH``.

:func:`offline_directory` gives the Kubernetes provider a directory it can render with no network: when
a component's kustomization closure names remote resources, it copies that closure (the kustomization
directories it reaches, in the tree and under ``remote/``) into a cache directory keyed by the content's
hash, rewrites every remote reference to a relative local path, and returns the component's directory
there. The mirror is only read; nothing is written outside the cache directory; nothing is fetched.
"""

from __future__ import annotations

import hashlib
import os
import posixpath
import re
import secrets
import shutil
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, Literal
from urllib.parse import parse_qs, urlsplit

import yaml

REMOTE = "remote"  # the mirror's folder of remote copies
ASSETS = "remote-assets"  # in a materialized copy: each remote file wrapped in a kustomization of its own
KUSTOMIZATION_FILES = ("kustomization.yaml", "kustomization.yml", "Kustomization")
# Kustomization fields whose string entries may name another kustomization (a directory or a URL).
REFERENCE_FIELDS = ("resources", "bases", "components", "generators", "transformers", "validators")
# Fields whose entries kustomize loads as files: a URL there cannot be served from inside the root.
FILE_FIELDS = ("crds", "configurations", "patchesStrategicMerge")
PATH_FIELDS = ("patches", "patchesJson6902", "replacements")  # lists of {path: FILE, …}
DEFAULT_CACHE = Path(os.environ.get("AISTACK_KUSTOMIZE_DIR", "~/.cache/aistack/kustomize")).expanduser()
LAYOUT = "aistack-kustomize-mirror/1"  # part of the cache key: bump when the materialized layout changes
_STALE_TMP_S = 3600.0
_GIT_QUERY = {"ref", "version", "timeout", "submodules"}  # query keys kustomize reads on a git URL

try:
    _Loader: Any = yaml.CSafeLoader
except AttributeError:  # pragma: no cover - PyYAML without libyaml
    _Loader = yaml.SafeLoader


class RemoteReferenceError(ValueError):
    """A remote kustomize reference that no rule maps, or whose copy the mirror lacks."""


@dataclass(frozen=True)
class RemotePath:
    """Where the mirror holds one remote URL: ``path`` relative to the mirror root."""

    url: str
    path: PurePosixPath
    kind: Literal["git", "file"]  # a kustomization directory in a git repository, or a single file
    version: str  # the git ref, a release tag, or "-"


@dataclass(frozen=True)
class RemoteRef:
    """One remote reference in a kustomization file of the mirror."""

    remote: RemotePath
    kustomization: Path  # the file that names it
    expected: Path  # where the mirror holds (or should hold) the copy
    present: bool  # whether it does


@dataclass(frozen=True)
class Problem:
    """A remote reference that cannot be served offline: no rule maps it, or kustomize loads it as a file."""

    url: str
    kustomization: Path
    message: str


@dataclass
class Closure:
    """Everything a component's kustomization reaches inside the mirror."""

    mirror_root: Path
    directories: list[PurePosixPath] = field(default_factory=list)  # kustomization roots, relative to the mirror
    remotes: list[RemoteRef] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)


def is_remote(entry: str) -> bool:
    """Whether a kustomization entry names an internet resource rather than a local path."""
    return "://" in entry or entry.startswith(("git@", "github.com/"))


def _where(kustomization: str | Path | None) -> str:
    return f" in {kustomization}" if kustomization is not None else ""


def _cannot_map(url: str, kustomization: str | Path | None, why: str) -> RemoteReferenceError:
    return RemoteReferenceError(
        f"remote reference {url}{_where(kustomization)} cannot be mapped to the mirror: {why}; expected path: none "
        "(the rule is https://github.com/ORG/REPO[/]/PATH?ref=REF → remote/github.com/ORG/REPO@REF/PATH, and a "
        "file URL https://HOST/PATH → remote/HOST/PATH). To fix: pin the reference to one of those forms in the "
        "kustomization (a git reference needs ?ref=TAG-OR-COMMIT), or vendor its content into the tree and "
        "reference it by a relative path."
    )


def _segments(path: str, url: str, kustomization: str | Path | None) -> list[str]:
    parts = [p for p in path.split("/") if p]
    if any(p in (".", "..") for p in parts):
        raise _cannot_map(url, kustomization, "its path holds '.' or '..'")
    return parts


def remote_path(url: str, kustomization: str | Path | None = None) -> RemotePath:
    """The mirror-relative path of a remote kustomize URL (the mirror README's rule). Pure: reads nothing.

    Raises :class:`RemoteReferenceError` (naming the URL, the kustomization and the fix) for URLs no rule maps.
    """
    text = url.strip()
    if text.startswith("github.com/"):
        text = "https://" + text  # kustomize's scheme-less GitHub form
    split = urlsplit(text)
    if split.scheme not in ("http", "https") or not split.hostname:
        raise _cannot_map(url, kustomization, "only http(s) URLs (and github.com/…) are mirrored")
    if split.username or split.password or split.port or split.fragment:
        raise _cannot_map(url, kustomization, "credentials, ports and #fragments are not part of the rule")
    host = split.hostname.lower()
    query = parse_qs(split.query, keep_blank_values=True)
    if not query:
        if host == "github.com" and "/releases/download/" not in split.path:
            raise _cannot_map(url, kustomization, "a GitHub repository reference without ?ref= is not pinned")
        parts = _segments(split.path, url, kustomization)
        if not parts:
            raise _cannot_map(url, kustomization, "it names no file")
        tag = "-"
        if host == "github.com" and len(parts) >= 5 and parts[2:4] == ["releases", "download"]:
            tag = parts[4]
        return RemotePath(url, PurePosixPath(REMOTE, host, *parts), "file", tag)
    unknown = set(query) - _GIT_QUERY
    refs = [*query.get("ref", []), *query.get("version", [])]
    if unknown or len(refs) != 1 or not refs[0]:
        raise _cannot_map(url, kustomization, "a git reference needs exactly one ?ref= (and no other query keys)")
    ref = refs[0]
    if "/" in ref or ref in (".", ".."):
        raise _cannot_map(url, kustomization, f"the ref {ref!r} is not a single path segment")
    repo_part, sep, inner = split.path.partition("//")
    if sep:
        repo = _segments(repo_part, url, kustomization)
        inner_parts = _segments(inner, url, kustomization)
    elif host == "github.com":
        parts = _segments(split.path, url, kustomization)
        repo, inner_parts = parts[:2], parts[2:]
    else:
        raise _cannot_map(url, kustomization, "outside github.com the repository must end in '//' before the path")
    if host == "github.com" and len(repo) != 2:
        raise _cannot_map(url, kustomization, "a GitHub repository is ORG/REPO")
    if not repo:
        raise _cannot_map(url, kustomization, "it names no repository")
    repo[-1] = repo[-1].removesuffix(".git")
    return RemotePath(url, PurePosixPath(REMOTE, host, *repo[:-1], f"{repo[-1]}@{ref}", *inner_parts), "git", ref)


def kustomization_file(directory: Path) -> Path | None:
    for name in KUSTOMIZATION_FILES:
        candidate = directory / name
        if candidate.is_file():
            return candidate
    return None


def present(mirror_root: Path, remote: RemotePath) -> bool:
    """Whether the mirror holds a remote copy: the file, or a kustomization directory for a git reference."""
    where = mirror_root / remote.path
    return where.is_file() if remote.kind == "file" else kustomization_file(where) is not None


def _read(path: Path) -> dict[str, Any]:
    try:
        doc = yaml.load(path.read_text(encoding="utf-8"), Loader=_Loader)
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return {}  # kustomize reports an unreadable kustomization itself, with its own words
    return doc if isinstance(doc, dict) else {}


def _entries(doc: dict[str, Any], fields: Iterable[str]) -> Iterator[tuple[str, str]]:
    """(field, entry) for every one-line string entry of those list fields (inline patches are skipped)."""
    for name in fields:
        values = doc.get(name)
        if isinstance(values, list):
            for value in values:
                if isinstance(value, str) and "\n" not in value and value.strip():
                    yield name, value.strip()


def _paths(doc: dict[str, Any], fields: Iterable[str]) -> Iterator[tuple[str, str]]:
    """(field, path) for every ``path:`` of those list fields' entries."""
    for name in fields:
        values = doc.get(name)
        if isinstance(values, list):
            for value in values:
                if isinstance(value, dict) and isinstance(value.get("path"), str):
                    yield name, value["path"].strip()


def _relative(mirror_root: Path, directory: Path) -> PurePosixPath | None:
    try:
        return PurePosixPath(directory.relative_to(mirror_root).as_posix())
    except ValueError:
        return None


def closure(mirror_root: Path, tree: str, path: str) -> Closure:
    """The kustomization directories and remote references a component reaches, following local directory
    references and, into ``remote/``, the mirror's copies of git references. Reads the mirror; writes nothing."""
    mirror_root = Path(os.path.normpath(mirror_root))
    result = Closure(mirror_root)
    start = Path(os.path.normpath(mirror_root / tree / path.strip("/")))
    queue, seen = [start], {start}
    while queue:
        directory = queue.pop(0)
        kfile = kustomization_file(directory)
        relative = _relative(mirror_root, directory)
        if kfile is None or relative is None:
            continue  # a broken reference: kustomize names it when it renders
        result.directories.append(relative)
        doc = _read(kfile)
        file_entries = [*_entries(doc, FILE_FIELDS), *_paths(doc, PATH_FIELDS)]
        for name, entry in file_entries:
            if is_remote(entry):
                message = (
                    f"remote file {entry} in {name} of {kfile} cannot be served offline (kustomize loads it as a "
                    "file inside the kustomization root). To fix: copy the file into the kustomization's "
                    "directory and name it by its relative path."
                )
                result.problems.append(Problem(entry, kfile, message))
        for _, entry in _entries(doc, REFERENCE_FIELDS):
            target: Path | None
            if is_remote(entry):
                try:
                    remote = remote_path(entry, kfile)
                except RemoteReferenceError as error:
                    result.problems.append(Problem(entry, kfile, str(error)))
                    continue
                held = present(mirror_root, remote)
                result.remotes.append(RemoteRef(remote, kfile, mirror_root / remote.path, held))
                target = mirror_root / remote.path if held and remote.kind == "git" else None
            else:
                target = Path(os.path.normpath(directory / entry))
                if not target.is_dir():
                    target = None  # a file: inside this root, copied with it
            if target is not None and target not in seen:
                seen.add(target)
                queue.append(target)
    return result


def missing_message(ref: RemoteRef) -> str:
    remote = ref.remote
    what = (
        f"the repository at ref {remote.version}, the path after the ref inside it"
        if remote.kind == "git"
        else "the file as the URL serves it"
    )
    return (
        f"remote reference {remote.url} in {ref.kustomization} is not in the mirror: expected "
        f"{ref.expected}{'/' + KUSTOMIZATION_FILES[0] if remote.kind == 'git' else ''}. To fix: copy it there "
        f"({what}; see the mirror README's remote/ rule), or point upstream.manifests_mirror at a mirror that "
        "holds it; `aistack upstreams STACK` lists every remote reference and whether the mirror holds it."
    )


def _check(found: Closure) -> None:
    lacking = [missing_message(r) for r in found.remotes if not r.present]
    problems = [*(p.message for p in found.problems), *lacking]
    if problems:
        raise RemoteReferenceError("\n".join(problems))


def _roots(directories: Iterable[PurePosixPath]) -> list[PurePosixPath]:
    """The directories none of whose ancestors is also listed (copying those subtrees copies all)."""
    ordered = sorted(set(directories), key=lambda p: (len(p.parts), p.as_posix()))
    roots: list[PurePosixPath] = []
    for d in ordered:
        if not any(d == r or r in d.parents for r in roots):
            roots.append(d)
    return sorted(roots)


def _files(mirror_root: Path, roots: Iterable[PurePosixPath]) -> list[PurePosixPath]:
    out: list[PurePosixPath] = []
    for root in roots:
        for dirpath, dirnames, filenames in os.walk(mirror_root / root, followlinks=True):
            dirnames.sort()
            base = PurePosixPath(Path(dirpath).relative_to(mirror_root).as_posix())
            out += [base / name for name in sorted(filenames) if os.path.isfile(os.path.join(dirpath, name))]
    return out


def _asset_dir(remote: RemotePath) -> PurePosixPath:
    return PurePosixPath(ASSETS, *remote.path.parts[1:])


def _replacement(kfile: PurePosixPath, remote: RemotePath) -> str:
    target = remote.path if remote.kind == "git" else _asset_dir(remote)
    return posixpath.relpath(target.as_posix(), kfile.parent.as_posix())


def _rewrite(text: str, mapping: dict[str, str]) -> str:
    for url in sorted(mapping, key=len, reverse=True):  # longest first: no URL is cut by a shorter one
        pattern = re.compile(r"(?<![\w/:.%?&=-])" + re.escape(url) + r"(?![\w/:.%?&=-])")
        new = mapping[url]
        text = pattern.sub(lambda _m: new, text)  # noqa: B023 - used at once, inside this iteration
    return text


def _verify(original: dict[str, Any], rewritten_text: str, mapping: dict[str, str], kfile: Path) -> None:
    rewritten = yaml.load(rewritten_text, Loader=_Loader)
    expected = {
        name: [mapping.get(v.strip(), v) if isinstance(v, str) else v for v in values]
        for name, values in original.items()
        if name in REFERENCE_FIELDS and isinstance(values, list)
    }
    got = {name: rewritten.get(name) for name in expected} if isinstance(rewritten, dict) else {}
    got = {name: [v.strip() if isinstance(v, str) else v for v in values or []] for name, values in got.items()}
    expected = {name: [v.strip() if isinstance(v, str) else v for v in values] for name, values in expected.items()}
    if got != expected:
        raise RemoteReferenceError(
            f"could not rewrite the remote references of {kfile} to local paths (its YAML layout is not one this "
            "rewrite handles). To fix: write each remote reference as a plain list entry (- URL), one a line."
        )


def _digest(mirror_root: Path, tree: str, path: str, files: list[PurePosixPath]) -> str:
    h = hashlib.sha256(f"{LAYOUT}\0{tree}\0{path}\0".encode())
    for rel in files:
        h.update(rel.as_posix().encode() + b"\0")
        with open(mirror_root / rel, "rb") as f:
            h.update(hashlib.file_digest(f, "sha256").digest())
    return h.hexdigest()[:24]


def _clean_stale(cache_dir: Path) -> None:
    now = time.time()
    for tmp in cache_dir.glob(".tmp-*"):
        try:
            if now - tmp.lstat().st_mtime > _STALE_TMP_S:
                shutil.rmtree(tmp, ignore_errors=True)
        except OSError:
            pass


def _build(out: Path, mirror_root: Path, found: Closure, files: list[PurePosixPath]) -> None:
    """Write the materialized copy into ``out`` (a fresh directory)."""
    by_file: dict[Path, list[RemoteRef]] = {}
    for ref in found.remotes:
        by_file.setdefault(ref.kustomization, []).append(ref)
    rewritten: dict[PurePosixPath, str] = {}
    for kfile, refs in by_file.items():
        rel = PurePosixPath(kfile.relative_to(mirror_root).as_posix())
        mapping = {r.remote.url: _replacement(rel, r.remote) for r in refs}
        text = kfile.read_text(encoding="utf-8")
        new = _rewrite(text, mapping)
        _verify(_read(kfile), new, mapping, kfile)
        rewritten[rel] = new
    for rel in files:
        dest = out / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        if rel in rewritten:
            dest.write_text(rewritten[rel], encoding="utf-8")
        else:
            shutil.copyfile(mirror_root / rel, dest)
    for remote in {r.remote.path: r.remote for r in found.remotes if r.remote.kind == "file"}.values():
        # kustomize refuses a resource FILE outside the kustomization root; a directory anywhere is fine.
        wrapper = out / _asset_dir(remote)
        wrapper.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(mirror_root / remote.path, wrapper / remote.path.name)
        (wrapper / "kustomization.yaml").write_text(
            "# Written by aistack: the mirror's copy of a remote file, as its own kustomization.\n"
            f"# {remote.url}\n"
            "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n"
            f"resources:\n- {remote.path.name}\n",
            encoding="utf-8",
        )


def offline_directory(mirror_root: str | Path, tree: str, path: str, cache_dir: str | Path | None = None) -> str:
    """A directory the provider renders with no network, for the component at ``path`` of ``tree``.

    Without remote references in its closure: the component's own directory in the mirror (as a string,
    ``<mirror_root>/<tree>/<path>``). With them: ``<cache_dir>/<hash>/<tree>/<path>``, a copy of the closure
    with every remote reference rewritten to the mirror's copy, made once per content hash (atomically: a
    temporary directory renamed into place) and reused after. Raises :class:`RemoteReferenceError` when a
    remote reference cannot be mapped or its copy is missing from the mirror.
    """
    root = Path(os.path.normpath(mirror_root))
    path = path.strip("/")
    plain = f"{str(mirror_root).rstrip('/')}/{tree}/{path}"  # as the caller spelled the mirror
    found = closure(root, tree, path)
    if not found.remotes and not found.problems:
        return plain
    _check(found)
    cache = Path(os.path.normpath(Path(cache_dir).expanduser() if cache_dir is not None else DEFAULT_CACHE))
    if cache.resolve() == root.resolve() or root.resolve() in cache.resolve().parents:
        raise RemoteReferenceError(
            f"the kustomize cache {cache} is inside the mirror {root}, which is read-only. To fix: pass a cache "
            "directory outside it (or set AISTACK_KUSTOMIZE_DIR)."
        )
    files = _files(root, _roots(found.directories))
    assets = sorted({r.remote.path for r in found.remotes if r.remote.kind == "file"})
    target = cache / _digest(root, tree, path, [*files, *assets])
    result = f"{target}/{tree}/{path}"
    if target.is_dir():
        return result
    cache.mkdir(parents=True, exist_ok=True)
    _clean_stale(cache)
    tmp = cache / f".tmp-{target.name}-{os.getpid()}-{secrets.token_hex(4)}"
    tmp.mkdir()
    try:
        _build(tmp, root, found, files)
        os.rename(tmp, target)
    except OSError:
        shutil.rmtree(tmp, ignore_errors=True)
        if not target.is_dir():  # another run renamed its copy into place first: use that one
            raise
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return result
