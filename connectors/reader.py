"""read_billing: billing files in, the canonical billing frame and the quarantine out, with control totals.

Per file: detect (or take) the format, read the rows as text, convert, and split the rows into
billing (no problem) and quarantine (a reason naming the column and the expectation, plus the raw
row as JSON). CSV records with a wrong field count go to quarantine with null cost and currency.

Control totals (``ReadResult.inputs``) count every data row read and sum the billed-cost column
exactly per currency and the usage quantity per unit. A row whose cost cannot be read as a number (or a ragged row) counts as a
row but adds no cost: it is quarantined with ``BilledCost`` null, so
``inputs == billing + quarantine`` holds for rows and, to the last digit, for cost per currency.

What does not belong here: format specifics (``focus``, ``aws_cur``), file discovery (``discover``).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from carbonledger import schema
from carbonledger.controls import ControlTotals, totals_by_currency, totals_by_unit
from carbonledger.errors import InputFormatError, UsageError
from connectors.aws_common import usage_starts
from connectors.aws_cur import convert_aws_cur
from connectors.aws_cur2 import convert_aws_cur2
from connectors.azure import convert_azure
from connectors.converted import finish
from connectors.detect import format_of_columns, near_miss
from connectors.discover import BILLING_SUFFIXES, billing_files
from connectors.focus import convert_focus
from connectors.gcp import convert_gcp
from connectors.rawfile import RawTable, iter_raw, read_header
from connectors.tags import DEFAULT_PROJECT_TAG_KEYS

#: Formats read_billing can read now.
FORMATS = ("focus", "aws-cur", "aws-cur2", "azure", "gcp")
_CONVERTERS = {"focus": convert_focus, "aws-cur": convert_aws_cur, "aws-cur2": convert_aws_cur2, "azure": convert_azure,
               "gcp": convert_gcp}


@dataclass
class ReadResult:
    """What read_billing returns: billing rows, quarantined rows, input control totals, files read."""

    billing: pd.DataFrame
    quarantine: pd.DataFrame
    inputs: ControlTotals
    files: list[str] = field(default_factory=list)


def read_billing(
    paths: Sequence[str | Path],
    fmt: str = "auto",
    *,
    project_tag_keys: Sequence[str] = DEFAULT_PROJECT_TAG_KEYS,
    batch_rows: int | None = None,
) -> ReadResult:
    """Read billing files, directories or CUR manifests (``fmt``: ``auto`` or one of :data:`FORMATS`) whole.

    Files are still read batch by batch (:func:`iter_billing`), so the raw text of a large file is
    never in memory at once; the canonical rows of all batches are returned together.
    """
    batches = list(iter_billing(paths, fmt, project_tag_keys=project_tag_keys, batch_rows=batch_rows))
    inputs = ControlTotals(rows=0)
    for batch in batches:
        inputs = inputs + batch.inputs
    billing_frame = _concat([b.billing for b in batches], schema.BILLING_COLUMNS)
    schema.validate(billing_frame, schema.BILLING_COLUMNS, "billing frame from " + ", ".join(map(str, _as_list(paths))))
    return ReadResult(billing_frame, _concat([b.quarantine for b in batches], schema.QUARANTINE_COLUMNS), inputs,
                      list(dict.fromkeys(f for b in batches for f in b.files)))


def iter_billing(
    paths: Sequence[str | Path],
    fmt: str = "auto",
    *,
    project_tag_keys: Sequence[str] = DEFAULT_PROJECT_TAG_KEYS,
    batch_rows: int | None = None,
) -> Iterator[ReadResult]:
    """Read billing files as a stream of batches of at most about ``batch_rows`` rows each.

    Each batch is a :class:`ReadResult` of rows of one file, with its own control totals (which
    add up to the file's); ``files`` names that file. Files are discovered and checked before the
    first batch is read, so a missing input fails before any work is done.
    """
    for raw, file_fmt in raw_batches(paths, fmt, batch_rows=batch_rows):
        yield read_batch(raw, file_fmt, project_tag_keys)


def raw_batches(paths: Sequence[str | Path], fmt: str = "auto", *,
                batch_rows: int | None = None) -> Iterator[tuple[RawTable, str]]:
    """The raw text batches of the billing files with each file's format: the reading half of
    :func:`iter_billing`, whose other half (:func:`read_batch`) may run in another process."""
    paths = _as_list(paths)
    if fmt != "auto":
        _check_readable(fmt)
    files = billing_files(paths)
    if not files:
        raise InputFormatError(
            ", ".join(str(p) for p in paths),
            f"no billing files found (expected {', '.join(BILLING_SUFFIXES)} files or a *-Manifest.json)",
        )
    for path in files:
        file_fmt = fmt if fmt != "auto" else _detect(path)
        for raw in iter_raw(path, batch_rows):
            yield raw, file_fmt


def combine_batches(results: Sequence[ReadResult]) -> ReadResult:
    """Several batches (files, sources, days) as one: rows concatenated, control totals added."""
    inputs = ControlTotals(rows=0)
    for r in results:
        inputs = inputs + r.inputs
    return ReadResult(
        billing=pd.concat([r.billing for r in results], ignore_index=True),
        quarantine=pd.concat([r.quarantine for r in results], ignore_index=True),
        inputs=inputs,
        files=[f for r in results for f in r.files],
    )


def read_batch(raw: RawTable, fmt: str, project_tag_keys: Sequence[str] = DEFAULT_PROJECT_TAG_KEYS) -> ReadResult:
    """One raw batch converted: canonical billing rows, quarantined rows and the batch's control totals."""
    billing, quarantine, inputs = _read_batch(raw, fmt, project_tag_keys)
    return ReadResult(billing, quarantine, inputs, [raw.path])


#: Formats whose rows can be dated before they are converted: their ChargePeriodStart, read from its
#: column alone exactly as the converter reads it.
_STARTS = {"aws-cur": usage_starts, "aws-cur2": usage_starts}


def row_days(raw: RawTable, fmt: str) -> np.ndarray | None:
    """Each row's UTC day (``datetime64[D]``) of ChargePeriodStart as converting ``raw`` would give it,
    from the start column alone. None where the format cannot date its rows before conversion, or
    where some row has no readable start (a quarantined row without one belongs to the first day of
    its file's billing rows, which only converting the whole file tells)."""
    starts = _STARTS[fmt](raw) if fmt in _STARTS else None
    if starts is None or starts.isna().any():
        return None
    return starts.dt.tz_convert("UTC").dt.tz_localize(None).to_numpy().astype("datetime64[D]")


def _as_list(paths: Sequence[str | Path] | str | Path) -> list[str | Path]:
    return [paths] if isinstance(paths, (str, Path)) else list(paths)


def _check_readable(fmt: str) -> None:
    if fmt not in FORMATS:
        raise UsageError(f"unknown billing format {fmt!r}; expected 'auto' or one of {', '.join(FORMATS)}")


def _detect(path: Path) -> str:
    header = read_header(path)
    fmt = format_of_columns(header)
    if fmt is None and (miss := near_miss(header)):
        raise InputFormatError(path, miss)
    if fmt is None:
        # A quote left open in the header swallows line breaks: escape them, the error stays one line.
        shown = ", ".join(h.replace("\r", "\\r").replace("\n", "\\n") for h in header[:8])
        raise InputFormatError(
            path, f"columns match no known billing format (expected FOCUS, AWS CUR 1.0/2.0, GCP billing export "
                  f"or Azure cost details columns); header: "
            f"{shown}{', ...' if len(header) > 8 else ''}",
        )
    return fmt


def _read_batch(raw: RawTable, fmt: str, project_tag_keys: Sequence[str]) -> tuple[pd.DataFrame, pd.DataFrame, ControlTotals]:
    converted = finish(
        _CONVERTERS[fmt](raw), source_format=fmt, source_file=raw.path,
        source_rows=raw.source_rows, project_tag_keys=project_tag_keys,
    )
    # Cast every row once (text per distinct value), then split: the totals, the billing rows and
    # the quarantined rows all read the same canonical columns.
    frame, bad = schema.conform(converted.frame, schema.BILLING_COLUMNS), converted.problems.rows
    inputs = ControlTotals(
        rows=raw.rows_read,
        cost_by_currency=totals_by_currency(frame["BilledCost"], frame["BillingCurrency"]),
        usage_by_unit=totals_by_unit(frame["ConsumedQuantity"], frame["ConsumedUnit"]),
    )
    billing = frame[~bad]
    quarantine = pd.concat(
        [_quarantined(frame, converted.problems.reasons, raw, bad, fmt), _ragged(raw, fmt)], ignore_index=True
    ).sort_values("x_SourceRow", kind="stable")
    return billing, schema.conform(quarantine, schema.QUARANTINE_COLUMNS), inputs


def _quarantined(canonical: pd.DataFrame, reasons: pd.Series, raw: RawTable, bad: pd.Series, fmt: str) -> pd.DataFrame:
    frame = canonical[bad]
    positions = np.flatnonzero(bad.to_numpy())
    return pd.DataFrame({
        "x_SourceFormat": fmt,
        "x_SourceFile": frame["x_SourceFile"].to_numpy(),
        "x_SourceRow": frame["x_SourceRow"].to_numpy(),
        "x_Reason": reasons[bad].to_numpy(),
        "BilledCost": frame["BilledCost"].to_numpy(),
        "BillingCurrency": frame["BillingCurrency"].to_numpy(),
        "ConsumedQuantity": frame["ConsumedQuantity"].to_numpy(),
        "ConsumedUnit": frame["ConsumedUnit"].to_numpy(),
        "ChargePeriodStart": frame["ChargePeriodStart"].to_numpy(),
        "x_RawRecord": raw.raw_records(positions),
    })


def _ragged(raw: RawTable, fmt: str) -> pd.DataFrame:
    rows = raw.ragged
    return pd.DataFrame({
        "x_SourceFormat": fmt,
        "x_SourceFile": raw.path,
        "x_SourceRow": np.array([r.row for r in rows], dtype="int64"),
        "x_Reason": [
            f"row has {r.actual_fields} fields but the header has {r.expected_fields} "
            "(expected one field per header column)" for r in rows
        ],
        "BilledCost": np.full(len(rows), np.nan),
        "BillingCurrency": pd.Series([pd.NA] * len(rows), dtype="string"),
        "ChargePeriodStart": pd.Series(pd.NaT, index=range(len(rows)), dtype="datetime64[ns, UTC]"),
        "x_RawRecord": [json.dumps({"raw_line": r.text}, ensure_ascii=False) for r in rows],
    })


def _concat(frames: list[pd.DataFrame], columns: tuple[schema.Column, ...]) -> pd.DataFrame:
    frames = [f for f in frames if len(f)]
    if not frames:
        return schema.empty(columns)
    return schema.conform(pd.concat(frames, ignore_index=True), columns)
