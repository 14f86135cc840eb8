"""Simple charts as inline SVG (no JavaScript): horizontal bars, stacked by series.

The chart is a picture of a table that is always shown next to it, so screen-reader
users get the same numbers from the table; the SVG has a title and description.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

from markupsafe import Markup

from bbx.i18n import number

# Colour-blind-safe palette (Okabe-Ito), one per series.
PALETTE = ("#009E73", "#E69F00", "#D55E00", "#0072B2", "#CC79A7", "#56B4E9", "#999999")
# The same colour for the same outcome on every chart.
OUTCOME_COLOURS = {"delivered": "#009E73", "not_subscribed": "#E69F00", "failed": "#D55E00",
                   "rejected": "#CC79A7", "sent": "#0072B2", "queued": "#56B4E9", "planned": "#999999",
                   "cancelled": "#F0E442"}
_LABEL_W, _BAR_W, _ROW_H, _PAD = 270, 380, 26, 6
_LABEL_CHARS = 38


def stacked_bars(title: str, rows: Sequence[tuple[str, Sequence[int]]], series: Sequence[str],
                 colours: Sequence[str] | None = None) -> Markup:
    """``rows``: (label, one value per series); ``colours``: one per series (default: the
    palette in order). Returns an ``<svg>`` element (safe markup)."""
    colours = list(colours or PALETTE)
    if not rows:
        return Markup("")
    longest = max(sum(values) for _, values in rows) or 1
    legend_h = 24
    height = legend_h + len(rows) * _ROW_H + _PAD
    width = _LABEL_W + _BAR_W + 70
    parts = [
        f'<svg class="chart" role="img" viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
        f'xmlns="http://www.w3.org/2000/svg"><title>{escape(title)}</title>'
        f"<desc>{escape(title)}: the same numbers are in the table below.</desc>"
    ]
    x = _LABEL_W
    for i, name in enumerate(series):
        colour = colours[i % len(colours)]
        parts.append(f'<rect x="{x}" y="4" width="12" height="12" fill="{colour}"/>'
                     f'<text x="{x + 16}" y="15" font-size="12">{escape(name)}</text>')
        x += 24 + 7 * len(name)
    for r, (label, values) in enumerate(rows):
        y = legend_h + r * _ROW_H
        short = label if len(label) <= _LABEL_CHARS else label[: _LABEL_CHARS - 1] + "…"
        parts.append(f'<text x="{_LABEL_W - 8}" y="{y + 17}" font-size="12" text-anchor="end">'
                     f"<title>{escape(label)}</title>{escape(short)}</text>")
        x = float(_LABEL_W)
        for i, value in enumerate(values):
            if value <= 0:
                continue
            w = max(_BAR_W * value / longest, 1.5)
            colour = colours[i % len(colours)]
            parts.append(f'<rect x="{x:.1f}" y="{y + 4}" width="{w:.1f}" height="{_ROW_H - 8}" fill="{colour}">'
                         f"<title>{escape(label)}: {escape(series[i])} {number(value)}</title></rect>")
            x += w
        parts.append(f'<text x="{x + 6:.1f}" y="{y + 17}" font-size="12">{number(sum(values))}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))
