"""The local simulated GPU cluster: etcd, kube-apiserver, kube-controller-manager, kube-scheduler
and KWOK on loopback, with generated certificates, and fake nodes shaped like the `local` stack.
Beside them runs the simulated volume provisioner (aistack/local/provisioner.py, a Python host
process): no CSI driver or provisioner pod can run here, so it gives Pending claims their volumes.

Processes are started detached and remembered by pid (with the binary they run), so `down`
stops exactly what `up` started. Everything lives under one state directory.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import os
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

STATE_DIR = Path(os.environ.get("AISTACK_LOCAL_DIR", "~/.cache/aistack/local")).expanduser()
COMPONENTS = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok")
# Host processes `up` always starts (Python, not tool binaries): volumes for claims.
HOST_PROCESSES = ("provisioner",)
PROVISIONER_MODULE = "aistack.local.provisioner"
# Started when its binary is in the tool set: admits Jobs by queue, so e2e sees real admission.
OPTIONAL = ("kueue",)
KUEUE_NAMESPACE = "kueue-system"
# With internal cert management off, Kueue v0.19's manager reads its metrics certificate from this
# fixed path (cmd/kueue/main.go), with no flag to move it: `start_kueue` writes one there when it can.
KUEUE_METRICS_CERTS = Path("/etc/kueue/metrics/certs")
FAKE_NODE_ANNOTATION = "kwok.x-k8s.io/node"
# A pod labelled so stays Running on a fake node until deleted, instead of completing at once (kwok_stages).
KEEP_RUNNING_LABEL = "aistack.io/keep-running"
SERVICE_RANGE = "10.96.0.0/16"
# Pod IPs KWOK hands out (nodes have no podCIDR). Its default is 10.0.0.0/24, and its pool counts on
# past the /24 rather than failing, so a few hundred pods would leave the range: give it room.
POD_RANGE = "10.244.0.0/16"
NODE_LEASE_S = 40  # the kubelet's default; KWOK renews every quarter of it
REPO = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Layout:
    root: Path

    @property
    def pki(self) -> Path:
        return self.root / "pki"

    @property
    def kubeconfig(self) -> Path:
        return self.root / "kubeconfig"

    @property
    def pids(self) -> Path:
        return self.root / "pids.json"

    def log(self, component: str) -> Path:
        return self.root / "logs" / f"{component}.log"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# ------------------------------------------------------------------ certificates


def _write_pki(pki: Path) -> None:
    """A CA, the API server's serving cert, an admin client cert and the service-account key pair."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    pki.mkdir(parents=True, exist_ok=True)
    now = dt.datetime.now(dt.UTC)

    def key() -> ec.EllipticCurvePrivateKey:
        return ec.generate_private_key(ec.SECP256R1())

    def save_key(k: ec.EllipticCurvePrivateKey, name: str) -> None:
        data = k.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        (pki / name).write_bytes(data)
        (pki / name).chmod(0o600)

    def cert(subject: x509.Name, k: Any, issuer: x509.Name, signer: Any, **ext: Any) -> x509.Certificate:
        b = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(issuer)
            .public_key(k.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=365))
        )
        if ext.get("ca"):
            b = b.add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        if ext.get("san"):
            b = b.add_extension(x509.SubjectAlternativeName(ext["san"]), critical=False)
        return b.sign(signer, hashes.SHA256())

    ca_key = key()
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "aistack-local-ca")])
    ca = cert(ca_name, ca_key, ca_name, ca_key, ca=True)
    san = [
        x509.DNSName("localhost"),
        x509.DNSName("kubernetes"),
        x509.DNSName("kubernetes.default.svc"),
        x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
        x509.IPAddress(ipaddress.ip_address("10.96.0.1")),
    ]
    server_key, admin_key, sa_key = key(), key(), key()
    server = cert(
        x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kube-apiserver")]), server_key, ca_name, ca_key, san=san
    )
    admin_name = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "system:masters"),
            x509.NameAttribute(NameOID.COMMON_NAME, "admin"),
        ]
    )
    admin = cert(admin_name, admin_key, ca_name, ca_key)
    pem = serialization.Encoding.PEM
    (pki / "ca.crt").write_bytes(ca.public_bytes(pem))
    save_key(ca_key, "ca.key")
    (pki / "apiserver.crt").write_bytes(server.public_bytes(pem))
    save_key(server_key, "apiserver.key")
    (pki / "admin.crt").write_bytes(admin.public_bytes(pem))
    save_key(admin_key, "admin.key")
    save_key(sa_key, "sa.key")
    (pki / "sa.pub").write_bytes(sa_key.public_key().public_bytes(pem, serialization.PublicFormat.SubjectPublicKeyInfo))


