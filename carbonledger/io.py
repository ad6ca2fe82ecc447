"""Atomic file writes: a crash mid-write leaves the previous good file, never a partial one.

Every output carbonledger writes (ledger, quarantine, summary, reports) goes through here:
write to a temporary file in the target directory, flush, then ``os.replace`` onto the target.

A run writes several files that belong together (a ledger with its summary and report). Inside
:func:`all_or_nothing` every write is staged in its temporary file (``.<name>.<random>.tmp`` beside
the target) and nothing is moved into place until the block ends without an error; then all are
renamed at once. A crash while writing any of them deletes every staged file and leaves the
previous run's outputs as they were: never a new ledger beside an old summary, never a ``.tmp``.
"""

from __future__ import annotations

import base64
import json
import os
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from carbonledger.codes import text_codes

def _default_file_mode() -> int:
    """The mode a plain ``open()`` would give a new file: 0666 less the process umask."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


#: The (temporary file, target) pairs staged by the innermost :func:`all_or_nothing` block, if any.
_STAGED: ContextVar[list[tuple[Path, Path]] | None] = ContextVar("carbonledger_io_staged", default=None)


def write_atomic(path: Path, write: Callable[[Path], None]) -> Path:
    """Call ``write(tmp_path)`` and move the result onto ``path`` atomically (see :func:`atomic_path`)."""
    with atomic_path(path) as tmp:
        write(tmp)
    return Path(path)


@contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """A temporary path to write ``path``'s new content to; moved onto ``path`` when the block succeeds.

    Inside :func:`all_or_nothing` the move waits until that block ends. ``mkstemp`` creates its
    file 0600; the result gets the mode an ordinary write would have given it, so reports stay
    readable by the team that shares the output folder.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(name)
    staged = _STAGED.get()
    try:
        yield tmp
        os.chmod(tmp, _default_file_mode())
        if staged is None:
            os.replace(tmp, path)
        else:
            staged.append((tmp, path))
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def arrow_table(frame: pd.DataFrame, schema: pa.Schema) -> pa.Table:
    """``frame`` as an Arrow table of ``schema``, text columns dictionary-encoded.

    A ledger repeats a few long provenance texts on every line; as dictionaries they cost a code
    per line instead of a copy of the text, in memory and between processes, and
    :class:`TextDictionaryWriter` writes them to Parquet as they are.
    """
    columns = []
    for field_ in schema:
        values = frame[field_.name]
        if pa.types.is_string(field_.type):
            columns.append(_dictionary(np.asarray(values.array, dtype=object)))
        else:
            columns.append(pa.array(values, type=field_.type, from_pandas=True))
    return pa.Table.from_arrays(columns, names=schema.names)


def _dictionary(texts: np.ndarray) -> pa.DictionaryArray:
    """Texts (str or null objects) as a dictionary array: values in order of first appearance, nulls as null codes."""
    codes, uniques = text_codes(texts)
    return pa.DictionaryArray.from_arrays(pa.array(codes.astype(np.int32), mask=codes < 0),
                                          pa.array(np.asarray(uniques, dtype=object), type=pa.string()))


def arrow_schema(empty: pd.DataFrame) -> pa.Schema:
    """The Arrow schema (with pandas metadata, so dtypes read back) of frames shaped like ``empty``."""
    return pa.Schema.from_pandas(empty, preserve_index=False)


def dictionary_schema(schema: pa.Schema) -> pa.Schema:
    """``schema`` with its text columns as the dictionaries :func:`arrow_table` makes."""
    return pa.schema([pa.field(f.name, pa.dictionary(pa.int32(), pa.string()), f.nullable) if pa.types.is_string(f.type)
                      else f for f in schema])


