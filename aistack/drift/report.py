"""Drift reports from Pulumi engine events: pure functions, no engine needed.

A refresh preview emits, per resource, the recorded state (``old``) and the live one (``new``;
absent when the object was deleted out of band). A preview after refresh emits the steps that
would bring the live state back to the program (``--include-pending``). Both arrive as the
Automation API's typed ``EngineEvent``s; this module turns them into a report of what changed,
where, from what to what, with secrets masked.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from pulumi.automation import events

Kind = Literal["changed", "deleted", "pending"]
SECRET = "[secret]"
_SECRET_SIG_KEY = "4dabf18193072939515e22adb298388d"  # how engine state marks a secret value
ABSENT = "(absent)"

# Fields the cluster or the provider rewrite on their own; a change there is not drift.
IGNORED_PATHS = (
    "status",
    "metadata.resourceVersion",
    "metadata.managedFields",
    "metadata.generation",
    "metadata.uid",
    "metadata.finalizers",  # controllers add their own (Kueue's resource-in-use on ClusterQueues)
    "metadata.creationTimestamp",
    "metadata.annotations.kubectl.kubernetes.io/last-applied-configuration",
    "metadata.annotations.deployment.kubernetes.io/revision",
    "__inputs",
    "__initialApiVersion",
    "__fieldManager",
)
# Step ops of a preview that mean "the program would change this resource".
PENDING_OPS = {
    events.OpType.CREATE,
    events.OpType.UPDATE,
    events.OpType.DELETE,
    events.OpType.REPLACE,
    events.OpType.CREATE_REPLACEMENT,
    events.OpType.IMPORT,
}


@dataclass(frozen=True)
class PropertyChange:
    path: str
    recorded: Any
    live: Any


@dataclass(frozen=True)
class DriftItem:
    stack: str
    urn: str
    type: str
    kind: Kind
    changes: tuple[PropertyChange, ...] = ()
    op: str = ""  # for pending changes: the step the program would take

    @property
    def name(self) -> str:
        return self.urn.rsplit("::", 1)[-1]


@dataclass
class StackReport:
    stack: str
    items: list[DriftItem] = field(default_factory=list)
    error: str | None = None

    @property
    def drifted(self) -> bool:
        return bool(self.items)


def mask(value: Any) -> Any:
    if isinstance(value, Mapping):
        if _SECRET_SIG_KEY in value:
            return SECRET
        return {k: mask(v) for k, v in value.items()}
    if isinstance(value, list):
        return [mask(v) for v in value]
    return value


def _ignored(path: str) -> bool:
    return any(path == p or path.startswith(p + ".") or path.startswith(p + "[") for p in IGNORED_PATHS)


def diff_paths(old: Any, new: Any, prefix: str = "") -> list[PropertyChange]:
    """Leaf-level differences between two states, as dotted paths (list items as [i])."""
    if _ignored(prefix):
        return []
    if isinstance(old, Mapping) and isinstance(new, Mapping) and _SECRET_SIG_KEY not in old:
        out: list[PropertyChange] = []
        for key in sorted(set(old) | set(new), key=str):
            path = f"{prefix}.{key}" if prefix else str(key)
            out += diff_paths(old.get(key, ABSENT), new.get(key, ABSENT), path)
        return out
    if isinstance(old, list) and isinstance(new, list) and len(old) == len(new):
        out = []
        for i, (a, b) in enumerate(zip(old, new, strict=True)):
            out += diff_paths(a, b, f"{prefix}[{i}]")
        return out
    if old == new or _same_quantity(old, new):
        return []
    return [PropertyChange(prefix or "(root)", mask(old), mask(new))]


def _same_quantity(old: Any, new: Any) -> bool:
    """8 and "8" are one Kubernetes quantity: a controller's update re-serializes int-or-string fields."""
    numbers = (int, float)
    if isinstance(old, numbers) and not isinstance(old, bool) and isinstance(new, str):
        return str(old) == new
    if isinstance(new, numbers) and not isinstance(new, bool) and isinstance(old, str):
        return str(new) == old
    return False


def _state(meta: events.StepEventStateMetadata | None) -> Mapping[str, Any] | None:
    if meta is None:
        return None
    return meta.outputs if meta.outputs is not None else meta.inputs


# A refresh announces each resource with op "refresh" and reports the result op (same, update,
# delete) on its outputs event, with the recorded state as old and the live one as new.
REFRESH_RESULT_OPS = {events.OpType.REFRESH, events.OpType.SAME, events.OpType.UPDATE, events.OpType.DELETE}


