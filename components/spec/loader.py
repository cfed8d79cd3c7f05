"""Reading a stack spec from Pulumi config: a stack file on disk or the engine's config bag."""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from foundation import safe_yaml
from foundation.errors import SpecError, SpecIssue, did_you_mean, join_path

from . import rules
from .model import (
    ALERT_CREDENTIALS,
    CREDENTIAL_RECEIVERS,
    AcceleratorPool,
    AlertReceiver,
    AuthorizedNetwork,
    Capacity,
    ClusterSpec,
    KubeflowSpec,
    MetalLBSpec,
    MonitoringSpec,
    ObjectStoreSpec,
    OnPremSpec,
    SchedulingSpec,
    SecuritySpec,
    SharedFilesystem,
    Sharing,
    StackSpec,
    StorageSpec,
    Taint,
    TeamSpec,
    UpstreamSpec,
)
from .network import NetworkSpec

NAMESPACE = "aistack"
SECRET_PLACEHOLDER = "[secret]"
# Credentials live beside the spec, never in it: secret config keys the program reads as Pulumi
# secrets (`pulumi config set --secret aistack:<key> ...`), so they never reach state in plain text.
OBJECT_STORE_CREDENTIALS = ("object_store_access_key_id", "object_store_secret_access_key")
# Alert receivers' credentials, one structured key: receiver name → Slack webhook URL, PagerDuty routing
# key or webhook URL (`pulumi config set --secret --path 'aistack:alert_credentials.<receiver>' <value>`).
ALERT_CREDENTIALS_KEY = f"{NAMESPACE}:{ALERT_CREDENTIALS}"
SECRET_CONFIG_KEYS = frozenset((*OBJECT_STORE_CREDENTIALS, ALERT_CREDENTIALS))

# The model a key's value is parsed into, by the field name that holds it.
_MODEL_OF_FIELD: dict[str, type[BaseModel]] = {
    "cluster": ClusterSpec,
    "authorized_networks": AuthorizedNetwork,
    "accelerator_pools": AcceleratorPool,
    "capacity": Capacity,
    "sharing": Sharing,
    "taints": Taint,
    "storage": StorageSpec,
    "shared_filesystem": SharedFilesystem,
    "monitoring": MonitoringSpec,
    "alert_receivers": AlertReceiver,
    "teams": TeamSpec,
    "scheduling": SchedulingSpec,
    "kubeflow": KubeflowSpec,
    "security": SecuritySpec,
    "upstream": UpstreamSpec,
    "onprem": OnPremSpec,
    "object_store": ObjectStoreSpec,
    "metallb": MetalLBSpec,
    "network": NetworkSpec,
}

# Human wording for the regex patterns in model.py, and what to write instead.
_PATTERN_TEXT = {
    r"^[a-z]([-a-z0-9]*[a-z0-9])?$": (
        "must be a lowercase DNS label: a-z, 0-9 and '-', starting with a letter",
        "write e.g. 'team-a' (lowercase letters, digits and '-', starting with a letter).",
    ),
    r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$": (
        "must be lowercase letters, digits and '-'",
        "write e.g. 'datasets' (lowercase letters, digits and '-').",
    ),
    r"^[0-9]+(h|d|w|y)$": ("must be a duration like 12h, 15d, 4w or 1y", "write e.g. 15d."),
    r"^[0-9]+x[0-9]+(x[0-9]+)?$": ("must be a topology like 2x4 or 4x4x4", "write e.g. 2x4 (see the catalog)."),
    r"^1\.[0-9]{2}$": ("must be a Kubernetes minor version like 1.34", "write e.g. '1.34' (quoted)."),
    r"^[A-Z]{2}$": ("must be an ISO 3166 two-letter country code like DE", "write e.g. DE."),
    r"^https?://[^/\s]+$": ("must be a URL with scheme and host only", "write e.g. https://rgw.dc1.internal:7480."),
}


# Plain wording for type errors (YAML users write lists and mappings, not tuples and dicts), and the fix.
_TYPE_TEXT = {
    "tuple_type": ("must be a list", "write a list, e.g. [a, b] or one '- item' per line."),
    "list_type": ("must be a list", "write a list, e.g. [a, b] or one '- item' per line."),
    "dict_type": ("must be a mapping of key: value", "write a mapping, e.g. {key: value}."),
    "model_type": ("must be a mapping of key: value", "write a mapping of this section's keys, e.g. {name: x}."),
    "model_attributes_type": ("must be a mapping of key: value", "write a mapping, e.g. {name: x}."),
    "bool_type": ("must be true or false", "write true or false, unquoted."),
    "bool_parsing": ("must be true or false", "write true or false, unquoted."),
    "int_type": ("must be a whole number", "write a whole number such as 4, unquoted, without decimals."),
    "int_parsing": ("must be a whole number", "write a whole number such as 4, unquoted, without decimals."),
    "int_from_float": ("must be a whole number", "write a whole number such as 4, without decimals."),
    "string_type": ("must be text", "write text; quote it if it looks like a number or true/false, e.g. '1.34'."),
}