def _serving_cert(pki: Path, out: Path) -> None:
    """tls.crt/tls.key for Kueue's webhook server, signed by the local CA (the API server calls no
    webhook here, but the manager will not start its server without a certificate)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    out.mkdir(parents=True, exist_ok=True)
    ca_key = serialization.load_pem_private_key((pki / "ca.key").read_bytes(), None)
    ca = x509.load_pem_x509_certificate((pki / "ca.crt").read_bytes())
    k = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    crt = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kueue-webhook")]))
        .issuer_name(ca.subject)
        .public_key(k.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=365))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .sign(ca_key, hashes.SHA256())  # type: ignore[arg-type]
    )
    (out / "tls.crt").write_bytes(crt.public_bytes(serialization.Encoding.PEM))
    (out / "tls.key").write_bytes(
        k.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )


def kueue_config(layout: Layout, ports: Mapping[str, int], rendered: Mapping[str, Any]) -> dict[str, Any]:
    """Kueue's manager outside the cluster: the Configuration aistack renders for the stack's Kueue chart
    (``rendered``: components/platform/scheduling.kueue_config, with its deviceClassMappings), with only what
    a host process needs instead: loopback addresses and ports, its own cert dir, no leader election, and
    batch/job alone (the other frameworks' controllers need their webhooks, which no pod serves here)."""
    return {
        **rendered,
        "namespace": KUEUE_NAMESPACE,
        "health": {"healthProbeBindAddress": f"127.0.0.1:{ports['kueue-health']}"},
        "metrics": {**rendered.get("metrics", {}), "bindAddress": f"127.0.0.1:{ports['kueue-metrics']}"},
        "webhook": {"port": ports["kueue-webhook"], "host": "127.0.0.1", "certDir": str(layout.root / "kueue-certs")},
        "leaderElection": {"leaderElect": False},
        "internalCertManagement": {"enable": False},
        "integrations": {"frameworks": ["batch/job"]},
    }


def rendered_kueue_config(stack: str = "local") -> dict[str, Any]:
    """What aistack renders as the stack's Kueue configuration (the chart's managerConfig)."""
    from components.handle import accelerator_inventory
    from components.platform.scheduling import kueue_config as platform_kueue_config
    from components.spec import load_stack

    spec = load_stack(stack, REPO / "stacks").spec
    return platform_kueue_config(spec, accelerator_inventory(spec))


def kubeconfig(layout: Layout, port: int) -> dict[str, Any]:
    pki = layout.pki
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": "aistack-local",
                "cluster": {"server": f"https://127.0.0.1:{port}", "certificate-authority": str(pki / "ca.crt")},
            }
        ],
        "users": [
            {
                "name": "admin",
                "user": {"client-certificate": str(pki / "admin.crt"), "client-key": str(pki / "admin.key")},
            }
        ],
        "contexts": [{"name": "aistack-local", "context": {"cluster": "aistack-local", "user": "admin"}}],
        "current-context": "aistack-local",
    }


# ------------------------------------------------------------------ processes


