"""What `aistack local up` chose for one local cluster, handed to a plain `pulumi` run through the environment.

The local demo runs `pulumi up -s local` with a private copy of the stack's config whose upstream section
names the mirror it found (aistack/local/upstream.py). A user who follows the README by hand runs
`eval "$(aistack local env)"` and then `pulumi preview -s local` against the committed stack file, which
names no mirror: without this, that preview plans to move every chart to its public source (or fails to
reach it). `aistack local env` exports ``AISTACK_LOCAL_OVERRIDES``, a JSON object naming the stack it is
for and the two things the demo changed (the upstream section, the kubeconfig); the program applies it to
that stack only, says so in one line, and nothing is ever written into the repository.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

ENV = "AISTACK_LOCAL_OVERRIDES"
UPSTREAM_KEY = "aistack:upstream"
CLUSTER_KEY = "aistack:cluster"
FIELDS = ("stack", "upstream", "kubeconfig")


class OverrideError(ValueError):
    """The environment variable is there but not what `aistack local env` writes."""


def encode(stack: str, upstream: Mapping[str, Any] | None, kubeconfig: str | None) -> str:
    """The variable's value, as `aistack local env` exports it."""
    doc: dict[str, Any] = {"stack": stack}
    if upstream is not None:
        doc["upstream"] = dict(upstream)
    if kubeconfig is not None:
        doc["kubeconfig"] = kubeconfig
    return json.dumps(doc, sort_keys=True)


def parse(raw: str) -> dict[str, Any]:
    """The variable's JSON; a malformed one is an error that names the variable and the fix."""
    fix = f'To fix: unset {ENV}, or set it again with eval "$(aistack local env)".'
    try:
        doc = json.loads(raw)
    except ValueError as e:
        raise OverrideError(f"{ENV} is not JSON ({e}). {fix}") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("stack"), str):
        raise OverrideError(f"{ENV} must be a JSON object with a 'stack' name. {fix}")
    unknown = sorted(set(doc) - set(FIELDS))
    if unknown:
        raise OverrideError(f"{ENV} has unknown field(s) {', '.join(unknown)} (known: {', '.join(FIELDS)}). {fix}")
    if "upstream" in doc and not isinstance(doc["upstream"], dict):
        raise OverrideError(f"{ENV}.upstream must be an object (an aistack:upstream section). {fix}")
    if "kubeconfig" in doc and not isinstance(doc["kubeconfig"], str):
        raise OverrideError(f"{ENV}.kubeconfig must be a path. {fix}")
    return doc


def apply(bag: Mapping[str, Any], stack: str, environ: Mapping[str, str]) -> tuple[dict[str, Any], str | None]:
    """The engine's config bag with the overrides for ``stack`` applied, and the one line that says so
    (None: nothing applied: no variable, or one written for another stack). Values stay in the engine's
    form (structured ones as JSON text), so the spec is validated exactly as the stack file's would be."""
    raw = environ.get(ENV)
    if not raw:
        return dict(bag), None
    doc = parse(raw)
    if doc["stack"] != stack:
        return dict(bag), None  # a shell set up for the local stack may run pulumi for another one
    out = dict(bag)
    changed = []
    if "upstream" in doc:  # on top of the stack's own section, as the demo's private config has it
        own = json.loads(out[UPSTREAM_KEY]) if isinstance(out.get(UPSTREAM_KEY), str) else {}
        out[UPSTREAM_KEY] = json.dumps({**own, **doc["upstream"]})
        changed.append(UPSTREAM_KEY)
    if "kubeconfig" in doc:
        cluster = json.loads(out[CLUSTER_KEY]) if isinstance(out.get(CLUSTER_KEY), str) else {}
        cluster["kubeconfig"] = doc["kubeconfig"]
        out[CLUSTER_KEY] = json.dumps(cluster)
        changed.append(f"{CLUSTER_KEY}.kubeconfig")
    if not changed:
        return out, None
    return out, f"{' and '.join(changed)} for stack {stack} from {ENV} (set by `aistack local env`)"