# Range errors: pydantic's error type → (what the limit means, how to say the fix).
_BOUND_TEXT = {
    "greater_than_equal": ("ge", "at least"),
    "greater_than": ("gt", "more than"),
    "less_than_equal": ("le", "at most"),
    "less_than": ("lt", "less than"),
}


@dataclass(frozen=True)
class LoadedStack:
    """A stack file read from disk: its name, where it came from, its spec and raw config."""

    name: str
    path: Path
    spec: StackSpec
    config: dict[str, Any] = field(default_factory=dict)
    secret_keys: tuple[str, ...] = ()


def _model_for(loc: tuple[Any, ...]) -> type[BaseModel]:
    for part in reversed(loc):
        if isinstance(part, str) and part in _MODEL_OF_FIELD:
            return _MODEL_OF_FIELD[part]
    return StackSpec


def _shown(value: Any) -> str:
    text = repr(value) if not isinstance(value, (dict, list, tuple)) else type(value).__name__
    return text if len(text) <= 60 else text[:57] + "..."


def _field_fix(loc: tuple[Any, ...]) -> str:
    """The fallback fix: what the field is for and its default, from its documentation."""
    desc = _model_for(loc[:-1]).model_fields.get(str(loc[-1])) if loc else None
    if desc is not None and desc.description:
        return f"set {loc[-1]} as documented: {desc.description}"
    return "see the examples in stacks/ for this section."


def _issue_from_pydantic(err: Mapping[str, Any]) -> SpecIssue:
    loc = tuple(err["loc"])
    path = join_path(*loc)
    kind = err["type"]
    value = err.get("input")
    ctx = err.get("ctx") or {}
    if kind == "extra_forbidden":
        model = _model_for(loc[:-1])
        key = loc[-1]
        return SpecIssue(path, f"unknown key '{key}';", did_you_mean(key, list(model.model_fields)))
    if kind == "missing":
        desc = _model_for(loc).model_fields.get(str(loc[-1]))
        about = f" ({desc.description})" if desc is not None and desc.description else ""
        return SpecIssue(path, f"is required{about}.", f"add {loc[-1]}.")
    if kind == "literal_error":
        choices = re.findall(r"'([^']*)'", str(ctx.get("expected", "")))
        return SpecIssue(path, f"{_shown(value)} is not allowed;", did_you_mean(value, choices))
    if kind == "string_pattern_mismatch":
        pattern = str(ctx.get("pattern", ""))
        text, fix = _PATTERN_TEXT.get(pattern, (f"must match {pattern}", _field_fix(loc)))
        return SpecIssue(path, f"{_shown(value)} {text}.", fix)
    if kind in _TYPE_TEXT:
        text, fix = _TYPE_TEXT[kind]
        if isinstance(value, bool) and kind.startswith("int"):
            fix = "write a number such as 4; true/false are not numbers."
        return SpecIssue(path, f"{text} (got {_shown(value)}).", fix)
    if kind in _BOUND_TEXT:
        key, words = _BOUND_TEXT[kind]
        return SpecIssue(
            path, f"must be {words} {ctx.get(key)} (got {_shown(value)}).", f"use a value {words} {ctx.get(key)}."
        )
    if kind in ("string_too_short", "string_too_long", "too_short", "too_long"):
        limit = ctx.get("min_length", ctx.get("max_length"))
        unit = "character(s)" if kind.startswith("string") else "item(s)"
        words = "at least" if kind.endswith("short") else "at most"
        return SpecIssue(
            path, f"must have {words} {limit} {unit} (got {_shown(value)}).", f"use {words} {limit} {unit}."
        )
    if kind == "value_error":
        msg = str(err.get("msg", "")).removeprefix("Value error, ")
        reason, sep, fix = msg.partition("; write it like ")
        if sep:
            return SpecIssue(path, reason + ".", f"write it like {fix}.")
        return SpecIssue(path, msg + ".", _field_fix(loc))
    return SpecIssue(path, f"{err['msg']} (got {_shown(value)}).", _field_fix(loc))


