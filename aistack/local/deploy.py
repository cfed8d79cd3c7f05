"""Deploying a stack into the local cluster with the real Pulumi engine, by one of two routes.

* The Pulumi CLI in the project directory (`pulumi up -s local`), exactly as a platform engineer
  runs it, when Pulumi's Python language host (`pulumi-language-python` and its exec shim) sits
  next to the `pulumi` binary or on PATH. scripts/tools.sh builds it from ../shared/vendor when
  that source is there: the Go module proxy does not serve it.
* Otherwise the Automation API with the program inline (in this process), which needs no language
  host. aistack's own engine commands (drift) always take this route.

Both use the same local file backend under the local cluster's state directory and the same stack,
so a stack deployed by one is refreshed, drift-checked or destroyed by the other. The committed
stacks/Pulumi.local.yaml carries the passphrase salt for LOCAL_PASSPHRASE, so the CLI never writes
into the repository; a stack whose file has no salt, or whose kubeconfig must point elsewhere,
runs from a private copy of its config (`--config-file`) so the engine's additions stay out of it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from .cluster import STATE_DIR

if TYPE_CHECKING:
    from pulumi import automation as auto

PROJECT = "aistack"
# The local demo's file backend only, where secrets protect nothing: fixed, because the encryptionsalt
# committed in stacks/Pulumi.local.yaml was made with it (`pulumi stack init` in a scratch copy).
LOCAL_PASSPHRASE = "aistack-local-demo"
REPO = Path(__file__).resolve().parents[2]
LANGUAGE_HOST = "pulumi-language-python"
# The host runs Python programs through this shim, looked up next to its own (resolved) executable
# (sdk/python/cmd/pulumi-language-python/main.go, v3.259.0): a host without it cannot run anything.
EXEC_SHIM = "pulumi-language-python-exec"


def backend_url(state: Path = STATE_DIR) -> str:
    return f"file://{state / 'backend'}"


LOCAL_PARALLEL = 96
# Set to 1 to keep Pulumi's automatic debug logs for local runs (see pulumi_home).
KEEP_LOGS_ENV = "AISTACK_PULUMI_LOGS"
LOGS_STANDIN = (
    "Pulumi's automatic debug log is off for aistack's local backend: this file stands where the CLI would "
    "create its logs directory, and the CLI skips logging when it cannot. Set AISTACK_PULUMI_LOGS=1 to keep them.\n"
)


def pulumi_home(state: Path = STATE_DIR) -> Path:
    """aistack's own PULUMI_HOME for the local backend, made ready for the engine.

    Pulumi 3.259's CLI writes every command's log at debug level, properties and all, into
    $PULUMI_HOME/logs (its automatic logging, pkg/logging/encrypted.go), and every V(n) log call is
    then formatted. On the full local platform that was ~350 MB and most of the engine's CPU per
    `up` (benchmarks/apply.py). The CLI has no switch for it, but it carries on without logging when
    it cannot create that directory, so a file stands there, unless AISTACK_PULUMI_LOGS=1."""
    home = state / "pulumi-home"
    home.mkdir(parents=True, exist_ok=True)
    logs = home / "logs"
    if os.environ.get(KEEP_LOGS_ENV) == "1":
        if logs.is_file():
            logs.unlink()
    elif not logs.is_file():
        if logs.is_dir():
            shutil.rmtree(logs)  # earlier runs' logs in aistack's own cache, not the user's ~/.pulumi
        logs.write_text(LOGS_STANDIN)
    return home


def engine_env(bin_dir: Path, state: Path = STATE_DIR) -> dict[str, str]:
    """What the engine needs in its environment; nothing global (no `pulumi login`, no ~/.pulumi)."""
    return {
        "PULUMI_BACKEND_URL": backend_url(state),
        "PULUMI_CONFIG_PASSPHRASE": LOCAL_PASSPHRASE,
        "PULUMI_SKIP_UPDATE_CHECK": "true",
        # A missing plugin must fail fast, never trigger a download.
        "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION": "true",
        # The full platform is ~1,500 resources, and the file backend rewrites the whole checkpoint after
        # every step (quadratic: it dominated the engine's CPU). The state is written once at the end instead;
        # an interrupted run of this throwaway local stack can lose its state (`aistack local down`, then
        # remove ~/.cache/aistack/local, starts afresh). Cloud stacks never run through this environment.
        "PULUMI_SKIP_CHECKPOINTS": "true",
        "PULUMI_HOME": str(pulumi_home(state)),
        # Steps that wait (a Deployment's rollout, up to 10 min) hold one of the engine's parallel slots, 4 per
        # core by default: 8 here. Kubeflow Pipelines alone has 9 Deployments whose pods need ServiceAccounts
        # from the same kustomization; once its Deployments filled every slot, those ServiceAccounts were never
        # created and the up failed after 10 minutes. Above the platform's ~60 waiting workloads, none can.
        "PULUMI_PARALLEL": str(LOCAL_PARALLEL),
        "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
    }


def overrides_env(
    stack: str, *, upstream: dict[str, Any] | None, kubeconfig: Path | None = None
) -> tuple[str, str | None]:
    """(name, value) of the variable that gives plain `pulumi -s STACK` what the demo's private config
    changes (components/local_overrides.py); value None: nothing to change, the variable is unset."""
    from components import local_overrides

    if upstream is None and kubeconfig is None:
        return local_overrides.ENV, None
    return local_overrides.ENV, local_overrides.encode(stack, upstream, None if kubeconfig is None else str(kubeconfig))


def language_host(bin_dir: Path, path: str | None = None) -> Path | None:
    """Pulumi's Python language host next to `pulumi` or on ``path`` (default $PATH), if it can run."""
    for candidate in (bin_dir / LANGUAGE_HOST, shutil.which(LANGUAGE_HOST, path=path)):
        if candidate is None or not Path(candidate).is_file():
            continue
        if (Path(os.path.realpath(candidate)).parent / EXEC_SHIM).is_file():
            return Path(candidate)
    return None