def refresh_items(stack: str, stream: Iterable[events.EngineEvent]) -> list[DriftItem]:
    """Out-of-band changes and deletions seen by a refresh preview."""
    items: dict[str, DriftItem] = {}
    for event in stream:
        step = event.res_outputs_event
        if step is None:
            continue
        meta = step.metadata
        if meta.op not in REFRESH_RESULT_OPS or meta.type.startswith("pulumi:"):
            continue
        if meta.op == events.OpType.SAME:
            items.pop(meta.urn, None)
            continue
        if meta.old is not None and not meta.old.custom:
            continue  # component resources hold no live state
        old, new = _state(meta.old), _state(meta.new)
        if old is None:
            continue
        if new is None or meta.op == events.OpType.DELETE:
            items[meta.urn] = DriftItem(stack, meta.urn, meta.type, "deleted")
            continue
        changes = diff_paths(old, new)
        if changes:
            items[meta.urn] = DriftItem(stack, meta.urn, meta.type, "changed", tuple(changes))
        else:
            items.pop(meta.urn, None)
    return list(items.values())


def pending_items(stack: str, stream: Iterable[events.EngineEvent]) -> list[DriftItem]:
    """Code changes not yet deployed: what a preview (after refresh) would do."""
    items: dict[str, DriftItem] = {}
    for event in stream:
        pre = event.resource_pre_event
        if pre is None or pre.metadata.op not in PENDING_OPS or pre.metadata.type.startswith("pulumi:"):
            continue
        meta = pre.metadata
        old, new = _state(meta.old) or {}, meta.new.inputs if meta.new and meta.new.inputs else {}
        keys = list(meta.detailed_diff or {}) or list(meta.diffs or [])
        old_inputs = meta.old.inputs if meta.old and meta.old.inputs else old
        changes = tuple(
            PropertyChange(k, mask(_lookup(old_inputs, k)), mask(_lookup(new, k))) for k in keys if not _ignored(k)
        )
        items[meta.urn] = DriftItem(stack, meta.urn, meta.type, "pending", changes, op=meta.op.value)
    return list(items.values())


def _lookup(doc: Any, path: str) -> Any:
    value = doc
    for part in path.replace("[", ".").replace("]", "").split("."):
        if isinstance(value, Mapping) and part in value:
            value = value[part]
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            return ABSENT
    return value


# ------------------------------------------------------------------ formats


def _show(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
    return text if len(text) <= 80 else text[:77] + "..."


def as_json(reports: Sequence[StackReport]) -> str:
    return json.dumps(
        {
            "drift": any(r.drifted for r in reports),
            "stacks": [
                {
                    "stack": r.stack,
                    "error": r.error,
                    "resources": [
                        {
                            "urn": i.urn,
                            "type": i.type,
                            "kind": i.kind,
                            "op": i.op or None,
                            "changes": [{"path": c.path, "recorded": c.recorded, "live": c.live} for c in i.changes],
                        }
                        for i in r.items
                    ],
                }
                for r in reports
            ],
        },
        indent=2,
        default=str,
    )


def as_markdown(reports: Sequence[StackReport]) -> str:
    lines = ["## aistack drift", ""]
    for r in reports:
        if r.error:
            lines += [f"### `{r.stack}`: error", "", f"> {r.error}", ""]
            continue
        if not r.items:
            lines += [f"### `{r.stack}`: no drift", ""]
            continue
        lines += [f"### `{r.stack}`: {len(r.items)} resource(s) drifted", ""]
        lines += ["| resource | type | drift | property | recorded | live |", "|---|---|---|---|---|---|"]
        for i in r.items:
            rows = i.changes or (PropertyChange("", "", ""),)
            for n, c in enumerate(rows):
                first = (
                    (f"`{i.name}`", f"`{i.type}`", i.kind + (f" ({i.op})" if i.op else "")) if n == 0 else ("", "", "")
                )
                cells = [*first, f"`{c.path}`" if c.path else "", _md(c.recorded), _md(c.live)]
                lines.append("| " + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines)


def _md(value: Any) -> str:
    if value == "":
        return ""
    return "`" + _show(value).replace("|", "\\|").replace("`", "'") + "`"


def as_junit(reports: Sequence[StackReport]) -> str:
    suites = ET.Element("testsuites", name="aistack drift")
    for r in reports:
        suite = ET.SubElement(
            suites,
            "testsuite",
            name=r.stack,
            tests=str(max(len(r.items), 1)),
            failures=str(len(r.items)),
            errors=str(int(r.error is not None)),
        )
        if r.error:
            ET.SubElement(ET.SubElement(suite, "testcase", name="drift check"), "error", message=r.error)
        elif not r.items:
            ET.SubElement(suite, "testcase", classname=f"drift.{r.stack}", name="no drift")
        for i in r.items:
            case = ET.SubElement(suite, "testcase", classname=f"drift.{r.stack}", name=i.urn)
            detail = "; ".join(f"{c.path}: {_show(c.recorded)} -> {_show(c.live)}" for c in i.changes)
            ET.SubElement(case, "failure", message=f"{i.kind}: {detail or i.type}")
    ET.indent(suites)
    return ET.tostring(suites, encoding="unicode", xml_declaration=True)
