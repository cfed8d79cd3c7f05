"""Turn a chosen option into a stack config file (stacks/Pulumi.<name>.yaml) through Jinja2.

The config is built as plain data first (so it can be validated and tested as data), then laid
out by `templates/stack.yaml.j2` with a comment on every non-default choice saying why.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from importlib import resources

import jinja2
import yaml

from foundation import catalog

from .decide import PURCHASE_WORDS, Option, billed_hours, chips_text, price_date, tpu_zone
from .workload import Workload

TEMPLATE = "stack.yaml.j2"


def _yaml_value(value: object) -> str:
    """One value as a single line of YAML, emitted by the serializer: whatever text a user typed
    (a newline, a '#', a ': ') stays inside the value and can never add a key."""
    text = yaml.safe_dump(value, default_flow_style=True, sort_keys=False, width=100_000).strip()
    return text.removesuffix("...").strip()


def oneline(text: object) -> str:
    """Text for a `# comment` line: newlines and control characters folded into spaces."""
    return " ".join("".join(c if c.isprintable() else " " for c in str(text)).split())


@dataclass(frozen=True)
class Line:
    """One config key of the stack file: its value is data, serialized, never pasted text."""

    key: str
    value: object
    comment: str = ""
    after: tuple[str, ...] = ()  # comment lines below the key: a step for the user, never a value

    @property
    def text(self) -> str:
        return f"{self.key}: {_yaml_value(self.value)}"


def pool_for(option: Option, name: str) -> dict[str, object]:
    """One accelerator pool sized for the option: scale-to-zero, max = the chips the estimate used."""
    v, e = option.venue, option.estimate
    pool: dict[str, object] = {"name": name, "accelerator": v.accelerator}
    if option.topology:
        gen = catalog.gke().tpus[v.accelerator]
        chips = e.chips
        if option.topology in gen.single_host:
            pool |= {"count": chips, "tpu_topology": option.topology, "min_nodes": 0, "max_nodes": 1}
        else:
            per_vm = gen.multi_host_chips_per_vm
            pool |= {"count": per_vm, "tpu_topology": option.topology, "min_nodes": 0, "max_nodes": chips // per_vm}
    elif v.target == "onprem":
        per_node = min(8, e.chips)
        pool |= {
            "count": per_node,
            "min_nodes": 0,
            "max_nodes": math.ceil(e.chips / per_node),
            "node_selector": {"aistack.io/accelerator": v.accelerator},
        }
    else:
        per_node = v.chips_per_instance
        pool |= {"count": per_node, "min_nodes": 0, "max_nodes": max(1, math.ceil(e.chips / per_node))}
    if v.spot:
        pool["spot"] = True
    elif v.purchase == "flex-start":
        pool["capacity"] = {"type": "flex-start"}
    elif v.purchase == "reservation":
        # Any matching open reservation, else on-demand: valid before the reservation exists.
        pool["capacity"] = {"type": "reservation", "affinity": "any"}
    return pool


def booking_steps(option: Option) -> tuple[str, ...]:
    """For a purchase bought for fixed dates: the commented steps that turn the on-demand pool into it.

    The stack is written on-demand (it validates and runs today); the capacity key needs an id
    only the booking gives, and a placeholder id would not validate, so the key is shown, commented.
    """
    v, e = option.venue, option.estimate
    if v.purchase not in ("capacity-block", "calendar") or v.terms is None:
        return ()
    days = billed_hours(e.time_hours, v.terms) / 24
    instances = max(1, math.ceil(e.chips / v.chips_per_instance))
    if v.purchase == "capacity-block":
        return (
            f"Priced as an EC2 Capacity Block: {instances} × {v.instance} for {days:g} days "
            f"(${v.terms.usd_per_hour:,.2f}/h per instance, {v.terms.source}, {v.terms.as_of}).",
            "The pool above runs on-demand until the block is bought: find and buy one with",
            f"  aws ec2 describe-capacity-block-offerings --instance-type {v.instance} "
            f"--instance-count {instances} --capacity-duration-hours {days * 24:g}",
            "then add to the pool (the block's reservation id, from aws ec2 describe-capacity-reservations):",
            "  capacity: {type: capacity-block, block_id: cr-<the block's id>}",
        )
    return (
        f"Priced as a GCP calendar-mode reservation: {chips_text(e.chips)} for {days:g} days "
        f"(${v.terms.usd_per_hour:,.2f}/h per VM, {v.terms.source}, {v.terms.as_of}).",
        "The pool above runs on-demand until the reservation is approved; then add to the pool:",
        "  capacity: {type: reservation, reservation: <the reservation's name>}",
    )


def stack_config(option: Option, workload: Workload, extra: dict[str, object] | None = None) -> list[Line]:
    """The stack's config lines, each with the reason it is there."""
    v, e = option.venue, option.estimate
    extra = dict(extra or {})
    lines: list[Line] = []
    if v.target == "gcp":
        project = extra.pop("project", "my-gcp-project")
        lines.append(Line("gcp:project", project, "your GCP project id (replace before `pulumi up`)"))
    lines.append(
        Line(
            "aistack:target",
            v.target,
            f"{v.accelerator} on {v.target} ranked first for objective {workload.objective}",
        )
    )
    lines.append(Line("aistack:region", v.region, _region_reason(option, workload)))
    if option.topology:
        zone = tpu_zone(v.accelerator, v.region)
        lines.append(Line("aistack:zones", [zone], f"a zone offering {v.accelerator} (TPU pools use the first zone)"))
    if v.target == "onprem":
        system = next(s for s in workload.constraints.onprem if s.name == v.region)
        if system.country:
            lines.append(Line("aistack:country", system.country, "site country, checked for GDPR residency"))
        lines.append(
            Line(
                "aistack:cluster",
                {"kubeconfig": extra.pop("kubeconfig", "~/.kube/config")},
                "the existing cluster aistack deploys onto",
            )
        )
        lines.append(
            Line(
                "aistack:onprem",
                {"volumes": "local-path"},
                "node-local volumes until you name the site's storage class (existing)",
            )
        )
    if workload.constraints.compliance != "standard":
        lines.append(
            Line(
                "aistack:compliance",
                workload.constraints.compliance,
                f"the workload's compliance profile ({workload.constraints.compliance}) enforces residency, "
                "customer-managed keys and audit logs",
            )
        )
    pool_name = str(extra.pop("pool_name", _pool_name(v.accelerator)))
    pool = pool_for(option, pool_name)
    bought = {
        "spot": "; spot because the workload tolerates preemption and it is cheaper",
        "flex-start": "; flex-start: GKE queues the nodes until capacity is free (at most 7 days a run)",
        "reservation": "; consumes any matching reservation you hold, else runs on-demand",
    }.get(v.purchase, "")
    if v.purchase in ("capacity-block", "calendar"):
        bought = f"; on-demand until the {PURCHASE_WORDS[v.purchase]} is booked (see below)"
    lines.append(
        Line(
            "aistack:accelerator_pools",
            [pool],
            f"{e.chips} × {v.accelerator} ({option.topology or v.instance}), scale-to-zero{bought}",
            after=booking_steps(option),
        )
    )
    team = str(extra.pop("team", "ml"))
    quota = int(pool["count"]) * int(pool["max_nodes"])  # type: ignore[call-overload]
    lines.append(
        Line(
            "aistack:teams",
            [{"name": team, "quotas": {pool_name: quota}}],
            f"one team owning the whole pool ({chips_text(quota)}); add teams to share it through Kueue",
        )
    )
    for key, value in extra.items():
        lines.append(Line(f"aistack:{key}", value, "from the named blueprint"))
    return lines