GERUNDS = {"up": "deploying", "preview": "previewing", "refresh": "refreshing", "destroy": "destroying"}


def route_line(verb: str, host: Path | None, project_dir: Path = REPO, state: Path = STATE_DIR) -> str:
    """The one line saying which route `pulumi VERB` took."""
    doing = GERUNDS.get(verb, verb)
    if host is not None:
        where = f"file backend {backend_url(state)}, language host {host}"
        return f"{doing} with `pulumi {verb}` in {project_dir} ({where})"
    missing = f"no Pulumi language host found ({LANGUAGE_HOST} next to pulumi or on PATH)"
    return f"{missing}: {doing} through the Automation API (inline program)"


# ------------------------------------------------------------------ the stack's config


def work_dir(state: Path = STATE_DIR) -> Path:
    return state / "project"


def prepare(
    stack: str,
    *,
    state: Path = STATE_DIR,
    kubeconfig: Path | None = None,
    stacks_dir: Path = REPO / "stacks",
    upstream: dict[str, Any] | None = None,
) -> Path:
    """The private work directory's copy of the stack's config, rewritten from stacks/ on every call
    (an edit there takes effect), ``kubeconfig`` re-pointing its cluster and ``upstream`` replacing its
    ``aistack:upstream`` (the mirror the local demo found). A salt the engine wrote into an earlier copy
    is kept when the repository's file has none. Returns the copy's path."""
    work = work_dir(state)
    work.mkdir(parents=True, exist_ok=True)
    (state / "backend").mkdir(parents=True, exist_ok=True)
    # The project file for commands run here (stack creation); the Automation API writes the same.
    project = {"name": PROJECT, "runtime": "python", "backend": {"url": backend_url(state)}}
    (work / "Pulumi.yaml").write_text(yaml.safe_dump(project, sort_keys=False))
    target = work / f"Pulumi.{stack}.yaml"
    doc = yaml.safe_load((stacks_dir / f"Pulumi.{stack}.yaml").read_text())
    if kubeconfig is not None:
        doc["config"].setdefault("aistack:cluster", {})["kubeconfig"] = str(kubeconfig)
    if upstream is not None:  # on top of the stack's own section: its version pins and image registry stay
        doc["config"]["aistack:upstream"] = {**(doc["config"].get("aistack:upstream") or {}), **upstream}
    if "encryptionsalt" not in doc and target.exists():
        salt = (yaml.safe_load(target.read_text()) or {}).get("encryptionsalt")
        if salt:
            doc["encryptionsalt"] = salt
    target.write_text(yaml.safe_dump(doc, sort_keys=False))
    return target


