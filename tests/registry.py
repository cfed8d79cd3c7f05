"""A real OCI registry on loopback for the tests: the CNCF distribution registry (`registry serve CONFIG`),
which scripts/tools.sh builds from github.com/distribution/distribution/v3/cmd/registry.

`running()` starts one on a free 127.0.0.1 port with its own storage directory and configuration file,
optionally behind htpasswd basic auth (distribution docs/content/about/configuration.md, "auth:
htpasswd": bcrypt entries only) or token auth (a token service in this process, TokenService), and
stops it afterwards. `push_image()` uploads a small synthetic image
through the OCI distribution API itself (https://github.com/opencontainers/distribution-spec/blob/main/spec.md:
"Pushing blobs" as a monolithic POST then PUT, "Pushing Manifests"), so what the tests push does not go
through the code under test.
"""

from __future__ import annotations

import base64
import contextlib
import gzip
import hashlib
import http.server
import io
import json
import os
import subprocess
import tarfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml

from aistack.local.cluster import free_port
from tests.conftest import built_tool, need

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
Auth = Literal["htpasswd", "token"] | None


def registry_binary() -> Path:
    """The registry scripts/tools.sh built, else need('tools')."""
    found = built_tool("registry")
    if found is None:
        need("tools", "no `registry` binary (scripts/tools.sh builds the CNCF distribution registry)")
    return found


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class TokenService:
    """A minimal token service for the registry's ``auth: token`` (distribution docs spec/auth/token.md and
    jwt.md): ``GET /token?service=S&scope=repository:NAME:ACTIONS`` with Basic credentials of its one account
    answers ``{"token": JWT}``, an RS256 JWT whose key the registry trusts through a JWKS file (by ``kid``,
    registry/auth/token/token.go); anything else answers 401. ``scopes``: what it was asked for."""

    ISSUER, SERVICE, KID = "aistack-test-issuer", "aistack-test-registry", "aistack-test-key"

    def __init__(self, root: Path, user: str, password: str) -> None:
        from cryptography.hazmat.primitives.asymmetric import rsa

        self.user, self.password = user, password
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        numbers = self.key.public_key().public_numbers()
        jwk = {
            "kty": "RSA",
            "kid": self.KID,
            "alg": "RS256",
            "use": "sig",
            "n": _b64url(numbers.n.to_bytes((numbers.n.bit_length() + 7) // 8, "big")),
            "e": _b64url(numbers.e.to_bytes(3, "big")),
        }
        self.jwks = root / "jwks.json"
        self.jwks.write_text(json.dumps({"keys": [jwk]}))
        self.scopes: list[str] = []
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.realm = f"http://127.0.0.1:{self.server.server_address[1]}/token"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def token(self, scope: str) -> str:
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import padding

        _, name, actions = scope.split(":")
        now = int(time.time())
        claims = {
            "iss": self.ISSUER,
            "sub": self.user,
            "aud": self.SERVICE,
            "exp": now + 300,
            "nbf": now - 10,
            "iat": now,
            "jti": os.urandom(8).hex(),
            "access": [{"type": "repository", "name": name, "actions": actions.split(",")}],
        }
        header = {"alg": "RS256", "typ": "JWT", "kid": self.KID}
        signed = f"{_b64url(json.dumps(header).encode())}.{_b64url(json.dumps(claims).encode())}"
        signature = self.key.sign(signed.encode(), padding.PKCS1v15(), hashes.SHA256())
        return f"{signed}.{_b64url(signature)}"

    def _handler(self) -> type[http.server.BaseHTTPRequestHandler]:
        service = self
        expected = "Basic " + base64.b64encode(f"{self.user}:{self.password}".encode()).decode()

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                query = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query)
                scope = (query.get("scope") or [""])[0]
                service.scopes.append(scope)
                ok = self.headers.get("Authorization") == expected and query.get("service") == [service.SERVICE]
                body = json.dumps({"token": service.token(scope)} if ok and scope else {"details": "denied"})
                self.send_response(200 if ok and scope else 401)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(body.encode())

            def log_message(self, *args: Any) -> None:
                pass

        return Handler

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@dataclass(frozen=True)
class Registry:
    """One running registry: ``host`` is 127.0.0.1:PORT; ``user``/``password`` when auth is on (htpasswd, or
    a token service that takes them)."""

    host: str
    root: Path
    user: str | None = None
    password: str | None = None
    tokens: TokenService | None = None

    @property
    def log(self) -> Path:
        return self.root / "registry.log"

    @property
    def url(self) -> str:
        return f"http://{self.host}"

    def basic(self) -> str | None:
        if self.user is None or self.password is None:
            return None
        return base64.b64encode(f"{self.user}:{self.password}".encode()).decode()

    def docker_config(self, user: str | None = None, password: str | None = None) -> str:
        """A ``.dockerconfigjson`` for this registry (the pull secret's content), by default its own account."""
        user, password = user or self.user or "", password or self.password or ""
        auth = base64.b64encode(f"{user}:{password}".encode()).decode()
        return json.dumps({"auths": {self.host: {"auth": auth}}})


def _htpasswd(path: Path, user: str, password: str) -> None:
    import bcrypt  # paramiko's dependency, so in every aistack environment

    hashed = bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=4)).decode()
    path.write_text(f"{user}:{hashed}\n")


