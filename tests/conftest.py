"""Shared test fixtures and helpers: demo data paths, a small canonical billing frame, tie-out checks."""

from __future__ import annotations

import csv
import uuid
from collections.abc import Iterator
from decimal import Decimal, localcontext
from pathlib import Path

import pandas as pd

import pytest
from moto.server import ThreadedMotoServer

from carbonledger import schema
from carbonledger.config import DEMO_DATA_DIR
from carbonledger.controls import EXACT, ControlTotals, TieOut
from connectors.s3_delivery import s3_client

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


def raw_rows(path: Path) -> list[dict[str, str]]:
    """A CSV file's data rows as dicts of raw text (the independent reading tests compare against)."""
    with open(path, encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def decimal_total(values) -> Decimal:
    """Exact decimal total of raw cost strings."""
    with localcontext(EXACT):
        return sum((Decimal(v) for v in values), Decimal(0))


def assert_ties_out(result) -> None:
    """A read_billing result's rows and cost per currency tie out: inputs == billing + quarantine."""
    tie = TieOut.of(result.inputs, ControlTotals.of(result.billing), ControlTotals.of(result.quarantine))
    assert tie.problems() == []


@pytest.fixture(scope="session")
def endpoint() -> Iterator[str]:
    """A local S3 (moto server) for the S3 tests: its endpoint URL."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def aws_env(monkeypatch, tmp_path) -> None:
    """Test credentials for the local S3; no profile, config file, session token or instance metadata."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def client(endpoint, aws_env):
    """A boto3 S3 client of the local S3, with the test credentials."""
    return s3_client(endpoint_url=endpoint)


@pytest.fixture
def bucket(client) -> str:
    """A new, empty bucket on the local S3."""
    name = f"cur-{uuid.uuid4().hex[:12]}"
    client.create_bucket(Bucket=name)
    return name