def cli_config_problem(
    stack: str,
    *,
    kubeconfig: Path | None = None,
    stacks_dir: Path = REPO / "stacks",
    upstream: dict[str, Any] | None = None,
) -> str | None:
    """None when `pulumi … -s STACK` in the project directory can read stacks/ as committed; else why
    not (then the CLI reads the private copy through `--config-file`)."""
    doc = yaml.safe_load((stacks_dir / f"Pulumi.{stack}.yaml").read_text())
    own = doc.get("config", {}).get("aistack:upstream") or {}
    if upstream is not None and {**own, **upstream} != own:
        return f"its upstream section becomes { ({**own, **upstream}) }"
    if "encryptionsalt" not in doc:
        return "it has no encryptionsalt: the engine would write one into the repository"
    named = (doc.get("config", {}).get("aistack:cluster") or {}).get("kubeconfig")
    if kubeconfig is not None and (named is None or Path(named).expanduser() != kubeconfig.expanduser()):
        return f"its kubeconfig is not {kubeconfig}"
    return None


# ------------------------------------------------------------------ route 1: the Pulumi CLI


@dataclass
class Outcome:
    """How one `pulumi` command ended: exit status, resource changes (from its event log), its output."""

    rc: int
    changes: dict[str, int] = field(default_factory=dict)
    output: list[str] = field(default_factory=list)
    seconds: float = 0.0
    steps: list[tuple[str, str, str]] = field(default_factory=list)  # (op, type, urn) of each step but "same"

    def tail(self, lines: int = 25) -> str:
        return "\n".join(self.output[-lines:])


@dataclass(frozen=True)
class Cli:
    """`pulumi` run in the project directory against the local file backend."""

    stack: str
    bin_dir: Path
    state: Path = STATE_DIR
    config_file: Path | None = None  # None: the project's own stacks/Pulumi.<stack>.yaml
    project_dir: Path = REPO

    @classmethod
    def for_stack(
        cls,
        stack: str,
        bin_dir: Path,
        *,
        state: Path = STATE_DIR,
        kubeconfig: Path | None = None,
        stacks_dir: Path = REPO / "stacks",
        upstream: dict[str, Any] | None = None,
    ) -> Cli:
        copy = prepare(stack, state=state, kubeconfig=kubeconfig, stacks_dir=stacks_dir, upstream=upstream)
        problem = cli_config_problem(stack, kubeconfig=kubeconfig, stacks_dir=stacks_dir, upstream=upstream)
        committed = problem is None
        return cls(stack, bin_dir, state, None if committed else copy, stacks_dir.parent)

    def env(self) -> dict[str, str]:
        return {**os.environ, **engine_env(self.bin_dir, self.state)}

    def argv(self, *args: str, config: bool = True) -> list[str]:
        """`pulumi ARGS -s STACK [--config-file F]`: the command a user types, plus the config redirect."""
        extra = ["--config-file", str(self.config_file)] if config and self.config_file is not None else []
        return [str(self.bin_dir / "pulumi"), *args, "-s", self.stack, *extra]

    def ensure_stack(self) -> None:
        """Create the stack in the backend unless it exists (passphrase secrets). Run in the private work
        directory so a salt the engine has to write lands in the private copy, never in stacks/."""
        argv = [str(self.bin_dir / "pulumi"), "stack", "select", "--create", "--secrets-provider", "passphrase"]
        result = subprocess.run(
            [*argv, self.stack, "--non-interactive"],
            cwd=work_dir(self.state),
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=120,
        )
        if result.returncode != 0:
            raise RuntimeError(f"pulumi stack select --create {self.stack}: {result.stderr.strip() or result.stdout}")

    def run(self, *args: str, on_line: Callable[[str], None] = lambda _: None, timeout: float = 1800) -> Outcome:
        """Run `pulumi ARGS` in the project directory, each output line to ``on_line`` as it comes;
        the change counts come from the engine's event log (what the Automation API reads too)."""
        events = self.state / "events" / f"{args[0]}-{time.time_ns()}.jsonl"
        events.parent.mkdir(parents=True, exist_ok=True)
        t0 = time.monotonic()
        out: list[str] = []
        with subprocess.Popen(
            [*self.argv(*args), "--non-interactive", "--event-log", str(events)],
            cwd=self.project_dir,
            # --event-log exists only with the debug commands on (cmd/pulumi/operations/up.go); the
            # Automation API turns them on the same way.
            env={**self.env(), "PULUMI_DEBUG_COMMANDS": "true"},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        ) as proc:
            assert proc.stdout is not None
            for line in proc.stdout:
                out.append(line.rstrip("\n"))
                on_line(line)
                if time.monotonic() - t0 > timeout:
                    proc.kill()
            rc = proc.wait()
        changes, steps = summary_changes(events), event_steps(events)
        events.unlink(missing_ok=True)
        return Outcome(rc, changes, out, time.monotonic() - t0, steps)

    def outputs(self) -> dict[str, Any]:
        """The stack's outputs (`pulumi stack output --json`; secrets stay masked)."""
        result = subprocess.run(
            self.argv("stack", "output", "--json", config=False),
            cwd=self.project_dir,
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=120,
        )
        return dict(json.loads(result.stdout)) if result.returncode == 0 and result.stdout.strip() else {}


