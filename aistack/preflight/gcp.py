"""GCP: regional quotas and reservations, read with google-cloud-compute over REST.

Read-only calls: regions.get (quotas[] with metric, limit, usage, and the region's zones;
https://cloud.google.com/compute/docs/reference/rest/v1/regions/get), reservations.get for a named
reservation (looked for in the stack's zones, else every zone of the region) and
reservations.aggregatedList for affinity any. ``endpoint`` replaces https://compute.googleapis.com
(tests: a server on loopback; the REST transport accepts an http:// endpoint). An existing network
(``aistack:network``) is checked by networks.py, whose Resource Manager calls go to ``rm_endpoint``.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from components.spec import StackSpec
from foundation.words import counted

from .needs import ReservationNeed, StackNeeds, stack_needs
from .networks import gcp_network_checks
from .report import Check, QuotaState, Report, evaluate_quotas


def request_fix(project: str, region: str, metric: str, desired: int) -> str:
    url = (
        f"https://console.cloud.google.com/iam-admin/quotas?project={quote(project)}"
        f"&metric={quote('compute.googleapis.com/' + metric.lower(), safe='')}"
    )
    return (
        f"ask for {desired} in {region}: {url} (select the {region} row, Edit quota); current values: "
        f"gcloud compute regions describe {region} --project {project} --format='table(quotas)'"
    )


def _name(url: str) -> str:
    return url.rstrip("/").rsplit("/", 1)[-1]


def _clients(credentials: Any, endpoint: str | None) -> tuple[Any, Any]:
    from google.cloud import compute_v1

    options = {"api_endpoint": endpoint} if endpoint else None
    regions = compute_v1.RegionsClient(transport="rest", credentials=credentials, client_options=options)
    reservations = compute_v1.ReservationsClient(transport="rest", credentials=credentials, client_options=options)
    return regions, reservations


def _reservation_check(client: Any, project: str, region: str, zones: list[str], need: ReservationNeed) -> Check:
    from google.api_core import exceptions as gexc

    want = f"{need.nodes} × {need.machine_type}"
    if need.reservation is None:  # affinity any: what matching open reservations could take
        free, count = 0, 0
        for scope, scoped in client.aggregated_list(project=project):
            if _name(scope) not in zones:
                continue
            for r in scoped.reservations:
                props = r.specific_reservation.instance_properties
                if (
                    r.status == "READY"
                    and not r.specific_reservation_required
                    and _name(props.machine_type) == need.machine_type
                ):
                    count += 1
                    free += int(r.specific_reservation.count) - int(r.specific_reservation.in_use_count)
        return Check(
            (need.pool,),
            "reservation",
            "open reservations",
            "matching open reservations",
            want,
            f"{free} free in {counted(count, 'reservation')}",
            "info",
            note="affinity any: nodes they cannot hold run on-demand (that quota is checked above)",
        )
    owner, name = project, need.reservation
    parts = need.reservation.split("/")
    if len(parts) == 4 and parts[0] == "projects" and parts[2] == "reservations":
        owner, name = parts[1], parts[3]
    create = (
        f"gcloud compute reservations create {name} --project {owner} --zone <zone in {region}> "
        f"--machine-type {need.machine_type} --vm-count {need.nodes} --require-specific-reservation"
    )
    for zone in zones:
        try:
            r = client.get(project=owner, zone=zone, reservation=name)
        except gexc.NotFound:
            continue
        spec = r.specific_reservation
        machine = _name(spec.instance_properties.machine_type)
        total, used = int(spec.count), int(spec.in_use_count)
        free = total - used
        have = f"{r.status or '?'}, {free} of {total} × {machine} free in {zone}"
        problems = []
        if r.status != "READY":
            problems.append(f"it is {r.status or 'in an unknown state'}, not READY")
        if machine != need.machine_type:
            problems.append(f"it holds {machine}, the pool creates {need.machine_type}")
        if free < need.nodes:
            problems.append(f"{free} free {'VM' if free == 1 else 'VMs'} for {counted(need.nodes, 'node')}")
        if not problems:
            return Check((need.pool,), "reservation", need.reservation, "reservation", want, have, "ok")
        resize = (
            f"gcloud compute reservations update {name} --project {owner} --zone {zone} --vm-count {used + need.nodes}"
            if machine == need.machine_type and r.status == "READY"
            else create
        )
        return Check(
            (need.pool,),
            "reservation",
            need.reservation,
            "reservation",
            want,
            have,
            "short",
            f"{'; '.join(problems)}: lower max_nodes to {max(free, 0)}, or {resize}",
            # what the nodes in it now free up cannot fix a wrong machine type or a reservation too small
            over_limit=machine != need.machine_type or total < need.nodes,
        )
    return Check(
        (need.pool,),
        "reservation",
        need.reservation,
        "reservation",
        want,
        f"not found in {', '.join(zones)}",
        "short",
        f"check the name and project ({owner}), or create it: {create}",
        over_limit=True,
    )


def check_gcp(
    spec: StackSpec,
    project: str,
    credentials: Any = None,
    endpoint: str | None = None,
    needs: StackNeeds | None = None,
    rm_endpoint: str | None = None,
) -> Report:
    """Every need of the stack against the project's quotas and reservations in the stack's region."""
    from google.api_core import exceptions as gexc
    from google.auth import exceptions as aexc

    needs = needs or stack_needs(spec)
    report = Report("gcp", spec.region, scope=f"project {project}", notes=list(needs.notes))
    regions, reservations = _clients(credentials, endpoint)
    try:
        region = regions.get(project=project, region=spec.region)
        states = {q.metric: QuotaState(float(q.limit), float(q.usage), q.metric) for q in region.quotas}
        zones = list(spec.zones) or sorted(_name(z) for z in region.zones)
        report.checks += evaluate_quotas(
            needs.quotas, states, lambda metric, desired: request_fix(project, spec.region, metric, desired)
        )
        report.checks += [_reservation_check(reservations, project, spec.region, zones, r) for r in needs.reservations]
        report.checks += gcp_network_checks(spec, project, credentials, endpoint, rm_endpoint)
    except gexc.Forbidden as exc:
        report.problem = (
            f"Compute Engine API refused: {exc.message}. To fix: enable compute.googleapis.com in {project} and use "
            "credentials with compute.regions.get, compute.reservations.get/list, and for an existing network "
            "compute.networks.get and compute.subnetworks.get (roles/compute.viewer; in a Shared VPC, on the host)."
        )
    except gexc.NotFound as exc:
        report.problem = f"{exc.message}. To fix: check the project ({project}) and region ({spec.region})."
    except gexc.GoogleAPICallError as exc:
        report.problem = f"Compute Engine API error: {exc.message}."
    except (aexc.GoogleAuthError, gexc.RetryError) as exc:
        report.problem = (
            f"could not authenticate to Google Cloud: {exc}. To fix: gcloud auth application-default login."
        )
    except OSError as exc:  # connection refused, DNS: requests' errors derive from OSError
        report.problem = f"could not reach the Compute Engine API: {exc}."
    return report
