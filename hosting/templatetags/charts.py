"""Small charts drawn as inline SVG on the server: no JavaScript chart library, nothing to load,
and they print. Each tag turns numbers into shapes; the numbers themselves are always written
next to the picture (legend, <title> per bar) so that nothing is told by colour alone."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django import template

register = template.Library()

OUTCOMES = [("succeeded", "Succeeded"), ("warning", "Warning"), ("failed", "Failed"), ("cancelled", "Cancelled")]

# Geometry of the tasks-per-hour chart, in SVG user units (it scales to its box).
BAR_W, GAP, CHART_H, LEFT, TOP, BOTTOM = 18, 4, 110, 34, 8, 22


@dataclass
class Segment:
    outcome: str
    count: int
    y: str
    height: str


@dataclass
class Bar:
    x: str
    label: str        # "14:00"
    title: str        # "14:00–15:00: 3 succeeded, 1 failed"
    segments: list[Segment]
    tick: bool        # write the hour under this bar


def _n(value: float) -> str:
    # SVG coordinates as plain text: a float in a template is localised number by number,
    # which costs more than the rest of the chart.
    return f"{value:.2f}".rstrip("0").rstrip(".")


def nice_max(value: int) -> int:
    """A round top for the axis: 1, 2, 5, 10, 20, 50, ..."""
    top = 1
    while True:
        for step in (1, 2, 5):
            if value <= top * step:
                return top * step
        top *= 10


@register.inclusion_tag("charts/tasks_per_hour.html")
def tasks_per_hour(hours: list[tuple[datetime, dict[str, int]]]) -> dict[str, object]:
    """HOURS: (start of hour, {outcome: count}) oldest first, as dashboard.hourly_outcomes gives."""
    peak = max((sum(c.values()) for _, c in hours), default=0)
    top = nice_max(peak) if peak else 1
    scale = CHART_H / top
    bars = []
    totals = {key: 0 for key, _ in OUTCOMES}
    for i, (start, counts) in enumerate(hours):
        y: float = TOP + CHART_H
        segments = []
        for key, _label in OUTCOMES:
            n = counts.get(key, 0)
            totals[key] += n
            if n:
                h = n * scale
                y -= h
                segments.append(Segment(key, n, _n(y), _n(h)))
        words = ", ".join(f"{counts[k]} {k}" for k, _ in OUTCOMES if counts.get(k)) or "no tasks"
        label = f"{start:%H}:00"
        bars.append(Bar(_n(LEFT + i * (BAR_W + GAP)), label, f"{label}–{(start.hour + 1) % 24:02d}:00: {words}",
                        segments, tick=(i % 6 == 0)))
    width = LEFT + len(hours) * (BAR_W + GAP)
    return {
        "bars": bars, "width": width, "height": TOP + CHART_H + BOTTOM, "bar_w": BAR_W,
        "top": top, "top_y": TOP, "base_y": TOP + CHART_H, "chart_h": CHART_H,
        "mid": top // 2 if top >= 2 and top % 2 == 0 else None, "mid_y": TOP + CHART_H // 2,
        "label_y": TOP + CHART_H + 15, "left": LEFT, "ylabel_x": LEFT - 6,
        "legend": [(key, label, totals[key]) for key, label in OUTCOMES],
        "total": sum(totals.values()),
    }


@register.inclusion_tag("charts/disk.html")
def disk_chart(parts: list[tuple[str, str, int]]) -> dict[str, object]:
    """PARTS: (key, label, bytes). One stacked bar and a legend with sizes and shares."""
    total = sum(n for _, _, n in parts)
    x = 0.0
    segments = []
    for key, label, n in parts:
        share = (n / total * 100) if total else 0
        segments.append({"key": key, "label": label, "bytes": n, "x": _n(x), "w": _n(share) if n else "",
                         "pct": f"{share:.0f}%" if total else "–"})
        x += share
    return {"segments": segments, "total": total}
