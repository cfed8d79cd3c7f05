"""Run the host checks on each target host through pytest-testinfra's backends."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from .checks import Check, Context, Outcome, checks_for
from .hosts import parse_host

Backend = Literal["local", "ssh", "paramiko"]
Status = Literal["pass", "fail", "skip", "error"]


@dataclass(frozen=True)
class Target:
    """One host to verify: how to reach it and what it should be."""

    name: str
    backend: Backend = "ssh"
    ctx: Context = field(default_factory=Context)

    def uri(self) -> str:
        """testinfra's host spec. Raises HostError when the name is outside the host grammar, so a
        name that skipped validation still never reaches ssh."""
        return "local://" if self.backend == "local" else parse_host(self.name).uri(self.backend)


@dataclass(frozen=True)
class Result:
    host: str
    check: str
    title: str
    status: Status
    required: bool
    detail: str
    fix: str

    @property
    def failed(self) -> bool:
        return self.required and self.status in ("fail", "error")

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Connection:
    """testinfra connection settings shared by every SSH host."""

    ssh_config: str | None = None
    identity_file: str | None = None
    timeout: int = 10


def connect(target: Target, conn: Connection) -> Any:
    import testinfra

    kwargs: dict[str, Any] = {}
    if target.backend != "local":
        kwargs = {"ssh_config": conn.ssh_config, "ssh_identity_file": conn.identity_file, "timeout": conn.timeout}
        kwargs = {k: v for k, v in kwargs.items() if v is not None}
        if target.backend == "ssh":
            # Fail fast and never prompt: an unknown host key or a password prompt must not hang CI.
            kwargs["ssh_extra_args"] = f"-o BatchMode=yes -o ConnectTimeout={conn.timeout}"
    host = testinfra.get_host(target.uri(), **kwargs)
    if target.backend == "ssh":
        _end_options(host.backend)
    return host


def _end_options(backend: Any) -> None:
    """Put `--` before the host in every ssh command line testinfra builds, so that no host, whatever
    it looks like, is ever parsed by ssh as an option (`-oProxyCommand=…`)."""
    build = backend._build_ssh_command

    def with_end_of_options(command: str) -> tuple[list[str], list[str]]:
        cmd, args = build(command)
        if not cmd or cmd[-1] != "%s %s":  # testinfra's layout changed: refuse rather than run unguarded
            raise RuntimeError("unexpected testinfra ssh command layout; refusing to run ssh without '--'")
        return [*cmd[:-1], "--", cmd[-1]], args

    backend._build_ssh_command = with_end_of_options


def _reachable(host: Any, target: Target) -> str | None:
    """None when a trivial command runs on the host; otherwise why not, in one line."""
    try:
        result = host.run("true")
    except Exception as exc:  # every backend raises its own types (OSError, paramiko.SSHException, ...)
        return f"{type(exc).__name__}: {_why(str(exc)) or 'no detail'}"
    if result.rc != 0:
        return _why(result.stderr or result.stdout or "") or f"exit {result.rc}"
    return None


def _why(text: str) -> str:
    """ssh's own words, all of them: the cause ("Bad port", "Identity file … not accessible") is
    often on the first line and the symptom ("Permission denied") on the last."""
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    joined = "; ".join(dict.fromkeys(lines))
    return joined if len(joined) <= 400 else joined[:397] + "..."


def verify_host(target: Target, conn: Connection, on_check: Callable[[Result], None] | None = None) -> list[Result]:
    checks = checks_for(target.ctx)
    try:
        host = connect(target, conn)
        unreachable = _reachable(host, target)
    except Exception as exc:
        unreachable = f"{type(exc).__name__}: {exc}"
    if unreachable is not None:
        result = Result(
            target.name,
            "reachable",
            "host reachable",
            "error",
            True,
            f"cannot reach {_shown_uri(target)}: {unreachable}",
            "check the host name, that sshd runs and the key is authorised (ssh -o BatchMode=yes HOST true)",
        )
        if on_check:
            on_check(result)
        return [result]
    results = []
    for check in checks:
        result = run_check(host, target, check)
        results.append(result)
        if on_check:
            on_check(result)
    return results


def _shown_uri(target: Target) -> str:
    try:
        return target.uri()
    except ValueError:  # outside the host grammar: show it, quoted, but never build a spec from it
        return f"{target.backend}://{target.name!r}"


def run_check(host: Any, target: Target, check: Check) -> Result:
    try:
        outcome = check.run(host, target.ctx)
    except Exception as exc:
        outcome = Outcome("fail", f"check could not run: {type(exc).__name__}: {exc}")
    status: Status = outcome.status
    return Result(
        target.name,
        check.id,
        check.title,
        status,
        check.required(target.ctx),
        outcome.detail,
        check.fix if status == "fail" else "",
    )


def verify(
    targets: Sequence[Target], conn: Connection, on_check: Callable[[Result], None] | None = None
) -> list[Result]:
    out: list[Result] = []
    for target in targets:
        out.extend(verify_host(target, conn, on_check))
    return out
