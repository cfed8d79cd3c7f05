"""`aistack recommend --report FILE.html`: the cost × time trade-off as one self-contained page.

Pure: a Decision in, an HTML string out. The chart is inline SVG drawn here — no script, no font,
no stylesheet or image from anywhere else — so the page opens the same offline, in a mail client
or in a CI artifact viewer. Each ranked option is a point (time on x, cost on y, log axes when the
values span more than a factor of 10) with its ≈80% band as error bars; the Pareto front (options
no other option beats on both cost and time) is joined by a line; ties (decide.tied) are dashed
links from #1. Below the chart: the options, the eliminations grouped by reason, the assumptions and the
date of the prices.
"""

from __future__ import annotations

import html
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from .decide import Decision, Option, chips_text, group_eliminations, price_date, ranks_text

WIDTH, HEIGHT = 760, 460
LEFT, RIGHT, TOP, BOTTOM = 84, 24, 24, 56  # plot margins, px
LOG_SPAN = 10.0  # an axis goes logarithmic when max/min exceeds this
PARETO_FILL = "#1f77b4"
OTHER_FILL = "#9aa5b1"


def esc(value: object) -> str:
    return html.escape(str(value), quote=True)


def pareto(options: Sequence[Option]) -> set[int]:
    """Indexes of the options no other option matches or beats on both time and cost (and beats on one)."""
    front = set()
    for i, a in enumerate(options):
        ca, ta = a.estimate.cost_usd or 0.0, a.estimate.time_hours
        dominated = False
        for j, b in enumerate(options):
            cb, tb = b.estimate.cost_usd or 0.0, b.estimate.time_hours
            if j != i and cb <= ca and tb <= ta and (cb < ca or tb < ta):
                dominated = True
                break
        if not dominated:
            front.add(i)
    return front


@dataclass(frozen=True)
class Axis:
    """Maps values to pixels between `start` and `end` (end < start for the y axis)."""

    low: float
    high: float
    start: float
    end: float
    log: bool

    @classmethod
    def fit(cls, values: Sequence[float], start: float, end: float) -> Axis:
        positive = [v for v in values if v > 0]
        low, high = (min(positive), max(positive)) if positive else (1.0, 10.0)
        log = high / low > LOG_SPAN
        if log:
            low, high = 10 ** math.floor(math.log10(low)), 10 ** math.ceil(math.log10(high))
        else:
            pad = (high - low) * 0.1 or low * 0.1 or 1.0
            low, high = max(0.0, low - pad), high + pad
        return cls(low, high, start, end, log)

    def __call__(self, value: float) -> float:
        value = min(max(value, self.low), self.high)
        if self.log:
            share = (math.log10(value) - math.log10(self.low)) / (math.log10(self.high) - math.log10(self.low))
        else:
            share = (value - self.low) / (self.high - self.low)
        return self.start + share * (self.end - self.start)

    def ticks(self) -> list[float]:
        if self.log:
            out = []
            decade = self.low
            while decade <= self.high * 1.0001:
                out += [decade * m for m in (1, 2, 5) if decade * m <= self.high * 1.0001]
                decade *= 10
            return out
        step = _nice_step((self.high - self.low) / 5)
        first = math.ceil(self.low / step) * step
        return [first + k * step for k in range(int((self.high - first) / step + 1e-9) + 1)]


def _nice_step(raw: float) -> float:
    power = 10 ** math.floor(math.log10(raw)) if raw > 0 else 1.0
    return next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= raw)


def _number(value: float) -> str:
    if value >= 100:
        return f"{value:,.0f}"
    return f"{value:,.2f}".rstrip("0").rstrip(".") if value < 10 else f"{value:,.1f}".rstrip("0").rstrip(".")


