"""Whether a site registry holds every image a stack runs: one manifest HEAD per image, as a node would pull it.

The OCI distribution API (https://github.com/opencontainers/distribution-spec/blob/main/spec.md, "Checking
if content exists in the registry"): ``HEAD /v2/<name>/manifests/<reference>`` answers 200 when the
registry holds the manifest and 404 when not. The reference is the digest where the image pins one (what
the runtime pulls then), else the tag, else ``latest`` (the runtimes' default). Each image is looked for
where components.images.mirrored puts it (the site registry's rule).

Credentials come from the stack's pull secret (``USER:PASSWORD`` or a ``.dockerconfigjson`` text), used
as the registry asks in its ``WWW-Authenticate`` challenge to ``GET /v2/``: ``Basic`` (htpasswd), or
``Bearer`` through the token service it names (https://distribution.github.io/distribution/spec/auth/token/:
``GET realm?service=S&scope=repository:NAME:pull`` with basic credentials, answering ``token`` or
``access_token``). Loopback registries are spoken to over plain HTTP, every other one over HTTPS, as
go-containerregistry's ``name.Registry.Scheme`` (pkg/name/registry.go) and Docker's default insecure
127.0.0.0/8 do.
"""

from __future__ import annotations

import base64
import ipaddress
import json
import re
import ssl
import subprocess
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from email.message import Message
from pathlib import Path
from typing import Any

from components.images import mirrored, parse_image

# Every manifest kind an image reference can name: a multi-platform index or a single image, OCI or Docker.
MANIFEST_TYPES = (
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.docker.distribution.manifest.v2+json",
)
_CHALLENGE_PARAM = re.compile(r'(\w+)="([^"]*)"')
_ANSWERS = frozenset({200, 404})  # the manifest is there / is not


class RegistryError(RuntimeError):
    """The check could not be made; the message is one line ending in 'To fix: ...'."""


class UnreachableRegistryError(RegistryError):
    """No registry answered at the address."""


class RegistryAuthError(RegistryError):
    """The registry refused the credentials (or asked for some and the stack gives none)."""


@dataclass(frozen=True)
class Credentials:
    user: str
    password: str = field(repr=False)

    def basic(self) -> str:
        return "Basic " + base64.b64encode(f"{self.user}:{self.password}".encode()).decode()


@dataclass(frozen=True)
class ImageCheck:
    """One image: the upstream reference, where the site registry must hold it, and whether it does."""

    source: str
    mirrored: str
    present: bool

    @property
    def copy_command(self) -> str:
        return f"crane copy {self.source} {self.mirrored}"


def _host_of(key: str) -> str:
    """A .dockerconfigjson ``auths`` key as a host: ``https://reg:5000/v1/`` → ``reg:5000``."""
    return urllib.parse.urlsplit(key if "://" in key else f"//{key}").netloc


def credentials_for(pull_secret: str | None, host: str) -> Credentials | None:
    """The credentials a pull secret holds for ``host``; None: pull anonymously (as the kubelet does when the
    secret names another registry). ``pull_secret``: USER:PASSWORD (for the site registry) or a
    .dockerconfigjson text, both as the spec's ``upstream.image_pull_secret`` takes them."""
    if pull_secret is None:
        return None
    text = pull_secret.strip()
    if not text.startswith("{"):
        user, _, password = text.partition(":")
        return Credentials(user, password)
    try:
        auths: Mapping[str, Any] = json.loads(text).get("auths") or {}
    except (ValueError, AttributeError):
        raise RegistryAuthError(
            "upstream.image_pull_secret is not a .dockerconfigjson text. To fix: set it to USER:PASSWORD or to "
            "the content of a .dockerconfigjson file (`pulumi config set --secret --path "
            "'aistack:upstream.image_pull_secret' ...`)."
        ) from None
    for key, entry in auths.items():
        if _host_of(key) != host or not isinstance(entry, Mapping):
            continue
        if entry.get("auth"):
            try:
                user, _, password = base64.b64decode(str(entry["auth"])).decode().partition(":")
            except (ValueError, UnicodeDecodeError):
                raise RegistryAuthError(
                    f'upstream.image_pull_secret: the "auth" for {host} is not base64 of USER:PASSWORD. '
                    "To fix: write it as base64 of USER:PASSWORD, or give username and password."
                ) from None
            return Credentials(user, password)
        if "username" in entry:
            return Credentials(str(entry["username"]), str(entry.get("password", "")))
    return None


