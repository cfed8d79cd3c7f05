"""GCP: what of the stack is still in the project, and deleting it (google-cloud-compute over REST).

``gcp_findings`` is pure: the Compute API's resources in its documented JSON (camelCase, as
aggregatedList/list return them), per type, each with the scope it was listed under ('zones/<z>',
'regions/<r>', 'global') → findings. ``GcpApi`` makes the calls.

Instances, disks, forwarding rules and addresses take labels: they are the stack's when they carry both
stack identity labels (aistack-project, aistack-stack), or GKE's ``goog-k8s-cluster-name: <cluster>``.
Firewall rules, backend services, NEGs, target pools and instance groups take no labels, so they are
matched by name and references: a name that starts with the stack's prefix ('<prefix>-') or GKE's
('gke-<cluster>-'); for firewall rules, NEGs and instance groups, the VPC aistack created for the stack
(never an existing network: it may be shared); a backend service whose backends are the stack's NEGs or
instance groups; a target pool that a stack's forwarding rule points at or that holds its instances.
The descriptions GKE writes on what it creates for Services and Ingresses name the Kubernetes Service,
not the cluster, so they identify nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from .model import Finding, Owner, SweepReport

COMPUTE_SCOPE = "https://www.googleapis.com/auth/compute"
# GKE's API takes no narrower scope than cloud-platform (https://cloud.google.com/kubernetes-engine/docs/reference/rest).
CONTAINER_SCOPE = "https://www.googleapis.com/auth/cloud-platform"
CONTAINER_ENDPOINT_ENV = "AISTACK_GCP_CONTAINER_ENDPOINT"
CONTAINER_API = "https://container.googleapis.com"
GKE_CLUSTER_LABEL = "goog-k8s-cluster-name"


@dataclass(frozen=True)
class Kind:
    plural: str
    collection: str  # the REST collection and the scoped list's field: instances, forwardingRules, …
    field: str  # the delete request's field: instance, forwarding_rule, …
    gcloud: str  # gcloud compute <group>
    labeled: bool
    # client class per scope kind ('zones', 'regions', 'global')
    clients: tuple[tuple[str, str], ...]
    aggregated: bool = True


# Every type checked, in the order --delete removes them: instances before their disks, forwarding
# rules before target pools, backend services and addresses, backend services before NEGs and groups.
KINDS: dict[str, Kind] = {
    "instance": Kind("instances", "instances", "instance", "instances", True, (("zones", "InstancesClient"),)),
    "forwarding-rule": Kind(
        "forwarding rules",
        "forwardingRules",
        "forwarding_rule",
        "forwarding-rules",
        True,
        (("regions", "ForwardingRulesClient"), ("global", "GlobalForwardingRulesClient")),
    ),
    "target-pool": Kind(
        "target pools", "targetPools", "target_pool", "target-pools", False, (("regions", "TargetPoolsClient"),)
    ),
    "backend-service": Kind(
        "backend services",
        "backendServices",
        "backend_service",
        "backend-services",
        False,
        (("global", "BackendServicesClient"), ("regions", "RegionBackendServicesClient")),
    ),
    "network-endpoint-group": Kind(
        "network endpoint groups (NEGs)",
        "networkEndpointGroups",
        "network_endpoint_group",
        "network-endpoint-groups",
        False,
        (
            ("zones", "NetworkEndpointGroupsClient"),
            ("regions", "RegionNetworkEndpointGroupsClient"),
            ("global", "GlobalNetworkEndpointGroupsClient"),
        ),
    ),
    "instance-group": Kind(
        "instance groups",
        "instanceGroups",
        "instance_group",
        "instance-groups unmanaged",
        False,
        (("zones", "InstanceGroupsClient"),),
    ),
    "firewall": Kind(
        "firewall rules", "firewalls", "firewall", "firewall-rules", False, (("global", "FirewallsClient"),), False
    ),
    "address": Kind(
        "addresses",
        "addresses",
        "address",
        "addresses",
        True,
        (("regions", "AddressesClient"), ("global", "GlobalAddressesClient")),
    ),
    "disk": Kind("disks", "disks", "disk", "disks", True, (("zones", "DisksClient"), ("regions", "RegionDisksClient"))),
}
PLURALS = {k: v.plural for k, v in KINDS.items()}
# Types that also have a global list beside aggregatedList (deduplicated by selfLink).
GLOBAL_LISTS = {"forwarding-rule": "GlobalForwardingRulesClient", "address": "GlobalAddressesClient"}


def _last(url: str) -> str:
    return url.rstrip("/").rsplit("/", 1)[-1]


def _where(scope: str) -> tuple[str, str, str]:
    """'zones/us-central1-a' → ('zones', 'us-central1-a', '--zone us-central1-a')."""
    if scope == "global" or "/" not in scope:
        return "global", "global", "--global"
    what, name = scope.split("/", 1)
    flag = {"zones": "--zone", "regions": "--region"}.get(what, "--global")
    return what, name, f"{flag} {name}"


def _labels_match(r: Mapping[str, Any], owner: Owner) -> str | None:
    labels = r.get("labels") or {}
    want = owner.identity.gcp_labels()
    if want and all(labels.get(k) == v for k, v in want.items()):
        return "labels " + ", ".join(f"{k}={v}" for k, v in want.items())
    if labels.get(GKE_CLUSTER_LABEL) == owner.cluster:
        return f"label {GKE_CLUSTER_LABEL}={owner.cluster}"
    return None


def _name_match(r: Mapping[str, Any], owner: Owner) -> str | None:
    name = str(r.get("name", ""))
    for prefix, whose in ((f"{owner.prefix}-", "the stack's"), (f"gke-{owner.cluster}-", "GKE's, of the cluster")):
        if name.startswith(prefix):
            return f"name prefix {prefix} ({whose}; this type takes no labels)"
    network = str(r.get("network", ""))
    if owner.network and network and _last(network) == owner.network:
        return f"network {owner.network} (the VPC aistack created; this type takes no labels)"
    return None


def gcp_findings(
    listing: Mapping[str, Iterable[tuple[str, Mapping[str, Any]]]], owner: Owner, project: str
) -> list[Finding]:
    """Pure: (scope, resource) pairs per type, as the Compute API lists them → the stack's, in KINDS order."""
    matched: dict[str, list[tuple[str, Mapping[str, Any], str]]] = {k: [] for k in KINDS}
    seen: set[str] = set()
    for kind, spec in KINDS.items():
        for scope, r in listing.get(kind, ()):
            key = str(r.get("selfLink") or f"{kind}/{scope}/{r.get('name')}")
            if key in seen:
                continue
            seen.add(key)
            why = _labels_match(r, owner) if spec.labeled else _name_match(r, owner)
            if why is not None:
                matched[kind].append((scope, r, why))
    links = {kind: {str(r.get("selfLink", "")) for _, r, _ in found} - {""} for kind, found in matched.items()}
    # what the stack's resources point at is the stack's too
    groups = links["network-endpoint-group"] | links["instance-group"]
    targets = {str(r.get("target", "")) for _, r, _ in matched["forwarding-rule"]}
    for kind, holder in (("backend-service", "backends"), ("target-pool", "instances")):
        names = {str(x.get("name")) for _, x, _ in matched[kind]}
        for scope, r in listing.get(kind, ()):
            if str(r.get("name")) in names:
                continue
            if kind == "backend-service":
                hit = next((b["group"] for b in r.get(holder, []) if b.get("group") in groups), None)
                why = f"backend {_last(hit)} is the stack's (this type takes no labels)" if hit else None
            else:
                link = str(r.get("selfLink", ""))
                inst = next((i for i in r.get(holder, []) if i in links["instance"]), None)
                why = (
                    "target of a forwarding rule of the stack (this type takes no labels)"
                    if link and link in targets
                    else f"holds instance {_last(inst)} of the stack (this type takes no labels)"
                    if inst
                    else None
                )
            if why:
                names.add(str(r.get("name")))
                matched[kind].append((scope, r, why))
    out = []
    for kind, found in matched.items():
        spec = KINDS[kind]
        for scope, r, why in found:
            name = str(r["name"])
            _, place, flag = _where(scope)
            if kind == "firewall":
                flag = ""  # firewall rules are global and gcloud takes no --global for them
            command = " ".join(
                x for x in ("gcloud compute", spec.gcloud, "delete", name, flag, f"--project {project} --quiet") if x
            )
            out.append(Finding(kind, name, name, place, why, command, (("scope", scope),)))
    return out


