"""Reading a stack spec from Pulumi config: a stack file on disk or the engine's config bag."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from . import rules
from .errors import SpecError, SpecIssue, did_you_mean, join_path
from .model import (
    AcceleratorPool,
    AlertReceiver,
    AuthorizedNetwork,
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

NAMESPACE = "aistack"
SECRET_PLACEHOLDER = "[secret]"
# Credentials live beside the spec, never in it: secret config keys the program reads as Pulumi
# secrets (`pulumi config set --secret aistack:<key> ...`), so they never reach state in plain text.
OBJECT_STORE_CREDENTIALS = ("object_store_access_key_id", "object_store_secret_access_key")
SECRET_CONFIG_KEYS = frozenset(OBJECT_STORE_CREDENTIALS)

# The model a key's value is parsed into, by the field name that holds it.
_MODEL_OF_FIELD: dict[str, type[BaseModel]] = {
    "cluster": ClusterSpec,
    "authorized_networks": AuthorizedNetwork,
    "accelerator_pools": AcceleratorPool,
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
}

# Human wording for the regex patterns in model.py.
_PATTERN_TEXT = {
    r"^[a-z]([-a-z0-9]*[a-z0-9])?$": "must be a lowercase DNS label: a-z, 0-9 and '-', starting with a letter",
    r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$": "must be lowercase letters, digits and '-'",
    r"^[0-9]+(h|d|w|y)$": "must be a duration like 12h, 15d, 4w or 1y",
    r"^[0-9]+x[0-9]+(x[0-9]+)?$": "must be a topology like 2x4 or 4x4x4",
    r"^1\.[0-9]{2}$": "must be a Kubernetes minor version like 1.34",
    r"^[A-Z]{2}$": "must be an ISO 3166 two-letter country code like DE",
}


# Plain wording for type errors; YAML users write lists and mappings, not tuples and dicts.
_TYPE_TEXT = {
    "tuple_type": "must be a list",
    "list_type": "must be a list",
    "dict_type": "must be a mapping of key: value",
    "model_type": "must be a mapping of key: value",
    "model_attributes_type": "must be a mapping of key: value",
    "bool_type": "must be true or false",
    "bool_parsing": "must be true or false",
    "int_type": "must be a whole number",
    "int_parsing": "must be a whole number",
    "int_from_float": "must be a whole number",
    "string_type": "must be text",
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


def _issue_from_pydantic(err: Mapping[str, Any]) -> SpecIssue:
    loc = tuple(err["loc"])
    path = join_path(*loc)
    kind = err["type"]
    value = err.get("input")
    if kind == "extra_forbidden":
        model = _model_for(loc[:-1])
        key = loc[-1]
        return SpecIssue(path, f"unknown key '{key}';", did_you_mean(key, list(model.model_fields)))
    if kind == "missing":
        desc = _model_for(loc).model_fields.get(str(loc[-1]))
        about = f" ({desc.description})" if desc is not None and desc.description else ""
        return SpecIssue(path, f"is required{about}.", f"add {loc[-1]}.")
    if kind == "literal_error":
        choices = re.findall(r"'([^']*)'", str(err.get("ctx", {}).get("expected", "")))
        return SpecIssue(path, f"'{value}' is not allowed;", did_you_mean(value, choices))
    if kind == "string_pattern_mismatch":
        pattern = str(err.get("ctx", {}).get("pattern", ""))
        text = _PATTERN_TEXT.get(pattern, f"must match {pattern}")
        return SpecIssue(path, f"'{value}' {text}.", "correct the value.")
    if kind in _TYPE_TEXT:
        shown = repr(value) if not isinstance(value, (dict, list)) else type(value).__name__
        return SpecIssue(path, f"{_TYPE_TEXT[kind]} (got {shown}).", "correct the value.")
    if kind == "value_error":
        msg = str(err.get("msg", "")).removeprefix("Value error, ")
        return SpecIssue(path, msg + ".", "correct the value.")
    shown = repr(value) if not isinstance(value, (dict, list)) else type(value).__name__
    return SpecIssue(path, f"{err['msg']} (got {shown}).", "correct the value.")


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


def spec_values_from_config(config: Mapping[str, Any], *, from_engine: bool = False) -> dict[str, Any]:
    """Pick the ``aistack:*`` keys out of a full Pulumi config bag.

    from_engine: values come from the Pulumi engine, which passes every value as text and
    structured ones as JSON; a stack file read with YAML already has native values.
    """
    decode = _decode if from_engine else (lambda v: v)
    out: dict[str, Any] = {}
    for key, value in config.items():
        ns, sep, name = key.partition(":")
        name = name.removeprefix("config:")  # aistack:config:foo is how older Pulumi versions spelled project keys
        if sep and ns == NAMESPACE and name not in SECRET_CONFIG_KEYS:
            out[name] = decode(value)
    if "project" not in out and "gcp:project" in config and out.get("target") == "gcp":
        out["project"] = config["gcp:project"]
    return out


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
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise SpecError(
            [SpecIssue(where, f"is not valid YAML: {exc}".replace("\n", " "), "fix the YAML syntax.")]
        ) from None
    if doc is None:
        doc = {}
    if not isinstance(doc, dict) or not isinstance(doc.get("config", {}), dict):
        raise SpecError(
            [SpecIssue(where, "a Pulumi stack file is a mapping with a 'config' mapping.", "see stacks/ for examples.")]
        )
    secrets: list[str] = []
    config = {k: _mask_secure(v, k, secrets) for k, v in (doc.get("config") or {}).items()}
    return config, tuple(secrets)


def credential_issues(spec: StackSpec, present: Mapping[str, bool]) -> list[SpecIssue]:
    """Object-store credentials the spec needs: each key present (name → whether it is a secret)."""
    issues = []
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
        if not secret:
            issues.append(
                SpecIssue(
                    f"{NAMESPACE}:{key}",
                    "is a credential stored in plain text in the stack config.",
                    f"pulumi config rm {NAMESPACE}:{key} && pulumi config set --secret {NAMESPACE}:{key} <value>.",
                )
            )
    return issues


def load_stack(stack: str, stacks_dir: Path | str = "stacks") -> LoadedStack:
    """Resolve, read and validate one stack. Raises SpecError with every problem found."""
    path = resolve_stack_path(stack, Path(stacks_dir))
    config, secrets = read_stack_file(path)
    spec = parse_spec(spec_values_from_config(config), source=str(path))
    present = {key: f"{NAMESPACE}:{key}" in secrets for key in SECRET_CONFIG_KEYS if f"{NAMESPACE}:{key}" in config}
    issues = credential_issues(spec, present)
    if issues:
        raise SpecError(issues, str(path))
    return LoadedStack(stack_name_of(path), path, spec, config, secrets)