def command_lines(layout: Layout, bin_dir: Path, ports: Mapping[str, int]) -> dict[str, list[str]]:
    """Each component's command line: loopback only, no leader election, flags envtest uses."""
    pki, kc = layout.pki, str(layout.kubeconfig)
    etcd_url = f"http://127.0.0.1:{ports['etcd']}"
    peer_url = f"http://127.0.0.1:{ports['etcd-peer']}"
    return {
        "etcd": [
            str(bin_dir / "etcd"),
            "--name=node0",
            f"--data-dir={layout.root / 'etcd'}",
            f"--listen-client-urls={etcd_url}",
            f"--advertise-client-urls={etcd_url}",
            f"--listen-peer-urls={peer_url}",
            f"--initial-advertise-peer-urls={peer_url}",
            f"--initial-cluster=node0={peer_url}",
            "--unsafe-no-fsync=true",  # a disposable test cluster; fsync dominates on small disks
        ],
        "kube-apiserver": [
            str(bin_dir / "kube-apiserver"),
            f"--etcd-servers={etcd_url}",
            "--bind-address=127.0.0.1",
            f"--secure-port={ports['apiserver']}",
            f"--cert-dir={pki}",
            f"--tls-cert-file={pki / 'apiserver.crt'}",
            f"--tls-private-key-file={pki / 'apiserver.key'}",
            f"--client-ca-file={pki / 'ca.crt'}",
            f"--service-account-key-file={pki / 'sa.pub'}",
            f"--service-account-signing-key-file={pki / 'sa.key'}",
            "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
            f"--service-cluster-ip-range={SERVICE_RANGE}",
            "--authorization-mode=Node,RBAC",
            "--allow-privileged=true",
            "--advertise-address=127.0.0.1",
        ],
        "kube-controller-manager": [
            str(bin_dir / "kube-controller-manager"),
            f"--kubeconfig={kc}",
            f"--authentication-kubeconfig={kc}",
            f"--authorization-kubeconfig={kc}",
            f"--root-ca-file={pki / 'ca.crt'}",
            f"--service-account-private-key-file={pki / 'sa.key'}",
            f"--cluster-signing-cert-file={pki / 'ca.crt'}",
            f"--cluster-signing-key-file={pki / 'ca.key'}",
            "--use-service-account-credentials=true",
            # A fake node is never really gone, but KWOK's lease heartbeats lag on a loaded machine: after the
            # default 50 s the node lifecycle controller marks the node NotReady and every pod on it Ready=False,
            # and no kubelet ever sets them Ready again (rollouts and Services then wait forever).
            "--node-monitor-grace-period=1h",
            "--leader-elect=false",
            "--bind-address=127.0.0.1",
            f"--secure-port={ports['controller-manager']}",
        ],
        "kube-scheduler": [
            str(bin_dir / "kube-scheduler"),
            f"--kubeconfig={kc}",
            f"--authentication-kubeconfig={kc}",
            f"--authorization-kubeconfig={kc}",
            "--leader-elect=false",
            "--bind-address=127.0.0.1",
            f"--secure-port={ports['scheduler']}",
        ],
        "kwok": [
            str(bin_dir / "kwok"),
            # Node and pod lifecycles (upstream "fast" stages, copied by scripts/tools.sh).
            *(f"--config={p}" for p in kwok_stages(bin_dir, layout)),
            f"--kubeconfig={kc}",
            "--manage-all-nodes=false",
            f"--manage-nodes-with-annotation-selector={FAKE_NODE_ANNOTATION}=fake",
            # Not loopback: hostNetwork pods (MetalLB's speaker, frr-k8s, node-exporter) take the node's IP, and
            # an EndpointSlice may not hold a loopback address, so their Services would never get endpoints.
            # 192.0.2.0/24 is TEST-NET-1 (RFC 5737): never routed, so nothing is ever reached through it.
            "--node-ip=192.0.2.10",
            f"--server-address=127.0.0.1:{ports['kwok']}",
            f"--cidr={POD_RANGE}",
            # Node leases, as KWOK's own deployment config has them (kustomize/kwok/kwok.yaml). Its CLI
            # default is 0, i.e. no Lease at all, while the heartbeat-with-lease stage refreshes node
            # status only every 10-20 minutes: a node's only liveness signal was that rare heartbeat (an
            # e2e `pulumi up` saw every node go NotReady every ~55 s). With leases KWOK renews each
            # node every 10 s; the 1 h grace period above still covers renewals lagging under load.
            f"--node-lease-duration-seconds={NODE_LEASE_S}",
        ],
    }