def parse_spec(values: Mapping[str, Any], source: str = "") -> StackSpec:
    """Validate a mapping of aistack config keys (namespace already stripped) into a StackSpec.

    Raises SpecError carrying every problem found: all shape errors at once and, when the shape
    is right, all cross-field rule violations at once.
    """
    if not isinstance(values, Mapping):
        raise SpecError(
            [SpecIssue("(root)", "the aistack config must be a mapping of keys.", "see stacks/ for examples.")], source
        )
    try:
        spec = StackSpec.model_validate(dict(values))
    except ValidationError as exc:
        issues = [_issue_from_pydantic(e) for e in exc.errors(include_url=False)]
        raise SpecError(issues, source) from None
    issues = rules.check(spec)
    if issues:
        raise SpecError(issues, source)
    return spec


def _decode(value: Any) -> Any:
    """The engine hands structured config over as JSON text; plain strings stay strings."""
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def spec_values_from_config(config: Mapping[str, Any]) -> dict[str, Any]:
    """Pick the ``aistack:*`` keys out of a full Pulumi config bag: the engine's or a stack file's.

    The engine passes every value as text and structured ones as JSON. A stack file read with YAML
    mostly has native values, but its text is decoded the engine's way too: `pulumi config set` (3.259)
    rewrites every top-level value of the file as a string (``aistack:data_protection: "false"`` after
    another key is set), which the engine reads as the boolean, so the offline commands must as well.
    """
    decode = _decode
    out: dict[str, Any] = {}
    issues: list[SpecIssue] = []
    for key, value in config.items():
        ns, sep, name = str(key).partition(":")
        name = name.removeprefix("config:")  # aistack:config:foo is how older Pulumi versions spelled project keys
        if sep and ns == NAMESPACE and name not in SECRET_CONFIG_KEYS:
            out[name] = decode(value)
        elif ns != NAMESPACE and (issue := _namespace_issue(str(key), ns, sep, name)):
            issues.append(issue)
    if issues:
        raise SpecError(issues)
    if "project" not in out and "gcp:project" in config and out.get("target") == "gcp":
        out["project"] = config["gcp:project"]
    return out


def _namespace_issue(key: str, ns: str, sep: str, name: str) -> SpecIssue | None:
    """A key that was surely meant for aistack but would be silently ignored: a near miss of the
    namespace (`aistackk:teams`, `AISTACK:teams`) or a bare aistack field name (`teams`)."""
    fields = list(StackSpec.model_fields)
    shown = key if key.strip() and key.isprintable() else repr(key)
    if not sep:
        if not key.strip():
            return SpecIssue(shown, "is an empty config key;", "delete it.")
        fix = f"write it as '{NAMESPACE}:{key}'." if key in fields else f"write it as <namespace>:{key}."
        return SpecIssue(shown, "config keys are namespaced (namespace:name); this one has no namespace;", fix)
    lowered = ns.lower()
    near = lowered == NAMESPACE or difflib.SequenceMatcher(None, lowered, NAMESPACE).ratio() >= 0.75
    if near or (name in fields and lowered.startswith(("ai", "stack"))):
        return SpecIssue(
            shown,
            f"namespace '{ns}' is not '{NAMESPACE}', so this whole key would be ignored;",
            f"write it as '{NAMESPACE}:{name}'.",
        )
    return None


def _mask_secure(value: Any, path: str, secrets: list[str]) -> Any:
    if isinstance(value, dict):
        if set(value) == {"secure"}:
            secrets.append(path)
            return SECRET_PLACEHOLDER
        return {k: _mask_secure(v, f"{path}.{k}", secrets) for k, v in value.items()}
    if isinstance(value, list):
        return [_mask_secure(v, f"{path}[{i}]", secrets) for i, v in enumerate(value)]
    return value


def resolve_stack_path(stack: str, stacks_dir: Path) -> Path:
    """A stack name ('local') → stacks/Pulumi.local.yaml; anything that looks like a path is a path."""
    candidate = Path(stack)
    if candidate.suffix in (".yaml", ".yml") or "/" in stack or candidate.exists():
        return candidate
    return stacks_dir / f"Pulumi.{stack}.yaml"


def stack_name_of(path: Path) -> str:
    name = path.name
    for suffix in (".yaml", ".yml"):
        name = name.removesuffix(suffix)
    return name.removeprefix("Pulumi.")