def _pool_name(accelerator: str) -> str:
    short = accelerator.removeprefix("nvidia-").removeprefix("aws-")
    return short.split("-")[0] if accelerator.startswith("nvidia-") else short


def _region_reason(option: Option, workload: Workload) -> str:
    c = workload.constraints
    reasons = []
    if c.compliance == "gdpr":
        reasons.append("inside the EU/EEA (GDPR)")
    if c.regions:
        reasons.append("one of the allowed regions")
    reasons.append(f"{option.venue.usd_per_chip_hour:.2f} USD per chip-hour here")
    return ", ".join(reasons)


def render(option: Option, workload: Workload, title: str, command: str, extra: dict[str, object] | None = None) -> str:
    env = jinja2.Environment(
        loader=jinja2.FunctionLoader(lambda name: resources.files(__package__).joinpath("templates", name).read_text()),
        autoescape=False,  # YAML, not HTML: values arrive already serialized (Line.text), comments via `oneline`
        keep_trailing_newline=True,
        undefined=jinja2.StrictUndefined,
    )
    env.filters["oneline"] = oneline
    e = option.estimate
    low, high = option.time_range
    band = option.cost_range
    hours = f"{e.time_hours:,.1f} h" + (f" ({low:,.1f}–{high:,.1f})" if f"{low:,.1f}" != f"{high:,.1f}" else "")
    cost = "unknown" if e.cost_usd is None or band is None else f"${e.cost_usd:,.0f}"
    if band is not None and f"{band[0]:,.0f}" != f"{band[1]:,.0f}":
        cost += f" (${band[0]:,.0f}–{band[1]:,.0f})"
    return env.get_template(TEMPLATE).render(
        prices=price_date(),
        title=title,
        command=command,
        today=dt.date.today().isoformat(),
        option_line=option.venue.label + f", {chips_text(e.chips)}",
        estimate_line=f"{hours}, {cost}, MFU {e.mfu:.0%} — {option.why}",
        lines=stack_config(option, workload, extra),
    )
