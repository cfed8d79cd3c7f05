"""Host checks for machines that join the AI stack, over testinfra's Host API.

Each check is a pure-ish function ``(host, ctx) -> Outcome`` that only reads the host (files,
commands, sysctls), so the same check runs locally, over OpenSSH or over paramiko. A failing
check always says what it saw and what to do about it.

Where the obvious probe does not exist on every kernel (``/proc/modules`` is absent on kernels
without loadable modules; built-in modules never appear there), checks accept the other evidence
the kernel gives and report which one they used.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

# Minimum Linux driver per CUDA toolkit (the toolkit's GA release), from NVIDIA's CUDA Toolkit
# release notes, table "CUDA Toolkit and Corresponding Driver Versions":
# https://docs.nvidia.com/cuda/cuda-toolkit-release-notes/index.html
MIN_DRIVER_FOR_CUDA = {
    "12.0": "525.60.13",
    "12.4": "550.54.14",
    "12.8": "570.26",
    "13.0": "580.65.06",
}
DEFAULT_CUDA = "12.8"
CONTAINERD_SOCKETS = ("/run/containerd/containerd.sock", "/var/run/crio/crio.sock")
CONTAINER_CONFIGS = ("/etc/containerd/config.toml", "/etc/containerd/conf.d", "/etc/crio/crio.conf.d")
IMAGE_PATHS = ("/var/lib/containerd", "/var/lib/containers")
TIME_DAEMONS = ("chronyd", "ntpd", "systemd-timesyncd", "timesyncd", "ntpsec")

Status = Literal["pass", "fail", "skip"]


@dataclass(frozen=True)
class Outcome:
    status: Status
    detail: str


def ok(detail: str) -> Outcome:
    return Outcome("pass", detail)


def bad(detail: str) -> Outcome:
    return Outcome("fail", detail)


def skip(detail: str) -> Outcome:
    return Outcome("skip", detail)


@dataclass(frozen=True)
class Context:
    """What the host is expected to be."""

    gpu: bool = False
    expected_gpus: int | None = None
    model: str | None = None  # token the GPU's name must contain, e.g. "h100"
    cuda: str = DEFAULT_CUDA
    min_free_gb: int = 50
    api_server: tuple[str, int] | None = None
    phase: Literal["before", "after"] = "after"


@dataclass(frozen=True)
class Check:
    id: str
    title: str
    run: Callable[[Any, Context], Outcome]
    fix: str
    gpu_only: bool = False
    # Before the platform installs, the GPU Operator has not yet brought driver and toolkit: advisory then.
    operator_provides: bool = False
    tags: tuple[str, ...] = field(default=())

    def required(self, ctx: Context) -> bool:
        return not (self.operator_provides and ctx.phase == "before")


def _sh(host: Any, command: str) -> tuple[int, str]:
    result = host.run(command)
    return result.rc, (result.stdout or "").strip()


def _module(host: Any, name: str) -> str | None:
    """Evidence that a kernel module is loaded or built in, or None."""
    modules = host.file("/proc/modules")
    if modules.exists and re.search(rf"^{name} ", modules.content_string, re.MULTILINE):
        return "/proc/modules"
    if host.file(f"/sys/module/{name}").exists:
        return f"/sys/module/{name}"
    rc, release = _sh(host, "uname -r")
    builtin = host.file(f"/lib/modules/{release}/modules.builtin")
    if rc == 0 and builtin.exists and re.search(rf"/{name}\.ko", builtin.content_string):
        return "modules.builtin"
    return None


def _sysctl(host: Any, key: str) -> str | None:
    path = host.file("/proc/sys/" + key.replace(".", "/"))
    return path.content_string.strip() if path.exists else None


def _version(v: str) -> tuple[int, ...]:
    return tuple(int(p) for p in re.findall(r"\d+", v))


# ------------------------------------------------------------------ GPU


def nvidia_driver(host: Any, ctx: Context) -> Outcome:
    minimum = MIN_DRIVER_FOR_CUDA.get(ctx.cuda)
    if minimum is None:
        return bad(f"unknown CUDA version {ctx.cuda}; known: {', '.join(MIN_DRIVER_FOR_CUDA)}")
    proc = host.file("/proc/driver/nvidia/version")
    if not proc.exists:
        return bad("no NVIDIA kernel driver loaded (/proc/driver/nvidia/version is missing)")
    found = re.search(r"Kernel Module\s+(?:for \S+\s+)?([0-9.]+)", proc.content_string)
    if found is None:
        return bad("cannot read the driver version from /proc/driver/nvidia/version")
    version = found.group(1)
    if _version(version) < _version(minimum):
        return bad(f"driver {version} is older than {minimum}, the minimum for CUDA {ctx.cuda}")
    return ok(f"driver {version} ≥ {minimum} (CUDA {ctx.cuda})")


def gpu_inventory(host: Any, ctx: Context) -> Outcome:
    rc, out = _sh(host, "nvidia-smi --query-gpu=name --format=csv,noheader")
    if rc == 127 or "not found" in out:
        return bad("nvidia-smi is not installed (no NVIDIA driver utilities on the host)")
    if rc != 0:
        return bad(f"nvidia-smi failed (exit {rc}): {out[:200] or 'no output'}")
    names = [line.strip() for line in out.splitlines() if line.strip()]
    problems = []
    if ctx.expected_gpus is not None and len(names) != ctx.expected_gpus:
        problems.append(f"sees {len(names)} GPU(s), expected {ctx.expected_gpus}")
    if ctx.model and not all(ctx.model.lower() in n.lower() for n in names):
        problems.append(f"models {sorted(set(names))} are not {ctx.model}")
    return bad("; ".join(problems)) if problems else ok(f"{len(names)} × {names[0] if names else '-'}")


def nouveau_blacklisted(host: Any, ctx: Context) -> Outcome:
    if _module(host, "nouveau"):
        return bad("the nouveau driver is loaded")
    rc, out = _sh(
        host, "grep -ls '^[[:space:]]*blacklist[[:space:]]\\+nouveau' /etc/modprobe.d/*.conf /lib/modprobe.d/*.conf"
    )
    if rc != 0 or not out:
        return bad("nouveau is not loaded but not blacklisted either (a kernel update may load it)")
    return ok(f"blacklisted in {out.splitlines()[0]}")


def nvidia_runtime(host: Any, ctx: Context) -> Outcome:
    found = []
    for path in CONTAINER_CONFIGS:
        f = host.file(path)
        if not f.exists:
            continue
        rc, out = _sh(host, f"grep -rls nvidia-container-runtime {shlex.quote(path)}")
        if rc == 0 and out:
            found.append(out.splitlines()[0])
    if not found:
        return bad("no container runtime configuration mentions nvidia-container-runtime")
    return ok(f"nvidia runtime configured in {found[0]}")


# ------------------------------------------------------------------ every node


def container_runtime(host: Any, ctx: Context) -> Outcome:
    for sock in CONTAINERD_SOCKETS:
        if host.file(sock).is_socket:
            return ok(f"runtime socket {sock}")
    return bad(f"no container runtime socket ({', '.join(CONTAINERD_SOCKETS)})")


def swap_off(host: Any, ctx: Context) -> Outcome:
    swaps = host.file("/proc/swaps")
    active = swaps.content_string.strip().splitlines()[1:] if swaps.exists else []
    return bad(f"{len(active)} swap device(s) active: {active[0].split()[0]}") if active else ok("no active swap")


def br_netfilter(host: Any, ctx: Context) -> Outcome:
    evidence = _module(host, "br_netfilter")
    if evidence:
        return ok(f"loaded ({evidence})")
    if _sysctl(host, "net.bridge.bridge-nf-call-iptables") is not None:
        return ok("bridge netfilter sysctls present (built into the kernel)")
    return bad("br_netfilter is not loaded")


def overlay(host: Any, ctx: Context) -> Outcome:
    evidence = _module(host, "overlay")
    if evidence:
        return ok(f"loaded ({evidence})")
    filesystems = host.file("/proc/filesystems")
    if filesystems.exists and re.search(r"\toverlay$", filesystems.content_string, re.MULTILINE):
        return ok("overlay filesystem registered (/proc/filesystems)")
    return bad("the overlay module is not loaded")


def _sysctl_is_one(key: str) -> Callable[[Any, Context], Outcome]:
    def check(host: Any, ctx: Context) -> Outcome:
        value = _sysctl(host, key)
        if value is None:
            return bad(f"{key} does not exist on this kernel")
        return ok(f"{key} = 1") if value == "1" else bad(f"{key} = {value}")

    return check


def time_sync(host: Any, ctx: Context) -> Outcome:
    rc, out = _sh(host, "timedatectl show -p NTPSynchronized --value")
    if rc == 0 and out == "yes":
        return ok("systemd reports the clock NTP-synchronized")
    rc, procs = _sh(host, "ps -eo comm=")
    running = sorted({p.strip() for p in procs.splitlines()} & set(TIME_DAEMONS)) if rc == 0 else []
    if running:
        return ok(f"{running[0]} running")
    return bad("no time synchronisation (timedatectl: not synchronized or unavailable; no chronyd/ntpd/timesyncd)")


def disk_free(host: Any, ctx: Context) -> Outcome:
    for path in IMAGE_PATHS:
        if host.file(path).exists:
            break
    else:
        path = "/var/lib"
    rc, out = _sh(host, f"df -Pk {shlex.quote(path)}")
    lines = out.splitlines()
    if rc != 0 or len(lines) < 2:
        return bad(f"cannot read free space of {path}")
    free_gb = int(lines[-1].split()[3]) / 1024**2
    detail = f"{free_gb:.0f} GiB free on {path} (need {ctx.min_free_gb})"
    return ok(detail) if free_gb >= ctx.min_free_gb else bad(detail)


def api_server(host: Any, ctx: Context) -> Outcome:
    if ctx.api_server is None:
        return skip("no API server known (give --api-server HOST:PORT or a stack with a kubeconfig)")
    server, port = ctx.api_server
    probe = f"timeout 5 bash -c {shlex.quote(f'exec 3<>/dev/tcp/{server}/{port}')}"
    rc, _ = _sh(host, probe)
    return ok(f"reaches {server}:{port}") if rc == 0 else bad(f"cannot open a TCP connection to {server}:{port}")


CHECKS: tuple[Check, ...] = (
    Check(
        "nvidia-driver",
        "NVIDIA driver loaded, new enough for CUDA",
        nvidia_driver,
        "install the NVIDIA datacenter driver for your CUDA version (or let the GPU Operator install it), then reboot",
        gpu_only=True,
        operator_provides=True,
    ),
    Check(
        "gpu-inventory",
        "nvidia-smi sees the expected GPUs",
        gpu_inventory,
        "check seating/power and `nvidia-smi -L`; a missing GPU needs a hardware ticket, a wrong model a spec fix",
        gpu_only=True,
        operator_provides=True,
    ),
    Check(
        "nouveau-blacklisted",
        "nouveau is not loaded and is blacklisted",
        nouveau_blacklisted,
        "echo -e 'blacklist nouveau\\noptions nouveau modeset=0' > /etc/modprobe.d/blacklist-nouveau.conf; "
        "update-initramfs -u; reboot",
        gpu_only=True,
    ),
    Check(
        "nvidia-runtime",
        "container runtime configured with the NVIDIA runtime",
        nvidia_runtime,
        "nvidia-ctk runtime configure --runtime=containerd && systemctl restart containerd "
        "(the GPU Operator's toolkit does this when it manages the host)",
        gpu_only=True,
        operator_provides=True,
    ),
    Check(
        "container-runtime",
        "a CRI container runtime is running",
        container_runtime,
        "install containerd (apt install containerd), enable SystemdCgroup in /etc/containerd/config.toml, "
        "systemctl enable --now containerd",
    ),
    Check("swap-off", "swap is off", swap_off, "swapoff -a and remove swap entries from /etc/fstab"),
    Check(
        "br-netfilter",
        "br_netfilter is loaded",
        br_netfilter,
        "load br_netfilter: modprobe br_netfilter and add it to /etc/modules-load.d/k8s.conf",
    ),
    Check(
        "overlay",
        "overlay is loaded",
        overlay,
        "load overlay: modprobe overlay and add it to /etc/modules-load.d/k8s.conf",
    ),
    Check(
        "bridge-nf-call-iptables",
        "net.bridge.bridge-nf-call-iptables = 1",
        _sysctl_is_one("net.bridge.bridge-nf-call-iptables"),
        "modprobe br_netfilter; echo 'net.bridge.bridge-nf-call-iptables = 1' > /etc/sysctl.d/99-k8s.conf; "
        "sysctl --system",
    ),
    Check(
        "ip-forward",
        "net.ipv4.ip_forward = 1",
        _sysctl_is_one("net.ipv4.ip_forward"),
        "echo 'net.ipv4.ip_forward = 1' >> /etc/sysctl.d/99-k8s.conf; sysctl --system",
    ),
    Check(
        "time-sync",
        "the clock is synchronised",
        time_sync,
        "apt install chrony && systemctl enable --now chrony (or enable systemd-timesyncd)",
    ),
    Check(
        "disk-free",
        "free disk on the container image path",
        disk_free,
        "free or grow the filesystem holding /var/lib/containerd (images of AI frameworks are tens of GB)",
    ),
    Check(
        "api-server",
        "the host reaches the Kubernetes API server",
        api_server,
        "open the route/firewall from the node to the API server port (usually 6443)",
    ),
)


def checks_for(ctx: Context) -> list[Check]:
    return [c for c in CHECKS if ctx.gpu or not c.gpu_only]
