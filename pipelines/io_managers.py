"""The IO manager of the large per-day results: raw billing batches and accounted ledgers as Parquet.

Dagster's default IO manager pickles each asset's value; a large organisation's day (a few hundred
thousand lines of text) then costs seconds to pickle and unpickle at every step boundary.
``carbon_frames_io_manager`` stores a :class:`~connectors.ReadResult` or an
:class:`~carbonledger.engine.Accounted` with ``carbonledger.handoff`` instead (Parquet with
dictionary-encoded text, totals as JSON) under
``<instance storage>/carbon_frames/<asset>/<partition>/``, readable by any step process (in-process,
multiprocess or Celery executors sharing the instance storage).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import dagster as dg

from carbonledger import handoff
from carbonledger.engine import Accounted
from connectors import ReadResult


class CarbonFramesIOManager(dg.IOManager):
    """Stores ReadResult / Accounted values as folders of Parquet and JSON under ``base_dir``."""

    def __init__(self, base_dir: Path) -> None:
        self.base_dir = base_dir

    def _folder(self, context: dg.OutputContext | dg.InputContext) -> Path:
        key = context.asset_key.path if context.has_asset_key else [context.step_key, context.name]
        partition = context.asset_partition_key if context.has_asset_partitions else "__all__"
        return self.base_dir.joinpath(*key, partition)

    def handle_output(self, context: dg.OutputContext, obj: Any) -> None:
        folder = self._folder(context)
        if isinstance(obj, ReadResult):
            handoff.save_batch(folder, obj)
        elif isinstance(obj, Accounted):
            handoff.save_accounted(folder, obj)
        else:
            raise TypeError(f"carbon_frames_io_manager stores ReadResult or Accounted values, not {type(obj).__name__}")

    def load_input(self, context: dg.InputContext) -> Any:
        folder = self._folder(context)          # an input's asset key and partition are its upstream's
        if (folder / "billing.parquet").is_file():
            return handoff.load_batch(folder)
        return handoff.load_accounted(folder)


@dg.io_manager(description="Raw billing batches and accounted ledgers as Parquet + JSON in the instance storage.")
def carbon_frames_io_manager(init_context: dg.InitResourceContext) -> CarbonFramesIOManager:
    return CarbonFramesIOManager(Path(init_context.instance.storage_directory()) / "carbon_frames")