# ------------------------------------------------------------------------------------------ the API


def _as_json(message: Any) -> dict[str, Any]:
    """A client message in the API's JSON field names (selfLink, labels, backends[].group)."""
    return dict(type(message).to_dict(message, preserving_proto_field_name=False))


class ContainerApiError(Exception):
    """GKE's API refused to list clusters (status, body)."""


class GcpApi:
    """One lister and one deleter per type, for one project."""

    def __init__(self, project: str, credentials: Any = None, endpoint: str | None = None, wait_s: float = 600):
        self.project = project
        self.credentials = credentials
        self.options = {"api_endpoint": endpoint} if endpoint else None
        self.wait_s = wait_s
        self._clients: dict[str, Any] = {}

    def client(self, name: str) -> Any:
        if name not in self._clients:
            from google.cloud import compute_v1

            cls = getattr(compute_v1, name)
            self._clients[name] = cls(transport="rest", credentials=self.credentials, client_options=self.options)
        return self._clients[name]

    def live_cluster(self, name: str) -> str | None:
        """The status of GKE cluster ``name`` while it exists in the project, any location (None: gone, or
        going: STOPPING). projects.locations.clusters.list with location '-' lists every location's. Its base
        is AISTACK_GCP_CONTAINER_ENDPOINT, else the Compute endpoint given (a stand-in serving both), else
        GKE's; a 404 from a stand-in that serves no GKE API means no cluster there."""
        import os

        from google.auth.credentials import Scoped
        from google.auth.transport.requests import AuthorizedSession

        base = os.environ.get(CONTAINER_ENDPOINT_ENV) or (self.options or {}).get("api_endpoint") or CONTAINER_API
        creds = self.credentials
        if isinstance(creds, Scoped):
            creds = creds.with_scopes([CONTAINER_SCOPE])  # type: ignore[no-untyped-call]
        url = f"{str(base).rstrip('/')}/v1/projects/{self.project}/locations/-/clusters"
        response = AuthorizedSession(creds).get(url, timeout=60)  # type: ignore[no-untyped-call]
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            raise ContainerApiError(response.status_code, response.text[:300])
        for cluster in response.json().get("clusters") or []:
            if cluster.get("name") == name and cluster.get("status") != "STOPPING":
                return f"{cluster.get('status', 'RUNNING')} in {cluster.get('location', '?')}"
        return None

    def resources(self, kind: str) -> list[tuple[str, dict[str, Any]]]:
        spec = KINDS[kind]
        field = _snake(spec.collection)
        out: list[tuple[str, dict[str, Any]]] = []
        if spec.aggregated:
            base = self.client(spec.clients[0][1])
            for scope, scoped in base.aggregated_list(project=self.project):
                out += [(scope, _as_json(r)) for r in getattr(scoped, field)]
        else:
            out += [("global", _as_json(r)) for r in self.client(spec.clients[0][1]).list(project=self.project)]
        if kind in GLOBAL_LISTS:
            out += [("global", _as_json(r)) for r in self.client(GLOBAL_LISTS[kind]).list(project=self.project)]
        return out

    def delete(self, f: Finding) -> str | None:
        """Delete one finding and wait for its operation; the failure in one line, or None."""
        from google.api_core import exceptions as gexc

        spec = KINDS[f.kind]
        what, place, _ = _where(f.extra("scope", "global"))
        client_name = dict(spec.clients).get(what)
        if client_name is None:
            return f"{spec.plural} {f.name}: not deletable here ({what}); by hand: {f.command}"
        request: dict[str, Any] = {"project": self.project, spec.field: f.id}
        if what == "zones":
            request["zone"] = place
        elif what == "regions":
            request["region"] = place
        try:
            operation = self.client(client_name).delete(request=request)
            operation.result(timeout=self.wait_s)
        except gexc.NotFound:
            return None  # gone already (a disk deleted with its instance)
        except (gexc.GoogleAPICallError, TimeoutError) as exc:
            message = getattr(exc, "message", None) or str(exc)
            return f"{spec.plural} {f.name}: {message} (by hand: {f.command})"
        return None


