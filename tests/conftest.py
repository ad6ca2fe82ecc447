"""Shared test fixtures: paths to the bundled demo data and a small canonical billing frame."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from carbonledger import schema
from carbonledger.config import DEMO_DATA_DIR

TESTS_DIR = Path(__file__).resolve().parent
FIXTURES = TESTS_DIR / "fixtures"


@pytest.fixture(scope="session")
def demo_dir() -> Path:
    return DEMO_DATA_DIR


def billing_rows(rows: list[dict]) -> pd.DataFrame:
    """A canonical billing frame from a few hand-written rows (defaults fill the required fields)."""
    defaults = {
        "ChargePeriodStart": "2022-06-01T10:00:00Z", "ChargePeriodEnd": "2022-06-01T11:00:00Z",
        "ProviderName": "aws", "ChargeCategory": "Usage", "BilledCost": 1.0, "BillingCurrency": "USD",
        "x_SourceFormat": "test", "x_SourceFile": "test.csv",
    }
    full = [{**defaults, "x_SourceRow": i + 1, **row} for i, row in enumerate(rows)]
    return schema.conform(pd.DataFrame(full), schema.BILLING_COLUMNS)