def read_stack_file(path: Path) -> tuple[dict[str, Any], tuple[str, ...]]:
    """Raw config of a Pulumi stack file, with secure values masked (they cannot be decrypted offline)."""
    where = str(path)
    if not path.is_file():
        siblings = sorted(stack_name_of(p) for p in path.parent.glob("Pulumi.*.yaml")) if path.parent.is_dir() else []
        hint = (
            did_you_mean(stack_name_of(path), siblings)
            if siblings
            else "pass a stack name from stacks/ or a file path."
        )
        raise SpecError([SpecIssue(where, "no such stack file;", hint)])
    doc = safe_yaml.load_file(path, "stack file")
    if doc is None:
        doc = {}
    if not isinstance(doc, dict) or not isinstance(doc.get("config", {}), dict):
        raise SpecError(
            [SpecIssue(where, "a Pulumi stack file is a mapping with a 'config' mapping.", "see stacks/ for examples.")]
        )
    secrets: list[str] = []
    config = {k: _mask_secure(v, k, secrets) for k, v in (doc.get("config") or {}).items()}
    return config, tuple(secrets)


@dataclass(frozen=True)
class AlertCredentials:
    """What the stack config holds under aistack:alert_credentials, never the values themselves.

    secret: receiver name → whether its credential is stored as a Pulumi secret.
    opaque: the whole key is one secret whose receiver names cannot be read (offline, a secure JSON text).
    malformed: why the value is not a mapping of receiver name → text, or None.
    """

    secret: Mapping[str, bool] = field(default_factory=dict)
    opaque: bool = False
    malformed: str | None = None


def _shape_of(value: Any) -> str:
    return "a list" if isinstance(value, list) else "a mapping" if isinstance(value, dict) else type(value).__name__


def alert_credentials_in_file(config: Mapping[str, Any], secrets: tuple[str, ...]) -> AlertCredentials:
    """From a stack file read by read_stack_file: secure values masked, their paths in ``secrets``.

    `pulumi config set --secret --path 'aistack:alert_credentials.<receiver>'` stores a mapping whose
    leaves are ``{secure: ...}``; a leaf in plain text is a credential in the clear."""
    if ALERT_CREDENTIALS_KEY not in config:
        return AlertCredentials()
    if ALERT_CREDENTIALS_KEY in secrets:
        return AlertCredentials(opaque=True)  # `pulumi config set --secret aistack:alert_credentials '{...}'`
    value = config[ALERT_CREDENTIALS_KEY]
    if not isinstance(value, dict):
        return AlertCredentials(malformed=f"must be a mapping of receiver name → credential (got {_shape_of(value)})")
    status: dict[str, bool] = {}
    for name, leaf in value.items():
        path = f"{ALERT_CREDENTIALS_KEY}.{name}"
        if path not in secrets and not isinstance(leaf, str):
            return AlertCredentials(malformed=f"{name}: must be text, the credential itself (got {_shape_of(leaf)})")
        status[str(name)] = path in secrets
    return AlertCredentials(secret=status)


def alert_credentials_from_engine(value: Any, secret: bool) -> AlertCredentials:
    """From the engine's config bag: structured values arrive as JSON text, and a key holding any secret
    leaf is a secret as a whole (the engine does not say which leaf), so plain leaves beside secret ones
    are caught only where the stack file is read (``aistack validate``, ``load_stack``)."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            if secret and value == SECRET_PLACEHOLDER:
                return AlertCredentials(opaque=True)  # the offline planner's stand-in for a secret it cannot read
            return AlertCredentials(malformed="must be a mapping of receiver name → credential (got text)")
    if not isinstance(value, dict):
        return AlertCredentials(malformed=f"must be a mapping of receiver name → credential (got {_shape_of(value)})")
    for name, leaf in value.items():
        if not isinstance(leaf, str):
            return AlertCredentials(malformed=f"{name}: must be text, the credential itself (got {_shape_of(leaf)})")
    return AlertCredentials(secret={str(name): secret for name in value})


def set_alert_credential_command(receiver: str, value: str = "<value>") -> str:
    """The command that stores one receiver's credential as a secret, beside the spec."""
    return f"pulumi config set --secret --path '{ALERT_CREDENTIALS_KEY}.{receiver}' {value}"