def _snake(camel: str) -> str:
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in camel)


def _live_cluster(api: GcpApi, owner: Owner, report: SweepReport) -> str | None:
    """The guard's look-up; a refusal becomes the report's problem (nothing is deleted without the answer)."""
    try:
        return api.live_cluster(owner.cluster)
    except ContainerApiError as exc:
        report.problem = (
            f"GKE's API refused to list clusters ({exc.args[0]}: {exc.args[1]}). To fix: use credentials allowed "
            "to list GKE clusters (container.clusters.list), so --delete can check the cluster is gone"
        )
        return None


def sweep_gcp(
    owner: Owner,
    project: str,
    *,
    credentials: Any = None,
    endpoint: str | None = None,
    delete: bool = False,
    wait_s: float = 600,
) -> SweepReport:
    """List (and with ``delete``, remove then list again) what of the stack is left in the project."""
    from google.api_core import exceptions as gexc
    from google.auth import exceptions as aexc

    report = SweepReport("gcp", f"project {project}", owner.describe(), dict(PLURALS))
    api = GcpApi(project, credentials, endpoint, wait_s)

    def listing() -> dict[str, list[tuple[str, dict[str, Any]]]]:
        out: dict[str, list[tuple[str, dict[str, Any]]]] = {}
        for kind, spec in KINDS.items():
            try:
                out[kind] = api.resources(kind)
            except gexc.Forbidden as exc:
                report.unchecked.append(f"{spec.plural}: Compute Engine API refused: {exc.message}")
        return out

    try:
        live = _live_cluster(api, owner, report) if delete else None
        if live is not None or report.problem:  # what the sweep would delete is the running stack itself
            report.problem = report.problem or (
                f"the stack's GKE cluster {owner.cluster} still exists ({live}): --delete removes only what a "
                "destroy left behind. To fix: destroy the stack first (aistack destroy), then sweep again"
            )
            return report
        if delete:
            for f in gcp_findings(listing(), owner, project):  # in KINDS order: holders first
                failed = api.delete(f)
                if failed:
                    report.errors.append(failed)
                else:
                    report.deleted.append(f)
            report.unchecked.clear()
        report.findings = gcp_findings(listing(), owner, project)
        left = {(f.kind, f.id, f.extra("scope")) for f in report.findings}
        report.deleted = [f for f in report.deleted if (f.kind, f.id, f.extra("scope")) not in left]
        if owner.network is None:
            report.notes.append(
                "the stack uses an existing network: firewall rules, NEGs and instance groups are matched by name only"
            )
        report.notes.append(
            f"firewall rules, backend services, NEGs, target pools and instance groups take no labels: matched by "
            f"name ({owner.prefix}-, gke-{owner.cluster}-), network and references (see each 'matched by')"
        )
    except gexc.NotFound as exc:
        report.problem = f"{exc.message}. To fix: check the project ({project})."
    except gexc.Forbidden as exc:
        report.problem = (
            f"Compute Engine API refused: {exc.message}. To fix: enable compute.googleapis.com in {project} and use "
            "credentials allowed to list (and, for --delete, delete) Compute Engine resources (roles/compute.admin)."
        )
    except gexc.GoogleAPICallError as exc:
        report.problem = f"Compute Engine API error: {exc.message}."
    except (aexc.GoogleAuthError, gexc.RetryError) as exc:
        report.problem = (
            f"could not authenticate to Google Cloud: {exc}. To fix: gcloud auth application-default login."
        )
    except OSError as exc:
        report.problem = f"could not reach the Compute Engine API: {exc}."
    return report
