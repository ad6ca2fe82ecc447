"""Vectorised parsing of raw text values into typed columns, recording per-row problems.

Each parser takes a text column and the column's name as it appears in the file, and returns the
typed column; every non-empty value that does not parse leaves a reason in :class:`Problems`
naming the column and the expectation. Timestamps and numbers are parsed once per unique value;
text is stripped, masked and coalesced with Arrow kernels (pandas ``where``/``fillna`` on Arrow
text fall back to slow masked assignment).

What does not belong here: which columns a format has (``focus``, ``aws_cur``), quarantining rows
(``reader``).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

TIMESTAMP_EXPECTATION = "expected ISO 8601 / 'YYYY-MM-DD HH:MM:SS'"
_NUMBER_PATTERN = r"^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$"
_TEXT = pd.StringDtype("pyarrow")
_MAX_MAGNITUDE = 1e36


class Problems:
    """Reasons a row cannot enter the ledger, collected per row (several joined by '; ')."""

    def __init__(self, index: pd.Index):
        self.reasons = pd.Series(pd.NA, index=index, dtype=_TEXT)

    def add(self, mask: pd.Series, reason: Callable[[pd.Index], pd.Series] | str) -> None:
        """Record ``reason`` for the rows where ``mask`` is true.

        ``reason`` is a text, or a function of the masked rows' index returning one text per row
        (so messages are built only for the few bad rows).
        """
        mask = mask.fillna(False).astype(bool)
        if not mask.any():
            return
        where = mask[mask].index
        text = reason(where) if callable(reason) else pd.Series(reason, index=where)
        text = text.astype(_TEXT)
        old = self.reasons[where]
        self.reasons[where] = (old + "; " + text).fillna(text)

    @property
    def rows(self) -> pd.Series:
        """Boolean mask of rows with at least one problem."""
        return self.reasons.notna()


def quoted(raw: pd.Series) -> pd.Series:
    """Values as ``'value'`` for messages."""
    return "'" + raw.astype(_TEXT) + "'"


def require(raw: pd.Series, column: str, problems: Problems) -> None:
    """Rows where a required column is empty get the reason ``<column>: empty``."""
    problems.add(raw.isna(), f"{column}: empty")


def parse_timestamp(raw: pd.Series, column: str, problems: Problems) -> pd.Series:
    """Text → UTC timestamps; naive values are taken as UTC; unparseable values → NaT + problem."""
    codes, uniques = pd.factorize(raw)
    parsed = pd.to_datetime(np.asarray(uniques, dtype=object), utc=True, format="ISO8601", errors="coerce")
    lookup = parsed.append(pd.DatetimeIndex([pd.NaT], tz="UTC"))
    values = lookup[np.where(codes < 0, len(parsed), codes)]
    result = pd.Series(values, index=raw.index).astype("datetime64[ns, UTC]")
    bad = raw.notna() & result.isna()
    problems.add(bad, lambda rows: f"{column}: " + quoted(raw[rows]) + f" is not a timestamp ({TIMESTAMP_EXPECTATION})")
    return result


def parse_number(raw: pd.Series, column: str, problems: Problems) -> pd.Series:
    """Text → float64 (correctly rounded, via Arrow); unparseable values → NaN + problem.

    Each distinct value is checked and converted once (costs and quantities repeat heavily).
    """
    codes, uniques = pd.factorize(raw.astype(_TEXT))
    text = pd.Series(uniques, dtype=_TEXT).str.strip()
    valid_unique = text.str.match(_NUMBER_PATTERN).fillna(False).to_numpy(dtype=bool)
    numbers = pc.cast(pa.array(text.where(valid_unique, None)), pa.float64()).to_numpy(zero_copy_only=False)
    # Code -1 (null) takes the appended last entry: not valid, NaN.
    valid = pd.Series(np.append(valid_unique, False)[codes], index=raw.index)
    result = pd.Series(np.append(numbers, np.nan)[codes], index=raw.index, dtype="float64")
    problems.add(raw.notna() & ~valid, lambda rows: f"{column}: " + quoted(raw[rows]) + " is not a number")
    # Exact control totals (decimal256(76, 40)) hold magnitudes below 1e36; larger or infinite → quarantine.
    too_large = result.notna() & ~(result.abs() < _MAX_MAGNITUDE)
    result = result.mask(too_large)
    problems.add(too_large, lambda rows: f"{column}: " + quoted(raw[rows]) + " is out of range (expected a magnitude below 1e36)")
    return result


def stripped(raw: pd.Series) -> pd.Series:
    """Text with surrounding white space removed; empty → null."""
    text = pc.utf8_trim_whitespace(pa.array(raw.astype(_TEXT)))
    return _text(pc.if_else(pc.equal(text, ""), pa.scalar(None, text.type), text), raw.index)


def where_text(raw: pd.Series, rows: pd.Series) -> pd.Series:
    """Text where ``rows`` is true, else null."""
    return _text(pc.if_else(pa.array(rows, type=pa.bool_()), pa.array(raw.astype(_TEXT)), None), raw.index)


def first_present(*candidates: pd.Series) -> pd.Series:
    """Per row, the first non-null value among ``candidates``."""
    if all(c.dtype == _TEXT for c in candidates):
        return _text(pc.coalesce(*(pa.array(c) for c in candidates)), candidates[0].index)
    result = candidates[0]
    for candidate in candidates[1:]:
        result = result.fillna(candidate)
    return result


def _text(array: pa.Array, index: pd.Index) -> pd.Series:
    """An Arrow text array as an Arrow-backed text column (no copy of the values)."""
    return pd.Series(pd.arrays.ArrowStringArray(array), index=index)


def text_per_unique(values: pd.Series, derive: Callable[[str], str | None]) -> pd.Series:
    """``derive`` applied once per distinct non-null value, spread back by Arrow take (nulls stay null)."""
    codes, uniques = pd.factorize(values)
    derived = pa.array([derive(str(u)) for u in uniques] + [None], type=pa.large_string())
    return _text(derived.take(np.where(codes < 0, len(uniques), codes)), values.index)


def normalise_provider(raw: pd.Series) -> pd.Series:
    """Provider names → short lowercase ids (``aws``, ``azure``, ``gcp``, ``oracle``), once per unique."""
    return text_per_unique(stripped(raw), _provider_id)


_PROVIDER_WORDS = (("amazon", "aws"), ("aws", "aws"), ("microsoft", "azure"), ("azure", "azure"),
                   ("google", "gcp"), ("gcp", "gcp"), ("oracle", "oracle"))


def _provider_id(name: str) -> str:
    lowered = name.lower()
    for word, provider in _PROVIDER_WORDS:
        if word in lowered.split() or lowered.startswith(word):
            return provider
    return lowered


def on_uniques(values: pd.Series, transform: Callable[[pd.Series], pd.Series], fill: object = pd.NA) -> pd.Series:
    """``transform`` (a vectorised string operation) applied to the distinct values only, then spread
    back to every row (nulls get ``fill``). Billing columns repeat heavily: a month of 10M lines has
    a few thousand distinct usage types, so regexes run thousands of times, not millions."""
    codes, uniques = pd.factorize(values)
    derived = transform(pd.Series(uniques, dtype=values.dtype))
    return pd.Series(derived.array.take(codes, allow_fill=True, fill_value=fill), index=values.index)