def scheme_for(host: str) -> str:
    """http for a loopback registry, https for every other one (module docstring)."""
    name = urllib.parse.urlsplit(f"//{host}").hostname or host
    if name == "localhost":
        return "http"
    try:
        return "http" if ipaddress.ip_address(name).is_loopback else "https"
    except ValueError:
        return "https"


def _challenge(header: str | None) -> tuple[str, dict[str, str]]:
    """``WWW-Authenticate: Bearer realm="...",service="..."`` → ("bearer", {realm:…, service:…})."""
    if not header:
        return "", {}
    scheme, _, params = header.strip().partition(" ")
    return scheme.lower(), dict(_CHALLENGE_PARAM.findall(params))


class Registry:
    """The site registry at ``host`` (host[:port]), spoken to with ``credentials`` as it asks."""

    def __init__(self, host: str, credentials: Credentials | None, timeout: float = 10.0) -> None:
        self.host = host
        self.base = f"{scheme_for(host)}://{host}"
        self.credentials = credentials
        self.timeout = timeout
        self.scheme = ""  # the challenge GET /v2/ answered with: "", "basic" or "bearer"
        self.params: dict[str, str] = {}

    def _open(self, request: urllib.request.Request) -> tuple[int, Message, bytes]:
        """Status, headers and body of one request; an HTTP error status is an answer, not an exception."""
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as resp:
                return resp.status, resp.headers, resp.read()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.headers, b""
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            if isinstance(reason, ssl.SSLError):
                fix = "give the machine the CA that signed the registry's certificate (SSL_CERT_FILE)"
            else:
                fix = "check upstream.image_registry and that this machine can reach it (proxy, firewall, VPN)"
            raise UnreachableRegistryError(
                f"image registry {self.host} is unreachable at {request.full_url} ({reason}). To fix: {fix}."
            ) from None

    def ping(self) -> None:
        """``GET /v2/``: 200 (anonymous) or 401 with the challenge the manifest requests must answer."""
        status, headers, _ = self._open(urllib.request.Request(f"{self.base}/v2/"))
        if status == 401:
            self.scheme, self.params = _challenge(headers.get("WWW-Authenticate"))
        elif status != 200:
            raise RegistryError(
                f"{self.base}/v2/ answered {status}: not an OCI distribution registry. To fix: point "
                "upstream.image_registry at the registry's host[:port][/path]."
            )

    def _authorization(self, repository: str) -> str | None:
        if not self.scheme:
            return None
        if self.scheme != "basic":
            return f"Bearer {self._token(repository)}"
        if self.credentials is None:
            raise RegistryAuthError(
                f"image registry {self.host} asks for credentials and the stack gives none for it. To fix: set "
                "upstream.image_pull_secret (USER:PASSWORD or a .dockerconfigjson naming the registry)."
            )
        return self.credentials.basic()

    def _token(self, repository: str) -> str:
        realm = self.params.get("realm")
        if not realm:
            raise RegistryError(
                f"image registry {self.host} asked for a token without naming a realm. To fix: "
                "check the registry's token auth configuration."
            )
        query = {"scope": f"repository:{repository}:pull"}
        if self.params.get("service"):
            query["service"] = self.params["service"]
        request = urllib.request.Request(f"{realm}?{urllib.parse.urlencode(query)}")
        if self.credentials is not None:
            request.add_header("Authorization", self.credentials.basic())
        status, _, body = self._open(request)
        if status in (401, 403):
            raise self._refused(status)
        try:
            answer = json.loads(body)
            return str(answer.get("token") or answer["access_token"])
        except (ValueError, KeyError, AttributeError):
            raise RegistryError(
                f"the token service {realm} answered {status} without a token. To fix: check the "
                "registry's token auth configuration."
            ) from None

    def _refused(self, status: int) -> RegistryAuthError:
        given = "the credentials in upstream.image_pull_secret" if self.credentials else "anonymous pulls"
        return RegistryAuthError(
            f"image registry {self.host} refused {given} ({status}). To fix: set upstream.image_pull_secret to "
            "an account that may pull from it (`pulumi config set --secret --path "
            "'aistack:upstream.image_pull_secret' USER:PASSWORD`)."
        )

    def _head(self, repository: str, reference: str) -> tuple[urllib.request.Request, int, Message]:
        request = urllib.request.Request(f"{self.base}/v2/{repository}/manifests/{reference}", method="HEAD")
        request.add_header("Accept", ", ".join(MANIFEST_TYPES))
        authorization = self._authorization(repository)
        if authorization:
            request.add_header("Authorization", authorization)
        status, headers, _ = self._open(request)
        return request, status, headers

    def has_manifest(self, repository: str, reference: str) -> bool:
        """``HEAD /v2/<repository>/manifests/<reference>``: True on 200, False on 404."""
        request, status, headers = self._head(repository, reference)
        if status == 401 and not self.scheme:
            # /v2/ let anonymous callers in but this repository does not: answer its challenge, once.
            self.scheme, self.params = _challenge(headers.get("WWW-Authenticate"))
            if self.scheme:
                request, status, headers = self._head(repository, reference)
        if status in (401, 403):
            raise self._refused(status)
        if status not in _ANSWERS:
            raise RegistryError(
                f"image registry {self.host} answered {status} to HEAD {request.full_url}. To fix: check the "
                "registry's logs; the check needs the OCI distribution API's manifest HEAD."
            )
        return status == 200


