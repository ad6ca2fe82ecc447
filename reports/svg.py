"""Small inline-SVG charts for the self-contained HTML report: horizontal bars and daily columns.

Each function returns :class:`markupsafe.Markup` ready to drop into the autoescaped template; every
piece of text it places in the SVG (labels come from billing tags) is escaped here. Charts are drawn
from already-aggregated values (a few dozen at most), so plain Python loops are fine. No data
gives a small "no data" placeholder rather than an empty drawing. Styling comes from the report's
CSS classes (``bar``, ``range``, ``axis``, ``label``).
"""

from __future__ import annotations

from collections.abc import Sequence

from markupsafe import Markup, escape

from reports.units import tick

_FONT_PX = 12
_ROW_PX = 22
_LABEL_PX = 220
_PLOT_PX = 440
_VALUE_PX = 110


def _svg(width: int, height: int, title: str, body: list[str]) -> Markup:
    return Markup(
        f'<svg class="chart" role="img" viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
        f'font-size="{_FONT_PX}"><title>{escape(title)}</title>{"".join(body)}</svg>'
    )


def _no_data(title: str) -> Markup:
    return _svg(_LABEL_PX + _PLOT_PX, 2 * _ROW_PX, title, [f'<text class="label" x="4" y="{_ROW_PX}">no data</text>'])


def _truncate(text: str, limit: int = 32) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def bar_chart(labels: Sequence[str], values: Sequence[float], *, title: str, unit: str) -> Markup:
    """Horizontal bars, one per label, with the value printed after each bar (``unit`` appended)."""
    if not labels or max(values, default=0.0) <= 0:
        return _no_data(title)
    top = max(values)
    body = []
    for i, (label, value) in enumerate(zip(labels, values)):
        y = i * _ROW_PX
        length = max(value, 0.0) / top * _PLOT_PX
        body.append(
            f'<text class="label" x="{_LABEL_PX - 6}" y="{y + 15}" text-anchor="end">'
            f"<title>{escape(label)}</title>{escape(_truncate(label))}</text>"
            f'<rect class="bar" x="{_LABEL_PX}" y="{y + 3}" width="{length:.1f}" height="{_ROW_PX - 6}"/>'
            f'<text class="value" x="{_LABEL_PX + length + 4:.1f}" y="{y + 15}">{escape(tick(value))} {escape(unit)}</text>'
        )
    return _svg(_LABEL_PX + _PLOT_PX + _VALUE_PX, len(labels) * _ROW_PX, title, body)


def column_chart(
    labels: Sequence[str],
    values: Sequence[float],
    *,
    low: Sequence[float] | None = None,
    high: Sequence[float] | None = None,
    title: str,
    unit: str,
) -> Markup:
    """Vertical columns over time (one per label, e.g. a day), with optional low–high range whiskers."""
    if not labels or max([*values, *(high or [])], default=0.0) <= 0:
        return _no_data(title)
    top = max([*values, *(high or [])])
    top_label = f"{tick(top)} {unit}"
    # The axis is as wide as its top label (about 7 px a character at the label's size), never clipped.
    plot_h, axis_w, label_h = 200, max(70, 7 * len(top_label) + 12), 60
    step = max(12.0, min(40.0, 700.0 / len(labels)))
    width = int(axis_w + step * len(labels) + 10)
    label_every = max(1, round(len(labels) / 15))

    def y_of(value: float) -> float:
        return 10 + plot_h * (1 - max(value, 0.0) / top)

    body = [
        f'<line class="axis" x1="{axis_w}" y1="{10 + plot_h}" x2="{width}" y2="{10 + plot_h}"/>',
        f'<text class="label" x="{axis_w - 6}" y="14" text-anchor="end">{escape(top_label)}</text>',
        f'<text class="label" x="{axis_w - 6}" y="{10 + plot_h}" text-anchor="end">0</text>',
    ]
    for i, (label, value) in enumerate(zip(labels, values)):
        x = axis_w + i * step
        y = y_of(value)
        body.append(
            f'<rect class="bar" x="{x + step * 0.15:.1f}" y="{y:.1f}" width="{step * 0.7:.1f}" height="{10 + plot_h - y:.1f}">'
            f"<title>{escape(label)}: {escape(tick(value))} {escape(unit)}</title></rect>"
        )
        if low is not None and high is not None:
            centre = x + step / 2
            body.append(f'<line class="range" x1="{centre:.1f}" y1="{y_of(low[i]):.1f}" x2="{centre:.1f}" y2="{y_of(high[i]):.1f}"/>')
        if i % label_every == 0:
            lx, ly = x + step / 2, 10 + plot_h + 8
            body.append(
                f'<text class="label" x="{lx:.1f}" y="{ly}" text-anchor="end" '
                f'transform="rotate(-45 {lx:.1f} {ly})">{escape(_truncate(label, 12))}</text>'
            )
    return _svg(width, 10 + plot_h + label_h, title, body)