def alert_credential_issues(spec: StackSpec, found: AlertCredentials) -> list[SpecIssue]:
    """Each slack, pagerduty and webhook receiver has its credential, as a secret, and no credential is
    left for a receiver the spec does not have. Issues name receivers, never quote a credential."""
    if found.malformed is not None:
        return [
            SpecIssue(
                ALERT_CREDENTIALS_KEY,
                f"{found.malformed}.",
                f"pulumi config rm {ALERT_CREDENTIALS_KEY}, then for each receiver: "
                + set_alert_credential_command("<receiver>")
                + ".",
            )
        ]
    issues: list[SpecIssue] = []
    receivers = spec.monitoring.alert_receivers
    needing = [r.name for r in receivers if r.type in CREDENTIAL_RECEIVERS]
    if spec.monitoring.enabled and not found.opaque:
        for i, r in enumerate(receivers):
            if r.type in CREDENTIAL_RECEIVERS and r.name not in found.secret:
                what = CREDENTIAL_RECEIVERS[r.type]
                issues.append(
                    SpecIssue(
                        f"{ALERT_CREDENTIALS_KEY}.{r.name}",
                        f"monitoring.alert_receivers[{i}] ({r.type} receiver '{r.name}') needs its {what}, "
                        "kept as a secret beside the spec.",
                        set_alert_credential_command(r.name, "<" + what.lower().replace(" ", "-") + ">") + ".",
                    )
                )
    for name, secret in found.secret.items():
        path = f"{ALERT_CREDENTIALS_KEY}.{name}"
        if name not in needing:
            other = next((r for r in receivers if r.name == name), None)
            if other is not None:
                issues.append(
                    SpecIssue(
                        path,
                        f"receiver '{name}' is an {other.type} receiver, which takes no credential;",
                        f"pulumi config rm --path '{path}'.",
                    )
                )
            else:
                issues.append(
                    SpecIssue(
                        path,
                        f"no slack, pagerduty or webhook receiver '{name}' in monitoring.alert_receivers;",
                        did_you_mean(name, needing) if needing else f"pulumi config rm --path '{path}'.",
                    )
                )
        elif not secret:
            issues.append(
                SpecIssue(
                    path,
                    "is a credential stored in plain text in the stack config.",
                    f"pulumi config rm --path '{path}' && {set_alert_credential_command(name)}.",
                )
            )
    return issues


def credential_issues(
    spec: StackSpec, present: Mapping[str, bool], alerts: AlertCredentials | None = None
) -> list[SpecIssue]:
    """Credentials the spec needs: object-store keys present (name → whether it is a secret) and the
    alert receivers' credentials (see alert_credential_issues; none given: none in the config)."""
    issues: list[SpecIssue] = []
    keys = OBJECT_STORE_CREDENTIALS if spec.target == "onprem" and spec.onprem.object_store.kind != "none" else ()
    for key in keys:
        if key not in present:
            issues.append(
                SpecIssue(
                    f"{NAMESPACE}:{key}",
                    f"onprem.object_store.kind {spec.onprem.object_store.kind} needs this credential.",
                    f"pulumi config set --secret {NAMESPACE}:{key} <value>"
                    + (
                        " (any strong value: the in-cluster store is created with it)."
                        if spec.onprem.object_store.kind == "seaweedfs"
                        else "."
                    ),
                )
            )
    for key, secret in present.items():
        if key in OBJECT_STORE_CREDENTIALS and not secret:
            issues.append(
                SpecIssue(
                    f"{NAMESPACE}:{key}",
                    "is a credential stored in plain text in the stack config.",
                    f"pulumi config rm {NAMESPACE}:{key} && pulumi config set --secret {NAMESPACE}:{key} <value>.",
                )
            )
    return issues + alert_credential_issues(spec, alerts or AlertCredentials())


PULL_SECRET_PATH = f"{NAMESPACE}:upstream.image_pull_secret"


def pull_secret_issues(spec: StackSpec, is_secret: bool) -> list[SpecIssue]:
    """The site registry's credentials must be a Pulumi secret, like every other credential."""
    if spec.upstream.image_pull_secret is None or is_secret:
        return []
    return [
        SpecIssue(
            PULL_SECRET_PATH,
            "is a credential stored in plain text in the stack config.",
            f"pulumi config rm --path '{PULL_SECRET_PATH}' && pulumi config set --secret --path '{PULL_SECRET_PATH}' "
            "USER:PASSWORD.",
        )
    ]


def load_stack(stack: str, stacks_dir: Path | str = "stacks") -> LoadedStack:
    """Resolve, read and validate one stack. Raises SpecError with every problem found."""
    path = resolve_stack_path(stack, Path(stacks_dir))
    config, secrets = read_stack_file(path)
    spec = parse_spec(spec_values_from_config(config), source=str(path))
    present = {
        key: f"{NAMESPACE}:{key}" in secrets for key in OBJECT_STORE_CREDENTIALS if f"{NAMESPACE}:{key}" in config
    }
    issues = credential_issues(spec, present, alert_credentials_in_file(config, secrets))
    issues += pull_secret_issues(spec, PULL_SECRET_PATH in secrets or f"{NAMESPACE}:upstream" in secrets)
    if issues:
        raise SpecError(issues, str(path))
    return LoadedStack(stack_name_of(path), path, spec, config, secrets)
