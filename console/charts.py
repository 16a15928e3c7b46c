"""Server-side SVG charts for the insights page: no script, no CDN, nothing the console's
Content-Security-Policy would refuse (presentation attributes only, no style attributes).

Each chart is an `<svg role="img">` named by its <title> and summarised by its <desc>;
the page puts the same figures in a table beside it, for screen readers and for copying.
Series differ by line pattern as well as by colour, for readers who do not tell colours
apart.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

from markupsafe import Markup

WIDTH, HEIGHT = 720, 260
LEFT, RIGHT, TOP, BOTTOM = 56, 16, 16, 44
TEXT = "#1d1d1f"
GRID = "#c9ced6"
# Dark enough on white for text and for lines (WCAG non-text contrast 3:1).
COLOURS = ("#0b4f8a", "#a14a00", "#1d6b36", "#6b2c91")
DASHES = ("", "6 4", "2 3", "10 3 2 3")
MAX_X_LABELS = 8


@dataclass(frozen=True)
class Series:
    name: str
    values: Sequence[float]


def axis_top(value: float) -> float:
    """The top of a y axis of counts with 4 gridlines: each step a whole, round number,
    so every label is a count."""
    wanted = max(value, 1) / 4
    power = 10 ** max(0, math.floor(math.log10(wanted)))
    step = next(
        s * power
        for s in (1, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10)
        if wanted <= s * power and float(s * power).is_integer()
    )
    return 4 * step


def _number(value: float) -> str:
    return f"{value:,.0f}" if value == int(value) else f"{value:,.1f}"


def _frame(chart_id: str, title: str, description: str, body: list[str]) -> Markup:
    head = (
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-labelledby="{chart_id}-title {chart_id}-desc" '
        f'xmlns="http://www.w3.org/2000/svg" font-family="system-ui, sans-serif" font-size="12">'
        f'<title id="{chart_id}-title">{escape(title)}</title>'
        f'<desc id="{chart_id}-desc">{escape(description)}</desc>'
    )
    return Markup(head + "".join(body) + "</svg>")


def _y_axis(top: float) -> list[str]:
    parts = []
    plot_height = HEIGHT - TOP - BOTTOM
    for i in range(5):
        value = top * i / 4
        y = TOP + plot_height * (1 - i / 4)
        parts.append(
            f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}" '
            f'stroke="{GRID}" stroke-width="1"/>'
            f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end" fill="{TEXT}">'
            f"{_number(value)}</text>"
        )
    return parts


def _x_labels(labels: Sequence[str], positions: Sequence[float]) -> list[str]:
    if not labels:
        return []
    step = max(1, math.ceil(len(labels) / MAX_X_LABELS))
    return [
        f'<text x="{positions[i]:.1f}" y="{HEIGHT - BOTTOM + 18}" text-anchor="middle" '
        f'fill="{TEXT}">{escape(labels[i])}</text>'
        for i in range(0, len(labels), step)
    ]


def _legend(series: Sequence[Series]) -> list[str]:
    parts = []
    x = LEFT
    for i, item in enumerate(series):
        dash = f' stroke-dasharray="{DASHES[i % len(DASHES)]}"' if DASHES[i % len(DASHES)] else ""
        y = HEIGHT - 10
        parts.append(
            f'<line x1="{x}" x2="{x + 28}" y1="{y - 4}" y2="{y - 4}" '
            f'stroke="{COLOURS[i % len(COLOURS)]}" stroke-width="3"{dash}/>'
            f'<text x="{x + 34}" y="{y}" fill="{TEXT}">{escape(item.name)}</text>'
        )
        x += 40 + 8 * len(item.name)
    return parts


def line_chart(
    chart_id: str, title: str, description: str, labels: Sequence[str], series: Sequence[Series]
) -> Markup:
    """Lines over days (a dot per day when there are few)."""
    top = axis_top(max((max(s.values, default=0) for s in series), default=0))
    plot_width = WIDTH - LEFT - RIGHT
    plot_height = HEIGHT - TOP - BOTTOM
    count = max(1, len(labels))
    xs = [LEFT + plot_width * (i + 0.5) / count for i in range(count)]
    body = _y_axis(top)
    for i, item in enumerate(series):
        colour = COLOURS[i % len(COLOURS)]
        points = [
            (xs[j], TOP + plot_height * (1 - value / top)) for j, value in enumerate(item.values)
        ]
        dash = DASHES[i % len(DASHES)]
        body.append(
            f'<polyline fill="none" stroke="{colour}" stroke-width="2.5" '
            + (f'stroke-dasharray="{dash}" ' if dash else "")
            + 'points="'
            + " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
            + '"/>'
        )
        if len(points) <= 31:
            body.extend(
                f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{colour}"/>' for x, y in points
            )
    body.extend(_x_labels(labels, xs))
    body.extend(_legend(series))
    return _frame(chart_id, title, description, body)


def bar_chart(
    chart_id: str, title: str, description: str, labels: Sequence[str], values: Sequence[float]
) -> Markup:
    """Vertical bars, one per label (weeks)."""
    top = axis_top(max(values, default=0))
    plot_width = WIDTH - LEFT - RIGHT
    plot_height = HEIGHT - TOP - BOTTOM
    count = max(1, len(labels))
    slot = plot_width / count
    xs = [LEFT + slot * (i + 0.5) for i in range(count)]
    body = _y_axis(top)
    for x, value in zip(xs, values, strict=False):
        height = plot_height * value / top
        body.append(
            f'<rect x="{x - slot * 0.35:.1f}" y="{TOP + plot_height - height:.1f}" '
            f'width="{slot * 0.7:.1f}" height="{height:.1f}" fill="{COLOURS[0]}"/>'
        )
    body.extend(_x_labels(labels, xs))
    return _frame(chart_id, title, description, body)


def hbar_chart(
    chart_id: str, title: str, description: str, labels: Sequence[str], values: Sequence[float]
) -> Markup:
    """Horizontal bars with their labels and values written out (topics)."""
    row, label_width = 24, 210
    height = TOP + row * max(1, len(labels)) + 8
    top = max(values, default=0) or 1
    plot_width = WIDTH - label_width - 70
    body = []
    for i, (label, value) in enumerate(zip(labels, values, strict=True)):
        y = TOP + i * row
        length = plot_width * value / top
        body.append(
            f'<text x="{label_width - 8}" y="{y + 15}" text-anchor="end" fill="{TEXT}">'
            f"{escape(label)}</text>"
            f'<rect x="{label_width}" y="{y + 3}" width="{length:.1f}" height="{row - 8}" '
            f'fill="{COLOURS[0]}"/>'
            f'<text x="{label_width + length + 6:.1f}" y="{y + 15}" fill="{TEXT}">'
            f"{_number(value)}</text>"
        )
    svg = _frame(chart_id, title, description, body)
    return Markup(str(svg).replace(f"0 0 {WIDTH} {HEIGHT}", f"0 0 {WIDTH} {height}", 1))
