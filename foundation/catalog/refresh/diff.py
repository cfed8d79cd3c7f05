"""What a refresh moves: per offering, the whole-VM on-demand and spot figures, old against new."""

from __future__ import annotations

from typing import NamedTuple

from foundation.catalog import Offering, OfferingCatalog

_SAME = 1e-9


class Change(NamedTuple):
    offering: str  # target/region/instance
    figure: str  # "on-demand" | "spot"
    old: float | None  # None: the row (or its spot figure) is new
    new: float | None  # None: the refresh no longer has it

    @property
    def percent(self) -> float | None:
        if self.old is None or self.new is None:
            return None
        return (self.new - self.old) / self.old * 100


def _figures(o: Offering) -> dict[str, float | None]:
    return {"on-demand": o.on_demand, "spot": o.spot}


def diff(old: OfferingCatalog, new: OfferingCatalog) -> list[Change]:
    """Every figure that moved, appeared or disappeared, sorted by offering; unchanged figures are left out."""
    before = {o.key: _figures(o) for o in old.offerings}
    after = {o.key: _figures(o) for o in new.offerings}
    changes = []
    for key in sorted(before.keys() | after.keys()):
        a, b = before.get(key, {}), after.get(key, {})
        for figure in ("on-demand", "spot"):
            x, y = a.get(figure), b.get(figure)
            if x is None and y is None:
                continue
            if x is not None and y is not None and abs(x - y) <= _SAME:
                continue
            changes.append(Change(key, figure, x, y))
    return changes


def summary(changes: list[Change]) -> str:
    added = sum(1 for c in changes if c.old is None)
    removed = sum(1 for c in changes if c.new is None)
    moved = len(changes) - added - removed
    return f"{moved} figure(s) moved, {added} new, {removed} gone"
