"""Accounted days of the bundled demo organisation, computed once per test session (store and warehouse tests)."""

from __future__ import annotations

import datetime as dt
from functools import cache

from carbonledger import engine
from carbonledger.config import Config
from carbonledger.engine import Accounted


@cache
def accounted_day(day: dt.date) -> Accounted:
    """The demo organisation's ledger, quarantine and summary of one UTC day, as the pipeline accounts it."""
    config = Config.demo()
    batches = [engine.read_source_day(source, day, config.project_tag_keys) for source in config.sources]
    return engine.account(engine.combine_batches(batches), config)
