"""Vectorised parsing of raw text values into typed columns, recording per-row problems.

Each parser takes a text column and the column's name as it appears in the file, and returns the
typed column; every non-empty value that does not parse leaves a reason in :class:`Problems`
naming the column and the expectation. Timestamps and numbers are parsed once per unique value;
text is stripped, masked and coalesced with Arrow kernels (pandas ``where``/``fillna`` on Arrow
text fall back to slow masked assignment).

A text column is either Arrow-backed pandas text or *coded*: a pandas categorical of its distinct
texts (``RawTable.coded_frame`` hands dictionary-encoded Parquet columns over so). Every helper
here takes both; on a coded column it works on the distinct texts and its codes only, never on a
line's text, and text it derives stays coded. ``schema.conform`` turns either into the canonical
``string`` dtype.

What does not belong here: which columns a format has (``focus``, ``aws_cur``), quarantining rows
(``reader``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

TIMESTAMP_EXPECTATION = "expected ISO 8601 / 'YYYY-MM-DD HH:MM:SS'"
_NUMBER_PATTERN = r"^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$"
_TEXT = pd.StringDtype("pyarrow")
_MAX_MAGNITUDE = 1e36
#: A timestamp's zone designator at its end: ``Z`` or an offset such as ``+02:00`` / ``-0500``.
_ZONE_DESIGNATOR = r"(?:[zZ]|[+-]\d{2}:?\d{2})$"


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
    codes, uniques = factorized(raw)
    parsed = _utc_timestamps(uniques)
    lookup = parsed.append(pd.DatetimeIndex([pd.NaT], tz="UTC"))
    values = lookup[np.where(codes < 0, len(parsed), codes)]
    result = pd.Series(values, index=raw.index).astype("datetime64[ns, UTC]")
    bad = raw.notna() & result.isna()
    problems.add(bad, lambda rows: f"{column}: " + quoted(raw[rows]) + f" is not a timestamp ({TIMESTAMP_EXPECTATION})")
    return result


def _utc_timestamps(texts: np.ndarray) -> pd.DatetimeIndex:
    """Distinct texts → UTC timestamps, each as if parsed alone. Parsed together, pandas reads a value
    without an offset in the offset of an earlier value that has one; so values with a zone designator
    and values without are parsed apart (the naive ones as UTC)."""
    zoned = pd.Series(texts, dtype=_TEXT).str.strip().str.contains(_ZONE_DESIGNATOR).fillna(False).to_numpy(dtype=bool)
    parsed = pd.Series(pd.NaT, index=range(len(texts)), dtype="datetime64[ns, UTC]")
    for group in (zoned, ~zoned):
        if group.any():
            parsed[group] = pd.to_datetime(texts[group], utc=True, format="ISO8601", errors="coerce").as_unit("ns")
    return pd.DatetimeIndex(parsed)


def parse_number(raw: pd.Series, column: str, problems: Problems) -> pd.Series:
    """Text → float64 (correctly rounded, via Arrow); unparseable values → NaN + problem.

    Each distinct value is checked and converted once (costs and quantities repeat heavily).
    """
    codes, uniques = factorized(raw)
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
    if is_coded(raw):
        codes, texts = factorized(raw)
        text = pa.array(texts, type=pa.string())
        cleaned = _stripped(text)
        if cleaned.null_count == 0 and pc.all(pc.equal(cleaned, text)).as_py() is not False:
            return raw                                  # nothing to strip (the usual case)
        return coded_text(codes, cleaned.to_numpy(zero_copy_only=False), raw.index)
    return _text(_stripped(pa.array(raw.astype(_TEXT))), raw.index)


def _stripped(text: pa.Array) -> pa.Array:
    text = pc.utf8_trim_whitespace(text)
    return pc.if_else(pc.equal(text, ""), pa.scalar(None, text.type), text)


def lowered(raw: pd.Series) -> pd.Series:
    """Text in lower case."""
    return on_uniques(raw, lambda text: text.str.lower()) if is_coded(raw) else raw.str.lower()


def prefixed(prefix: str, raw: pd.Series) -> pd.Series:
    """``prefix`` + text (nulls stay null)."""
    return on_uniques(raw, lambda text: prefix + text) if is_coded(raw) else prefix + raw.astype(_TEXT)


def where_text(raw: pd.Series, rows: pd.Series) -> pd.Series:
    """Text where ``rows`` is true, else null."""
    if is_coded(raw):
        codes, texts = factorized(raw)
        return coded_text(np.where(rows.to_numpy(dtype=bool, na_value=False), codes, -1), texts, raw.index)
    return _text(pc.if_else(pa.array(rows, type=pa.bool_()), pa.array(raw.astype(_TEXT)), None), raw.index)


def first_present(*candidates: pd.Series) -> pd.Series:
    """Per row, the first non-null value among ``candidates`` (coded if any candidate is coded)."""
    if any(is_coded(c) for c in candidates):
        codes = np.full(len(candidates[0]), -1, dtype=np.int64)
        texts: list[np.ndarray] = []
        offset = 0
        for candidate in candidates:
            candidate_codes, candidate_texts = factorized(candidate)
            codes = np.where((codes < 0) & (candidate_codes >= 0), candidate_codes + offset, codes)
            texts.append(candidate_texts)
            offset += len(candidate_texts)
        return coded_text(codes, np.concatenate(texts), candidates[0].index)
    if all(c.dtype == _TEXT for c in candidates):
        return _text(pc.coalesce(*(pa.array(c) for c in candidates)), candidates[0].index)
    result = candidates[0]
    for candidate in candidates[1:]:
        result = result.fillna(candidate)
    return result


def _text(array: pa.Array, index: pd.Index) -> pd.Series:
    """An Arrow text array as an Arrow-backed text column (no copy of the values)."""
    return pd.Series(pd.arrays.ArrowStringArray(array), index=index)


def is_coded(values: pd.Series) -> bool:
    """Whether a text column is coded (a pandas categorical of its distinct texts)."""
    return isinstance(values.dtype, pd.CategoricalDtype)


def as_text(values: pd.Series) -> pd.Series:
    """A text column as Arrow-backed pandas text; a coded column as it is."""
    return values if is_coded(values) else values.astype(_TEXT)


def factorized(values: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """(code per line, -1 for null; the distinct values as an object array) of a text column; for a
    coded column its own codes and texts (which may include texts no line has)."""
    if is_coded(values):
        return values.cat.codes.to_numpy(dtype=np.int64), values.cat.categories.to_numpy(dtype=object)
    codes, uniques = pd.factorize(values)
    return codes, np.asarray(uniques, dtype=object)


def coded_text(codes: np.ndarray, texts: Sequence[str | None] | np.ndarray, index: pd.Index) -> pd.Series:
    """A coded text column whose line ``i`` holds ``texts[codes[i]]`` (code -1: null). ``texts`` may
    repeat a value or hold nulls: equal texts get one category, null texts make null lines."""
    merged, categories = pd.factorize(np.asarray(texts, dtype=object))
    lookup = np.append(merged, -1)
    return categorical(lookup[codes], categories, index)


def constant_text(text: str, index: pd.Index) -> pd.Series:
    """A coded text column holding ``text`` on every line."""
    return categorical(np.zeros(len(index), dtype=np.int8), np.array([text], dtype=object), index)


def categorical(codes: np.ndarray, categories: np.ndarray, index: pd.Index) -> pd.Series:
    """A coded text column from codes (-1: null) and *distinct, non-null* texts, trusted as such
    (pandas would otherwise hash every text again to check)."""
    texts = pd.Index(categories, dtype=object)
    texts._cache["is_unique"] = True    # pandas re-checks whenever it rebuilds the dtype (pandas < 3)
    dtype = pd.CategoricalDtype._from_fastpath(texts, ordered=False)
    return pd.Series(pd.Categorical.from_codes(codes, dtype=dtype, validate=False), index=index)


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


def on_uniques(values: pd.Series, transform: Callable[[pd.Series], pd.Series], fill: object = pd.NA,
               memo: Memo | None = None) -> pd.Series:
    """``transform`` (a vectorised string operation) applied to the distinct values only, then spread
    back to every row (nulls get ``fill``). Billing columns repeat heavily: a month of 10M lines has
    a few thousand distinct usage types, so regexes run thousands of times, not millions. On a
    coded column, a text result stays coded.

    With a ``memo`` (kept by the caller for one pure ``transform``), values seen in earlier batches
    are looked up instead of transformed again: every batch of a month repeats the same ten
    thousand usage types.
    """
    if is_coded(values):
        codes, texts = factorized(values)
        distinct = pd.Series(texts, dtype=_TEXT)
    else:
        codes, uniques = pd.factorize(values)
        distinct = pd.Series(uniques, dtype=values.dtype)
    derived = transform(distinct) if memo is None else memo.apply(distinct, transform)
    if is_coded(values) and isinstance(derived.dtype, pd.StringDtype) and fill is pd.NA:
        return coded_text(codes, derived.to_numpy(dtype=object, na_value=None), values.index)
    return pd.Series(derived.array.take(codes, allow_fill=True, fill_value=fill), index=values.index)


class Memo:
    """The results of one pure per-value text transform, kept across the batches of a run."""

    #: Entries kept before the memo starts afresh (bounded memory).
    MAX_ENTRIES = 1 << 20

    def __init__(self) -> None:
        self._results: dict[str, object] = {}
        self._dtype: object = None

    def apply(self, distinct: pd.Series, transform: Callable[[pd.Series], pd.Series]) -> pd.Series:
        """``transform(distinct)`` (distinct non-null texts), computing only the texts not seen before."""
        texts = distinct.to_numpy(dtype=object)
        found = [self._results.get(text, self) for text in texts]       # self marks "not seen"
        unseen = [text for text, value in zip(texts, found) if value is self]
        if unseen or self._dtype is None:
            computed = transform(pd.Series(unseen, dtype=distinct.dtype))
            if len(self._results) + len(unseen) > self.MAX_ENTRIES:
                self._results.clear()
            new = dict(zip(unseen, computed.to_numpy(dtype=object, na_value=None)))
            self._results.update(new)
            self._dtype = computed.dtype
            found = [new[text] if value is self else value for text, value in zip(texts, found)]
        return pd.Series(found, dtype=self._dtype)
