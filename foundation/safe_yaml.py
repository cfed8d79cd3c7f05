"""YAML for files people (and pull requests) write: bounded, unambiguous, and never a surprise.

Every file aistack reads from a user — stack files, workload files, wizard answers, kubeconfigs —
goes through :func:`load_file` or :func:`loads`. PyYAML's ``safe_load`` already refuses to build
arbitrary Python objects; on top of it this module refuses:

- files over a size limit, and documents whose *expanded* tree (aliases followed) is over a node
  limit: a 463-byte "billion laughs" document expands to 10⁹ nodes, and every consumer that walks
  the tree (secret masking, validation, JSON) would hang. The expansion is counted on the composed
  node graph with memoisation, so the check itself is linear in the file, not in the expansion;
- recursive aliases (``&a [*a]``), which no config needs and which make tree walks loop;
- duplicate keys in one mapping (YAML 1.2 forbids them; PyYAML silently keeps the last one);
- non-finite numbers (``.inf``, ``.nan``): strict JSON cannot carry them and no config means them.

Errors are SpecErrors naming the file (and line) with a fix, like every other input error.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from .errors import SpecError, SpecIssue

MAX_BYTES = 1024 * 1024  # 1 MiB: the largest stack file in the wild is a few KiB; kubeconfigs with certs ~20 KiB
MAX_NODES = 100_000  # expanded scalars + collections; a 256-team stack is about 20,000
MAX_DEPTH = 64  # nesting; the deepest aistack field is 5 levels down


# libyaml's parser when PyYAML was built with it (every manylinux wheel is): about 10x faster at
# scanning, with the same SafeConstructor on top, so the checks below apply unchanged.
_Base: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _Loader(_Base):  # type: ignore[valid-type,misc]
    """SafeLoader that rejects duplicate keys and non-finite floats."""

    def construct_mapping(self, node: MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, Node] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue  # `<<: *base` may override keys on purpose
            key = self.construct_object(key_node, deep=True)
            try:
                first = seen.get(key)
            except TypeError:  # an unhashable key (a list or mapping as key): PyYAML reports it below
                continue
            if first is not None:
                raise yaml.constructor.ConstructorError(
                    None,
                    None,
                    f"duplicate key {key!r} (first on line {first.start_mark.line + 1}); YAML keys must be unique",
                    key_node.start_mark,
                )
            seen[key] = key_node
        mapping: dict[Any, Any] = super().construct_mapping(node, deep=deep)
        return mapping


def _construct_float(loader: _Loader, node: ScalarNode) -> float:
    value = yaml.constructor.SafeConstructor.construct_yaml_float(loader, node)
    if not math.isfinite(value):
        raise yaml.constructor.ConstructorError(None, None, f"{node.value!r} is not a finite number", node.start_mark)
    return value


_Loader.add_constructor("tag:yaml.org,2002:float", _construct_float)


def _expanded_size(root: Node, limit: int) -> int:
    """Nodes in the tree once every alias is expanded; raises ValueError past `limit`, on recursion
    or past MAX_DEPTH. Iterative, so a deeply nested file cannot exhaust Python's stack."""
    memo: dict[int, int] = {}
    on_path: set[int] = set()
    # (node, depth, children-expanded?) frames
    stack: list[tuple[Node, int, bool]] = [(root, 1, False)]
    while stack:
        node, depth, done = stack.pop()
        key = id(node)
        if done:
            on_path.discard(key)
            if isinstance(node, SequenceNode):
                size = 1 + sum(memo[id(c)] for c in node.value)
            elif isinstance(node, MappingNode):
                size = 1 + sum(memo[id(k)] + memo[id(v)] for k, v in node.value)
            else:
                size = 1
            if size > limit:
                raise ValueError(f"it expands to more than {limit:,} values (aliases followed)")
            memo[key] = size
            continue
        if key in memo:
            continue
        if key in on_path:
            raise ValueError("an alias refers to a node that contains it (a recursive structure)")
        if depth > MAX_DEPTH:
            raise ValueError(f"it is nested more than {MAX_DEPTH} levels deep")
        on_path.add(key)
        stack.append((node, depth, True))
        if isinstance(node, SequenceNode):
            children: list[Node] = list(node.value)
        elif isinstance(node, MappingNode):
            children = [n for pair in node.value for n in pair]
        else:
            children = []
        for child in children:
            if id(child) in on_path:
                raise ValueError("an alias refers to a node that contains it (a recursive structure)")
            if id(child) not in memo:
                stack.append((child, depth + 1, False))
    return memo[id(root)]


def _fail(where: str, reason: str, fix: str) -> SpecError:
    return SpecError([SpecIssue(where, reason, fix)])


def loads(text: str, where: str, *, max_nodes: int = MAX_NODES) -> Any:
    """Parse one YAML document from text under the limits above. Raises SpecError naming `where`."""
    if len(text) > MAX_BYTES:
        raise _fail(where, f"is {len(text):,} characters (limit {MAX_BYTES:,}).", "split the file or trim it.")
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _expanded_size(node, max_nodes)
        return loader.construct_document(node)
    except ValueError as exc:
        if isinstance(exc, SpecError):
            raise
        raise _fail(
            where, f"is refused: {exc}.", "write the values out instead of nesting aliases (&anchor / *alias)."
        ) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        at = f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""
        detail = "; ".join(p for p in (exc.context, exc.problem) if p)
        if "duplicate key" in detail:
            fix = "keep one of the two definitions and delete the other."
        elif "finite number" in detail:
            fix = "write a finite number (or quote it if it is text)."
        else:
            fix = "fix the YAML syntax at that line (indentation, a missing ':' or closing bracket, quoting)."
        raise _fail(where, f"is not valid YAML{at}: {detail}.", fix) from None
    except yaml.YAMLError as exc:
        raise _fail(where, f"is not valid YAML: {' '.join(str(exc).split())}.", "fix the YAML syntax.") from None
    except RecursionError:
        raise _fail(where, f"is nested too deeply (limit {MAX_DEPTH}).", "flatten the document.") from None
    finally:
        loader.dispose()


def load_file(path: Path, what: str = "file", *, max_nodes: int = MAX_NODES) -> Any:
    """Read and parse a YAML file the user named. Directories, binary files, unreadable or oversized
    files are SpecErrors (exit 2 in the CLI), never tracebacks."""
    where = str(path)
    try:
        if not path.exists():
            raise _fail(where, f"no such {what}.", f"pass the path of an existing {what}.")
        if not path.is_file():
            raise _fail(where, f"is not a regular file (a directory?); a {what} is expected.", "pass a file path.")
        size = path.stat().st_size
        if size > MAX_BYTES:
            raise _fail(where, f"is {size:,} bytes (limit {MAX_BYTES:,}).", f"pass a {what}, not a data file.")
        raw = path.read_bytes()
    except OSError as exc:
        raise _fail(where, f"cannot be read: {exc.strerror or exc}.", "check the path and its permissions.") from None
    if b"\x00" in raw:
        raise _fail(where, f"is a binary file, not a YAML {what}.", f"pass a YAML {what}.")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _fail(where, f"is not UTF-8 text (byte {exc.start}).", "save the file as UTF-8.") from None
    return loads(text, where, max_nodes=max_nodes)
