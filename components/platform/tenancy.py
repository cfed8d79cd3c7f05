"""Tenancy decisions: one namespace per team, with Pod Security admission labels.

Pure functions over the spec and the accelerator inventory; the Platform component registers
what they return.
"""

from __future__ import annotations

from typing import Any

from ..handle import PoolInventory
from ..spec import StackSpec, TeamSpec

TEAM_LABEL = "aistack.io/team"
PSS_RESTRICTED = "restricted"
PSS_BASELINE = "baseline"


def pod_security_level(team: TeamSpec, inventory: tuple[PoolInventory, ...]) -> str:
    """restricted by default; baseline for teams that run on TPU pools.

    GKE's TPU runtime pods need host-level settings the restricted profile forbids, while
    NVIDIA GPU and Neuron workloads run under restricted with the device plugin.
    """
    kinds = {p.kind for p in inventory if team.quotas.get(p.pool)}
    return PSS_BASELINE if "tpu" in kinds else PSS_RESTRICTED


def team_namespace(spec: StackSpec, team: TeamSpec, inventory: tuple[PoolInventory, ...]) -> dict[str, Any]:
    level = pod_security_level(team, inventory)
    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {
            "name": team.name,
            "labels": {
                TEAM_LABEL: team.name,
                "app.kubernetes.io/managed-by": "aistack",
                "aistack.io/stack": spec.name,
                "pod-security.kubernetes.io/enforce": level,
                "pod-security.kubernetes.io/audit": PSS_RESTRICTED,
                "pod-security.kubernetes.io/warn": PSS_RESTRICTED,
            },
        },
    }


def tenancy_objects(spec: StackSpec, inventory: tuple[PoolInventory, ...]) -> list[dict[str, Any]]:
    return [team_namespace(spec, team, inventory) for team in spec.teams]
