"""Picking identity values out of Prometheus label columns whose spelling varies by exporter version.

What does not belong here: parsing (``prometheus``), the metric semantics (format modules).
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd


def first_label(points: pd.DataFrame, names: Sequence[str]) -> pd.Series:
    """The first non-empty value among the label columns ``names`` (in priority order), else null."""
    out = pd.Series(pd.NA, index=points.index, dtype="string")
    for name in names:
        if name in points.columns:
            values = points[name].astype("string")
            out = out.fillna(values.mask(values.str.strip() == ""))
    return out


def host_of(points: pd.DataFrame, names: Sequence[str]) -> pd.Series:
    """Host name from the named labels, falling back to the scrape target ``instance`` without its port."""
    target = first_label(points, ["instance"]).str.replace(r":\d+$", "", regex=True)
    return first_label(points, names).fillna(target)
