"""The site registry's pull secret as Kubernetes Secrets (type kubernetes.io/dockerconfigjson).

``upstream.image_pull_secret`` holds ``USER:PASSWORD`` or a whole ``.dockerconfigjson`` text; the Secret
``charts.PULL_SECRET`` carries it in each namespace that pulls, named by the charts' ``imagePullSecrets``
values and by the pod specs :mod:`.rewrite` touches. Format: https://kubernetes.io/docs/concepts/configuration/secret/#docker-config-secrets
"""

from __future__ import annotations

import base64
import json
from typing import Any

import pulumi

from ..spec import StackSpec
from .charts import PULL_SECRET


def dockerconfigjson(registry: str, credential: str) -> str:
    """The ``.dockerconfigjson`` for the registry's host: the credential as given when it is one already."""
    if credential.lstrip().startswith("{"):
        return credential
    host = registry.split("/", 1)[0]
    auth = base64.b64encode(credential.strip().encode()).decode()
    return json.dumps({"auths": {host: {"auth": auth}}}, sort_keys=True)


def pull_secret(namespace: str, content: Any) -> dict[str, Any]:
    """The Secret in one namespace; ``content`` is the .dockerconfigjson (a Pulumi secret Output at deploy time)."""
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "kubernetes.io/dockerconfigjson",
        "metadata": {
            "name": PULL_SECRET,
            "namespace": namespace,
            "labels": {"app.kubernetes.io/managed-by": "aistack"},
        },
        "stringData": {".dockerconfigjson": content},
    }


def pull_content(spec: StackSpec) -> pulumi.Output[str] | None:
    """The .dockerconfigjson of upstream.image_pull_secret, as a Pulumi secret; None without one."""
    secret, registry = spec.upstream.image_pull_secret, spec.upstream.image_registry
    if secret is None or registry is None:
        return None
    return pulumi.Output.secret(dockerconfigjson(registry, secret.get_secret_value()))
