"""Quality checks of an hourly intensity table: gaps, staleness and outliers, as plain messages.

:func:`check_intensity` takes a wide hourly frame (index = UTC hour starts, one column per grid
zone, gCO2e/kWh), as an hourly-intensity asset or :meth:`intensity.GridData.hourly` produces, and
returns one message per problem (an empty list means the table passed). The Dagster asset check of
the hourly-intensity asset calls it; nothing here depends on Dagster.
What does not belong here: fetching or fixing data.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

#: Physical bounds of a grid's average intensity: no grid is below 0 or above coal's ~1,100 g by far.
MAX_G_PER_KWH = 2000.0
#: An outlier is a one-hour spike: above (or below) both neighbouring hours by more than this share
#: of the neighbour (or of itself, downwards) and by at least SPIKE_MIN_G_PER_KWH. Real grids shift
#: regime (droughts, outages) but do not jump for one hour and back; the 2022 bundled data has 7.
SPIKE_RELATIVE = 1.0
SPIKE_MIN_G_PER_KWH = 150.0


def check_intensity(frame: pd.DataFrame, *, now: pd.Timestamp | None = None,
                    max_age: pd.Timedelta = pd.Timedelta(hours=48)) -> list[str]:
    """Problems of an hourly intensity table (see the module doc); ``now`` enables the staleness check."""
    problems: list[str] = []
    if frame.empty:
        return ["no hourly intensity at all"]
    index = pd.DatetimeIndex(frame.index)
    index = index.tz_localize("UTC") if index.tz is None else index.tz_convert("UTC")
    if index.has_duplicates:
        problems.append(f"{int(index.duplicated().sum())} duplicated hour(s), first {index[index.duplicated()][0]}")
    if (index != index.floor("h")).any():
        problems.append("timestamps that are not whole UTC hours")
    expected = pd.date_range(index.min(), index.max(), freq="h")
    missing = expected.difference(index)
    if len(missing):
        problems.append(f"gap: {len(missing)} missing hour(s) between {index.min()} and {index.max()}, first {missing[0]}")
    values = frame.to_numpy(dtype="float64")
    for position, zone in enumerate(frame.columns):
        column = values[:, position]
        empty = np.isnan(column)
        if empty.any():
            problems.append(f"zone {zone}: {int(empty.sum())} missing value(s), first at {index[empty.argmax()]}")
        with np.errstate(invalid="ignore"):
            impossible = (column < 0) | (column > MAX_G_PER_KWH)
        if impossible.any():
            problems.append(f"zone {zone}: {int(impossible.sum())} value(s) outside 0..{MAX_G_PER_KWH:g} gCO2e/kWh, "
                            f"first {column[impossible][0]:g} at {index[impossible.argmax()]}")
        spikes = _spikes(column) & ~impossible
        if spikes.any():
            problems.append(f"zone {zone}: {int(spikes.sum())} one-hour spike(s) (outliers), "
                            f"first {column[spikes][0]:g} at {index[spikes.argmax()]}")
    if now is not None:
        latest = index.max()
        current = pd.Timestamp(now)
        current = current.tz_localize("UTC") if current.tzinfo is None else current.tz_convert("UTC")
        if current - latest > max_age:
            problems.append(f"stale: latest hour {latest} is more than {max_age} before {current}")
    return problems


def _spikes(column: np.ndarray) -> np.ndarray:
    """Hours that jump away from both neighbours and back (see SPIKE_RELATIVE); NaN compares as no spike."""
    spikes = np.zeros(len(column), dtype=bool)
    if len(column) < 3:
        return spikes
    before, value, after = column[:-2], column[1:-1], column[2:]
    with np.errstate(invalid="ignore"):
        up = ((value - before > np.maximum(SPIKE_RELATIVE * before, SPIKE_MIN_G_PER_KWH))
              & (value - after > np.maximum(SPIKE_RELATIVE * after, SPIKE_MIN_G_PER_KWH)))
        down = ((before - value > np.maximum(SPIKE_RELATIVE * value, SPIKE_MIN_G_PER_KWH))
                & (after - value > np.maximum(SPIKE_RELATIVE * value, SPIKE_MIN_G_PER_KWH)))
    spikes[1:-1] = up | down
    return spikes
