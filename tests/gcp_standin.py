"""A Compute Engine API stand-in on loopback, answering in the API's documented JSON formats.

google-cloud-compute's REST transport reaches it through an ``api_endpoint`` of ``http://127.0.0.1:PORT``
(aistack reads AISTACK_GCP_COMPUTE_ENDPOINT), and google-auth exchanges or self-signs its token with a
service-account key file whose ``token_uri`` is the same server (:func:`service_account_key`).
Nothing resolves outside loopback.

What it serves (https://cloud.google.com/compute/docs/reference/rest/v1):

- ``regions.get``: ``GET /compute/v1/projects/{p}/regions/{r}``, a ``compute#region`` built by :func:`region`.
  Its ``quotas[].metric`` names come from the ``Quota.Metric`` enum of the installed client
  (``google.cloud.compute_v1.types.Quota.Metric``), a source independent of aistack's tables:
  :func:`region` refuses a name outside the enum, and the server leaves out any that slipped in, as a
  real region reports no metric the API does not define. So a metric name the code gets wrong finds no row.
- ``reservations.get``: ``GET /compute/v1/projects/{p}/zones/{z}/reservations/{name}`` (:func:`reservation`).
- ``reservations.aggregatedList``: ``GET /compute/v1/projects/{p}/aggregated/reservations``.
- ``networks.get``: ``GET /compute/v1/projects/{p}/global/networks/{name}``, a ``compute#network`` (:func:`network`).
- ``subnetworks.get``: ``GET /compute/v1/projects/{p}/regions/{r}/subnetworks/{name}``, a ``compute#subnetwork``
  with its ``secondaryIpRanges`` (:func:`subnetwork`), and ``subnetworks.getIamPolicy``
  (``GET .../subnetworks/{name}/getIamPolicy``, a ``Policy``: :func:`iam_policy`).
- Resource Manager v1 (https://cloud.google.com/resource-manager/reference/rest/v1/projects):
  ``projects.get`` (``GET /v1/projects/{p}``, with its ``projectNumber``) and ``projects.getIamPolicy``
  (``POST /v1/projects/{p}:getIamPolicy``): the same server stands in for both APIs.
- the OAuth token endpoint: any other ``POST``.
- anything else: 404 in the API's error format.

State is class-level on :class:`ComputeStandIn` (``reset()`` between tests). To serve another method,
add a ``(regex, handler)`` pair to ``ComputeStandIn.routes`` (the handler gets the match and returns
``(status, body)``, or ``None`` for the 404); :func:`serve` runs the server in a thread.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

from google.cloud.compute_v1.types import Quota

PROJECT = "acme-ml"
API = "https://www.googleapis.com/compute/v1"
# The regional quota metrics the Compute API defines, from the installed client (not from aistack).
METRICS: frozenset[str] = frozenset(m.name for m in Quota.Metric if m.name != "UNDEFINED_METRIC")

Route = Callable[["ComputeStandIn", re.Match[str]], "tuple[int, dict[str, Any]] | None"]


class UnknownMetricError(ValueError):
    """A quota metric the Compute API's Quota.Metric enum does not define."""


def _region_get(h: ComputeStandIn, m: re.Match[str]) -> tuple[int, dict[str, Any]] | None:
    project, name = m.group(1), m.group(2)
    found = h.regions.get((project, name)) or (h.regions.get(name) if project == PROJECT else None)
    if found is None:
        return None
    known = [q for q in found.get("quotas", []) if q["metric"] in METRICS]
    return 200, {**found, "quotas": known}


def _reservation_get(h: ComputeStandIn, m: re.Match[str]) -> tuple[int, dict[str, Any]] | None:
    found = h.reservations.get((m.group(1), m.group(2), m.group(3)))
    return None if found is None else (200, found)


def _reservations_aggregated(h: ComputeStandIn, m: re.Match[str]) -> tuple[int, dict[str, Any]]:
    items: dict[str, Any] = {}
    for (project, zone, _), r in h.reservations.items():
        if project == m.group(1):
            items.setdefault(f"zones/{zone}", {"reservations": []})["reservations"].append(r)
    return 200, {"kind": "compute#reservationAggregatedList", "items": items}


def _network_get(h: ComputeStandIn, m: re.Match[str]) -> tuple[int, dict[str, Any]] | None:
    found = h.networks.get((m.group(1), m.group(2)))
    return None if found is None else (200, found)


