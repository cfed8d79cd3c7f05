"""The decision engine: every offering × size × way of buying it, estimated, filtered, ranked.

Pure: a workload in, a Decision (ranked options, eliminations with reasons) out. For each
(target, region, accelerator, purchase) it picks the size that best serves the objective within the
deadline and budget — the smallest that meets the deadline when cost matters, the largest the
budget allows when time matters, the best cost×time product when balanced — then ranks those.

Purchases: on-demand and spot from each offering's prices, plus the offering's `purchase_options`
(capacity blocks, flex-start, calendar-mode and other reservations), each with its booking rules
applied to the job: a run longer than the option's maximum is out, and what is billed is the
duration rounded up to the option's increment (whole days for a block booked for fixed dates).

Ties: each estimate carries an ≈80% band (estimator.Estimate.time_band). Two options whose bands
overlap on the objective are flagged as ties (Option.tie_with) rather than ranked as if the order
were known — except two options on the same chip at the same size, whose estimates share the
same model error: for those only the price differs, and the price is known.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import NamedTuple

from foundation import catalog
from foundation.words import counted

from .estimator import (
    Billing,
    Estimate,
    estimate_serving,
    estimate_training,
    min_chips_for_memory,
    perf_of,
)
from .utilisation import DoesNotFit, MissingFigure, NotEstimable, TooSlow, UnsupportedPrecision
from .workload import OnPremSystem, Workload

HOURS_PER_YEAR = 8760
# Two estimates on the same chip and size differ only by price: within 2% they are the same.
TIE_TOLERANCE = 0.02
# How each way of buying reads in labels and reasons; "owned" is on-prem hardware.
PURCHASE_WORDS = {
    "on-demand": "on-demand",
    "spot": "spot",
    "capacity-block": "capacity block",
    "flex-start": "flex-start",
    "calendar": "calendar-mode reservation",
    "reservation": "reservation",
    "owned": "owned",
}
# Training spans several instances only on shapes built for it: 8+ chips with a scale-out fabric.
NODE_CHIPS = 8
QLORA_SOURCE = "https://github.com/bitsandbytes-foundation/bitsandbytes"
# Bought for fixed dates: billed in whole days at least, whatever the increment the source states.
FIXED_DATES = frozenset({"capacity-block", "calendar"})


def chips_text(n: int) -> str:
    """'1 chip', '8 chips': every chip count the engine prints goes through here."""
    return counted(n, "chip")


@dataclass(frozen=True)
class Venue:
    """Somewhere the job could run, bought one way, with its price per chip-hour."""

    target: str
    region: str
    accelerator: str
    instance: str
    chips_per_instance: int
    usd_per_chip_hour: float
    spot: bool
    source: str
    max_chips: int | None = None  # on-prem inventory
    topologies: tuple[tuple[str, int], ...] = ()  # TPU: (topology, chips)
    purchase: str = "on-demand"  # on-demand | spot | capacity-block | flex-start | calendar | reservation | owned
    terms: catalog.PurchaseOption | None = None  # the booking rules of a purchase option
    as_of: str = ""  # the day the price was read

    @property
    def label(self) -> str:
        how = "" if self.purchase in ("on-demand", "owned") else f", {PURCHASE_WORDS[self.purchase]}"
        where = self.region if self.target == "onprem" else f"{self.region}, {self.instance}"
        return f"{self.accelerator} on {self.target} ({where}{how})"


def billing_for(terms: catalog.PurchaseOption | None) -> Billing | None:
    """How a purchase option bills (None: the estimator's on-demand default for the target)."""
    if terms is None:
        return None
    increment = terms.billing_increment_hours or 0.0
    if terms.kind in FIXED_DATES:
        increment = max(increment, 24.0)
    return Billing(min_hours=terms.min_hours or 0.0, increment_hours=increment)


def billed_hours(hours: float, terms: catalog.PurchaseOption | None) -> float:
    """Hours paid for a run of `hours` under a purchase option's terms (on-demand/spot: the run itself)."""
    billing = billing_for(terms)
    return hours if billing is None else billing.billed_hours(hours)


@dataclass(frozen=True)
class Option:
    venue: Venue
    estimate: Estimate
    why: str = ""
    risks: tuple[str, ...] = ()
    topology: str | None = None
    tie_with: tuple[int, ...] = ()  # 1-based ranks whose bands overlap this one's on the objective

    @property
    def purchase(self) -> str:
        return self.venue.purchase

    @property
    def time_range(self) -> tuple[float, float]:
        """The estimate's ≈80% band on wall-clock hours."""
        return self.estimate.time_hours_low, self.estimate.time_hours_high

    @property
    def cost_range(self) -> tuple[float, float] | None:
        """The band on cost: the time band, billed as the purchase bills it."""
        e = self.estimate
        if e.cost_usd is None:
            return None
        return e.cost_band or (e.cost_usd * e.time_band[0], e.cost_usd * e.time_band[1])

    def as_json(self) -> dict[str, object]:
        e = self.estimate
        cost_range = self.cost_range
        return {
            "target": self.venue.target,
            "region": self.venue.region,
            "accelerator": self.venue.accelerator,
            "count": e.chips,
            "time_hours": round(e.time_hours, 3),
            "cost_usd": None if e.cost_usd is None else round(e.cost_usd, 2),
            "spot": self.venue.spot,
            "why": self.why,
            "purchase": self.purchase,
            "tie_with": list(self.tie_with),
            "time_hours_low": round(self.time_range[0], 3),
            "time_hours_high": round(self.time_range[1], 3),
            "cost_usd_low": None if cost_range is None else round(cost_range[0], 2),
            "cost_usd_high": None if cost_range is None else round(cost_range[1], 2),
            "instance": self.venue.instance,
            "topology": self.topology,
            "mfu": round(e.mfu, 4),
            "usd_per_chip_hour": round(self.venue.usd_per_chip_hour, 4),
            "price_source": self.venue.source,
            "price_as_of": self.venue.as_of or None,
            "risks": list(self.risks),
            "unvalidated": e.unvalidated,  # why the chip's hardware family is not validated (#29); None: it is
            "assumptions": e.assumptions,
            **(
                {"tokens_per_s": round(e.tokens_per_s, 1), "replicas": e.replicas} if e.tokens_per_s is not None else {}
            ),
        }


@dataclass(frozen=True)
class Elimination:
    option: str
    reason: str
    constraint: str  # which constraint did it: clouds, regions, compliance, accelerators, framework, precision,
    # deadline, budget, memory, price, data, purchase
    venue: Venue | None = field(default=None, compare=False)  # what was eliminated, for grouping
    group: str = ""  # the reason without what differs per place (region, price): eliminations group on it

    @property
    def group_reason(self) -> str:
        return self.group or self.reason

    def as_json(self) -> dict[str, str]:
        return {"option": self.option, "reason": self.reason, "constraint": self.constraint}


class EliminationGroup(NamedTuple):
    """Eliminations with the same reason: (reason, constraint, the eliminations)."""

    reason: str
    constraint: str
    options: list[Elimination]

    @property
    def compact(self) -> str:
        """'tpu-v5e on gcp in europe-west4, us-east5 (×6)': one phrase per accelerator and target."""
        return "; ".join(text for text, _ in self.phrases())

    def short(self, limit: int = 5) -> str:
        """`compact` cut after `limit` phrases, '…; … and 12 more' counting the options left out: a terminal row."""
        parts = self.phrases()
        if len(parts) <= limit:
            return self.compact
        rest = sum(n for _, n in parts[limit:])
        return "; ".join(text for text, _ in parts[:limit]) + f"; … and {rest} more"

    def phrases(self) -> list[tuple[str, int]]:
        """(phrase, how many eliminations it stands for), per accelerator and target, first seen first."""
        by_kind: dict[str, list[Elimination]] = {}
        for e in self.options:
            key = f"{e.venue.accelerator} on {e.venue.target}" if e.venue else e.option
            by_kind.setdefault(key, []).append(e)
        parts = []
        for key, members in by_kind.items():
            places = sorted({e.venue.region for e in members if e.venue is not None})
            text = f"{key} in {', '.join(places)}" if places else key
            parts.append((text + (f" (×{len(members)})" if len(members) > 1 else ""), len(members)))
        return parts


# Presentation order of constraints: the ones a user set first, the catalog's gaps last.
CONSTRAINT_ORDER = (
    "deadline",
    "method",
    "budget",
    "purchase",
    "memory",
    "latency",
    "capacity",
    "compliance",
    "regions",
    "clouds",
    "spot",
    "precision",
    "framework",
    "kind",
    "data",
    "price",
)


def group_eliminations(decision: Decision) -> list[EliminationGroup]:
    """Eliminations grouped by reason, most decisive constraints first, bigger groups first within one."""
    groups: dict[tuple[str, str], list[Elimination]] = {}
    for e in decision.eliminated:
        groups.setdefault((e.group_reason, e.constraint), []).append(e)
    out = [EliminationGroup(reason, constraint, members) for (reason, constraint), members in groups.items()]

    def order(g: EliminationGroup) -> tuple[int, int]:
        rank = CONSTRAINT_ORDER.index(g.constraint) if g.constraint in CONSTRAINT_ORDER else len(CONSTRAINT_ORDER)
        return rank, -len(g.options)

    return sorted(out, key=order)


def price_date() -> str:
    """The offerings catalog's version and the days its prices were read, for every output that prices."""
    data = catalog.offerings()
    days = {o.as_of for o in data.offerings} | {p.as_of for o in data.offerings for p in o.purchase_options}
    read = min(days) if len(days) == 1 else f"{min(days)} … {max(days)}"
    return f"offerings catalog {data.data_version}, prices read {read}"


def cheapest_price(accelerator: str, region: str | None, spot: bool) -> tuple[float | None, str]:
    """The lowest sourced price per chip-hour of `accelerator` (in `region`, spot or not), and where it is from."""
    prices = []
    for o in catalog.offerings().offerings:
        if o.accelerator != accelerator or (region and o.region != region):
            continue
        price = o.spot if spot else o.on_demand
        read = (o.spot_as_of or o.as_of) if spot else o.as_of
        if price is not None:
            where = f"{o.target} {o.region} {o.instance}{' spot' if spot else ''}, read {read}"
            prices.append((price / o.chips, where))
    if not prices:
        return None, "no sourced price for this accelerator" + (f" in {region}" if region else "")
    return min(prices)


def estimate_notes(est: Estimate, price_source: str, first: list[str]) -> list[str]:
    """What `estimate` lists under its figures: `first`, the estimate's assumptions, the price's source and date."""
    return [*first, *est.assumptions, f"price source: {price_source}", f"prices: {price_date()}"]


def estimate_json(est: Estimate, precision: str, notes: list[str]) -> dict[str, object]:
    """The `estimate --json` contract: the estimate's figures, the precision used, `notes` as its
    assumptions and the catalog's price dates."""
    return est.as_json() | {"precision": precision, "assumptions": notes, "prices": price_date()}


@dataclass(frozen=True)
class Decision:
    workload: Workload
    options: tuple[Option, ...]
    eliminated: tuple[Elimination, ...]
    relax: tuple[str, ...] = field(default=())  # when nothing is left: what to relax, and what it buys

    def as_json(self) -> dict[str, object]:
        data = catalog.offerings()
        out: dict[str, object] = {
            "options": [o.as_json() for o in self.options],
            "eliminated": [e.as_json() for e in self.eliminated],
            "eliminated_groups": [
                {
                    "reason": g.reason,
                    "constraint": g.constraint,
                    "count": len(g.options),
                    "options": g.compact,
                }
                for g in group_eliminations(self)
            ],
            "prices": {"data_version": data.data_version, "as_of": price_date()},
        }
        if self.relax:
            out["relax"] = list(self.relax)
        return out


def onprem_usd_per_chip_hour(system: OnPremSystem) -> float:
    """Straight-line amortisation + power (chip TDP + host share, × PUE) + operations, per chip-hour."""
    perf = perf_of(system.accelerator)
    if perf.tdp_w is None:
        raise NotEstimable(f"{system.accelerator} has no sourced power figure for the on-prem power cost")
    capital = system.purchase_usd / (system.amortisation_years * HOURS_PER_YEAR) / system.count
    kw = (perf.tdp_w + system.host_power_w_per_chip) / 1000 * system.pue
    ops = system.ops_usd_per_year / HOURS_PER_YEAR / system.count
    return capital + kw * system.power_usd_per_kwh + ops


def tpu_zone(accelerator: str, region: str) -> str | None:
    gen = catalog.gke().tpus.get(accelerator)
    return next((z for z in gen.zones if z.rsplit("-", 1)[0] == region), None) if gen else None


def _tpu_topologies(accelerator: str) -> tuple[tuple[str, int], ...]:
    gen = catalog.gke().tpus.get(accelerator)
    if gen is None:
        return ()
    out = []
    for topo in gen.topologies:
        out.append((topo, math.prod(int(d) for d in topo.split("x"))))
    return tuple(sorted(out, key=lambda t: t[1]))


def venues(workload: Workload) -> tuple[list[Venue], list[Elimination]]:
    """Every priced place to run, and the catalog accelerators with no price anywhere."""
    found: list[Venue] = []
    gone: list[Elimination] = []
    priced: set[str] = set()
    for o in catalog.offerings().offerings:
        priced.add(o.accelerator)
        topologies = _tpu_topologies(o.accelerator) if o.accelerator.startswith("tpu-") else ()
        base = Venue(o.target, o.region, o.accelerator, o.instance, o.chips, o.on_demand / o.chips, False, o.source)
        base = replace(base, topologies=topologies, as_of=o.as_of)
        found.append(base)
        if o.spot is not None:
            found.append(
                replace(
                    base,
                    usd_per_chip_hour=o.spot / o.chips,
                    spot=True,
                    purchase="spot",
                    source=o.spot_source or o.source,
                    as_of=o.spot_as_of or o.as_of,
                )
            )
        for terms in o.purchase_options:
            found.append(
                replace(
                    base,
                    usd_per_chip_hour=terms.usd_per_hour / o.chips,
                    purchase=terms.kind,
                    terms=terms,
                    source=terms.source,
                    as_of=terms.as_of,
                )
            )
    for system in workload.constraints.onprem:
        label = f"{system.accelerator} on onprem ({system.name})"
        try:
            price = onprem_usd_per_chip_hour(system)
        except NotEstimable as exc:
            gone.append(Elimination(label, str(exc), "data"))
            continue
        found.append(
            Venue(
                "onprem",
                system.name,
                system.accelerator,
                "owned",
                min(8, system.count),
                price,
                False,
                "workload constraints.onprem",
                max_chips=system.count,
                purchase="owned",
            )
        )
    for acc in catalog.accelerators().accelerators:
        owned = any(s.accelerator == acc.id for s in workload.constraints.onprem)
        if acc.id not in priced and not owned and set(acc.targets) - {"onprem"}:
            left_out = [e for e in catalog.offerings().excluded if e.accelerator == acc.id]
            why = (
                f"no sourced price: foundation/catalog/offerings.yaml says why under `excluded:` "
                f"({', '.join(sorted({e.target for e in left_out}))})"
                if left_out
                else "no sourced price in foundation/catalog/offerings.yaml (see its README to add one)"
            )
            gone.append(Elimination(f"{acc.id} on {'/'.join(t for t in acc.targets if t != 'onprem')}", why, "price"))
    return found, gone


def _eu(target: str, region: str, workload: Workload) -> bool:
    if target == "onprem":
        system = next((s for s in workload.constraints.onprem if s.name == region), None)
        return bool(system and system.country in catalog.regions().eu_eea_countries)
    entry = catalog.regions().for_target(target).get(region)
    return bool(entry and entry.eu)


def screen(venue: Venue, workload: Workload) -> Elimination | None:
    """Constraint checks that do not depend on the size of the job."""
    c = workload.constraints
    label = venue.label
    if venue.target not in c.clouds:
        return Elimination(label, f"target {venue.target} is not in constraints.clouds {list(c.clouds)}", "clouds")
    if c.regions and venue.target != "onprem" and venue.region not in c.regions:
        return Elimination(
            label,
            f"region {venue.region} is not in constraints.regions {list(c.regions)}",
            "regions",
            group=f"region not in constraints.regions {list(c.regions)}",
        )
    if c.compliance == "gdpr" and not _eu(venue.target, venue.region, workload):
        where = "site country is not EU/EEA" if venue.target == "onprem" else f"{venue.region} is outside the EU/EEA"
        return Elimination(label, f"GDPR residency: {where}", "compliance", group="GDPR residency: outside the EU/EEA")
    if c.accelerators and venue.accelerator not in c.accelerators:
        return Elimination(
            label,
            f"{venue.accelerator} is not in constraints.accelerators {list(c.accelerators)}",
            "accelerators",
            group=f"accelerator not in constraints.accelerators {list(c.accelerators)}",
        )
    if venue.spot and not c.spot_ok:
        return Elimination(label, "spot capacity, and constraints.spot_ok is false", "spot")
    perf = perf_of(venue.accelerator)
    fw = workload.framework
    if venue.accelerator.startswith("tpu-"):
        if fw == "pytorch" and not workload.pytorch_xla:
            return Elimination(
                label,
                "framework is PyTorch without XLA; TPUs run JAX, TensorFlow or PyTorch/XLA "
                "(set pytorch_xla: true if the code runs on PyTorch/XLA)",
                "framework",
            )
    elif "neuron" in perf.frameworks:
        if fw == "tensorflow":
            return Elimination(
                label, "framework is TensorFlow; Neuron chips run PyTorch or JAX via Neuron", "framework"
            )
    elif fw not in perf.frameworks:
        return Elimination(label, f"framework {fw} has no native backend here", "framework")
    if workload.precision == "fp8" and perf.fp8_tflops is None:
        return Elimination(label, "precision fp8 requested; this chip has no FP8 data path", "precision")
    if workload.precision == "bf16" and perf.bf16_tflops is None and perf.fp16_tflops is not None:
        return Elimination(label, "precision bf16 requested; this chip has FP16 but no BF16", "precision")
    if venue.topologies and not tpu_zone(venue.accelerator, venue.region):
        return Elimination(
            label,
            f"the catalog lists no {venue.accelerator} zone in {venue.region}",
            "regions",
            group="the catalog lists no zone of this TPU generation in the region",
        )
    if venue.accelerator == "aws-inferentia2" and workload.kind != "serving":
        return Elimination(label, "Inferentia2 is an inference chip; training needs Trainium", "kind")
    acc = catalog.accelerators().get(venue.accelerator)
    if workload.kind == "fine-tuning" and workload.method == "qlora" and (acc is None or acc.vendor != "nvidia"):
        # QLoRA's 4-bit NormalFloat base weights are bitsandbytes kernels; TPUs and Neuron have no port.
        why = f"QLoRA needs bitsandbytes' 4-bit kernels, which run on GPUs ({QLORA_SOURCE})"
        return Elimination(label, why, "method")
    return None


def _sizes(venue: Venue, workload: Workload) -> list[tuple[int, str | None]]:
    cap = min(workload.constraints.max_chips, venue.max_chips or workload.constraints.max_chips)
    if venue.topologies:
        # A slice runs on one VM shape: its single-host topology of that many chips, or, on the
        # generation's multi-host VM, the multi-host topologies (gke.yaml).
        gen = catalog.gke().tpus[venue.accelerator]
        return [
            (n, topo)
            for topo, n in venue.topologies
            if n <= cap
            and (
                (topo in gen.single_host and n == venue.chips_per_instance)
                or (topo in gen.multi_host and venue.chips_per_instance == gen.multi_host_chips_per_vm)
            )
        ]
    if venue.max_chips is None and venue.chips_per_instance < NODE_CHIPS and workload.kind != "serving":
        # A job across several small VMs (1-4 GPUs, no NVLink or RDMA between them) is not what the
        # utilisation model was fitted on, and nobody would run it: the family's 8-chip shape does that.
        cap = min(cap, venue.chips_per_instance)
    sizes: list[tuple[int, str | None]] = []
    n = 1 if venue.max_chips is not None else venue.chips_per_instance
    while n <= cap:
        sizes.append((n, None))
        n *= 2
    if venue.max_chips is not None and venue.max_chips <= cap and all(s != venue.max_chips for s, _ in sizes):
        sizes.append((venue.max_chips, None))
    # A whole instance is the unit you rent: 1-chip shapes only where the offering is a 1-chip VM.
    return sizes


def _risks(venue: Venue, workload: Workload, est: Estimate) -> tuple[str, ...]:
    chips = est.chips
    risks = []
    if venue.spot:
        risks.append("preemption: spot capacity can be reclaimed; checkpoint often and expect restarts")
    if venue.target != "onprem" and chips >= 256 and venue.terms is None:
        risks.append(f"capacity: {chips} chips usually need a reservation or quota increase")
    terms = venue.terms
    if terms is not None:
        word = PURCHASE_WORDS[terms.kind]
        if terms.kind in FIXED_DATES:
            ahead = f" up to {terms.lead_time_days:g} days ahead" if terms.lead_time_days else ""
            risks.append(
                f"lead time: a {word} is booked{ahead} for fixed dates and paid in full, used or not; "
                "the stack file runs the pool on-demand until you add the booking's id"
            )
            billed = billed_hours(est.time_hours, terms)
            high = est.time_hours_high
            if high > billed:
                risks.append(
                    f"overrun: the estimate's high end ({high:,.1f} h) is past the {billed / 24:g}-day booking; "
                    "book a day more or checkpoint so the rest can finish on-demand"
                )
        elif terms.kind == "flex-start":
            cap = f"; one run is capped at {terms.max_hours / 24:g} days" if terms.max_hours else ""
            risks.append(
                "capacity wait: flex-start queues the nodes until capacity is free, with no promised start "
                f"time (minutes to days){cap}"
            )
        else:
            risks.append(f"{word}: needs a matching {word}; it is paid while it exists, used or not")
    if venue.accelerator.startswith("tpu-") and workload.framework == "pytorch":
        risks.append("PyTorch/XLA: expect porting work and fewer kernels than on GPUs")
    if venue.accelerator.startswith("aws-"):
        risks.append("Neuron SDK: models must compile with neuronx; utilisation figure is unvalidated")
    if venue.target == "onprem":
        risks.append("on-prem: price is amortised capital + power; it assumes the hardware is otherwise idle")
    return tuple(risks)


def _on_terms(venue: Venue, est: Estimate) -> tuple[Estimate, str | None]:
    """The estimate billed as the venue's purchase option bills it, or why the option cannot take the run."""
    terms = venue.terms
    if terms is None:
        return est, None
    word = PURCHASE_WORDS[terms.kind]
    if terms.max_hours is not None and est.time_hours > terms.max_hours:
        return est, f"a {est.time_hours:,.1f} h run is longer than a {word}'s {terms.max_hours:g} h maximum"
    billed = billed_hours(est.time_hours, terms)
    rule = "whole days for fixed dates" if terms.kind in FIXED_DATES else "the option's billing increment"
    if terms.min_hours and est.time_hours < terms.min_hours:
        rule += f", at least {terms.min_hours:g} h"
    note = (
        f"{word}: {billed:,.0f} h billed for a {est.time_hours:,.1f} h run ({rule}) at "
        f"{venue.usd_per_chip_hour:.4f} USD per chip-hour ({terms.source}, {terms.as_of})"
    )
    est = replace(est, assumptions=[*est.assumptions, note])
    if est.tokens_per_s is None:
        return est, None  # training: the estimator billed it already (billing_for)
    # Serving runs for duration_hours: the option bills that span; any band the estimator gave scales along.
    cost = billed * est.chips * venue.usd_per_chip_hour
    ratio = cost / est.cost_usd if est.cost_usd else 1.0
    band = (est.cost_band[0] * ratio, est.cost_band[1] * ratio) if est.cost_band else (cost, cost)
    return replace(est, cost_usd=cost, cost_band=band), None


def _score(option: Option, objective: str) -> tuple[float, float]:
    cost = option.estimate.cost_usd or 0.0
    time = option.estimate.time_hours
    if objective == "cost":
        return (cost, time)
    if objective == "time":
        return (time, cost)
    return (cost * time, cost)


def _balanced_key(options: list[Option]) -> Callable[[Option], float]:
    """Cost and time, each as a multiple of the best among `options`, summed."""
    cmin = min(o.estimate.cost_usd or 0 for o in options) or 1.0
    tmin = min(o.estimate.time_hours for o in options) or 1.0
    return lambda o: (o.estimate.cost_usd or 0) / cmin + o.estimate.time_hours / tmin


# How each typed NotEstimable reads as an elimination's constraint; any other: the catalog lacks a figure.
ELIMINATED_BY: tuple[tuple[type[NotEstimable], str], ...] = (
    (DoesNotFit, "memory"),
    (TooSlow, "latency"),
    (UnsupportedPrecision, "precision"),
)


def _not_estimable(venue: Venue, exc: NotEstimable) -> Elimination:
    """An estimator refusal as an elimination: its type says which constraint did it; a missing
    figure says why the sources give none, where the catalog records that."""
    constraint = next((name for kind, name in ELIMINATED_BY if isinstance(exc, kind)), "data")
    return Elimination(venue.label, missing_figure_text(venue.accelerator, exc), constraint)


def missing_figure_text(accelerator: str, exc: NotEstimable) -> str:
    """The refusal, and for a figure performance.yaml leaves null on purpose, why (its `unsourced`)."""
    perf = catalog.performance().performance.get(accelerator)
    if isinstance(exc, MissingFigure) and perf is not None and perf.unsourced:
        return f"{exc} for {accelerator}: {perf.unsourced}"
    return str(exc)


def _best_size(venue: Venue, workload: Workload) -> tuple[Option | None, Elimination | None]:
    """The size of `venue` that best serves the objective, or why no size can."""
    if workload.kind == "serving":
        return _best_serving(venue, workload)
    return _best_training(venue, workload)


def _serving_shapes(venue: Venue, workload: Workload) -> tuple[int, ...]:
    """Chips per replica to try: up to a whole multi-GPU VM in the cloud, else the sizes allowed here."""
    if venue.target != "onprem" and venue.chips_per_instance > 1 and not venue.topologies:
        return tuple(n for n in (1, 2, 4, 8) if n <= venue.chips_per_instance)
    return tuple(n for n, _ in _sizes(venue, workload) if n <= max(8, venue.chips_per_instance)) or (1,)


def _best_serving(venue: Venue, workload: Workload) -> tuple[Option | None, Elimination | None]:
    label = venue.label
    try:
        est = estimate_serving(
            workload,
            venue.accelerator,
            venue.usd_per_chip_hour,
            _serving_shapes(venue, workload),
            billing_unit=1 if venue.target == "onprem" else venue.chips_per_instance,
        )
    except NotEstimable as exc:
        return None, _not_estimable(venue, exc)
    est, over = _on_terms(venue, est)
    if over is not None:
        return None, Elimination(label, over, "purchase", group=_too_long_group(venue))
    if venue.max_chips is not None and est.chips > venue.max_chips:
        needs = f"needs {chips_text(est.chips)}; the site has {venue.max_chips}"
        return None, Elimination(label, needs, "capacity")
    budget = workload.constraints.budget_usd
    if budget is not None and est.cost_usd is not None and est.cost_usd > budget:
        return None, Elimination(
            label,
            f"${est.cost_usd:,.0f} for {est.time_hours:g} h exceeds budget ${budget:,.0f}",
            "budget",
            group=f"exceeds budget ${budget:,.0f}",
        )
    return Option(venue, est, risks=_risks(venue, workload, est)), None


def _best_training(venue: Venue, workload: Workload) -> tuple[Option | None, Elimination | None]:
    try:
        needed = min_chips_for_memory(workload, venue.accelerator)
        sizes = [(n, t) for n, t in _sizes(venue, workload) if n >= needed]
        if not sizes:
            return None, _no_size_fits(venue, workload, needed)
        tried, too_long = _sized_options(venue, workload, sizes)
    except NotEstimable as exc:
        return None, _not_estimable(venue, exc)
    candidates = [o for o in tried if _within(o.estimate, workload)]
    if not candidates:
        return None, _none_within(venue, workload, tried, too_long or "", sizes[-1][0])
    return _pick(candidates, workload.objective), None


def _no_size_fits(venue: Venue, workload: Workload, needed: int) -> Elimination:
    """Why no allowed size holds the training state: the smallest shape is too big, or the largest too small."""
    allowed = _sizes(venue, workload)
    limit = workload.constraints.max_chips
    if not allowed:
        return Elimination(
            venue.label,
            f"one {venue.instance} has {chips_text(venue.chips_per_instance)}, more than constraints.max_chips {limit}",
            "capacity",
            group=f"the smallest shape is larger than constraints.max_chips {limit}",
        )
    top = max(n for n, _ in allowed)
    single = venue.max_chips is None and venue.chips_per_instance < NODE_CHIPS and not venue.topologies
    where = (
        f"one {venue.instance} holds {chips_text(top)}, and jobs across several small VMs are not considered"
        if single
        else f"the largest size allowed here is {chips_text(top)}"
    )
    return Elimination(
        venue.label,
        f"does not fit: weights and optimiser state need ≥{chips_text(needed)}; {where}",
        "memory",
        group="does not fit: weights and optimiser state need more chips than this shape allows",
    )


def _sized_options(
    venue: Venue, workload: Workload, sizes: list[tuple[int, str | None]]
) -> tuple[list[Option], str | None]:
    """Every size's option the purchase can take, and why the first size it cannot take was out."""
    options: list[Option] = []
    too_long: str | None = None
    for n, topo in sizes:
        est = estimate_training(
            workload,
            venue.accelerator,
            n,
            venue.usd_per_chip_hour,
            None,
            target=venue.target,
            billing=billing_for(venue.terms),
        )
        est, over = _on_terms(venue, est)
        if over is not None:
            too_long = too_long or over  # the smallest size's, the first seen; a bigger size may still fit
            continue
        options.append(Option(venue, est, risks=_risks(venue, workload, est), topology=topo))
    return options, too_long


def _within(est: Estimate, workload: Workload) -> bool:
    """Whether an estimate meets the deadline and the budget (each when set)."""
    c = workload.constraints
    if c.deadline_hours is not None and est.time_hours > c.deadline_hours:
        return False
    return c.budget_usd is None or est.cost_usd is None or est.cost_usd <= c.budget_usd


def _none_within(venue: Venue, workload: Workload, tried: list[Option], too_long: str, largest: int) -> Elimination:
    """Why no size meets the deadline and budget: the purchase takes none, too slow, or too expensive."""
    label, c = venue.label, workload.constraints
    if not tried:
        return Elimination(
            label, f"even at {chips_text(largest)}, {too_long}", "purchase", group=_too_long_group(venue)
        )
    fastest = min(tried, key=lambda o: o.estimate.time_hours).estimate
    cheapest = min(tried, key=lambda o: o.estimate.cost_usd or 0).estimate
    if c.deadline_hours is not None and fastest.time_hours > c.deadline_hours:
        return Elimination(
            label,
            f"too slow: fastest is {fastest.time_hours:,.1f} h on {chips_text(fastest.chips)} "
            f"> deadline {c.deadline_hours:g} h",
            "deadline",
            group=f"too slow for the deadline of {c.deadline_hours:g} h at any size",
        )
    if c.budget_usd is not None and (cheapest.cost_usd or 0) > c.budget_usd:
        return Elimination(
            label,
            f"too expensive: cheapest is ${cheapest.cost_usd or 0:,.0f} on "
            f"{chips_text(cheapest.chips)} > budget ${c.budget_usd:,.0f}",
            "budget",
            group=f"over the budget of ${c.budget_usd:,.0f} at every size",
        )
    return Elimination(label, "no size meets both the deadline and the budget", "deadline")


def _pick(candidates: list[Option], objective: str) -> Option:
    """The candidate that best serves the objective."""
    if objective == "balanced":
        return min(candidates, key=_balanced_key(candidates))
    if objective == "cost":
        # Sizes within 2% of the cheapest are a tie on cost; the smallest is easiest to get.
        cheapest_cost = min(o.estimate.cost_usd or 0 for o in candidates)
        near = [o for o in candidates if (o.estimate.cost_usd or 0) <= cheapest_cost * (1 + TIE_TOLERANCE)]
        return min(near, key=lambda o: o.estimate.chips)
    return min(candidates, key=lambda o: _score(o, objective))


def _too_long_group(venue: Venue) -> str:
    terms = venue.terms
    assert terms is not None and terms.max_hours is not None
    return f"the run is longer than a {PURCHASE_WORDS[terms.kind]}'s {terms.max_hours:g} h maximum"


def _axis_values(option: Option, axis: str) -> tuple[float, tuple[float, float]]:
    if axis == "time":
        return option.estimate.time_hours, option.time_range
    cost = option.estimate.cost_usd or 0.0
    return cost, option.cost_range or (cost, cost)


def tied(a: Option, b: Option, objective: str) -> bool:
    """Whether the estimates cannot tell `a` and `b` apart on the objective (both axes for balanced).

    Different chips or sizes: their ≈80% bands overlap. The same chip at the same size: the model's
    error is common to both, so only the point values count, within TIE_TOLERANCE.
    """
    same_model = (a.venue.accelerator, a.estimate.chips, a.topology) == (
        b.venue.accelerator,
        b.estimate.chips,
        b.topology,
    )
    for axis in ("cost", "time") if objective == "balanced" else (objective,):
        pa, ra = _axis_values(a, axis)
        pb, rb = _axis_values(b, axis)
        close = abs(pa - pb) <= TIE_TOLERANCE * max(pa, pb)
        overlap = ra[0] <= rb[1] and rb[0] <= ra[1]
        if not (close or (overlap and not same_model)):
            return False
    return True


def ranks_text(ranks: tuple[int, ...]) -> str:
    """'#2–4, #7': 1-based ranks with runs folded into ranges."""
    runs: list[list[int]] = []
    for r in sorted(ranks):
        if runs and r == runs[-1][-1] + 1:
            runs[-1].append(r)
        else:
            runs.append([r])
    return ", ".join(f"#{run[0]}" if len(run) == 1 else f"#{run[0]}–{run[-1]}" for run in runs)


def _why(option: Option, rank: int, best: Option, objective: str) -> str:
    e = option.estimate
    parts = [f"#{rank}"]
    if rank == 1:
        parts.append(f"best {objective}")
    else:
        b = best.estimate
        if b.cost_usd and e.cost_usd is not None:
            parts.append(f"{e.cost_usd / b.cost_usd:.2f}× the cost")
        parts.append(f"{e.time_hours / b.time_hours:.2f}× the time of #1")
    if option.tie_with:
        parts.append(f"tie with {ranks_text(option.tie_with)} within the estimate's band")
    size = f"{option.topology} slice" if option.topology else chips_text(e.chips)
    parts.append(f"{size} at {e.mfu:.0%} MFU, ${option.venue.usd_per_chip_hour:.2f}/chip-h")
    if option.purchase not in ("on-demand", "owned"):
        parts.append(f"{PURCHASE_WORDS[option.purchase]} price")
    return "; ".join(parts)


def decide(workload: Workload, limit: int = 10, exclude: frozenset[str] = frozenset()) -> Decision:
    """Rank every feasible way to run the workload; say why each other way is out.

    `exclude`: purchase kinds (capacity-block, flex-start, …) not to consider — the wizard's "no".
    """
    decision = _rank(workload, limit, exclude)
    if decision.options:
        return decision
    return replace(decision, relax=relaxations(workload, exclude))


def _rank(workload: Workload, limit: int, exclude: frozenset[str] = frozenset()) -> Decision:
    """The ranking alone: relaxations() calls this, so a relaxed search never searches relaxations again."""
    places, eliminated = venues(workload)
    options: list[Option] = []
    for venue in places:
        if venue.purchase in exclude:
            continue
        out = screen(venue, workload)
        if out is None:
            option, out = _best_size(venue, workload)
            if option is not None:
                options.append(option)
        if out is not None:
            eliminated.append(replace(out, venue=venue))
    options.sort(key=lambda o: _score(o, workload.objective))
    # One line per accelerator/place/purchase: the 1-GPU and 8-GPU VM shapes of one family compete.
    seen: set[tuple[str, str, str, str]] = set()
    unique = []
    for o in options:
        key = (o.venue.target, o.venue.region, o.venue.accelerator, o.venue.purchase)
        if key not in seen:
            seen.add(key)
            unique.append(o)
    options = unique
    if workload.objective == "balanced" and options:
        options.sort(key=_balanced_key(options))
    shown = options[:limit]
    ties = [
        tuple(j + 1 for j, other in enumerate(shown) if j != i and tied(o, other, workload.objective))
        for i, o in enumerate(shown)
    ]
    ranked = []
    for i, o in enumerate(shown):
        o = replace(o, tie_with=ties[i])
        ranked.append(replace(o, why=_why(o, i + 1, shown[0], workload.objective)))
    return Decision(workload, tuple(ranked), tuple(eliminated))


RELAXABLE = ("deadline_hours", "budget_usd", "regions", "clouds", "compliance", "spot_ok", "max_chips")


def relaxations(workload: Workload, exclude: frozenset[str] = frozenset()) -> tuple[str, ...]:
    """When nothing is feasible: which single constraint, relaxed, gives an option, and the best one it gives."""
    c = workload.constraints
    defaults = {
        "deadline_hours": None,
        "budget_usd": None,
        "regions": (),
        "clouds": ("gcp", "aws", "onprem"),
        "compliance": "standard",
        "spot_ok": True,
        "max_chips": 16384,
    }
    out = []
    for name in RELAXABLE:
        if getattr(c, name) == defaults[name]:
            continue
        looser = workload.model_copy(update={"constraints": c.model_copy(update={name: defaults[name]})})
        found = _rank(looser, 1, exclude).options
        if found:
            best = found[0]
            e = best.estimate
            need = {
                "deadline_hours": f"to ≥ {e.time_hours:,.1f} h",
                "budget_usd": f"to ≥ ${e.cost_usd or 0:,.0f}",
            }.get(name, "")
            out.append(
                f"relax {name} {need}".rstrip()
                + f": then {best.venue.label}, {chips_text(e.chips)}, {e.time_hours:,.1f} h, ${e.cost_usd or 0:,.0f}"
            )
    if not out:
        out.append("no single constraint relaxed gives an option; relax two, or add on-prem hardware")
    return tuple(out)