def _events(event_log: Path, kind: str) -> list[dict[str, Any]]:
    """The events of one kind (``resourcePreEvent``, ``summaryEvent``...). The full platform's log is ~35 MB,
    most of it the outputs events' object states: only the lines naming ``kind`` are decoded."""
    if not event_log.exists():
        return []
    found = []
    needle = f'"{kind}"'
    with event_log.open(encoding="utf-8") as lines:
        for line in lines:
            if needle not in line:
                continue
            try:
                event = json.loads(line)
            except json.JSONDecodeError:
                continue  # a line cut short by a killed engine
            if kind in event:
                found.append(event)
    return found


def event_steps(event_log: Path) -> list[tuple[str, str, str]]:
    """(op, type, urn) of every step that changes something, from the engine's event log."""
    steps = []
    for event in _events(event_log, "resourcePreEvent"):
        meta = event["resourcePreEvent"].get("metadata") or {}
        if meta and meta.get("op") not in ("same", "read", None):
            steps.append((str(meta["op"]), str(meta.get("type", "")), str(meta.get("urn", ""))))
    return steps


def summary_changes(event_log: Path) -> dict[str, int]:
    """The `summaryEvent.resourceChanges` of an engine event log ({} when the run ended before it)."""
    for event in reversed(_events(event_log, "summaryEvent")):
        return {k: int(v) for k, v in (event["summaryEvent"].get("resourceChanges") or {}).items()}
    return {}


# ------------------------------------------------------------------ route 2: the Automation API


def select(
    stack: str,
    bin_dir: Path,
    program: Callable[[], Any],
    *,
    state: Path = STATE_DIR,
    kubeconfig: Path | None = None,
    stacks_dir: Path = REPO / "stacks",
    upstream: dict[str, Any] | None = None,
) -> auto.Stack:
    """The stack in the local file backend under ``state`` (inline program);
    ``kubeconfig`` re-points its cluster, ``upstream`` replaces its upstream section."""
    from pulumi import automation as auto  # the engine's client: only the commands that run it load it

    prepare(stack, state=state, kubeconfig=kubeconfig, stacks_dir=stacks_dir, upstream=upstream)
    settings = auto.ProjectSettings(name=PROJECT, runtime="python", backend=auto.ProjectBackend(url=backend_url(state)))
    opts = auto.LocalWorkspaceOptions(
        work_dir=str(work_dir(state)),
        pulumi_command=auto.PulumiCommand(root=str(bin_dir.parent)),
        project_settings=settings,
        env_vars=engine_env(bin_dir, state),
        secrets_provider="passphrase",
    )
    return auto.create_or_select_stack(stack_name=stack, project_name=PROJECT, program=program, opts=opts)
