"""What a sweep found: findings per resource type, whose they are, and the command that deletes each.

Pure: no cloud client here. ``Owner`` says which resources belong to the stack (its identity tags or
labels, its EKS/GKE cluster, its name prefix and network); ``SweepReport`` follows the CLI's exit-code
contract: 0 nothing left, 1 something left, 2 could not check.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from components import naming
from components.spec import StackSpec

EXIT_CLEAN = 0
EXIT_LEFT = 1
EXIT_UNCHECKED = 2


@dataclass(frozen=True)
class Owner:
    """What marks a cloud resource as the stack's."""

    identity: naming.StackIdentity
    prefix: str  # the stack's physical-name prefix (naming.physical_prefix)
    cluster: str  # the EKS / GKE cluster's name
    network: str | None = None  # GCP: the VPC aistack created (None: an existing one, shared, never matched)

    @classmethod
    def of(cls, spec: StackSpec, stack: str, project: str = naming.PULUMI_PROJECT) -> Owner:
        identity = naming.StackIdentity(project, stack)
        prefix = naming.physical_prefix(spec, identity)
        if spec.target == "gcp":
            network = naming.gcp_network_name(prefix) if spec.network.network is None else None
            return cls(identity, prefix, naming.gke_cluster_name(prefix), network)
        return cls(identity, prefix, naming.eks_cluster_name(prefix))

    def describe(self) -> str:
        return f"stack {self.identity.key} (prefix {self.prefix}, cluster {self.cluster})"


@dataclass(frozen=True)
class Finding:
    """One resource still there: ``kind`` (a key of the cloud's KINDS), its id and where it is."""

    kind: str
    id: str  # what the delete call takes: instance id, ARN, name
    name: str  # what a person recognises (Name tag, resource name); may equal id
    location: str  # region, zone, 'global'
    matched_by: str  # why it is the stack's
    command: str  # the CLI command that deletes it
    ref: tuple[tuple[str, str], ...] = ()  # what deleting needs besides the id (association id, roles, …)

    def extra(self, key: str, default: str = "") -> str:
        return dict(self.ref).get(key, default)

    def as_json(self) -> dict[str, Any]:
        return {
            "type": self.kind,
            "id": self.id,
            "name": self.name,
            "location": self.location,
            "matched_by": self.matched_by,
            "delete_command": self.command,
        }


@dataclass
class SweepReport:
    cloud: str  # aws | gcp | onprem
    scope: str  # account / project and region
    owner: str  # Owner.describe()
    kinds: dict[str, str]  # kind → the plural shown (every type checked, in delete order)
    findings: list[Finding] = field(default_factory=list)
    deleted: list[Finding] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)  # deletions that failed, with the API's reason
    unchecked: list[str] = field(default_factory=list)  # types that could not be listed, with the reason
    notes: list[str] = field(default_factory=list)
    problem: str | None = None  # could not check at all (credentials, endpoint)

    @property
    def exit_code(self) -> int:
        if self.findings:
            return EXIT_LEFT
        if self.problem or self.unchecked:
            return EXIT_UNCHECKED
        return EXIT_CLEAN

    def by_kind(self) -> dict[str, list[Finding]]:
        out: dict[str, list[Finding]] = {}
        for kind in self.kinds:
            found = [f for f in self.findings if f.kind == kind]
            if found:
                out[kind] = found
        return out

    def summary(self) -> str:
        if self.problem:
            return f"sweep {self.cloud} ({self.scope}): could not check: {self.problem}"
        if self.findings:
            kinds = self.by_kind()
            return (
                f"sweep {self.cloud} ({self.scope}): {len(self.findings)} left of {self.owner}, in "
                f"{len(kinds)} of {len(self.kinds)} types checked"
            )
        if self.unchecked:
            return f"sweep {self.cloud} ({self.scope}): nothing found, but {len(self.unchecked)} types not checked"
        return f"sweep {self.cloud} ({self.scope}): clean, nothing of {self.owner} left in {len(self.kinds)} types"

    def lines(self) -> list[str]:
        """Plain lines (commands stay whole, for copying): per type, each resource and its delete command."""
        out = [self.summary()]
        if self.deleted:
            out.append(f"deleted {len(self.deleted)}:")
            out += [f"  {self.kinds.get(d.kind, d.kind)}: {d.name} ({d.location})" for d in self.deleted]
        for kind, found in self.by_kind().items():
            out.append(f"{self.kinds[kind]} ({len(found)}):")
            for f in found:
                shown = f.id if f.name == f.id else f"{f.name} [{f.id}]"
                out.append(f"  {shown}  {f.location}  matched by {f.matched_by}")
                out.append(f"    delete: {f.command}")
        out += [f"could not delete: {e}" for e in self.errors]
        out += [f"not checked: {u}" for u in self.unchecked]
        out += [f"note: {n}" for n in self.notes]
        return out

    def as_json(self) -> dict[str, Any]:
        return {
            "cloud": self.cloud,
            "scope": self.scope,
            "owner": self.owner,
            "exit_code": self.exit_code,
            "summary": self.summary(),
            "clean": self.exit_code == EXIT_CLEAN,
            "checked": list(self.kinds),
            "findings": [f.as_json() for f in self.findings],
            "deleted": [f.as_json() for f in self.deleted],
            "errors": self.errors,
            "unchecked": self.unchecked,
            "notes": self.notes,
            "problem": self.problem,
        }

    def dumps(self) -> str:
        return json.dumps(self.as_json(), indent=2)
