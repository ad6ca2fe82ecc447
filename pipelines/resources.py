"""Dagster resources: thin configuration shells that return plain domain objects."""

from __future__ import annotations

from pathlib import Path

import dagster as dg

from carbonledger.config import Config


class CarbonLedgerConfig(dg.ConfigurableResource):
    """Where the run's configuration comes from: a YAML file, or the bundled demo when unset."""

    config_path: str | None = None
    out_dir: str | None = None

    def create(self) -> Config:
        config = Config.load(Path(self.config_path)) if self.config_path else Config.demo()
        if self.out_dir:
            config = Config(**{**config.__dict__, "out_dir": Path(self.out_dir)})
        return config
