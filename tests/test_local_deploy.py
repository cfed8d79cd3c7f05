"""Which route `aistack local deploy` takes (the `pulumi` CLI or the Automation API), what it says, and
the config it hands the engine. No engine runs here: the end-to-end test deploys for real."""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path
from typing import Any, ClassVar

import pytest
import yaml
from typer.testing import CliRunner

from aistack.local import deploy

ROOT = Path(__file__).resolve().parent.parent


def _exe(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("#!/bin/sh\n")
    path.chmod(0o755)
    return path


def test_no_language_host_anywhere_means_the_automation_api(tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    _exe(bin_dir / "pulumi")
    assert deploy.language_host(bin_dir, path=str(tmp_path / "empty")) is None
    line = deploy.route_line("up", None)
    assert "\n" not in line
    assert line.startswith("no Pulumi language host found (pulumi-language-python next to pulumi or on PATH): ")
    assert line.endswith("deploying through the Automation API (inline program)")


def test_a_language_host_without_its_exec_shim_does_not_count(tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    _exe(bin_dir / deploy.LANGUAGE_HOST)
    assert deploy.language_host(bin_dir, path="") is None
    _exe(bin_dir / deploy.EXEC_SHIM)
    assert deploy.language_host(bin_dir, path="") == bin_dir / deploy.LANGUAGE_HOST


def test_a_language_host_on_path_is_found_through_its_symlink(tmp_path: Path) -> None:
    install = tmp_path / "pulumi-install"
    _exe(install / deploy.LANGUAGE_HOST)
    _exe(install / deploy.EXEC_SHIM)
    on_path = tmp_path / "path"
    on_path.mkdir()
    (on_path / deploy.LANGUAGE_HOST).symlink_to(install / deploy.LANGUAGE_HOST)  # the shim sits by the target
    found = deploy.language_host(tmp_path / "bin", path=str(on_path))
    assert found == on_path / deploy.LANGUAGE_HOST
    line = deploy.route_line("up", found, ROOT, tmp_path / "state")
    assert "\n" not in line
    backend = f"file://{tmp_path / 'state' / 'backend'}"
    assert line.startswith(f"deploying with `pulumi up` in {ROOT} (file backend {backend}, language host ")


def test_the_committed_salt_opens_with_the_demo_passphrase() -> None:
    """Pulumi's passphrase check (sdk/go/common/resource/config/crypt.go, v3.259.0): PBKDF2-SHA256,
    1,000,000 rounds, 32-byte key; the salt line is v1:<salt>:v1:<nonce>:<AES-256-GCM of "pulumi">.
    A salt made with another passphrase would make `pulumi up -s local` fail or rewrite the file."""
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    doc = yaml.safe_load((ROOT / "stacks" / "Pulumi.local.yaml").read_text())
    version, salt, cversion, nonce, sealed = doc["encryptionsalt"].split(":")
    assert (version, cversion) == ("v1", "v1")
    key = hashlib.pbkdf2_hmac("sha256", deploy.LOCAL_PASSPHRASE.encode(), base64.b64decode(salt), 1_000_000, 32)
    assert AESGCM(key).decrypt(base64.b64decode(nonce), base64.b64decode(sealed), None) == b"pulumi"


def test_the_local_stack_names_the_kubeconfig_local_up_writes() -> None:
    from aistack.local import cluster

    doc = yaml.safe_load((ROOT / "stacks" / "Pulumi.local.yaml").read_text())
    named = Path(doc["config"]["aistack:cluster"]["kubeconfig"]).expanduser()
    assert named == (Path("~/.cache/aistack/local").expanduser() / "kubeconfig")
    assert cluster.Layout(Path("~/.cache/aistack/local").expanduser()).kubeconfig == named


def test_the_cli_reads_the_committed_file_unless_it_must_not(tmp_path: Path) -> None:
    stacks = ROOT / "stacks"
    before = (stacks / "Pulumi.local.yaml").read_bytes()
    default = Path("~/.cache/aistack/local/kubeconfig").expanduser()
    assert deploy.cli_config_problem("local", stacks_dir=stacks) is None
    assert deploy.cli_config_problem("local", kubeconfig=default, stacks_dir=stacks) is None
    assert "kubeconfig" in (deploy.cli_config_problem("local", kubeconfig=tmp_path / "kc", stacks_dir=stacks) or "")
    assert "encryptionsalt" in (deploy.cli_config_problem("onprem-gpu", stacks_dir=stacks) or "")

    state = tmp_path / "state"
    cli = deploy.Cli.for_stack("local", tmp_path / "bin", state=state, kubeconfig=tmp_path / "kc")
    assert cli.config_file == state / "project" / "Pulumi.local.yaml"
    copy = yaml.safe_load(cli.config_file.read_text())
    assert copy["config"]["aistack:cluster"]["kubeconfig"] == str(tmp_path / "kc")
    assert copy["encryptionsalt"] == yaml.safe_load(before)["encryptionsalt"]
    assert cli.argv("up", "--yes")[1:] == ["up", "--yes", "-s", "local", "--config-file", str(cli.config_file)]
    assert cli.argv("stack", "output", config=False)[-2:] == ["-s", "local"]
    env = cli.env()
    assert env["PULUMI_BACKEND_URL"] == f"file://{state / 'backend'}"
    assert env["PULUMI_CONFIG_PASSPHRASE"] == deploy.LOCAL_PASSPHRASE
    assert env["PATH"].startswith(f"{tmp_path / 'bin'}:")

    plain = deploy.Cli.for_stack("local", tmp_path / "bin", state=state)
    assert plain.config_file is None and plain.project_dir == ROOT
    assert plain.argv("up")[1:] == ["up", "-s", "local"]
    assert (stacks / "Pulumi.local.yaml").read_bytes() == before


def test_a_salt_the_engine_wrote_into_the_private_copy_survives_a_rewrite(tmp_path: Path) -> None:
    stacks = tmp_path / "stacks"
    stacks.mkdir()
    (stacks / "Pulumi.s.yaml").write_text(yaml.safe_dump({"config": {"aistack:target": "onprem"}}))
    copy = deploy.prepare("s", state=tmp_path / "state", stacks_dir=stacks)
    copy.write_text(copy.read_text() + "encryptionsalt: v1:abc\n")  # what `pulumi stack init` adds
    (stacks / "Pulumi.s.yaml").write_text(yaml.safe_dump({"config": {"aistack:target": "gke"}}))
    doc = yaml.safe_load(deploy.prepare("s", state=tmp_path / "state", stacks_dir=stacks).read_text())
    assert doc == {"config": {"aistack:target": "gke"}, "encryptionsalt": "v1:abc"}


def test_pulumi_automatic_debug_log_is_off_unless_asked_for(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """A file where Pulumi's CLI would create $PULUMI_HOME/logs (it then skips its debug log); an earlier
    run's logs directory gives way to it; AISTACK_PULUMI_LOGS=1 takes the stand-in away again."""
    monkeypatch.delenv(deploy.KEEP_LOGS_ENV, raising=False)
    old = tmp_path / "pulumi-home" / "logs"
    old.mkdir(parents=True)
    (old / "pulumi-1.log").write_text("x" * 100)
    home = Path(deploy.engine_env(tmp_path / "bin", tmp_path)["PULUMI_HOME"])
    assert home == tmp_path / "pulumi-home" and (home / "logs").is_file()
    assert deploy.pulumi_home(tmp_path) == home and (home / "logs").read_text() == deploy.LOGS_STANDIN
    monkeypatch.setenv(deploy.KEEP_LOGS_ENV, "1")
    deploy.pulumi_home(tmp_path)
    assert not (home / "logs").exists()


def test_summary_changes_reads_the_engine_event_log(tmp_path: Path) -> None:
    log = tmp_path / "events.jsonl"
    assert deploy.summary_changes(log) == {}
    events = [{"sequence": 0, "cancelEvent": {}}, {"summaryEvent": {"resourceChanges": {"create": 56, "same": 1}}}]
    log.write_text("\n".join(json.dumps(e) for e in events) + '\n{"truncat')
    assert deploy.summary_changes(log) == {"create": 56, "same": 1}


def test_deploy_says_in_one_line_it_used_the_automation_api(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """A fresh machine: the tools built, no language host. `aistack local deploy` still deploys (here a
    stand-in for the Automation API's stack) and says which route it took."""
    from aistack.cli import app
    from aistack.cli import local as local_cli
    from aistack.local import cluster

    class Summary:
        resource_changes: ClassVar[dict[str, int]] = {"create": 56}

    class Result:
        summary = Summary()
        outputs: ClassVar[dict[str, Any]] = {}

    class FakeStack:
        def up(self, on_output: Any) -> Result:
            on_output("Updating (local)")
            return Result()

    monkeypatch.setattr(local_cli, "tools_bin", lambda: tmp_path / "bin")
    monkeypatch.setattr(local_cli, "_engine", lambda stack: FakeStack())
    monkeypatch.setattr(cluster, "start_kueue", lambda *a: False)
    monkeypatch.setenv("PATH", str(tmp_path / "nothing"))
    result = CliRunner().invoke(app, ["local", "deploy"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert [line for line in lines if "language host" in line] == [deploy.route_line("up", None)]
    assert any(line.startswith("pulumi up: 56 created in ") for line in lines), lines
