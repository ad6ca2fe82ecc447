"""Codes of text columns: each line's distinct value as a number, computed by object identity.

Canonical text columns hold one Python object per distinct value, shared by every line that has
it: the readers deduplicate the strings they convert and the ledger takes its texts by code. Such
a column is coded fastest by identity: hashing 8-byte object addresses instead of hashing and
comparing strings (several times faster per line). The few distinct objects are then coded by
value, so equal strings held by different objects still get one code and the result is exactly
``pandas.factorize``'s: codes in order of first appearance, -1 for missing values (``None``,
``pd.NA``, NaN), the distinct values without the missing ones. For the same reason the missing
values of a canonical (``string``) column are found by identity: they are all the ``pd.NA`` object.

What does not belong here: what the codes are used for (``io.arrow_table``, the ledger, totals).
"""

from __future__ import annotations

import ctypes

import numpy as np
import pandas as pd

#: The canonical text dtype, whose arrays mark every missing value with the one ``pd.NA`` object.
_CANONICAL_TEXT = pd.StringDtype("python")


def text_codes(values: pd.Series | pd.api.extensions.ExtensionArray | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``pandas.factorize(values, use_na_sentinel=True)`` of a text column, by object identity."""
    objects = np.ascontiguousarray(np.asarray(values.array if isinstance(values, pd.Series) else values, dtype=object))
    if objects.ndim != 1:
        raise ValueError(f"text_codes takes a one-dimensional column, got shape {objects.shape}")
    addresses = _addresses(objects)
    if len(addresses) and (addresses == addresses[0]).all():        # one object on every line (common)
        by_value, uniques = pd.factorize(objects[:1], use_na_sentinel=True)
        return np.full(len(objects), by_value[0], dtype=by_value.dtype), uniques
    by_identity, identities = pd.factorize(addresses)
    first = np.empty(len(identities), dtype=np.int64)
    # where an identity occurs several times the last assignment wins: walking backwards, its first line
    first[by_identity[::-1]] = np.arange(len(objects) - 1, -1, -1)
    by_value, uniques = pd.factorize(objects[first], use_na_sentinel=True)
    return by_value[by_identity], uniques


def missing_text(values: pd.Series) -> np.ndarray:
    """``values.isna()`` as a NumPy array; for a canonical ``string`` column, by identity with ``pd.NA``."""
    array = values.array
    if isinstance(array, pd.arrays.StringArray) and array.dtype == _CANONICAL_TEXT:
        return _addresses(np.asarray(array, dtype=object)) == id(pd.NA)
    return values.isna().to_numpy(dtype=bool)


def _addresses(objects: np.ndarray) -> np.ndarray:
    """The object pointers an ``object`` array holds, as unsigned integers (a copy: safe to keep)."""
    if objects.size == 0:
        return np.empty(0, dtype=np.uintp)
    pointers = (ctypes.c_size_t * objects.size).from_address(objects.ctypes.data)
    return np.frombuffer(pointers, dtype=np.uintp).copy()
