"""The preflight result: one row per quota, reservation or offering, with need, have and the fix.

Pure: the cloud modules turn API answers into ``QuotaState`` values and rows; this module adds
up the needs per quota, decides fit or short, and renders the table, the text (for `pulumi up`)
and the JSON document. Exit codes follow the CLI contract: 0 everything fits, 1 something is
short, 2 something could not be checked (no credentials, no permission, a quota not reported).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from .needs import QuotaNeed

Status = Literal["ok", "short", "unchecked", "info"]
EXIT_OK, EXIT_SHORT, EXIT_UNCHECKED = 0, 1, 2


@dataclass(frozen=True)
class QuotaState:
    """One quota as the cloud reports it: its limit and what is in use now."""

    limit: float
    usage: float
    name: str = ""

    @property
    def free(self) -> float:
        return max(self.limit - self.usage, 0.0)


@dataclass(frozen=True)
class Check:
    pools: tuple[str, ...]
    kind: Literal["quota", "reservation", "offering", "network"]
    item: str  # the quota code / metric, reservation id or instance type
    name: str  # what the console calls it
    need: str
    have: str
    status: Status
    fix: str = ""
    note: str = ""
    # short even with nothing in use: the limit itself is below the need. A need that only the current
    # usage leaves short may be this stack's own running nodes (an update), which `pulumi up` must not refuse.
    over_limit: bool = False

    def as_json(self) -> dict[str, Any]:
        return {**asdict(self), "pools": list(self.pools)}

    def line(self) -> str:
        label = {"ok": "fits", "short": "SHORT", "unchecked": "not checked", "info": "info"}[self.status]
        text = f"{label}: {', '.join(self.pools)}: {self.name} ({self.item}): need {self.need}, have {self.have}."
        if self.note:
            text += f" {self.note}."
        if self.fix:
            text += f" To fix: {self.fix}"
        return text


@dataclass
class Report:
    target: str
    region: str
    scope: str = ""  # the GCP project or AWS account checked
    checks: list[Check] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    problem: str | None = None  # could not check at all (credentials, permissions, endpoint)

    @property
    def short(self) -> list[Check]:
        return [c for c in self.checks if c.status == "short"]

    @property
    def over_limit(self) -> list[Check]:
        """Short rows that no amount of freed usage fixes: the quota's limit is below the need."""
        return [c for c in self.short if c.over_limit]

    @property
    def unchecked(self) -> list[Check]:
        return [c for c in self.checks if c.status == "unchecked"]

    @property
    def exit_code(self) -> int:
        if self.short:
            return EXIT_SHORT
        if self.problem or self.unchecked:
            return EXIT_UNCHECKED
        return EXIT_OK

    def summary(self) -> str:
        where = f"{self.target} {self.region}" + (f" ({self.scope})" if self.scope else "")
        if self.problem and not self.checks:
            return f"preflight {where}: could not check: {self.problem}"
        counts = {s: sum(c.status == s for c in self.checks) for s in ("ok", "short", "unchecked")}
        verdict = "something is short" if self.short else ("not all checked" if self.exit_code else "everything fits")
        return (
            f"preflight {where}: {verdict} ({counts['ok']} fit, {counts['short']} short, "
            f"{counts['unchecked']} not checked)"
        )

    def text(self) -> str:
        """Plain lines: the summary, then every row that is not a fit (what `pulumi up` prints)."""
        lines = [self.summary()]
        if self.problem and self.checks:
            lines.append(f"could not check everything: {self.problem}")
        lines += [f"  {c.line()}" for c in self.checks if c.status in ("short", "unchecked")]
        return "\n".join(lines)

    def as_json(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "region": self.region,
            "scope": self.scope,
            "exit_code": self.exit_code,
            "summary": self.summary(),
            "problem": self.problem,
            "checks": [c.as_json() for c in self.checks],
            "notes": self.notes,
        }

    def dumps(self) -> str:
        return json.dumps(self.as_json(), indent=2, sort_keys=True)


