"""``carbonledger estimate``: billing files of any size accounted batch by batch, in bounded memory.

Each file is read in batches of about ``batch_rows`` rows (``connectors.iter_billing``: Parquet
record batches, CSV blocks); each batch is accounted with the run's catalogue, power model and
grid (loaded once), its ledger lines and quarantined rows are appended to ``ledger.parquet`` and
``quarantine.parquet``, and its control totals and summary totals are added up. Only one batch is
in memory at a time, so memory depends on the batch size, not on the month. The tie-out
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

from carbonledger import engine, io, schema
from carbonledger.config import Config, Source
from carbonledger.controls import ControlTotals, TieOut
from carbonledger.engine import Accountant, Accounted, Outputs
from carbonledger.errors import UsageError
from connectors.rawfile import DEFAULT_BATCH_ROWS
from connectors.reader import iter_billing
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

    def add(self, inputs: ControlTotals, ledger: pd.DataFrame, quarantine: pd.DataFrame) -> None:
        self.inputs = self.inputs + inputs
        self.in_ledger = self.in_ledger + ControlTotals.of(ledger)
        self.quarantined = self.quarantined + ControlTotals.of(quarantine)
        self.ledger_totals = self.ledger_totals + LedgerTotals.of(ledger)
        for reason, count in reason_counts(quarantine).items():
            self.reasons[reason] = self.reasons.get(reason, 0) + count


def estimate(inputs: Sequence[Path | str], fmt: str, out_dir: Path, config: Config | None = None, *,
             report: bool = True, batch_rows: int = DEFAULT_BATCH_ROWS) -> tuple[Estimated, Outputs]:
    """Account the given billing files and write ledger, quarantine, summary and (with ``report``) the report."""
    config = config or Config()
    if not inputs:
        raise UsageError("no billing sources given: name input files or configure 'sources'")
    if config.grid.live != "none":
        return _estimate_whole(inputs, fmt, out_dir, config, report=report)
    out_dir = Path(out_dir)
    accountant = Accountant.for_run(config)
    running = _Running.start()
    started = time.perf_counter()
    with io.all_or_nothing():
        with io.ParquetAppender(out_dir / "ledger.parquet", schema.empty(schema.LEDGER_COLUMNS)) as ledger_file, \
                io.ParquetAppender(out_dir / "quarantine.parquet", schema.empty(schema.QUARANTINE_COLUMNS)) as quarantine_file:
            for number, batch in enumerate(iter_billing(inputs, fmt, project_tag_keys=config.project_tag_keys,
                                                        batch_rows=batch_rows), start=1):
                ledger = accountant.ledger(batch.billing)
                ledger_file.append(ledger)
                quarantine_file.append(batch.quarantine)
                running.add(batch.inputs, ledger, batch.quarantine)
                log.info("batch %d of %s: %s rows in, %s in the ledger so far (%.1f s)", number, batch.files[0],
                         f"{batch.inputs.rows:,}", f"{ledger_file.rows:,}", time.perf_counter() - started)
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


def _estimate_whole(inputs: Sequence[Path | str], fmt: str, out_dir: Path, config: Config, *,
                    report: bool) -> tuple[Estimated, Outputs]:
    batch = engine.read_sources([Source(Path(p), fmt) for p in inputs], config.project_tag_keys)
    log.info("read %s rows (%s quarantined); building the ledger", f"{batch.inputs.rows:,}", f"{len(batch.quarantine):,}")
    result = engine.account(batch, config)
    result.tie_out.check("estimate")
    outputs = engine.write_outputs(result, out_dir, report=report, pages=report, policy=config.policy)
    return Estimated(result.summary, result.tie_out, outputs), outputs