def chart(decision: Decision) -> str:
    """The SVG: one <circle class="option"> per ranked option, bands, Pareto front, tie links."""
    options = decision.options
    costs = [o.estimate.cost_usd or 0.0 for o in options]
    cost_ranges = [o.cost_range or (c, c) for o, c in zip(options, costs, strict=True)]
    time_ranges = [o.time_range for o in options]
    x = Axis.fit([v for r in time_ranges for v in r], LEFT, WIDTH - RIGHT)
    y = Axis.fit([v for r in cost_ranges for v in r], HEIGHT - BOTTOM, TOP)
    front = pareto(options)
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" '
        f'height="{HEIGHT}" role="img" aria-labelledby="chart-title">',
        '<title id="chart-title">Ranked options: cost against time, with the estimate bands</title>',
        f'<rect class="plot" x="{LEFT}" y="{TOP}" width="{WIDTH - LEFT - RIGHT}" '
        f'height="{HEIGHT - TOP - BOTTOM}" fill="#ffffff" stroke="#c8ced6"/>',
    ]
    out += _grid(x, "x", _number) + _grid(y, "y", lambda v: "$" + _number(v))
    out.append(
        f'<text x="{(LEFT + WIDTH - RIGHT) / 2}" y="{HEIGHT - 14}" text-anchor="middle" class="axis-title">'
        f"{'run time' if decision.workload.kind != 'serving' else 'hours priced'}, hours"
        f"{' (log scale)' if x.log else ''}</text>"
    )
    out.append(
        f'<text x="18" y="{(TOP + HEIGHT - BOTTOM) / 2}" text-anchor="middle" class="axis-title" '
        f'transform="rotate(-90 18 {(TOP + HEIGHT - BOTTOM) / 2})">cost, USD{" (log scale)" if y.log else ""}</text>'
    )
    on_front = sorted(front, key=lambda i: options[i].estimate.time_hours)
    if len(on_front) > 1:
        points = " ".join(f"{x(options[i].estimate.time_hours):.1f},{y(costs[i]):.1f}" for i in on_front)
        out.append(
            f'<polyline class="pareto-front" points="{points}" fill="none" stroke="{PARETO_FILL}" '
            'stroke-width="2" stroke-opacity="0.6"/>'
        )
    # Ties with #1 are drawn (is the first choice really first?); every tie is in the table's ≈ column.
    for i, o in enumerate(options[:1]):
        for j in o.tie_with:
            if j - 1 > i:
                other = options[j - 1]
                out.append(
                    f'<line class="tie" data-ranks="{i + 1} {j}" x1="{x(o.estimate.time_hours):.1f}" '
                    f'y1="{y(costs[i]):.1f}" x2="{x(other.estimate.time_hours):.1f}" y2="{y(costs[j - 1]):.1f}" '
                    'stroke="#d62728" stroke-width="1.5" stroke-dasharray="5 4"/>'
                )
    for i, o in enumerate(options):
        cx, cy = x(o.estimate.time_hours), y(costs[i])
        (t_lo, t_hi), (c_lo, c_hi) = time_ranges[i], cost_ranges[i]
        out.append(
            f'<g class="band" stroke="#5a6472" stroke-width="1.2">'
            f'<line x1="{x(t_lo):.1f}" y1="{cy:.1f}" x2="{x(t_hi):.1f}" y2="{cy:.1f}"/>'
            f'<line x1="{cx:.1f}" y1="{y(c_lo):.1f}" x2="{cx:.1f}" y2="{y(c_hi):.1f}"/></g>'
        )
    for i, o in enumerate(options):
        cx, cy = x(o.estimate.time_hours), y(costs[i])
        fill = PARETO_FILL if i in front else OTHER_FILL
        tip = f"#{i + 1} {o.venue.label}: {_number(o.estimate.time_hours)} h, ${_number(costs[i])}"
        out.append(
            f'<circle class="option" data-rank="{i + 1}" data-pareto="{str(i in front).lower()}" '
            f'cx="{cx:.1f}" cy="{cy:.1f}" r="7" fill="{fill}" stroke="#1b2733" stroke-width="1">'
            f"<title>{esc(tip)}</title></circle>"
        )
        out.append(f'<text class="rank" x="{cx + 9:.1f}" y="{cy - 8:.1f}">#{i + 1}</text>')
    out.append("</svg>")
    return "\n".join(out)


def _grid(axis: Axis, which: str, label: Callable[[float], str]) -> list[str]:
    out = []
    for tick in axis.ticks():
        p = axis(tick)
        if which == "x":
            out.append(
                f'<line class="grid" x1="{p:.1f}" y1="{TOP}" x2="{p:.1f}" y2="{HEIGHT - BOTTOM}" stroke="#eceff3"/>'
                f'<text class="tick" x="{p:.1f}" y="{HEIGHT - BOTTOM + 18}" text-anchor="middle">{esc(label(tick))}'
                "</text>"
            )
        else:
            out.append(
                f'<line class="grid" x1="{LEFT}" y1="{p:.1f}" x2="{WIDTH - RIGHT}" y2="{p:.1f}" stroke="#eceff3"/>'
                f'<text class="tick" x="{LEFT - 8}" y="{p + 4:.1f}" text-anchor="end">{esc(label(tick))}</text>'
            )
    return out


STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 24px; color: #1b2733;
       background: #ffffff; max-width: 1100px; }