def kwok_stages(bin_dir: Path, layout: Layout) -> list[Path]:
    """KWOK's stage configs: the upstream "fast" ones scripts/tools.sh copied, except that its pod-complete
    stage, which finishes every Job's pod as soon as it runs, leaves pods labelled KEEP_RUNNING_LABEL running
    (a long training job: it holds its quota and its devices until the Job is deleted). The patched copy is
    written under the state directory."""
    out = []
    for path in sorted((bin_dir.parent / "kwok-stages").glob("*.yaml")):
        doc = yaml.safe_load(path.read_text())
        if isinstance(doc, dict) and doc.get("metadata", {}).get("name") == "pod-complete":
            keep = {"key": f'.metadata.labels["{KEEP_RUNNING_LABEL}"]', "operator": "DoesNotExist"}
            doc["spec"]["selector"]["matchExpressions"].append(keep)
            path = layout.root / "kwok-stages" / path.name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(yaml.safe_dump(doc, sort_keys=False))
        out.append(path)
    return out


def provisioner_argv(layout: Layout) -> list[str]:
    """The simulated volume provisioner, run by this interpreter: volumes under the state directory."""
    return [
        sys.executable,
        "-m",
        PROVISIONER_MODULE,
        f"--kubeconfig={layout.kubeconfig}",
        f"--volumes={layout.root / 'volumes'}",
    ]


def _alive(pid: int, binary: str, module: str | None = None) -> bool:
    """Whether ``pid`` still runs ``binary`` (and, for an interpreter, ``-m module``): a reused pid is not ours."""
    try:
        argv = [a.decode() for a in Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")]
    except OSError:
        return False
    if module is not None and module not in argv:
        return False
    return argv[0] == binary


def running(layout: Layout) -> dict[str, int]:
    """component → pid for the processes `up` started that still run the same binary."""
    if not layout.pids.exists():
        return {}
    recorded = json.loads(layout.pids.read_text())
    return {c: p["pid"] for c, p in recorded.items() if _alive(p["pid"], p["binary"], p.get("module"))}


def _start(layout: Layout, component: str, argv: list[str], env: Mapping[str, str] | None = None) -> dict[str, Any]:
    log = layout.log(component)
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        proc = subprocess.Popen(
            argv,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            env={**os.environ, **(env or {})},
        )
    return {"pid": proc.pid, "binary": argv[0], "log": str(log)}


def _wait(what: str, ok: Callable[[], bool], timeout: float, log: Path | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if ok():
            return
        time.sleep(0.25)
    tail = ""
    if log is not None and log.exists():
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-15:])
    raise TimeoutError(f"{what} not ready after {timeout:.0f} s" + (f"; last log lines:\n{tail}" if tail else ""))


def _readyz(layout: Layout, port: int) -> bool:
    ctx = ssl.create_default_context(cafile=str(layout.pki / "ca.crt"))
    ctx.load_cert_chain(str(layout.pki / "admin.crt"), str(layout.pki / "admin.key"))
    try:
        with urllib.request.urlopen(f"https://127.0.0.1:{port}/readyz", context=ctx, timeout=2) as r:
            return bool(r.status == 200)
    except OSError:
        return False


