"""`aistack verify-nodes`: every check against hand-written hosts, then for real against this machine
(local backend) and a real OpenSSH server on 127.0.0.1 that the fixture starts with generated keys
(ssh and paramiko backends).

The hand-written hosts (FakeHost: files and command outputs as a DGX H100 node and its broken
variants give them) carry the oracle: each expected status and detail is worked out by hand from the
fixture, whatever this machine has. Against the real machine the test asks only what does not depend
on it: the same checks run, and ssh and paramiko see what the local backend sees. An unreachable host
is a clear error, not a traceback.
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
from typing import Any

import pytest

from aistack.verify.checks import Context
from aistack.verify.runner import Connection, Result, Target, verify
from tests.conftest import ROOT, need

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


def by_check(results: list[Result]) -> dict[str, Result]:
    return {r.check: r for r in results}


@pytest.fixture(scope="module")
def sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """A real OpenSSH server on 127.0.0.1 with a generated host key, authorising a generated client key."""
    if not os.path.exists(SSHD):
        need("sshd", "openssh-server not installed here (make sshd installs it)")
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

# ------------------------------------------------------------------ hand-written hosts

SOCKET = object()  # a file that is a Unix socket
DIRECTORY = object()  # a directory (exists, no content)


class _File:
    def __init__(self, entry: Any) -> None:
        self.exists = entry is not None
        self.is_socket = entry is SOCKET
        self.content_string = entry if isinstance(entry, str) else ""


class _Run:
    def __init__(self, rc: int, stdout: str) -> None:
        self.rc, self.stdout = rc, stdout


class FakeHost:
    """testinfra's Host as the checks use it: file(path) and run(command), from two dicts.

    A command the host does not know exits 127 with no output, as a shell does for a missing program.
    """

    def __init__(self, files: dict[str, Any], commands: dict[str, tuple[int, str]]) -> None:
        self.files, self.commands = files, commands

    def file(self, path: str) -> _File:
        return _File(self.files.get(path))

    def run(self, command: str) -> _Run:
        if command == "true":
            return _Run(0, "")
        return _Run(*self.commands.get(command, (127, "")))


NVIDIA_SMI = "nvidia-smi --query-gpu=name --format=csv,noheader"
BLACKLIST = "grep -ls '^[[:space:]]*blacklist[[:space:]]\\+nouveau' /etc/modprobe.d/*.conf /lib/modprobe.d/*.conf"
TIMEDATECTL = "timedatectl show -p NTPSynchronized --value"
DF_HEADER = "Filesystem     1024-blocks      Used  Available Capacity Mounted on\n"


def dgx_h100() -> tuple[dict[str, Any], dict[str, tuple[int, str]]]:
    """A healthy DGX H100 node: driver 570.124.06, 8 GPUs, containerd with the NVIDIA runtime."""
    files: dict[str, Any] = {
        "/proc/driver/nvidia/version": "NVRM version: NVIDIA UNIX x86_64 Kernel Module  570.124.06  "
        "Wed Feb 26 01:04:41 UTC 2025\nGCC version:  gcc version 12.3.0 (Ubuntu 12.3.0-1ubuntu1~22.04)\n",
        "/proc/modules": "br_netfilter 32768 0 - Live 0x0000000000000000\n"
        "bridge 311296 1 br_netfilter, Live 0x0000000000000000\n"
        "overlay 151552 12 - Live 0x0000000000000000\n"
        "nvidia 54886400 400 nvidia_uvm, Live 0x0000000000000000 (POE)\n",
        "/proc/swaps": "Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n",
        "/proc/sys/net/bridge/bridge-nf-call-iptables": "1\n",
        "/proc/sys/net/ipv4/ip_forward": "1\n",
        "/run/containerd/containerd.sock": SOCKET,
        "/etc/containerd/config.toml": "version = 2\n",
        "/var/lib/containerd": DIRECTORY,
    }
    commands = {
        NVIDIA_SMI: (0, "NVIDIA H100 80GB HBM3\n" * 8),
        BLACKLIST: (0, "/etc/modprobe.d/blacklist-nouveau.conf\n"),
        "grep -rls nvidia-container-runtime /etc/containerd/config.toml": (0, "/etc/containerd/config.toml\n"),
        TIMEDATECTL: (0, "yes\n"),
        # 1,089,978,464 KiB available = 1039.5 GiB
        "df -Pk /var/lib/containerd": (0, DF_HEADER + "/dev/nvme0n1p2 1921724696 734003200 1089978464 41% /\n"),
    }
    return files, commands


def run_on(files: dict[str, Any], commands: dict[str, tuple[int, str]], ctx: Context = GPU_CTX) -> dict[str, Result]:
    """verify() on the hand-written host (the runner's connect() returns it)."""
    import aistack.verify.runner as runner

    mp = pytest.MonkeyPatch()
    mp.setattr(runner, "connect", lambda target, conn: FakeHost(files, commands))
    try:
        return by_check(verify([Target("node-1", "ssh", ctx)], Connection()))
    finally:
        mp.undo()


def test_a_healthy_gpu_node_passes_every_check_saying_what_it_saw() -> None:
    results = run_on(*dgx_h100())
    assert {c: (r.status, r.detail) for c, r in results.items()} == {
        "nvidia-driver": ("pass", "driver 570.124.06 ≥ 570.26 (CUDA 12.8)"),
        "gpu-inventory": ("pass", "8 × NVIDIA H100 80GB HBM3"),
        "nouveau-blacklisted": ("pass", "blacklisted in /etc/modprobe.d/blacklist-nouveau.conf"),
        "nvidia-runtime": ("pass", "nvidia runtime configured in /etc/containerd/config.toml"),
        "container-runtime": ("pass", "runtime socket /run/containerd/containerd.sock"),
        "swap-off": ("pass", "no active swap"),
        "br-netfilter": ("pass", "loaded (/proc/modules)"),
        "overlay": ("pass", "loaded (/proc/modules)"),
        "bridge-nf-call-iptables": ("pass", "net.bridge.bridge-nf-call-iptables = 1"),
        "ip-forward": ("pass", "net.ipv4.ip_forward = 1"),
        "time-sync": ("pass", "systemd reports the clock NTP-synchronized"),
        "disk-free": ("pass", "1039 GiB free on /var/lib/containerd (need 50)"),
        "api-server": ("skip", "no API server known (give --api-server HOST:PORT or a stack with a kubeconfig)"),
    }
    assert all(r.required and not r.fix for r in results.values())


def test_gpu_checks_fail_with_the_reason_when_there_is_no_gpu() -> None:
    files, commands = dgx_h100()
    del files["/proc/driver/nvidia/version"], commands[NVIDIA_SMI]  # no driver, no nvidia-smi (exit 127)
    results = run_on(files, commands)
    driver, smi = results["nvidia-driver"], results["gpu-inventory"]
    assert (driver.status, driver.detail) == (
        "fail",
        "no NVIDIA kernel driver loaded (/proc/driver/nvidia/version is missing)",
    )
    assert (smi.status, smi.detail) == ("fail", "nvidia-smi is not installed (no NVIDIA driver utilities on the host)")
    for r in (driver, smi):
        assert r.fix and r.required
    assert {c for c, r in results.items() if r.status == "fail"} == {"nvidia-driver", "gpu-inventory"}


def test_the_driver_must_be_new_enough_for_the_cuda_version() -> None:
    files, commands = dgx_h100()
    files["/proc/driver/nvidia/version"] = (
        "NVRM version: NVIDIA UNIX Open Kernel Module for x86_64  535.183.01  Release Build  (dvs-builder@U16)\n"
    )
    old = run_on(files, commands)["nvidia-driver"]  # CUDA 12.8 needs 570.26 (the release notes' table)
    assert (old.status, old.detail) == ("fail", "driver 535.183.01 is older than 570.26, the minimum for CUDA 12.8")
    cuda12 = run_on(files, commands, Context(gpu=True, cuda="12.0"))["nvidia-driver"]  # 12.0 needs 525.60.13
    assert (cuda12.status, cuda12.detail) == ("pass", "driver 535.183.01 ≥ 525.60.13 (CUDA 12.0)")


def test_gpu_inventory_counts_and_names_the_gpus() -> None:
    files, commands = dgx_h100()
    commands[NVIDIA_SMI] = (0, "NVIDIA H100 80GB HBM3\n" * 7)
    assert run_on(files, commands)["gpu-inventory"].detail == "sees 7 GPU(s), expected 8"
    commands[NVIDIA_SMI] = (0, "NVIDIA A100-SXM4-80GB\n" * 8)
    assert run_on(files, commands)["gpu-inventory"].detail == "models ['NVIDIA A100-SXM4-80GB'] are not h100"
    commands[NVIDIA_SMI] = (9, "NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver.")
    failed = run_on(files, commands)["gpu-inventory"]
    assert failed.status == "fail" and failed.detail.startswith("nvidia-smi failed (exit 9): NVIDIA-SMI has failed")


def test_modules_are_found_on_kernels_without_proc_modules() -> None:
    """A kernel without loadable modules has no /proc/modules: /sys/module, modules.builtin, then the
    sysctl or /proc/filesystems each count as evidence, and the detail names the one used."""
    files, commands = dgx_h100()
    del files["/proc/modules"]
    files["/sys/module/br_netfilter"] = DIRECTORY
    files["/proc/filesystems"] = "nodev\tsysfs\nnodev\tproc\nnodev\toverlay\n\text4\n"
    results = run_on(files, commands)
    assert results["br-netfilter"].detail == "loaded (/sys/module/br_netfilter)"
    assert (results["overlay"].status, results["overlay"].detail) == (
        "pass",
        "overlay filesystem registered (/proc/filesystems)",
    )

    del files["/sys/module/br_netfilter"]
    commands["uname -r"] = (0, "6.8.0-45-generic\n")
    files["/lib/modules/6.8.0-45-generic/modules.builtin"] = "kernel/net/bridge/br_netfilter.ko\n"
    assert run_on(files, commands)["br-netfilter"].detail == "loaded (modules.builtin)"

    del files["/lib/modules/6.8.0-45-generic/modules.builtin"]  # only the sysctl says the bridge is there
    assert run_on(files, commands)["br-netfilter"].detail == "bridge netfilter sysctls present (built into the kernel)"

    del files["/proc/sys/net/bridge/bridge-nf-call-iptables"], files["/proc/filesystems"]
    results = run_on(files, commands)
    assert (results["br-netfilter"].status, results["br-netfilter"].detail) == ("fail", "br_netfilter is not loaded")
    assert (results["overlay"].status, results["overlay"].detail) == ("fail", "the overlay module is not loaded")
    missing = "net.bridge.bridge-nf-call-iptables does not exist on this kernel"
    assert results["bridge-nf-call-iptables"].detail == missing


def test_node_settings_that_break_kubernetes_fail() -> None:
    files, commands = dgx_h100()
    files["/proc/swaps"] += "/swap.img                               file\t\t8388604\t\t0\t\t-2\n"
    files["/proc/sys/net/ipv4/ip_forward"] = "0\n"
    files["/proc/modules"] += "nouveau 2859008 0 - Live 0x0000000000000000\n"
    del files["/run/containerd/containerd.sock"]
    commands[TIMEDATECTL] = (0, "no\n")
    commands["ps -eo comm="] = (0, "systemd\nsshd\ncontainerd\n")
    # 20,971,520 KiB available = 20 GiB
    commands["df -Pk /var/lib/containerd"] = (0, DF_HEADER + "/dev/sda1 41943040 20971520 20971520 50% /\n")
    results = run_on(files, commands)
    assert {c: r.detail for c, r in results.items() if r.status == "fail"} == {
        "swap-off": "1 swap device(s) active: /swap.img",
        "ip-forward": "net.ipv4.ip_forward = 0",
        "nouveau-blacklisted": "the nouveau driver is loaded",
        "container-runtime": "no container runtime socket (/run/containerd/containerd.sock, /var/run/crio/crio.sock)",
        "time-sync": "no time synchronisation (timedatectl: not synchronized or unavailable; "
        "no chronyd/ntpd/timesyncd)",
        "disk-free": "20 GiB free on /var/lib/containerd (need 50)",
    }
    assert all(results[c].fix for c in ("swap-off", "ip-forward", "time-sync", "disk-free"))

    commands["ps -eo comm="] = (0, "systemd\nchronyd\nsshd\n")
    assert run_on(files, commands)["time-sync"].detail == "chronyd running"
    del files["/var/lib/containerd"]  # no image path yet: the free space of /var/lib counts
    commands["df -Pk /var/lib"] = (0, DF_HEADER + "/dev/sda1 209715200 0 104857600 0% /\n")  # 100 GiB
    assert run_on(files, commands)["disk-free"].detail == "100 GiB free on /var/lib (need 50)"


def test_before_install_the_operators_parts_are_advisory() -> None:
    files, commands = dgx_h100()
    del files["/proc/driver/nvidia/version"], commands[NVIDIA_SMI]
    results = run_on(files, commands, Context(gpu=True, phase="before"))
    assert results["nvidia-driver"].status == "fail"
    assert not results["nvidia-driver"].required and not results["nvidia-runtime"].required
    assert not results["gpu-inventory"].required
    assert results["nouveau-blacklisted"].required, "nouveau must be dealt with before the operator runs"


def test_non_gpu_hosts_run_the_generic_subset() -> None:
    assert set(run_on(*dgx_h100(), Context())) == GENERIC


# ------------------------------------------------------------------ this machine


def test_the_local_backend_runs_every_check_on_this_machine() -> None:
    """Whatever this machine is, every check runs (none crashes) and every failure says why and what to do."""
    results = by_check(verify([Target("localhost", "local", GPU_CTX)], Connection()))
    assert set(results) == GENERIC | GPU
    assert results["api-server"].status == "skip"
    for r in results.values():
        assert r.status in ("pass", "fail", "skip") and r.detail, r
        assert not r.detail.startswith("check could not run"), r
        assert (r.status == "fail") == bool(r.fix), r


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
