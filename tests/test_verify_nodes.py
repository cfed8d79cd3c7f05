"""`aistack verify-nodes` for real: against this machine (local backend) and against a real OpenSSH
server on 127.0.0.1 that the fixture starts with generated keys (ssh and paramiko backends).

There is no GPU here, so GPU checks must fail and say why; generic checks must agree with what
the test reads from the kernel itself; an unreachable host is a clear error, not a traceback.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import pytest

from aistack.verify.checks import Context
from aistack.verify.runner import Connection, Result, Target, verify
from tests.conftest import ROOT

SSHD = shutil.which("sshd") or "/usr/sbin/sshd"
GENERIC = {
    "container-runtime",
    "swap-off",
    "br-netfilter",
    "overlay",
    "bridge-nf-call-iptables",
    "ip-forward",
    "time-sync",
    "disk-free",
    "api-server",
}
GPU = {"nvidia-driver", "gpu-inventory", "nouveau-blacklisted", "nvidia-runtime"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def truth() -> dict[str, bool]:
    """What the kernel says, read directly (not through testinfra)."""

    def read(path: str) -> str | None:
        p = Path(path)
        return p.read_text().strip() if p.exists() else None

    swaps = (read("/proc/swaps") or "").splitlines()[1:]
    modules = read("/proc/modules") or ""
    filesystems = read("/proc/filesystems") or ""
    sock = any(Path(s).is_socket() for s in ("/run/containerd/containerd.sock", "/var/run/crio/crio.sock"))
    return {
        "swap-off": not swaps,
        "ip-forward": read("/proc/sys/net/ipv4/ip_forward") == "1",
        "bridge-nf-call-iptables": read("/proc/sys/net/bridge/bridge-nf-call-iptables") == "1",
        "br-netfilter": "br_netfilter " in modules
        or Path("/sys/module/br_netfilter").exists()
        or Path("/proc/sys/net/bridge/bridge-nf-call-iptables").exists(),
        "overlay": "overlay " in modules or Path("/sys/module/overlay").exists() or "\toverlay" in filesystems,
        "container-runtime": sock,
        "disk-free": shutil.disk_usage("/var/lib").free / 1024**3 >= 50,
    }


def by_check(results: list[Result]) -> dict[str, Result]:
    return {r.check: r for r in results}


@pytest.fixture(scope="module")
def sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """A real OpenSSH server on 127.0.0.1 with a generated host key, authorising a generated client key."""
    if not os.path.exists(SSHD):
        if os.environ.get("CI"):
            pytest.fail("openssh-server is missing: .ci/run installs it (apt-get install openssh-server)")
        pytest.skip("openssh-server not installed here (CI installs it)")
    d = tmp_path_factory.mktemp("sshd")
    for name in ("host_key", "client_key"):
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(d / name)], check=True)
    (d / "authorized_keys").write_text((d / "client_key.pub").read_text())
    port = free_port()
    config = d / "sshd_config"
    config.write_text(
        f"Port {port}\nListenAddress 127.0.0.1\nHostKey {d / 'host_key'}\nPidFile {d / 'sshd.pid'}\n"
        f"AuthorizedKeysFile {d / 'authorized_keys'}\nPermitRootLogin prohibit-password\n"
        "PasswordAuthentication no\nKbdInteractiveAuthentication no\nUsePAM no\nStrictModes no\n"
    )
    Path("/run/sshd").mkdir(exist_ok=True)  # privilege separation directory sshd insists on
    proc = subprocess.Popen([SSHD, "-D", "-e", "-f", str(config)], stderr=subprocess.PIPE)
    for _ in range(100):
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                break
        if proc.poll() is not None:
            pytest.fail(f"sshd exited: {proc.stderr.read().decode() if proc.stderr else ''}")
        time.sleep(0.05)
    client = d / "ssh_config"
    user = os.environ.get("USER", "root")
    client.write_text(
        f"Host 127.0.0.1\n  Port {port}\n  User {user}\n  IdentityFile {d / 'client_key'}\n"
        "  StrictHostKeyChecking no\n  UserKnownHostsFile /dev/null\n  LogLevel ERROR\n"
    )
    yield {"port": str(port), "ssh_config": str(client), "key": str(d / "client_key"), "user": user}
    proc.terminate()
    proc.wait(timeout=10)


GPU_CTX = Context(gpu=True, expected_gpus=8, model="h100")


def test_local_generic_checks_tell_the_truth() -> None:
    results = by_check(verify([Target("localhost", "local", GPU_CTX)], Connection()))
    assert set(results) == GENERIC | GPU
    for check, expected in truth().items():
        assert (results[check].status == "pass") == expected, (check, results[check])
    assert results["api-server"].status == "skip"


def test_gpu_checks_fail_with_the_reason_when_there_is_no_gpu() -> None:
    results = by_check(verify([Target("localhost", "local", GPU_CTX)], Connection()))
    driver, smi = results["nvidia-driver"], results["gpu-inventory"]
    assert driver.status == "fail" and "/proc/driver/nvidia/version" in driver.detail
    assert smi.status == "fail" and "nvidia-smi" in smi.detail
    for r in (driver, smi):
        assert r.fix and r.required


def test_before_install_the_operators_parts_are_advisory() -> None:
    before = Context(gpu=True, phase="before")
    results = by_check(verify([Target("localhost", "local", before)], Connection()))
    assert not results["nvidia-driver"].required and not results["nvidia-runtime"].required
    assert results["nouveau-blacklisted"].required, "nouveau must be dealt with before the operator runs"


def test_non_gpu_hosts_run_the_generic_subset() -> None:
    results = by_check(verify([Target("localhost", "local", Context())], Connection()))
    assert set(results) == GENERIC


def test_api_server_reachability_is_probed_from_the_host() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        open_port = listener.getsockname()[1]
        up = by_check(
            verify([Target("localhost", "local", Context(api_server=("127.0.0.1", open_port)))], Connection())
        )
    assert up["api-server"].status == "pass"
    down = by_check(
        verify([Target("localhost", "local", Context(api_server=("127.0.0.1", free_port())))], Connection())
    )
    assert down["api-server"].status == "fail" and "6443" in down["api-server"].fix


@pytest.mark.parametrize("backend", ["ssh", "paramiko"])
def test_over_ssh_the_results_match_the_local_ones(sshd: dict[str, str], backend: str) -> None:
    conn = Connection(ssh_config=sshd["ssh_config"], identity_file=sshd["key"])
    name = f"{sshd['user']}@127.0.0.1:{sshd['port']}"
    remote = verify([Target(name, backend, GPU_CTX)], conn)  # type: ignore[arg-type]
    local = verify([Target("localhost", "local", GPU_CTX)], Connection())
    assert [(r.check, r.status) for r in remote] == [(r.check, r.status) for r in local], "same machine, same truth"
    assert {r.host for r in remote} == {name}


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "200"}
    return subprocess.run([sys.executable, "-m", "aistack", *args], capture_output=True, text=True, cwd=ROOT, env=env)


def test_cli_over_ssh_writes_json_and_junit_and_exits_1(sshd: dict[str, str], tmp_path: Path) -> None:
    junit = tmp_path / "verify.xml"
    host = f"127.0.0.1:{sshd['port']}"
    result = run_cli(
        "verify-nodes", "--hosts", host, "--gpu", "--ssh-config", sshd["ssh_config"], "--json", "--junit", str(junit)
    )
    assert result.returncode == 1, result.stderr
    doc = json.loads(result.stdout)
    assert doc["summary"]["hosts"] == 1 and doc["summary"]["failed_required"] >= 2
    failing = {r["check"]: r for r in doc["results"] if r["status"] == "fail"}
    assert "nvidia-driver" in failing and all(r["fix"] for r in failing.values())
    suite = ET.parse(junit).getroot().find("testsuite")
    assert suite is not None and suite.get("name") == host
    failures = {c.get("name") for c in suite.iter("testcase") if c.find("failure") is not None}
    assert failures == {r["check"] for r in doc["results"] if r["status"] == "fail" and r["required"]}


def test_unreachable_host_is_a_clear_error_not_a_traceback(tmp_path: Path) -> None:
    junit = tmp_path / "verify.xml"
    result = run_cli("verify-nodes", "--hosts", f"127.0.0.1:{free_port()}", "--junit", str(junit))
    assert result.returncode == 1
    out = " ".join((result.stdout + result.stderr).split())
    assert "Traceback" not in out
    assert "cannot reach ssh://127.0.0.1" in out and "sshd" in out
    assert ET.parse(junit).getroot().find("testsuite/testcase/error") is not None


def test_paramiko_unreachable_is_also_clear() -> None:
    (r,) = verify([Target(f"127.0.0.1:{free_port()}", "paramiko", Context())], Connection(timeout=3))
    assert r.status == "error" and r.check == "reachable" and "cannot reach paramiko://" in r.detail


def test_stack_hosts_come_from_onprem_pools() -> None:
    from aistack.cli.verify_nodes import targets_from_stack
    from components.spec import load_stack

    targets = targets_from_stack(load_stack("onprem-gpu").spec, "ssh", Context())
    assert [t.name for t in targets] == ["dgx-h100-01", "dgx-h100-02"]
    assert all(t.ctx.gpu and t.ctx.expected_gpus == 8 and t.ctx.model == "h100" for t in targets)


def test_bad_usage_exits_2() -> None:
    assert run_cli("verify-nodes").returncode == 2
    assert run_cli("verify-nodes", "--local", "--cuda", "9.9").returncode == 2
    assert run_cli("verify-nodes", "aws-gpu").returncode == 2


# --- hostile hosts (issue 18): nothing a host string says may run a command -------------------------

INJECTIONS = [
    "-oProxyCommand=sh -c 'touch {marker}'",
    "-oProxyCommand=touch {marker}",
    "%2DoProxyCommand=touch%20{marker}",  # testinfra URL-unquotes host specs
    "x/../../y",
    "host?ssh_extra_args=-oProxyCommand=touch%20{marker}",
    "user:pw@host",
    "a b",
    "",
    "-",
    "[::1",
    "host:0",
    "host:65536",
]


@pytest.mark.parametrize("raw", INJECTIONS)
def test_hosts_outside_the_grammar_are_refused_before_ssh(raw: str, tmp_path: Path) -> None:
    from aistack.verify.hosts import HostError, parse_host

    marker = tmp_path / "pwned"
    value = raw.format(marker=marker)
    with pytest.raises(HostError):
        parse_host(value)
    if value.strip():
        result = run_cli("verify-nodes", "--hosts", value)
        assert result.returncode == 2, result.stdout + result.stderr
        assert "To fix:" in result.stderr and "Traceback" not in result.stderr
    # Even past the CLI (a caller building Target itself), the runner refuses to build a host spec.
    (r,) = verify([Target(value, "ssh", Context())], Connection(timeout=2))
    assert r.status == "error" and r.check == "reachable"
    assert not marker.exists()


@pytest.mark.parametrize(
    ("raw", "host", "user", "port"),
    [
        ("gpu-07", "gpu-07", None, None),
        ("admin@gpu-07.dc1.internal:2222", "gpu-07.dc1.internal", "admin", 2222),
        ("10.0.0.7:22", "10.0.0.7", None, 22),
        ("[fd00::7]:22", "fd00::7", None, 22),
        ("fd00::7", "fd00::7", None, None),
        ("root@[::1]", "::1", "root", None),
    ],
)
def test_valid_hosts_parse(raw: str, host: str, user: str | None, port: int | None) -> None:
    from aistack.verify.hosts import parse_host

    parsed = parse_host(raw)
    assert (parsed.host, parsed.user, parsed.port) == (host, user, port)
    assert parse_host(str(parsed)) == parsed  # round trip through the spec testinfra gets


def test_ssh_command_line_ends_option_parsing_before_the_host() -> None:
    from aistack.verify.runner import connect

    host = connect(Target("gpu-07", "ssh", Context()), Connection(timeout=2))
    cmd, args = host.backend._build_ssh_command("true")
    assert cmd[-2:] == ["--", "%s %s"] and args[-2] == "gpu-07"


def test_stack_node_names_meet_the_host_grammar(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    stack = tmp_path / "Pulumi.evil.yaml"
    stack.write_text(
        "config:\n  aistack:target: onprem\n  aistack:region: dc1\n  aistack:accelerator_pools:\n"
        f"    - {{name: h100, accelerator: nvidia-h100-80gb, count: 8, nodes: ['-oProxyCommand=touch {marker}']}}\n"
    )
    result = run_cli("verify-nodes", str(stack))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert not marker.exists()


def test_missing_identity_file_and_unwritable_junit_are_bad_input(tmp_path: Path) -> None:
    result = run_cli("verify-nodes", "--hosts", "gpu-07", "--identity-file", str(tmp_path / "nope"))
    assert result.returncode == 2 and "--identity-file" in result.stderr
    result = run_cli("verify-nodes", "--local", "--junit", str(tmp_path / "no-such-dir" / "x.xml"))
    assert result.returncode == 2 and "--junit" in result.stderr and "bug" not in result.stderr


def test_ssh_reason_keeps_every_line() -> None:
    from aistack.verify.runner import _why

    text = (
        "Warning: Identity file /k not accessible: No such file or directory.\nuser@h: Permission denied (publickey).\n"
    )
    assert "Identity file /k not accessible" in _why(text) and "Permission denied" in _why(text)
