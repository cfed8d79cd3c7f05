"""Validation issues that name the field, the reason and the fix."""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass


@dataclass(frozen=True, order=True)
class SpecIssue:
    """One thing wrong with a stack spec.

    path: dotted field path as written in the stack file, e.g. ``accelerator_pools[1].accelerator``.
    reason: what is wrong, quoting the offending value.
    fix: what to change; rendered after "To fix:".
    """

    path: str
    reason: str
    fix: str = ""

    def __str__(self) -> str:
        text = f"{self.path}: {self.reason}"
        if self.fix:
            text += f" To fix: {self.fix}"
        return text


class SpecError(ValueError):
    """The stack spec is invalid. Carries every issue found, not just the first."""

    def __init__(self, issues: Sequence[SpecIssue], source: str = "") -> None:
        self.issues: tuple[SpecIssue, ...] = tuple(issues)
        self.source = source
        where = f" in {source}" if source else ""
        lines = [f"{len(self.issues)} problem(s){where}:"] + [f"  - {i}" for i in self.issues]
        super().__init__("\n".join(lines))


def join_path(*parts: str | int) -> str:
    """('accelerator_pools', 1, 'accelerator') -> 'accelerator_pools[1].accelerator'."""
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        elif out:
            out += f".{part}"
        else:
            out = str(part)
    return out or "(root)"


def suggest(value: object, choices: Iterable[str]) -> str | None:
    """Closest valid choice for a mistyped value, or None when nothing is close.

    difflib alone misses abbreviations ('h100' vs 'nvidia-h100-80gb' scores 0.4), so a choice
    that contains the value as a substring wins first, the shortest such being the most likely.
    """
    if not isinstance(value, str) or not value:
        return None
    pool = list(choices)
    lowered = value.lower()
    contains = [c for c in pool if lowered in c.lower()]
    if contains:
        return min(contains, key=lambda c: (len(c), c))
    close = difflib.get_close_matches(lowered, pool, n=1, cutoff=0.6)
    return close[0] if close else None


def did_you_mean(value: object, choices: Iterable[str]) -> str:
    choices = list(choices)
    guess = suggest(value, choices)
    if guess is not None:
        return f"did you mean '{guess}'?"
    return "valid values: " + ", ".join(f"'{c}'" for c in choices) + "."