def _n(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def evaluate_quotas(
    needs: Iterable[QuotaNeed], states: Mapping[str, QuotaState], fix: Callable[[str, int], str]
) -> list[Check]:
    """Needs summed per quota, checked against what is free. A group with alternatives (GCP spot:
    preemptible, else standard) fits if any one of its quotas has room for all of it. Free units
    are handed out once: two groups never both count the same room. ``fix(quota, desired_limit)``
    says how to ask for more."""
    groups: dict[tuple[str, ...], list[QuotaNeed]] = {}
    for q in needs:
        groups.setdefault((q.quota, *q.alternatives), []).append(q)
    remaining = {k: s.free for k, s in states.items()}
    taken: dict[str, float] = dict.fromkeys(states, 0.0)  # room already given to earlier rows

    def have(quota: str) -> str:
        s = states[quota]
        others = f", {_n(taken[quota])} counted for the rows above" if taken[quota] else ""
        return f"{_n(remaining[quota])} free of {_n(s.limit)} ({_n(s.usage)} in use{others})"

    checks: list[Check] = []
    # Groups bound to one quota take their room first; the flexible ones take what is left.
    for key in sorted(groups, key=lambda k: (len(k) > 1, k)):
        group = groups[key]
        pools = tuple(dict.fromkeys(q.pool for q in group))
        unit = group[0].unit
        known = [c for c in key if c in states]
        name = next((states[c].name for c in known if states[c].name), group[0].name)
        why = group[0].why if len(group) == 1 else "; ".join(f"{q.pool}: {q.why}" for q in group)
        if any(q.amount is None for q in group):
            checks.append(
                Check(
                    pools, "quota", key[0], name, f"? {unit}", "-", "unchecked", note=f"per-node size unknown ({why})"
                )
            )
            continue
        total = sum(q.amount or 0 for q in group)
        if not known:
            alts = f" or {', '.join(key[1:])}" if len(key) > 1 else ""
            checks.append(
                Check(
                    pools,
                    "quota",
                    key[0],
                    name,
                    f"{total} {unit}",
                    "not reported",
                    "unchecked",
                    fix=fix(key[0], total),
                    note=f"the cloud reported no quota {key[0]}{alts} for this region; {why}",
                )
            )
            continue
        chosen = next((c for c in known if remaining[c] >= total), None)
        if chosen is not None:
            s = states[chosen]
            text = have(chosen) + ("" if chosen == key[0] else f", via {chosen}")
            remaining[chosen] -= total
            taken[chosen] += total
            checks.append(Check(pools, "quota", chosen, s.name or chosen, f"{total} {unit}", text, "ok", note=why))
            continue
        first = known[0]
        s = states[first]
        wanted = s.usage + taken[first] + total  # the limit that leaves room for this row and those above
        desired = int(wanted) if float(wanted).is_integer() else int(wanted) + 1
        text = "; ".join([have(first), *(f"{c}: {have(c)}" for c in known[1:])])
        over_limit = all(taken[c] + total > states[c].limit for c in known)
        checks.append(
            Check(
                pools,
                "quota",
                first,
                s.name or first,
                f"{total} {unit}",
                text,
                "short",
                fix=fix(first, desired),
                note=why,
                over_limit=over_limit,
            )
        )
    return checks


def render_table(report: Report) -> Any:
    """A rich Table: one row per check. User and cloud values are Text, never markup."""
    from rich.table import Table
    from rich.text import Text

    styles = {"ok": ("fits", "green"), "short": ("SHORT", "bold red"), "unchecked": ("not checked", "yellow")}
    styles["info"] = ("info", "cyan")
    table = Table(title=report.summary(), title_justify="left", show_lines=True)
    for col in ("pool", "quota / check", "need", "have", "status", "how to get more"):
        table.add_column(col, overflow="fold")
    for c in report.checks:
        label, style = styles[c.status]
        pool = Text(", ".join(c.pools), style="bold")
        if c.note:
            pool.append(f"\n{c.note}", style="dim")
        table.add_row(
            pool,
            Text(f"{c.name}\n{c.item}" if c.name != c.item else c.item),
            Text(c.need),
            Text(c.have),
            Text(label, style=style),
            Text(c.fix),
        )
    return table


def needs_table(quotas: Sequence[QuotaNeed], title: str = "quota each pool needs (at max nodes)") -> Any:
    """The offline view (`aistack plan`): what each pool would draw on, no cloud asked."""
    from rich.table import Table
    from rich.text import Text

    table = Table(title=title, title_justify="left")
    for col in ("pool", "quota", "code / metric", "amount", "why"):
        table.add_column(col, overflow="fold")
    for q in quotas:
        amount = "?" if q.amount is None else str(q.amount)
        alts = f" (or {', '.join(q.alternatives)})" if q.alternatives else ""
        table.add_row(Text(q.pool), Text(q.name), Text(q.quota + alts), Text(f"{amount} {q.unit}"), Text(q.why))
    return table