def _tcp(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def up(bin_dir: Path, layout: Layout | None = None, on_step: Callable[[str, float], None] | None = None) -> Layout:
    """Start the control plane (idempotent: a running cluster is left as it is)."""
    layout = layout or Layout(STATE_DIR)
    if set(COMPONENTS) <= set(running(layout)):
        start_provisioner(layout)  # a cluster started before it existed, or after it was stopped
        return layout
    down(layout)  # a partial cluster from an interrupted run
    missing = [c for c in COMPONENTS if not (bin_dir / c).exists()]
    if missing:
        raise FileNotFoundError(f"missing tools in {bin_dir}: {', '.join(missing)}. To fix: scripts/tools.sh")
    layout.root.mkdir(parents=True, exist_ok=True)
    if not (layout.pki / "ca.crt").exists():
        _write_pki(layout.pki)
    names = ("etcd", "etcd-peer", "apiserver", "controller-manager", "scheduler", "kwok")
    ports = {k: free_port() for k in (*names, "kueue-health", "kueue-metrics", "kueue-webhook")}
    layout.kubeconfig.write_text(yaml.safe_dump(kubeconfig(layout, ports["apiserver"]), sort_keys=False))
    argv = command_lines(layout, bin_dir, ports)
    started: dict[str, Any] = {}

    def record() -> None:
        layout.pids.write_text(json.dumps(started, indent=2))

    t0 = time.monotonic()
    started["etcd"] = _start(layout, "etcd", argv["etcd"])
    record()
    _wait("etcd", lambda: _tcp(ports["etcd"]), 30, layout.log("etcd"))
    started["kube-apiserver"] = _start(layout, "kube-apiserver", argv["kube-apiserver"])
    record()
    _wait("kube-apiserver", lambda: _readyz(layout, ports["apiserver"]), 120, layout.log("kube-apiserver"))
    if on_step:
        on_step("control plane", time.monotonic() - t0)
    for component in ("kube-controller-manager", "kube-scheduler", "kwok"):
        started[component] = _start(layout, component, argv[component])
        record()
    (layout.root / "ports.json").write_text(json.dumps(ports))
    start_provisioner(layout)
    return layout


def start_provisioner(layout: Layout) -> bool:
    """Start the simulated volume provisioner (recorded in pids.json, so `down` stops it); False when it runs."""
    if "provisioner" in running(layout):
        return False
    started = json.loads(layout.pids.read_text()) if layout.pids.exists() else {}
    # The interpreter that runs aistack can import it; PYTHONPATH covers a checkout that is not installed.
    path = os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH", "")) if p)
    record = _start(layout, "provisioner", provisioner_argv(layout), {"PYTHONPATH": path, "PYTHONUNBUFFERED": "1"})
    started["provisioner"] = {**record, "module": PROVISIONER_MODULE}
    layout.pids.write_text(json.dumps(started, indent=2))
    return True


# The controller built for a Kueue chart version when it is not the chart's own (scripts/tools.sh): the module
# proxy refuses sigs.k8s.io/kueue@v0.18.6 and @v0.18.5, so the previous chart runs the newest 0.18 patch it serves.
KUEUE_CONTROLLERS = {"0.18.6": "0.18.4"}


def kueue_binary(bin_dir: Path, version: str) -> Path | None:
    """The Kueue manager built for ``version``: ``kueue-v<version>`` (scripts/tools.sh builds one per release
    aistack knows, components/versions.RELEASES), else plain ``kueue`` when ``version`` is aistack's pin (the
    tool set's default build). None: this tool set has no manager of that version."""
    from components.versions import UPSTREAMS

    controller = KUEUE_CONTROLLERS.get(version.removeprefix("v"), version.removeprefix("v"))
    versioned = bin_dir / f"kueue-v{controller}"
    if versioned.exists():
        return versioned
    default = bin_dir / "kueue"
    return default if version == UPSTREAMS["kueue"].version and default.exists() else None


def stack_kueue_version(stack: str = "local") -> str:
    """The Kueue version the stack pins (its upstream.versions), else aistack's default."""
    from components.spec import load_stack
    from components.versions import pinned

    return pinned("kueue", load_stack(stack, REPO / "stacks").spec.upstream.versions).version


def running_kueue(layout: Layout) -> str | None:
    """The version of the Kueue manager `start_kueue` started, if it still runs."""
    if "kueue" not in running(layout):
        return None
    version = json.loads(layout.pids.read_text())["kueue"].get("version")
    return str(version) if version else None


def stop_kueue(layout: Layout, timeout: float = 20) -> bool:
    """Stop the Kueue manager `start_kueue` started (SIGTERM, then SIGKILL); False when none runs."""
    pid = running(layout).get("kueue")
    if pid is None:
        return False
    os.killpg(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and "kueue" in running(layout):
        time.sleep(0.1)
    if "kueue" in running(layout):
        os.killpg(pid, signal.SIGKILL)
    started = json.loads(layout.pids.read_text())
    started.pop("kueue", None)
    layout.pids.write_text(json.dumps(started, indent=2))
    return True


def start_kueue(bin_dir: Path, layout: Layout, stack: str = "local", version: str | None = None) -> bool:
    """Start Kueue's manager at ``version`` (default: the stack's pin) when the tool set has it (after its
    namespace and CRDs exist), configured as aistack configures the stack's Kueue. A manager of another
    version is stopped first, as a chart upgrade replaces the controller's pod. False: the wanted version
    already runs, or this tool set or machine cannot run it."""
    version = version or stack_kueue_version(stack)
    binary = kueue_binary(bin_dir, version)
    if binary is None or running_kueue(layout) == version:
        return False
    ports = json.loads((layout.root / "ports.json").read_text())
    _serving_cert(layout.pki, layout.root / "kueue-certs")
    try:
        _serving_cert(layout.pki, KUEUE_METRICS_CERTS)
    except OSError:
        return False  # not writable here (not root): the cluster runs without a Kueue controller
    stop_kueue(layout)
    config = layout.root / "kueue-config.yaml"
    config.write_text(yaml.safe_dump(kueue_config(layout, ports, rendered_kueue_config(stack)), sort_keys=False))
    started = json.loads(layout.pids.read_text()) if layout.pids.exists() else {}
    # The on-demand visibility API server needs its own certificate at a fixed path; it is not needed here.
    argv = [str(binary), f"--config={config}", "--feature-gates=VisibilityOnDemand=false"]
    started["kueue"] = {**_start(layout, "kueue", argv, {"KUBECONFIG": str(layout.kubeconfig)}), "version": version}
    layout.pids.write_text(json.dumps(started, indent=2))
    # Seen once on a loaded machine: the new pid not yet showing the binary's command line for a moment.
    deadline = time.monotonic() + 5
    while "kueue" not in running(layout) and time.monotonic() < deadline:
        time.sleep(0.1)
    return True


def kueue_ready(layout: Layout) -> bool:
    """Whether the running Kueue manager answers its readiness probe (its caches are synced)."""
    port = json.loads((layout.root / "ports.json").read_text())["kueue-health"]
    direct = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback: never through a proxy
    try:
        with direct.open(f"http://127.0.0.1:{port}/readyz", timeout=2) as r:
            return bool(r.status == 200)
    except OSError:
        return False


def down(layout: Layout | None = None, timeout: float = 20) -> list[str]:
    """Stop the processes `up` started (by pid, only if they still run the same binary)."""
    layout = layout or Layout(STATE_DIR)
    alive = running(layout)
    # Clients first, then the API server, etcd last: an API server whose etcd is gone spends ~20 s
    # on its shutdown retrying storage, one that still has it exits in about a second.
    last = ("kube-apiserver", "etcd")
    phases = [[c for c in alive if c not in last], *([c] for c in last if c in alive)]
    deadline = time.monotonic() + timeout
    for phase in phases:
        for c in phase:
            os.killpg(alive[c], signal.SIGTERM)
        while time.monotonic() < deadline and set(phase) & set(running(layout)):
            time.sleep(0.1)
    for pid in running(layout).values():
        os.killpg(pid, signal.SIGKILL)
    if layout.pids.exists():
        layout.pids.unlink()
    return sorted(alive)


def status(layout: Layout | None = None) -> dict[str, Any]:
    layout = layout or Layout(STATE_DIR)
    alive = running(layout)
    ports_file = layout.root / "ports.json"
    ready = False
    if "kube-apiserver" in alive and ports_file.exists():
        ready = _readyz(layout, json.loads(ports_file.read_text())["apiserver"])
    return {
        "state_dir": str(layout.root),
        "kubeconfig": str(layout.kubeconfig) if layout.kubeconfig.exists() else None,
        "components": {c: alive.get(c) for c in (*COMPONENTS, *HOST_PROCESSES, *OPTIONAL)},
        "api_ready": ready,
    }
