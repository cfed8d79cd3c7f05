"""Pure: which in-cluster workloads need cloud data access, and to which buckets.

Every target binds the same list to its own identity system (GKE Workload Identity, EKS Pod
Identity), so access is decided once and cannot drift between clouds.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from .spec import StackSpec

Access = Literal["read", "write"]
# Kubeflow Profiles give every team workload this service account; aistack keeps the name without Kubeflow.
TEAM_SERVICE_ACCOUNT = "default-editor"


def team_component(team: str) -> str:
    """The identity component of a team's workloads."""
    return f"team-{team}"


@dataclass(frozen=True)
class WorkloadIdentity:
    component: str
    namespace: str
    service_account: str  # Kubernetes service account
    buckets: dict[str, Access]  # bucket purpose -> access


def workload_identities(spec: StackSpec) -> list[WorkloadIdentity]:
    wanted: list[WorkloadIdentity] = []
    has = set(spec.storage.buckets)
    if spec.kubeflow.enabled and "pipelines" in spec.kubeflow.components and "artifacts" in has:
        wanted.append(WorkloadIdentity("pipelines", "kubeflow", "pipeline-runner", {"artifacts": "write"}))
    for team in spec.teams:
        grants: dict[str, Access] = {p: "read" for p in ("datasets",) if p in has}
        grants.update({p: "write" for p in ("artifacts", "models") if p in has})
        wanted.append(WorkloadIdentity(team_component(team.name), team.name, TEAM_SERVICE_ACCOUNT, grants))
    return wanted