def _subnetwork_get(h: ComputeStandIn, m: re.Match[str]) -> tuple[int, dict[str, Any]] | None:
    found = h.subnetworks.get((m.group(1), m.group(2), m.group(3)))
    return None if found is None else (200, found)


def _subnetwork_policy(h: ComputeStandIn, m: re.Match[str]) -> tuple[int, dict[str, Any]] | None:
    if (m.group(1), m.group(2), m.group(3)) not in h.subnetworks:
        return None
    return 200, h.subnetwork_policies.get((m.group(1), m.group(2), m.group(3)), iam_policy({}))


def _project_get(h: ComputeStandIn, m: re.Match[str]) -> tuple[int, dict[str, Any]] | None:
    number = h.project_numbers.get(m.group(1))
    if number is None:
        return None
    return 200, {"projectNumber": number, "projectId": m.group(1), "lifecycleState": "ACTIVE", "name": m.group(1)}


def _project_policy(h: ComputeStandIn, m: re.Match[str]) -> tuple[int, dict[str, Any]] | None:
    if m.group(1) in h.forbidden:
        return 403, {
            "error": {"code": 403, "message": "The caller does not have permission", "status": "PERMISSION_DENIED"}
        }
    found = h.project_policies.get(m.group(1))
    return None if found is None else (200, found)


