"""``carbonledger estimate``: billing files of any size accounted batch by batch, in bounded memory.

Each file is read in batches of about ``batch_rows`` rows (``connectors.iter_billing``: Parquet
record batches, CSV blocks); each batch is accounted with the run's catalogue, power model and
grid (loaded once), its ledger lines and quarantined rows are appended to ``ledger.parquet`` and
``quarantine.parquet``, and its control totals and summary totals are added up. Only one batch is
in memory at a time, so memory depends on the batch size, not on the month. With more than one
CPU, forked worker processes account batches in parallel while this process reads the next ones
and writes the results in input order (so the outputs are identical whatever the number of
workers). The tie-out
``in == ledger + quarantined`` is checked over all batches before anything replaces the previous
outputs: a failed tie-out or a crash leaves them as they were (``io.all_or_nothing``).

The report needs every ledger line at once: with ``report`` the written ledger is read back for
it. With a live grid source configured, the rows are read whole instead, because live intensity
is fetched once for the zones and period of all of them.

What does not belong here: the accounting steps themselves (``engine``), reading (``connectors``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa

from carbonledger import engine, io, schema
from carbonledger.config import Config, Source
from carbonledger.controls import ControlTotals, TieOut
from carbonledger.engine import Accountant, Accounted, Outputs
from carbonledger.errors import UsageError
from carbonledger.parallel import ordered_map
from connectors.rawfile import RawTable
from connectors.reader import raw_batches, read_batch
from footprint.summary import LedgerTotals, reason_counts, summary_of

log = logging.getLogger("carbonledger")


@dataclass(frozen=True)
class Estimated:
    """What an estimate produced: its summary and tie-out, and where it wrote them."""

    summary: dict[str, Any]
    tie_out: TieOut
    outputs: Outputs

    @property
    def ledger(self) -> pd.DataFrame:
        """The written ledger (read from ``ledger.parquet``: a large month is never kept in memory)."""
        return engine.read_ledger(self.outputs.out_dir)


@dataclass(frozen=True)
class _Context:
    """What every batch is accounted with (built once; inherited by worker processes)."""

    accountant: Accountant
    project_tag_keys: tuple[str, ...]
    ledger_schema: pa.Schema
    quarantine_schema: pa.Schema


@dataclass(frozen=True)
class _Part:
    """One accounted batch: its ledger lines and quarantined rows (Arrow, text dictionary-encoded),
    its control totals and its summary totals."""

    file: str
    ledger: pa.Table
    quarantine: pa.Table
    inputs: ControlTotals
    in_ledger: ControlTotals
    quarantined: ControlTotals
    ledger_totals: LedgerTotals
    reasons: dict[str, int]


@dataclass
class _Running:
    """Totals accumulated over the batches of one estimate."""

    inputs: ControlTotals
    in_ledger: ControlTotals
    quarantined: ControlTotals
    ledger_totals: LedgerTotals
    reasons: dict[str, int]

    @classmethod
    def start(cls) -> "_Running":
        return cls(ControlTotals(rows=0), ControlTotals(rows=0), ControlTotals(rows=0), LedgerTotals(), {})

    def add(self, part: _Part) -> None:
        self.inputs = self.inputs + part.inputs
        self.in_ledger = self.in_ledger + part.in_ledger
        self.quarantined = self.quarantined + part.quarantined
        self.ledger_totals = self.ledger_totals + part.ledger_totals
        for reason, count in part.reasons.items():
            self.reasons[reason] = self.reasons.get(reason, 0) + count


def estimate(inputs: Sequence[Path | str], fmt: str, out_dir: Path, config: Config | None = None, *,
             report: bool = True, batch_rows: int | None = None,
             workers: int | None = None) -> tuple[Estimated, Outputs]:
    """Account the given billing files and write ledger, quarantine, summary and (with ``report``) the report.

    ``workers`` processes account batches in parallel (default ``parallel.default_workers``; 1 = this process only).
    """
    config = config or Config()
    if not inputs:
        raise UsageError("no billing sources given: name input files or configure 'sources'")
    if config.grid.live != "none":
        return _estimate_whole(inputs, fmt, out_dir, config, report=report)
    out_dir = Path(out_dir)
    context = _Context(Accountant.for_run(config), tuple(config.project_tag_keys),
                       io.arrow_schema(schema.empty(schema.LEDGER_COLUMNS)),
                       io.arrow_schema(schema.empty(schema.QUARANTINE_COLUMNS)))
    running = _Running.start()
    started = time.perf_counter()
    with io.all_or_nothing():
        with io.ParquetAppender(out_dir / "ledger.parquet", schema.empty(schema.LEDGER_COLUMNS),
                                   schema.FILTER_TEXT_COLUMNS) as ledger_file, \
                io.ParquetAppender(out_dir / "quarantine.parquet", schema.empty(schema.QUARANTINE_COLUMNS)) as quarantine_file:
            jobs = raw_batches(inputs, fmt, batch_rows=batch_rows)
            parts = ordered_map(lambda job: _account_part(context, *job), jobs, workers)
            for number, part in enumerate(parts, start=1):
                ledger_file.append(part.ledger)
                quarantine_file.append(part.quarantine)
                running.add(part)
                log.info("batch %d of %s: %s rows in, %s in the ledger so far (%.1f s)", number, part.file,
                         f"{part.inputs.rows:,}", f"{ledger_file.rows:,}", time.perf_counter() - started)
            tie_out = TieOut.of(running.inputs, running.in_ledger, running.quarantined)
            tie_out.check("estimate")
        summary = engine.with_usage(summary_of(running.ledger_totals, running.reasons, tie_out), tie_out)
        summary_path = io.write_json(out_dir / "summary.json", summary)
        paths = site = None
        if report:
            result = Accounted(pd.read_parquet(ledger_file.written), pd.read_parquet(quarantine_file.written), tie_out, summary)
            paths, site = engine.write_reports(result, out_dir, report=True, pages=True, policy=config.policy)
    outputs = Outputs(out_dir, ledger_file.path, quarantine_file.path, summary_path, paths, site)
    return Estimated(summary, tie_out, outputs), outputs


def _account_part(context: _Context, raw: RawTable, fmt: str) -> _Part:
    batch = read_batch(raw, fmt, context.project_tag_keys)
    ledger = context.accountant.ledger(batch.billing)
    return _Part(raw.path, io.arrow_table(ledger, context.ledger_schema),
                 io.arrow_table(batch.quarantine, context.quarantine_schema), batch.inputs,
                 ControlTotals.of(ledger), ControlTotals.of(batch.quarantine), LedgerTotals.of(ledger),
                 reason_counts(batch.quarantine))


def _estimate_whole(inputs: Sequence[Path | str], fmt: str, out_dir: Path, config: Config, *,
                    report: bool) -> tuple[Estimated, Outputs]:
    batch = engine.read_sources([Source(Path(p), fmt) for p in inputs], config.project_tag_keys)
    log.info("read %s rows (%s quarantined); building the ledger", f"{batch.inputs.rows:,}", f"{len(batch.quarantine):,}")
    result = engine.account(batch, config)
    result.tie_out.check("estimate")
    outputs = engine.write_outputs(result, out_dir, report=report, pages=report, policy=config.policy)
    return Estimated(result.summary, result.tie_out, outputs), outputs
