"""Prometheus data as *points*: text exposition scrapes and query-API JSON, one row per sample.

Both shapes give the same long frame: ``metric``, ``timestamp_utc``, ``value``, ``source_row`` and
one string column per label name. Used by the DCGM exporter, Kepler and Scaphandre readers.

* **Text exposition** (``/metrics`` as captured with ``curl``): ``name{label="v",...} value [ms]``.
  A sample's time is its own millisecond timestamp when present; otherwise the scrape time from the
  latest ``# scraped_at: <ISO 8601 or epoch seconds>`` comment above it (write one before each
  scrape when capturing in a loop). A sample with neither is reported, not guessed.
  ``source_row`` is the 1-based line number.
* **Query API JSON** (``/api/v1/query_range`` or ``/api/v1/query``): ``data.result[].metric`` and
  ``values`` (matrix) or ``value`` (vector); timestamps are UTC epoch seconds, values strings.
  ``source_row`` is the 1-based position of the sample in the flattened result (series by series).

What does not belong here: which metrics mean what (the format modules).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from carbonledger.errors import InputFormatError
from connectors.telemetry import frame

_SAMPLE = r"^\s*(?P<metric>[a-zA-Z_:][a-zA-Z0-9_:]*)\s*(?:\{(?P<labels>.*)\})?\s+(?P<value>\S+)(?:\s+(?P<ms>-?\d+))?\s*$"
_LABEL = r'(?P<name>[a-zA-Z_][a-zA-Z0-9_]*)\s*=\s*"(?P<text>(?:[^"\\]|\\.)*)"'
_SCRAPED_AT = r"^\s*#\s*scraped_at:\s*(?P<when>\S+)\s*$"


def read_text(path: Path, fmt: str, metrics: tuple[str, ...]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Points of the named ``metrics`` from a text exposition file, and the problems found."""
    lines = pd.Series(Path(path).read_text(encoding="utf-8", errors="replace").splitlines(), dtype="string")
    lines.index = pd.RangeIndex(1, len(lines) + 1)
    scraped = lines.str.extract(_SCRAPED_AT)["when"]
    scrape_time = _parse_when(scraped).ffill()
    is_comment = lines.str.match(r"^\s*(#|$)")
    parts = lines.str.extract(_SAMPLE)
    not_sample = ~is_comment & parts["metric"].isna()
    report = [frame.problems(fmt, str(path), lines.index[not_sample], "not a Prometheus sample line")]
    wanted = parts["metric"].isin(metrics).fillna(False) & ~is_comment
    parts = parts.loc[wanted]
    value = pd.to_numeric(parts["value"], errors="coerce")
    ms = pd.to_numeric(parts["ms"], errors="coerce")
    when = pd.to_datetime(ms, unit="ms", utc=True).fillna(scrape_time.loc[parts.index])
    no_time = when.isna()
    report.append(frame.problems(fmt, str(path), parts.index[no_time],
                                 "sample has no timestamp and no '# scraped_at:' comment precedes it"))
    bad_value = value.isna() | ~np.isfinite(value.fillna(0))
    report.append(frame.problems(fmt, str(path), parts.index[bad_value & ~no_time],
                                 "value " + parts["value"][bad_value & ~no_time].astype("string") + " is not a finite number"))
    ok = ~no_time & ~bad_value
    points = pd.DataFrame({
        "metric": parts["metric"][ok].astype("string"),
        "timestamp_utc": when[ok],
        "value": value[ok].astype("float64"),
        "source_row": parts.index[ok].astype("int64"),
    }, index=parts.index[ok])
    labels = _labels(parts["labels"][ok])
    points = points.join(labels)
    return _finish(points, fmt, path), pd.concat(report, ignore_index=True)


def read_json(path: Path, fmt: str, metrics: tuple[str, ...], document: object) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Points of the named ``metrics`` from a Prometheus query-API response already parsed from ``path``."""
    result = _result(path, document)
    frames, offset = [], 0
    for series in result:
        labels = dict(series.get("metric") or {})
        values = series.get("values")
        if values is None:
            values = [series["value"]] if "value" in series else []
        n = len(values)
        metric = str(labels.pop("__name__", ""))
        if metric in metrics and n:
            pairs = np.asarray(values, dtype=object).reshape(n, 2)
            frames.append(pd.DataFrame({
                "metric": metric,
                "timestamp_utc": pd.to_datetime(pd.to_numeric(pd.Series(pairs[:, 0]), errors="coerce"), unit="s", utc=True),
                "raw": pd.Series(pairs[:, 1]).astype("string"),
                "source_row": np.arange(offset + 1, offset + n + 1, dtype="int64"),
                **{k: str(v) for k, v in labels.items()},
            }))
        offset += n
    if not frames:
        return _finish(pd.DataFrame(columns=["metric", "timestamp_utc", "value", "source_row"]), fmt, path), frame.empty_problems()
    points = pd.concat(frames, ignore_index=True)
    points["value"] = pd.to_numeric(points.pop("raw"), errors="coerce")
    bad = points["value"].isna() | ~np.isfinite(points["value"].fillna(0)) | points["timestamp_utc"].isna()
    report = frame.problems(fmt, str(path), points.loc[bad, "source_row"], "sample timestamp or value is not a finite number")
    return _finish(points.loc[~bad], fmt, path), report


def metric_names(path: Path, document: object | None) -> set[str]:
    """Metric names present in a text file (``document`` None) or a parsed query-API response."""
    if document is not None:
        return {str((s.get("metric") or {}).get("__name__", "")) for s in _result(path, document)}
    lines = pd.Series(Path(path).read_text(encoding="utf-8", errors="replace").splitlines(), dtype="string")
    return set(lines.str.extract(_SAMPLE)["metric"].dropna().unique())


def _result(path: Path, document: object) -> list[dict]:
    data = document.get("data") if isinstance(document, dict) else None
    if not isinstance(data, dict) or not isinstance(data.get("result"), list):
        raise InputFormatError(str(path), "expected a Prometheus query API response with data.result (a list of series)")
    return data["result"]


def _finish(points: pd.DataFrame, fmt: str, path: Path) -> pd.DataFrame:
    points = points.reset_index(drop=True)
    points["source_format"] = fmt
    points["source_file"] = str(path)
    points["timestamp_utc"] = pd.to_datetime(points["timestamp_utc"], utc=True)
    return points


def _labels(text: pd.Series) -> pd.DataFrame:
    """One string column per label name, vectorised over every sample's label set."""
    found = text.dropna().str.extractall(_LABEL)
    if found.empty:
        return pd.DataFrame(index=text.index)
    found["text"] = found["text"].str.replace(r"(?<!\\)\\n", "\n", regex=True).str.replace(r"\\(.)", r"\1", regex=True)
    wide = found.reset_index(level="match", drop=True).set_index("name", append=True)["text"].unstack("name")
    return wide.astype("string").reindex(text.index)


def _parse_when(text: pd.Series) -> pd.Series:
    """Scrape times from ISO 8601 strings or epoch seconds (NaT where absent)."""
    epoch = pd.to_numeric(text, errors="coerce")
    iso = pd.to_datetime(text.where(epoch.isna()), utc=True, errors="coerce", format="ISO8601")
    return iso.fillna(pd.to_datetime(epoch, unit="s", utc=True))


def load_json(path: Path) -> object:
    """Parse a JSON file; raises an error naming the file when it is not JSON."""
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except ValueError as exc:
        raise InputFormatError(str(path), f"not valid JSON ({exc})") from None