def _config(root: Path, port: int, auth: TokenService | bool, access_log: bool) -> dict[str, object]:
    config: dict[str, object] = {
        "version": 0.1,
        "log": {"level": "warn", "accesslog": {"disabled": not access_log}},
        "storage": {"filesystem": {"rootdirectory": str(root / "storage")}, "delete": {"enabled": True}},
        "http": {"addr": f"127.0.0.1:{port}"},
    }
    if isinstance(auth, TokenService):
        config["auth"] = {
            "token": {"realm": auth.realm, "service": auth.SERVICE, "issuer": auth.ISSUER, "jwks": str(auth.jwks)}
        }
    elif auth:
        config["auth"] = {"htpasswd": {"realm": "aistack-test", "path": str(root / "htpasswd")}}
    return config


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1):
            return True
    except urllib.error.HTTPError as exc:
        return exc.code == 401  # up, and asking for credentials
    except OSError:
        return False


@contextlib.contextmanager
def running(root: Path, *, auth: Auth = None, access_log: bool = False) -> Iterator[Registry]:
    """A registry serving from ``root`` until the block ends. ``auth``: htpasswd, or a token service
    (TokenService), either with the account puller / right-password; ``access_log``: every request in
    ``Registry.log`` (combined log format)."""
    binary = registry_binary()
    root.mkdir(parents=True, exist_ok=True)
    port = free_port()
    user, password = ("puller", "right-password") if auth else (None, None)
    tokens = TokenService(root, "puller", "right-password") if auth == "token" else None
    if auth == "htpasswd":
        _htpasswd(root / "htpasswd", "puller", "right-password")
    config = root / "config.yml"
    config.write_text(yaml.safe_dump(_config(root, port, tokens or auth == "htpasswd", access_log)))
    # OpenTelemetry off: v3 otherwise exports traces to an OTLP endpoint (distribution tracing/tracing.go).
    env = {**os.environ, "OTEL_TRACES_EXPORTER": "none"}
    log = (root / "registry.log").open("wb")
    proc = subprocess.Popen([str(binary), "serve", str(config)], stdout=log, stderr=subprocess.STDOUT, env=env)
    registry = Registry(f"127.0.0.1:{port}", root, user, password, tokens)
    try:
        deadline = time.monotonic() + 30
        while not _answers(f"{registry.url}/v2/"):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the registry did not start: {(root / 'registry.log').read_text()[-2000:]}")
            time.sleep(0.1)
        yield registry
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
        if tokens is not None:
            tokens.close()


# ------------------------------------------------------------------------------------------ pushing


def _request(
    registry: Registry, repository: str, method: str, url: str, body: bytes = b"", headers: dict[str, str] | None = None
) -> Any:
    headers = dict(headers or {})
    basic = registry.basic()
    if registry.tokens is not None:
        headers["Authorization"] = f"Bearer {registry.tokens.token(f'repository:{repository}:pull,push')}"
    elif basic:
        headers["Authorization"] = f"Basic {basic}"
    full = url if url.startswith("http") else f"{registry.url}{url}"
    req = urllib.request.Request(full, data=body if method in ("POST", "PUT") else None, method=method, headers=headers)
    return urllib.request.urlopen(req, timeout=10)


def push_blob(registry: Registry, repository: str, blob: bytes) -> str:
    """One blob, monolithic: POST an upload session, PUT the bytes with their digest. Returns the digest."""
    digest = "sha256:" + hashlib.sha256(blob).hexdigest()
    with _request(registry, repository, "POST", f"/v2/{repository}/blobs/uploads/") as started:
        location = started.headers["Location"]
    joiner = "&" if "?" in location else "?"
    with _request(
        registry,
        repository,
        "PUT",
        f"{location}{joiner}digest={digest}",
        blob,
        {"Content-Type": "application/octet-stream"},
    ) as done:
        assert done.status == 201, done.status
    return digest


def _layer(text: str) -> tuple[bytes, str]:
    """A gzip'd tar holding one file; returns it and its uncompressed digest (the config's diff_id)."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tar:
        data = text.encode()
        info = tarfile.TarInfo("hello.txt")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    tar_bytes = raw.getvalue()
    return gzip.compress(tar_bytes, mtime=0), "sha256:" + hashlib.sha256(tar_bytes).hexdigest()


def push_image(registry: Registry, repository: str, tag: str, text: str = "hello") -> str:
    """A synthetic single-layer OCI image as ``repository:tag``; returns its manifest digest, computed here
    from the bytes sent (the registry's Docker-Content-Digest must agree)."""
    layer, diff_id = _layer(f"{repository}:{tag} {text}")
    config = json.dumps(
        {"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": [diff_id]}}
    ).encode()
    manifest = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": OCI_CONFIG, "digest": push_blob(registry, repository, config), "size": len(config)},
        "layers": [{"mediaType": OCI_LAYER, "digest": push_blob(registry, repository, layer), "size": len(layer)}],
    }
    body = json.dumps(manifest).encode()
    digest = "sha256:" + hashlib.sha256(body).hexdigest()
    url = f"/v2/{repository}/manifests/{tag}"
    with _request(registry, repository, "PUT", url, body, {"Content-Type": OCI_MANIFEST}) as put:
        assert put.status == 201 and put.headers["Docker-Content-Digest"] == digest, (put.status, dict(put.headers))
    return digest