h1 { font-size: 1.4rem; } h2 { font-size: 1.1rem; margin-top: 1.6rem; }
table { border-collapse: collapse; font-size: 0.85rem; margin: 0.5rem 0; }
th, td { border: 1px solid #d5dae1; padding: 3px 8px; text-align: left; vertical-align: top; }
td.num { text-align: right; white-space: nowrap; }
.tick { font-size: 11px; fill: #4a5563; } .axis-title { font-size: 12px; fill: #1b2733; }
.rank { font-size: 11px; fill: #1b2733; } .legend span { margin-right: 1.2rem; }
.muted { color: #5a6472; font-size: 0.85rem; }
"""


def page(decision: Decision, origin: str) -> str:
    """The whole HTML page for `decision`; `origin` names the workload (its file) in the title."""
    w = decision.workload
    front = pareto(decision.options)
    parts = [
        "<!doctype html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>aistack recommend — {esc(origin)}</title>",
        f"<style>{STYLE}</style></head><body>",
        f"<h1>Hardware options for {esc(origin)}</h1>",
        f'<p class="muted">{esc(_workload_line(decision))}. Prices: {esc(price_date())}.</p>',
    ]
    if decision.options:
        parts += [
            chart(decision),
            '<p class="legend muted">'
            f'<span><svg width="12" height="12"><circle cx="6" cy="6" r="5" fill="{PARETO_FILL}"/></svg> '
            "on the Pareto front (nothing is both cheaper and faster)</span>"
            f'<span><svg width="12" height="12"><circle cx="6" cy="6" r="5" fill="{OTHER_FILL}"/></svg> '
            "beaten on both by another option</span>"
            '<span><svg width="24" height="8"><line x1="0" y1="4" x2="24" y2="4" stroke="#d62728" '
            'stroke-dasharray="5 4"/></svg> tie with #1: the ≈80% bands overlap on the objective '
            f"({esc(w.objective)}; every tie: the ≈ column)</span><span>bars: the estimate's ≈80% band</span></p>",
            "<h2>Ranked options</h2>",
            _options_table(decision, front),
        ]
        risks = sorted({r for o in decision.options[:3] for r in o.risks})
        if risks:
            parts.append("<h2>Risks of the top three</h2><ul>" + "".join(f"<li>{esc(r)}</li>" for r in risks) + "</ul>")
    else:
        parts.append("<h2>No option satisfies the constraints</h2><ul>")
        parts += [f"<li>{esc(line)}</li>" for line in decision.relax]
        parts.append("</ul>")
    parts.append(f"<h2>Eliminated ({len(decision.eliminated)}), by reason</h2>")
    rows = "".join(
        f"<tr><td>{esc(g.options[0].reason if len(g.options) == 1 else g.reason)}</td><td>{esc(g.constraint)}</td>"
        f'<td class="num">{len(g.options)}</td><td>{esc(g.compact)}</td></tr>'
        for g in group_eliminations(decision)
    )
    parts.append(
        '<table class="eliminated"><tr><th>reason</th><th>constraint</th><th>options</th><th>which</th></tr>'
        f"{rows}</table>"
    )
    if decision.options:
        best = decision.options[0]
        parts.append("<h2>Assumptions (#1)</h2><ul>")
        parts += [f"<li>{esc(a)}</li>" for a in best.estimate.assumptions]
        parts.append(f"<li>price: {esc(best.venue.source)} (read {esc(best.venue.as_of or 'n/a')})</li></ul>")
    parts.append(
        f'<p class="muted">Written by <code>aistack recommend --report</code>; prices: {esc(price_date())}. '
        "Estimates are models, not measurements: see docs/estimator.md for their calibration.</p>"
    )
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def _workload_line(decision: Decision) -> str:
    w, c = decision.workload, decision.workload.constraints
    what: list[str] = [w.kind]
    if w.params is not None:
        what.append(f"{w.params:.3g} parameters")
    if w.tokens is not None:
        what.append(f"{w.tokens:.3g} tokens")
    if w.target_tokens_per_s is not None:
        what.append(f"{w.target_tokens_per_s:g} tokens/s")
    what += [w.precision, w.framework, f"objective {w.objective}"]
    if c.deadline_hours is not None:
        what.append(f"deadline {c.deadline_hours:g} h")
    if c.budget_usd is not None:
        what.append(f"budget ${c.budget_usd:,.0f}")
    if c.compliance != "standard":
        what.append(c.compliance)
    return ", ".join(what)


def _options_table(decision: Decision, front: set[int]) -> str:
    head = "".join(
        f"<th>{h}</th>"
        for h in ("#", "≈", "accelerator", "where", "bought", "chips", "hours (band)", "USD (band)", "Pareto")
    )
    rows = []
    for i, o in enumerate(decision.options):
        e = o.estimate
        t_lo, t_hi = o.time_range
        c = o.cost_range
        cost = "?" if e.cost_usd is None or c is None else _with_band(e.cost_usd, c[0], c[1])
        rows.append(
            "<tr>"
            f'<td class="num">{i + 1}</td><td>{esc(ranks_text(o.tie_with))}</td>'
            f"<td>{esc(o.venue.accelerator)}</td><td>{esc(o.venue.target)} {esc(o.venue.region)} "
            f"({esc(o.topology or o.venue.instance)})</td><td>{esc(o.purchase)}</td>"
            f'<td class="num">{esc(chips_text(e.chips))}</td>'
            f'<td class="num">{esc(_with_band(e.time_hours, t_lo, t_hi))}</td>'
            f'<td class="num">{esc(cost)}</td><td>{"yes" if i in front else ""}</td></tr>'
        )
    return f'<table class="options"><tr>{head}</tr>{"".join(rows)}</table>'


def _with_band(value: float, low: float, high: float) -> str:
    lo, hi = _number(low), _number(high)
    return _number(value) if lo == hi else f"{_number(value)} ({lo}–{hi})"