def where(reference: str, registry: str) -> tuple[str, str, str]:
    """(host, repository, reference to HEAD) of an upstream image in the site registry ``registry``."""
    ref = parse_image(mirrored(reference, registry))
    return ref.registry, ref.repository, ref.digest or ref.tag or "latest"


def check_images(
    references: Iterable[str],
    registry: str,
    pull_secret: str | None = None,
    *,
    timeout: float = 10.0,
    workers: int = 8,
) -> list[ImageCheck]:
    """Each upstream image reference, looked for in the site ``registry`` (host[:port][/path]).

    Raises UnreachableRegistryError, RegistryAuthError or RegistryError (one line with the fix) when the check
    cannot be made: nothing answers, the credentials are refused, or the answer is not the API's."""
    host = registry.split("/", 1)[0]
    client = Registry(host, credentials_for(pull_secret, host), timeout)
    client.ping()
    sources = list(dict.fromkeys(references))

    def one(source: str) -> ImageCheck:
        _, repository, ref = where(source, registry)
        return ImageCheck(source, mirrored(source, registry), client.has_manifest(repository, ref))

    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        return list(pool.map(one, sources))


SECRET_KEY = "aistack:upstream.image_pull_secret"


def pulumi_secret(stack: str, config_file: Path, key: str, pulumi: str = "pulumi", timeout: float = 60) -> str:
    """A secret config value decrypted by the Pulumi CLI (`pulumi config get --path KEY`), with the caller's
    backend and passphrase or key (its environment), from ``config_file`` in the project directory (cwd).
    Raises RuntimeError with the CLI's last line when it cannot."""
    argv = [pulumi, "config", "get", "--path", key, "--stack", stack, "--config-file", str(config_file)]
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise RuntimeError(str(exc)) from None
    if out.returncode != 0:
        lines = (out.stderr or out.stdout).strip().splitlines()
        raise RuntimeError(lines[-1] if lines else f"exit status {out.returncode}")
    return out.stdout.rstrip("\n")