class ComputeStandIn(BaseHTTPRequestHandler):
    """The Compute API methods in ``routes``, Resource Manager's in ``routes`` / ``post_routes``, and the token
    endpoint; state is class-level."""

    # regions: keyed by name (served for PROJECT) or by (project, name)
    regions: ClassVar[dict[Any, dict[str, Any]]] = {}
    reservations: ClassVar[dict[tuple[str, str, str], dict[str, Any]]] = {}
    networks: ClassVar[dict[tuple[str, str], dict[str, Any]]] = {}  # (project, name)
    subnetworks: ClassVar[dict[tuple[str, str, str], dict[str, Any]]] = {}  # (project, region, name)
    subnetwork_policies: ClassVar[dict[tuple[str, str, str], dict[str, Any]]] = {}
    project_numbers: ClassVar[dict[str, str]] = {}  # Resource Manager: project id -> number
    project_policies: ClassVar[dict[str, dict[str, Any]]] = {}
    forbidden: ClassVar[set[str]] = set()  # projects whose getIamPolicy answers 403
    # (Authorization header, path) of every GET; ("POST", path) of every POST
    seen: ClassVar[list[tuple[str, str]]] = []
    routes: ClassVar[list[tuple[str, Route]]] = [
        (r"/compute/v1/projects/([^/]+)/regions/([^/]+)", _region_get),
        (r"/compute/v1/projects/([^/]+)/zones/([^/]+)/reservations/([^/]+)", _reservation_get),
        (r"/compute/v1/projects/([^/]+)/aggregated/reservations", _reservations_aggregated),
        (r"/compute/v1/projects/([^/]+)/global/networks/([^/]+)", _network_get),
        (r"/compute/v1/projects/([^/]+)/regions/([^/]+)/subnetworks/([^/]+)", _subnetwork_get),
        (r"/compute/v1/projects/([^/]+)/regions/([^/]+)/subnetworks/([^/]+)/getIamPolicy", _subnetwork_policy),
        (r"/v1/projects/([^/:]+)", _project_get),
    ]
    post_routes: ClassVar[list[tuple[str, Route]]] = [(r"/v1/projects/([^/:]+):getIamPolicy", _project_policy)]

    @classmethod
    def reset(cls) -> None:
        cls.regions = {}
        cls.reservations = {}
        cls.networks = {}
        cls.subnetworks = {}
        cls.subnetwork_policies = {}
        cls.project_numbers = {}
        cls.project_policies = {}
        cls.forbidden = set()
        cls.seen = []

    def _send(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.seen.append(("POST", self.path))
        path = self.path.split("?")[0]
        for pattern, handler in self.post_routes:
            if m := re.fullmatch(pattern, path):
                answer = handler(self, m)
                if answer is not None:
                    return self._send(*answer)
                return self._send(404, {"error": {"code": 404, "message": f"'{path}' was not found", "errors": []}})
        self._send(200, {"access_token": "test-token", "expires_in": 3600, "token_type": "Bearer"})

    def do_GET(self) -> None:
        self.seen.append((self.headers.get("Authorization", ""), self.path))
        path = self.path.split("?")[0]
        for pattern, handler in self.routes:
            if m := re.fullmatch(pattern, path):
                answer = handler(self, m)
                if answer is not None:
                    return self._send(*answer)
                break
        self._send(404, {"error": {"code": 404, "message": f"The resource '{path}' was not found", "errors": []}})

    def log_message(self, *args: Any) -> None:
        pass


def region(
    quotas: Mapping[str | Quota.Metric, tuple[float, float]], name: str = "us-central1", zones: str = "abcf"
) -> dict[str, Any]:
    """A compute#region with ``quotas`` {metric: (limit, usage)}; every metric must be a Quota.Metric name."""
    names = {m.name if isinstance(m, Quota.Metric) else m: v for m, v in quotas.items()}
    unknown = sorted(set(names) - METRICS)
    if unknown:
        raise UnknownMetricError(f"not Compute API quota metrics (Quota.Metric): {unknown}")
    base = f"{API}/projects/{PROJECT}"
    return {
        "kind": "compute#region",
        "name": name,
        "status": "UP",
        "zones": [f"{base}/zones/{name}-{z}" for z in zones],
        "quotas": [{"metric": m, "limit": lim, "usage": use} for m, (lim, use) in names.items()],
    }


def reservation(
    name: str, zone: str, machine: str, count: int, in_use: int, status: str = "READY", project: str = PROJECT
) -> dict[str, Any]:
    """A compute#reservation of ``count`` VMs of ``machine``, ``in_use`` of them taken."""
    return {
        "kind": "compute#reservation",
        "name": name,
        "zone": f"{API}/projects/{project}/zones/{zone}",
        "status": status,
        "specificReservationRequired": True,
        "specificReservation": {
            "count": str(count),  # int64 fields travel as JSON strings
            "inUseCount": str(in_use),
            "instanceProperties": {"machineType": machine},
        },
    }


def network(name: str, project: str = PROJECT) -> dict[str, Any]:
    """A compute#network in custom subnet mode."""
    return {
        "kind": "compute#network",
        "name": name,
        "selfLink": f"{API}/projects/{project}/global/networks/{name}",
        "autoCreateSubnetworks": False,
        "routingConfig": {"routingMode": "REGIONAL"},
    }


def subnetwork(
    name: str,
    region_name: str,
    network_name: str,
    cidr: str,
    secondary: Mapping[str, str] | None = None,
    project: str = PROJECT,
    network_project: str | None = None,
) -> dict[str, Any]:
    """A compute#subnetwork of ``network_name`` with its primary range and ``secondary`` {rangeName: cidr}."""
    return {
        "kind": "compute#subnetwork",
        "name": name,
        "network": f"{API}/projects/{network_project or project}/global/networks/{network_name}",
        "region": f"{API}/projects/{project}/regions/{region_name}",
        "selfLink": f"{API}/projects/{project}/regions/{region_name}/subnetworks/{name}",
        "ipCidrRange": cidr,
        "privateIpGoogleAccess": True,
        "secondaryIpRanges": [{"rangeName": k, "ipCidrRange": v} for k, v in (secondary or {}).items()],
    }


def iam_policy(bindings: Mapping[str, list[str]]) -> dict[str, Any]:
    """A Policy (IAM's format, as both Resource Manager and Compute answer getIamPolicy): {role: members}."""
    return {
        "version": 1,
        "etag": "BwXhqDlqNsE=",
        "bindings": [{"role": role, "members": list(members)} for role, members in bindings.items()],
    }


@contextmanager
def serve(handler: type[ComputeStandIn] = ComputeStandIn) -> Iterator[str]:
    """The stand-in (or a subclass serving more) on a free loopback port, for the duration: yields its base URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()


def service_account_key(path: Path, token_uri: str, project: str = PROJECT) -> Path:
    """A service-account key file (a fresh RSA key) whose token_uri is ``token_uri``; returns ``path``.

    google-auth honours a service-account file's token_uri (an authorized-user file's is always
    replaced by Google's), so the token exchange, when the client makes one, stays on loopback.
    """
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    path.write_text(
        json.dumps(
            {
                "type": "service_account",
                "project_id": project,
                "private_key_id": "test",
                "private_key": pem,
                "client_email": f"preflight@{project}.iam.gserviceaccount.com",
                "client_id": "1",
                "token_uri": token_uri,
            }
        )
    )
    return path
