"""The Pulumi side of a destroy: what a killed run left in the state, and what data protection keeps.

A `pulumi destroy` killed halfway leaves two things that make the next run fail or lie:

* **a lock** (file backends only): the CLI writes ``.pulumi/locks/<org>/<project>/<stack>/<id>.json``
  with its pid, user, host and time, and refuses to run while any other lock is there
  (pkg/backend/diy/lock.go, v3.259.0); `pulumi cancel` is for the Pulumi Cloud backend only. A lock
  written on this host by a pid that is no longer a pulumi process is stale and removed; any other
  lock is left, and said.
* **pending operations** (``deployment.pending_operations`` in `pulumi stack export`): steps the killed
  engine had begun. They are cleared by export → remove → import, each one named (a pending *create*
  may have made an object the state does not know: it is listed for the user to check).

Under data_protection, `pulumi destroy --exclude-protected` destroys everything but the protected
resources and what they depend on (cmd/pulumi/operations/destroy.go: getProtectedExcludes); they stay in
the state, listed by ``kept_resources`` with the step that releases them (RELEASE_STEP).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

RELEASE_STEP = (
    "to release them: `pulumi config set aistack:data_protection false -s {stack}`, `pulumi up -s {stack}`, then "
    "`aistack destroy {stack}` again (or `pulumi state unprotect --all -s {stack}` and destroy; resources marked "
    "retain_on_delete then leave the state but stay in the cluster or account)"
)


class Runner(Protocol):
    """What the destroy needs of aistack.local.deploy.Cli: `pulumi ARGS -s STACK` in the project directory."""

    @property
    def stack(self) -> str: ...

    @property
    def project_dir(self) -> Path: ...

    def argv(self, *args: str, config: bool = True) -> list[str]: ...

    def env(self) -> dict[str, str]: ...

    def run(self, *args: str, on_line: Callable[[str], None] = ..., timeout: float = ...) -> Any: ...


@dataclass(frozen=True)
class Lock:
    path: Path
    pid: int
    host: str
    user: str
    when: str

    def describe(self) -> str:
        return f"{self.path} (pid {self.pid} on {self.host}, by {self.user}, {self.when})"


def _pulumi_alive(pid: int) -> bool:
    """Whether ``pid`` is a running pulumi process on this host (a reused pid running something else is not)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return True  # no /proc: alive is all we can tell
    return b"pulumi" in cmdline


def backend_dir(backend_url: str) -> Path | None:
    """The directory of a ``file://`` backend (None for any other backend)."""
    parts = urlsplit(backend_url)
    return Path(parts.path).expanduser() if parts.scheme == "file" else None


def locks(backend: Path, project: str, stack: str) -> list[Lock]:
    found = []
    for path in sorted((backend / ".pulumi" / "locks").glob(f"**/{project}/{stack}/*.json")):
        try:
            doc = json.loads(path.read_text())
        except (OSError, ValueError):
            doc = {}
        found.append(
            Lock(
                path,
                int(doc.get("pid", 0)),
                str(doc.get("hostname", "?")),
                str(doc.get("username", "?")),
                str(doc.get("timestamp", "?")),
            )
        )
    return found


def clear_stale_locks(backend: Path, project: str, stack: str) -> tuple[list[str], list[str]]:
    """Remove this host's locks whose pulumi process is gone: (removed, still held) descriptions."""
    removed, held = [], []
    for lock in locks(backend, project, stack):
        if lock.host == socket.gethostname() and not _pulumi_alive(lock.pid):
            lock.path.unlink(missing_ok=True)
            removed.append(f"stale lock of a killed run removed: {lock.describe()}")
        else:
            held.append(
                f"the stack is locked: {lock.describe()}. To fix: wait for that pulumi to end, or, if it is not "
                f"running, remove {lock.path}"
            )
    return removed, held


def export(runner: Runner) -> dict[str, Any]:
    result = subprocess.run(
        runner.argv("stack", "export", config=False),
        cwd=runner.project_dir,
        env=runner.env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    if result.returncode != 0:
        raise RuntimeError(f"pulumi stack export -s {runner.stack}: {result.stderr.strip() or result.stdout.strip()}")
    return dict(json.loads(result.stdout))


def clear_pending(runner: Runner, doc: dict[str, Any]) -> list[str]:
    """Remove a killed run's pending operations from the state (export → edit → import); what was cleared."""
    deployment = doc.get("deployment") or {}
    pending = deployment.get("pending_operations") or []
    if not pending:
        return []
    said = []
    for op in pending:
        kind, urn = op.get("type", "?"), (op.get("resource") or {}).get("urn", "?")
        note = " (it may exist without being in the state: check it)" if kind == "creating" else ""
        said.append(f"pending operation of a killed run cleared: {kind} {urn}{note}")
    deployment["pending_operations"] = []
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump(doc, f)
    try:
        result = subprocess.run(
            [*runner.argv("stack", "import", config=False), "--file", f.name],
            cwd=runner.project_dir,
            env=runner.env(),
            capture_output=True,
            text=True,
            timeout=300,
        )
    finally:
        os.unlink(f.name)
    if result.returncode != 0:
        raise RuntimeError(f"pulumi stack import -s {runner.stack}: {result.stderr.strip() or result.stdout.strip()}")
    return said


def kept_resources(doc: dict[str, Any]) -> tuple[list[str], int]:
    """After `destroy --exclude-protected`: the protected custom resources left in the state (``type name``),
    and how many others stay because a protected one depends on them."""
    resources = (doc.get("deployment") or {}).get("resources") or []
    custom = [r for r in resources if r.get("custom") and not str(r.get("type", "")).startswith("pulumi:providers:")]
    protected = [f"{r['type']} {str(r['urn']).rsplit('::', 1)[-1]}" for r in custom if r.get("protect")]
    return protected, len(custom) - len(protected)


__all__ = [
    "RELEASE_STEP",
    "Lock",
    "Runner",
    "backend_dir",
    "clear_pending",
    "clear_stale_locks",
    "export",
    "kept_resources",
    "locks",
]
