"""The decision engine: every offering × size × spot, estimated, filtered by constraints, ranked.

Pure: a workload in, a Decision (ranked options, eliminations with reasons) out. For each
(target, region, accelerator, spot) it picks the size that best serves the objective within the
deadline and budget — the smallest that meets the deadline when cost matters, the largest the
budget allows when time matters, the best cost×time product when balanced — then ranks those.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from . import catalog
from .estimator import Estimate, estimate_serving, estimate_training, min_chips_for_memory, perf_of
from .utilisation import NotEstimable
from .workload import OnPremSystem, Workload

HOURS_PER_YEAR = 8760


@dataclass(frozen=True)
class Venue:
    """Somewhere the job could run, with its price per chip-hour."""

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

    @property
    def label(self) -> str:
        spot = ", spot" if self.spot else ""
        where = self.region if self.target == "onprem" else f"{self.region}, {self.instance}"
        return f"{self.accelerator} on {self.target} ({where}{spot})"


@dataclass(frozen=True)
class Option:
    venue: Venue
    estimate: Estimate
    why: str = ""
    risks: tuple[str, ...] = ()
    topology: str | None = None

    def as_json(self) -> dict[str, object]:
        e = self.estimate
        return {
            "target": self.venue.target,
            "region": self.venue.region,
            "accelerator": self.venue.accelerator,
            "count": e.chips,
            "time_hours": round(e.time_hours, 3),
            "cost_usd": None if e.cost_usd is None else round(e.cost_usd, 2),
            "spot": self.venue.spot,
            "why": self.why,
            "instance": self.venue.instance,
            "topology": self.topology,
            "mfu": round(e.mfu, 4),
            "usd_per_chip_hour": round(self.venue.usd_per_chip_hour, 4),
            "risks": list(self.risks),
            "assumptions": e.assumptions,
            **(
                {"tokens_per_s": round(e.tokens_per_s, 1), "replicas": e.replicas} if e.tokens_per_s is not None else {}
            ),
        }


@dataclass(frozen=True)
class Elimination:
    option: str
    reason: str
    constraint: str  # which constraint did it: clouds, regions, compliance, framework, precision,
    # deadline, budget, memory, price, data

    def as_json(self) -> dict[str, str]:
        return {"option": self.option, "reason": self.reason, "constraint": self.constraint}


@dataclass(frozen=True)
class Decision:
    workload: Workload
    options: tuple[Option, ...]
    eliminated: tuple[Elimination, ...]
    relax: tuple[str, ...] = field(default=())  # when nothing is left: what to relax, and what it buys

    def as_json(self) -> dict[str, object]:
        out: dict[str, object] = {
            "options": [o.as_json() for o in self.options],
            "eliminated": [e.as_json() for e in self.eliminated],
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
        for price, spot in ((o.on_demand, False), (o.spot, True)):
            if price is not None:
                found.append(
                    Venue(
                        o.target,
                        o.region,
                        o.accelerator,
                        o.instance,
                        o.chips,
                        price / o.chips,
                        spot,
                        o.source,
                        topologies=topologies,
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
            )
        )
    for acc in catalog.accelerators().accelerators:
        owned = any(s.accelerator == acc.id for s in workload.constraints.onprem)
        if acc.id not in priced and not owned and set(acc.targets) - {"onprem"}:
            gone.append(
                Elimination(
                    f"{acc.id} on {'/'.join(t for t in acc.targets if t != 'onprem')}",
                    "no sourced price in blueprints/catalog/offerings.yaml (see its README to add one)",
                    "price",
                )
            )
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
        return Elimination(label, f"region {venue.region} is not in constraints.regions {list(c.regions)}", "regions")
    if c.compliance == "gdpr" and not _eu(venue.target, venue.region, workload):
        where = "site country is not EU/EEA" if venue.target == "onprem" else f"{venue.region} is outside the EU/EEA"
        return Elimination(label, f"GDPR residency: {where}", "compliance")
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
        return Elimination(label, f"the catalog lists no {venue.accelerator} zone in {venue.region}", "regions")
    if venue.accelerator == "aws-inferentia2" and workload.kind != "serving":
        return Elimination(label, "Inferentia2 is an inference chip; training needs Trainium", "kind")
    return None


def _sizes(venue: Venue, workload: Workload) -> list[tuple[int, str | None]]:
    cap = min(workload.constraints.max_chips, venue.max_chips or workload.constraints.max_chips)
    if venue.topologies:
        return [(n, topo) for topo, n in venue.topologies if n <= cap]
    sizes: list[tuple[int, str | None]] = []
    n = 1 if venue.max_chips is not None else venue.chips_per_instance
    while n <= cap:
        sizes.append((n, None))
        n *= 2
    if venue.max_chips is not None and venue.max_chips <= cap and all(s != venue.max_chips for s, _ in sizes):
        sizes.append((venue.max_chips, None))
    # A whole instance is the unit you rent: 1-chip shapes only where the offering is a 1-chip VM.
    return sizes


def _risks(venue: Venue, workload: Workload, chips: int) -> tuple[str, ...]:
    risks = []
    if venue.spot:
        risks.append("preemption: spot capacity can be reclaimed; checkpoint often and expect restarts")
    if venue.target != "onprem" and chips >= 256:
        risks.append(f"capacity: {chips} chips usually need a reservation or quota increase")
    if venue.accelerator.startswith("tpu-") and workload.framework == "pytorch":
        risks.append("PyTorch/XLA: expect porting work and fewer kernels than on GPUs")
    if venue.accelerator.startswith("aws-"):
        risks.append("Neuron SDK: models must compile with neuronx; utilisation figure is unvalidated")
    if venue.target == "onprem":
        risks.append("on-prem: price is amortised capital + power; it assumes the hardware is otherwise idle")
    return tuple(risks)


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


def _best_size(venue: Venue, workload: Workload) -> tuple[Option | None, Elimination | None]:
    c = workload.constraints
    label = venue.label
    if workload.kind == "serving":
        shapes = tuple(n for n, _ in _sizes(venue, workload) if n <= max(8, venue.chips_per_instance)) or (1,)
        if venue.target != "onprem" and venue.chips_per_instance > 1 and not venue.topologies:
            shapes = tuple(n for n in (1, 2, 4, 8) if n <= venue.chips_per_instance)
        try:
            est = estimate_serving(
                workload,
                venue.accelerator,
                venue.usd_per_chip_hour,
                shapes,
                billing_unit=1 if venue.target == "onprem" else venue.chips_per_instance,
            )
        except NotEstimable as exc:
            kind = "memory" if "fit" in str(exc) else "latency" if "slow" in str(exc) else "data"
            return None, Elimination(label, str(exc), kind)
        if venue.max_chips is not None and est.chips > venue.max_chips:
            return None, Elimination(label, f"needs {est.chips} chips; the site has {venue.max_chips}", "capacity")
        if c.budget_usd is not None and est.cost_usd is not None and est.cost_usd > c.budget_usd:
            return None, Elimination(
                label, f"${est.cost_usd:,.0f} for {est.time_hours:g} h exceeds budget ${c.budget_usd:,.0f}", "budget"
            )
        return Option(venue, est, risks=_risks(venue, workload, est.chips)), None

    try:
        needed = min_chips_for_memory(workload, venue.accelerator)
    except NotEstimable as exc:
        return None, Elimination(label, str(exc), "data")
    candidates: list[Option] = []
    fastest: Option | None = None
    cheapest: Option | None = None
    sizes = [(n, t) for n, t in _sizes(venue, workload) if n >= needed]
    if not sizes:
        top = max((n for n, _ in _sizes(venue, workload)), default=0)
        return None, Elimination(
            label,
            f"does not fit: needs ≥{needed} chips for weights and optimiser state, largest size here is {top}",
            "memory",
        )
    for n, topo in sizes:
        try:
            est = estimate_training(workload, venue.accelerator, n, venue.usd_per_chip_hour, None)
        except NotEstimable as exc:
            return None, Elimination(label, str(exc), "data")
        opt = Option(venue, est, risks=_risks(venue, workload, n), topology=topo)
        if fastest is None or est.time_hours < fastest.estimate.time_hours:
            fastest = opt
        if cheapest is None or (est.cost_usd or 0) < (cheapest.estimate.cost_usd or 0):
            cheapest = opt
        if c.deadline_hours is not None and est.time_hours > c.deadline_hours:
            continue
        if c.budget_usd is not None and est.cost_usd is not None and est.cost_usd > c.budget_usd:
            continue
        candidates.append(opt)
    if not candidates:
        assert fastest is not None and cheapest is not None
        if c.deadline_hours is not None and fastest.estimate.time_hours > c.deadline_hours:
            return None, Elimination(
                label,
                f"too slow: fastest is {fastest.estimate.time_hours:,.1f} h on {fastest.estimate.chips} chips "
                f"> deadline {c.deadline_hours:g} h",
                "deadline",
            )
        if c.budget_usd is not None and (cheapest.estimate.cost_usd or 0) > c.budget_usd:
            return None, Elimination(
                label,
                f"too expensive: cheapest is ${cheapest.estimate.cost_usd or 0:,.0f} on {cheapest.estimate.chips} "
                f"chips > budget ${c.budget_usd:,.0f}",
                "budget",
            )
        return None, Elimination(label, "no size meets both the deadline and the budget", "deadline")
    if workload.objective == "balanced":
        best = min(candidates, key=_balanced_key(candidates))
    elif workload.objective == "cost":
        # Sizes within 2% of the cheapest are a tie on cost; the smallest is easiest to get.
        cheapest_cost = min(o.estimate.cost_usd or 0 for o in candidates)
        near = [o for o in candidates if (o.estimate.cost_usd or 0) <= cheapest_cost * 1.02]
        best = min(near, key=lambda o: o.estimate.chips)
    else:
        best = min(candidates, key=lambda o: _score(o, workload.objective))
    return best, None


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
    size = f"{option.topology} slice" if option.topology else f"{e.chips} chips"
    parts.append(f"{size} at {e.mfu:.0%} MFU, ${option.venue.usd_per_chip_hour:.2f}/chip-h")
    if option.venue.spot:
        parts.append("spot price")
    return "; ".join(parts)


def decide(workload: Workload, limit: int = 10) -> Decision:
    """Rank every feasible way to run the workload; say why each other way is out."""
    decision = _rank(workload, limit)
    if decision.options:
        return decision
    return replace(decision, relax=relaxations(workload))


def _rank(workload: Workload, limit: int) -> Decision:
    """The ranking alone: relaxations() calls this, so a relaxed search never searches relaxations again."""
    places, eliminated = venues(workload)
    options: list[Option] = []
    for venue in places:
        out = screen(venue, workload)
        if out is None:
            option, out = _best_size(venue, workload)
            if option is not None:
                options.append(option)
        if out is not None:
            eliminated.append(out)
    options.sort(key=lambda o: _score(o, workload.objective))
    # One line per accelerator/place/spot: the 1-GPU and 8-GPU VM shapes of one family compete.
    seen: set[tuple[str, str, str, bool]] = set()
    unique = []
    for o in options:
        key = (o.venue.target, o.venue.region, o.venue.accelerator, o.venue.spot)
        if key not in seen:
            seen.add(key)
            unique.append(o)
    options = unique
    if workload.objective == "balanced" and options:
        options.sort(key=_balanced_key(options))
    ranked = tuple(
        replace(o, why=_why(o, i + 1, options[0], workload.objective)) for i, o in enumerate(options[:limit])
    )
    return Decision(workload, ranked, tuple(eliminated))


RELAXABLE = ("deadline_hours", "budget_usd", "regions", "clouds", "compliance", "spot_ok", "max_chips")


def relaxations(workload: Workload) -> tuple[str, ...]:
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
        found = _rank(looser, limit=1).options
        if found:
            best = found[0]
            e = best.estimate
            need = {
                "deadline_hours": f"to ≥ {e.time_hours:,.1f} h",
                "budget_usd": f"to ≥ ${e.cost_usd or 0:,.0f}",
            }.get(name, "")
            out.append(
                f"relax {name} {need}".rstrip()
                + f": then {best.venue.label}, {e.chips} chips, {e.time_hours:,.1f} h, ${e.cost_usd or 0:,.0f}"
            )
    if not out:
        out.append("no single constraint relaxed gives an option; relax two, or add on-prem hardware")
    return tuple(out)
