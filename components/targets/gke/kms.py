"""Customer-managed keys: one key ring in the stack's region, one key for cluster secrets and
one for data (buckets, boot disks, Filestore), each granted to exactly the service agent that
uses it. Keys are always protected: a destroyed key makes its data unreadable for good."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_gcp as gcp

from ... import naming
from ...spec import StackSpec

ROTATION_PERIOD = "7776000s"  # 90 days
ENCRYPTER = "roles/cloudkms.cryptoKeyEncrypterDecrypter"


@dataclass(frozen=True)
class GkeKeys:
    ring: gcp.kms.KeyRing
    secrets: gcp.kms.CryptoKey
    data: gcp.kms.CryptoKey
    grants: tuple[gcp.kms.CryptoKeyIAMMember, ...]


def service_agents(project_number: pulumi.Input[str]) -> dict[str, pulumi.Output[str]]:
    """Google-managed identities that encrypt on our behalf."""
    return {
        "gke": pulumi.Output.concat(
            "serviceAccount:service-", project_number, "@container-engine-robot.iam.gserviceaccount.com"
        ),
        "gcs": pulumi.Output.concat(
            "serviceAccount:service-", project_number, "@gs-project-accounts.iam.gserviceaccount.com"
        ),
        "compute": pulumi.Output.concat(
            "serviceAccount:service-", project_number, "@compute-system.iam.gserviceaccount.com"
        ),
        "filestore": pulumi.Output.concat(
            "serviceAccount:service-", project_number, "@cloud-filer.iam.gserviceaccount.com"
        ),
    }


def build_keys(name: str, spec: StackSpec, project_number: pulumi.Input[str], parent: pulumi.Resource) -> GkeKeys:
    keep = pulumi.ResourceOptions(parent=parent, protect=True, retain_on_delete=True)
    identity = naming.current_identity()
    prefix = naming.physical_prefix(spec, identity)
    labels = {"managed-by": "aistack", **identity.gcp_labels()}
    ring = gcp.kms.KeyRing(f"{name}-keyring", name=naming.kms_key_ring_name(prefix), location=spec.region, opts=keep)
    secrets = gcp.kms.CryptoKey(
        f"{name}-secrets-key",
        name="gke-secrets",
        key_ring=ring.id,
        rotation_period=ROTATION_PERIOD,
        purpose="ENCRYPT_DECRYPT",
        labels=labels,
        opts=keep,
    )
    data = gcp.kms.CryptoKey(
        f"{name}-data-key",
        name="data",
        key_ring=ring.id,
        rotation_period=ROTATION_PERIOD,
        purpose="ENCRYPT_DECRYPT",
        labels=labels,
        opts=keep,
    )
    agents = service_agents(project_number)
    child = pulumi.ResourceOptions(parent=parent)
    grants = (
        gcp.kms.CryptoKeyIAMMember(
            f"{name}-secrets-gke", crypto_key_id=secrets.id, role=ENCRYPTER, member=agents["gke"], opts=child
        ),
        *(
            gcp.kms.CryptoKeyIAMMember(
                f"{name}-data-{agent}", crypto_key_id=data.id, role=ENCRYPTER, member=agents[agent], opts=child
            )
            for agent in ("gcs", "compute", "filestore")
        ),
    )
    return GkeKeys(ring, secrets, data, grants)
