"""Text codes by object identity (carbonledger.codes) are exactly pandas' codes by value."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from carbonledger.codes import missing_text, text_codes


def mixed_texts(rows: int) -> np.ndarray:
    """Texts with every kind of missing value, and equal strings held by distinct objects."""
    rng = np.random.default_rng(7)
    pool = np.array([f"p4d.{i}xlarge" for i in range(40)] + [None, np.nan, pd.NA, ""], dtype=object)
    texts = pool[rng.integers(0, len(pool), rows)]
    # built at run time, so not the interned pool objects
    texts[::5] = np.array(["".join(("p4d.", str(i % 40), "xlarge")) for i in range(len(texts[::5]))], dtype=object)
    return texts


@pytest.mark.parametrize("column", [
    mixed_texts(5_000),
    pd.array(mixed_texts(5_000), dtype="string"),
    pd.Series(pd.array(mixed_texts(5_000), dtype="string"), index=np.arange(5_000) * 3),
    np.array([], dtype=object),
    np.array([None, pd.NA, np.nan], dtype=object),
    np.array(["only"], dtype=object),
], ids=["objects", "string-array", "series", "empty", "all-missing", "one"])
def test_text_codes_are_pandas_factorize_by_value(column):
    codes, uniques = text_codes(column)
    as_objects = np.asarray(column.array if isinstance(column, pd.Series) else column, dtype=object)
    expected_codes, expected_uniques = pd.factorize(as_objects, use_na_sentinel=True)
    assert np.array_equal(codes, expected_codes)
    assert codes.dtype == expected_codes.dtype
    assert list(uniques) == list(expected_uniques)


def test_equal_strings_in_different_objects_get_one_code():
    first, second = "".join(["us-", "east-1"]), "".join(["us-east", "-1"])
    assert first is not second
    codes, uniques = text_codes(np.array([first, second, None, second], dtype=object))
    assert codes.tolist() == [0, 0, -1, 0] and list(uniques) == ["us-east-1"]


def test_text_codes_refuse_a_table():
    with pytest.raises(ValueError, match="one-dimensional"):
        text_codes(np.array([["a", "b"]], dtype=object))


@pytest.mark.parametrize("series", [
    pd.Series(["a", None, np.nan, pd.NA, ""], dtype="string"),
    pd.Series(["a", None], dtype="string[pyarrow]"),
    pd.Series([1.0, np.nan]),
    pd.Series(pd.arrays.StringArray(np.array(["x", None], dtype=object))),
    pd.Series([], dtype="string"),
], ids=["string", "arrow-string", "float", "built-from-none", "empty"])
def test_missing_text_is_isna(series):
    assert missing_text(series).tolist() == series.isna().tolist()