class TextDictionaryWriter:
    """A Parquet file writer for :func:`arrow_table` tables whose file reads back with ``schema``'s plain text.

    Parquet stores repeated text dictionary-encoded either way. Handing the writer Arrow
    dictionaries lets it write their codes and values as they are; casting them back to plain
    strings first would copy every line's text and make the writer hash it all again to rebuild
    the same dictionaries (the two cost more than the rest of the write). The file records
    ``schema`` (the ``ARROW:schema`` and ``pandas`` metadata Arrow itself would store), so readers
    get plain ``string`` columns, exactly as if the strings had been written.

    Row-group min/max statistics (which let query engines skip row groups) are kept for every
    non-text column and for the text columns named in ``filter_texts``; statistics of the other
    texts (notes, sources, descriptions) would cost a third of the write and serve no filter.
    """

    def __init__(self, where: Path | str, schema: pa.Schema, filter_texts: Sequence[str] = ()) -> None:
        self.schema = schema
        self._written_schema = dictionary_schema(schema)
        statistics = [f.name for f in schema if not pa.types.is_string(f.type) or f.name in filter_texts]
        self._writer = pq.ParquetWriter(where, self._written_schema, compression="zstd", store_schema=False,
                                        write_statistics=statistics)

    def write_table(self, table: pa.Table) -> None:
        if not table.schema.equals(self._written_schema):
            table = table.cast(self._written_schema)
        self._writer.write_table(table)

    def close(self) -> None:
        stored = {b"ARROW:schema": base64.b64encode(self.schema.serialize().to_pybytes())}
        self._writer.add_key_value_metadata({**(self.schema.metadata or {}), **stored})
        self._writer.close()


class ParquetAppender:
    """A Parquet file written batch by batch (each batch one or more row groups), atomically.

    A context manager with :func:`atomic_path`'s guarantee: nothing replaces ``path`` until the
    block ends without an error. Batches are frames shaped like ``empty`` (canonical frames are)
    or :func:`arrow_table` tables of its schema; the file reads back as their concatenation, or
    as ``empty`` when nothing was appended. ``filter_texts``: see :class:`TextDictionaryWriter`.
    """

    def __init__(self, path: Path, empty: pd.DataFrame, filter_texts: Sequence[str] = ()) -> None:
        self.path = Path(path)
        self.rows = 0
        self.schema = arrow_schema(empty)
        self._filter_texts = tuple(filter_texts)
        self._block = atomic_path(self.path)
        self._writer: TextDictionaryWriter | None = None
        self._tmp: Path | None = None

    def __enter__(self) -> "ParquetAppender":
        self._tmp = self._block.__enter__()
        self._writer = TextDictionaryWriter(self._tmp, self.schema, self._filter_texts)
        return self

    @property
    def written(self) -> Path:
        """Where the content is until it replaces ``path`` (read it back from here inside :func:`all_or_nothing`)."""
        if self._tmp is None:
            raise RuntimeError("ParquetAppender used outside its with-block")
        return self._tmp if self._tmp.exists() else self.path

    def append(self, batch: pd.DataFrame | pa.Table) -> None:
        table = batch if isinstance(batch, pa.Table) else arrow_table(batch, self.schema)
        self._writer.write_table(table)
        self.rows += table.num_rows

    def __exit__(self, kind, error, trace) -> bool:
        try:
            self._writer.close()
        finally:
            self._block.__exit__(kind, error, trace)
        return False


@contextmanager
def all_or_nothing() -> Iterator[None]:
    """Stage every :func:`write_atomic` inside the block; rename them all onto their targets when it succeeds.

    When the block raises, every staged file is deleted and no target is touched. A nested block
    joins the outer one. Only the final renames (one ``os.replace`` per file, in write order) are
    not one atomic step; if one of them fails, the files not yet renamed are deleted.
    """
    if _STAGED.get() is not None:
        yield
        return
    staged: list[tuple[Path, Path]] = []
    token = _STAGED.set(staged)
    try:
        yield
    except BaseException:
        _discard(staged)
        raise
    finally:
        _STAGED.reset(token)
    for done, (tmp, path) in enumerate(staged):
        try:
            os.replace(tmp, path)
        except BaseException:
            _discard(staged[done:])
            raise


def _discard(staged: list[tuple[Path, Path]]) -> None:
    for tmp, _ in staged:
        tmp.unlink(missing_ok=True)


def write_text(path: Path, text: str) -> Path:
    return write_atomic(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def write_json(path: Path, data: Mapping[str, Any]) -> Path:
    return write_text(path, json.dumps(data, indent=2, sort_keys=False, default=str) + "\n")


def write_parquet(path: Path, frame: pd.DataFrame) -> Path:
    return write_atomic(path, lambda tmp: frame.to_parquet(tmp, index=False, compression="zstd"))


def write_csv(path: Path, frame: pd.DataFrame) -> Path:
    return write_atomic(path, lambda tmp: frame.to_csv(tmp, index=False))
