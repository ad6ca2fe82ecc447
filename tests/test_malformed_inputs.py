"""Malformed billing inputs, as a corpus: every connector's bad files end in a clear error or in the quarantine.

Each case is generated in ``tmp_path`` from a few rows of a good fixture under ``tests/fixtures/billing/``
(so the corpus needs no binary files in git) and has one of two expected outcomes:

* **fatal** — ``read_billing`` raises an ``InputFormatError`` whose message names the file and says what
  was expected; ``carbonledger estimate`` on the same file exits with ``EXIT_INPUT`` (3) and prints exactly
  one stderr line, with no traceback.
* **rows** — the file is read; every data row written ends in the billing frame or the quarantine (the
  expected number of each is asserted), quarantine reasons name the column and the expectation, and
  ``inputs == billing + quarantine`` ties out exactly for rows, cost per currency and usage per unit.

Cases covered per connector (FOCUS, AWS CUR 1.0, CUR 2.0, GCP, Azure, where the format has the field):
truncated gzip, truncated Parquet (GCP), semicolon delimiter, UTF-8 BOM, latin-1 bytes, missing and
misspelled cost column, malformed (unbalanced-quote) header, extra columns, 0-byte and header-only files,
a 1 MB tag value, negative / NaN / non-numeric cost, costs beyond what exact totals hold (1e40, 1e309), negative / NaN usage, mixed currencies, unknown
regions and instance types, duplicated line item ids, and a CUR manifest whose report keys are missing.

What is asserted for findings that are *not* errors (current documented behaviour, not an endorsement):
negative cost and usage are kept (credits and refunds are legitimate billing lines); unknown regions and
instance types are kept (the ledger flags them later, the reader does not); duplicated line item ids are
kept as separate rows (no de-duplication in the reader).

Timestamps: billing formats write UTC, ``Z`` or an explicit offset; none of them writes naive *local*
times, so a naive timestamp is read as UTC. Offsets are honoured, so the two readings of a Central-European
DST edge (``+01:00`` and ``+02:00``) become distinct UTC instants one hour apart, and no row is lost.

The last test is a hypothesis property: for generated FOCUS rows (valid and invalid costs, currencies,
timestamps, empty fields) ``rows_in == rows_billing + rows_quarantined`` and cost ties out exactly.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import math
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from carbonledger.cli import main
from carbonledger.controls import ControlTotals, TieOut
from carbonledger.errors import EXIT_INPUT, InputFormatError
from connectors import read_billing

BILLING = Path(__file__).resolve().parent / "fixtures" / "billing"
N = 6  # data rows taken from each good fixture

#: Per connector: the good fixture and the names of the columns the cases edit (None: format lacks it).
CONNECTORS = {
    "focus": (BILLING / "focus_1.0_sample_1000rows.csv", dict(
        cost="BilledCost", cur="BillingCurrency", qty="ConsumedQuantity", region="RegionId",
        start="ChargePeriodStart", end="ChargePeriodEnd", id="Id", tags="Tags", itype=None)),
    "aws-cur": (BILLING / "aws_cur_legacy_koku-local-1_first2000rows.csv", dict(
        cost="lineItem/UnblendedCost", cur="lineItem/CurrencyCode", qty="lineItem/UsageAmount",
        region="lineItem/AvailabilityZone", start="lineItem/UsageStartDate", end="lineItem/UsageEndDate",
        id="identity/LineItemId", tags=None, itype="product/instanceType")),
    "aws-cur2": (BILLING / "aws_cur2" / "cur2_2024-05_hourly.csv", dict(
        cost="line_item_unblended_cost", cur="line_item_currency_code", qty="line_item_usage_amount",
        region="product_region_code", start="line_item_usage_start_date", end="line_item_usage_end_date",
        id="identity_line_item_id", tags="resource_tags", itype="product_instance_type")),
    "gcp": (BILLING / "gcp" / "gcp_billing_export_resource_v1_flat.csv", dict(
        cost="cost", cur="currency", qty="usage.amount", region="location.region",
        start="usage_start_time", end="usage_end_time", id=None, tags="labels", itype=None)),
    "azure": (BILLING / "azure" / "ea_actual_2024-08-01.csv", dict(
        cost="CostInBillingCurrency", cur="BillingCurrencyCode", qty="Quantity", region="ResourceLocation",
        start="Date", end=None, id=None, tags="Tags", itype=None)),
}


def _good(fmt: str) -> tuple[list[str], list[list[str]]]:
    with open(CONNECTORS[fmt][0], encoding="utf-8", newline="") as handle:
        table = list(csv.reader(handle))
    return table[0], [list(r) for r in table[1:N + 1]]


def _csv_text(header: list[str], rows: list[list[str]], delimiter: str = ",") -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, delimiter=delimiter, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buf.getvalue()


def _set(fmt: str, column_key: str, row: int, value: str):
    """A builder: the good rows with one cell replaced."""
    def build(tmp: Path) -> tuple[Path, int]:
        header, rows = _good(fmt)
        rows[row][header.index(CONNECTORS[fmt][1][column_key])] = value
        path = tmp / f"{fmt}-{column_key}.csv"
        path.write_text(_csv_text(header, rows), encoding="utf-8")
        return path, len(rows)
    return build


def _huge_tag(fmt: str):
    def build(tmp: Path) -> tuple[Path, int]:
        header, rows = _good(fmt)
        big = "x" * 1_000_000
        value = str([{"key": "huge", "value": big}]) if fmt == "gcp" else json.dumps({"huge": big})
        rows[0][header.index(CONNECTORS[fmt][1]["tags"])] = value
        path = tmp / f"{fmt}-huge.csv"
        path.write_text(_csv_text(header, rows), encoding="utf-8")
        return path, len(rows)
    return build


def _file(fmt: str, kind: str):
    """Builders that damage the file as a whole."""
    def build(tmp: Path) -> tuple[Path, int]:
        header, rows = _good(fmt)
        cost = header.index(CONNECTORS[fmt][1]["cost"])
        path = tmp / f"{fmt}-{kind}.csv"
        if kind == "semicolon":
            path.write_text(_csv_text(header, rows, ";"), encoding="utf-8")
        elif kind == "bom":
            path.write_bytes(b"\xef\xbb\xbf" + _csv_text(header, rows).encode("utf-8"))
        elif kind == "latin1":
            rows[0][cost + 1 if cost + 1 < len(header) else 0] = "Caf\u00e9 M\u00fcnchen"
            path.write_bytes(_csv_text(header, rows).encode("latin-1", "replace"))
        elif kind == "missing_cost":
            path.write_text(_csv_text(header[:cost] + header[cost + 1:], [r[:cost] + r[cost + 1:] for r in rows]),
                            encoding="utf-8")
        elif kind == "misspelled_cost":
            header[cost] = header[cost] + "_"
            path.write_text(_csv_text(header, rows), encoding="utf-8")
        elif kind == "malformed_header":
            path.write_text('"' + _csv_text(header, rows), encoding="utf-8")
        elif kind == "extra_columns":
            path.write_text(_csv_text(header + ["zz_extra", "zz_more"], [r + ["a", "b"] for r in rows]),
                            encoding="utf-8")
        elif kind == "empty":
            path.write_bytes(b"")
        elif kind == "header_only":
            path.write_text(_csv_text(header, []), encoding="utf-8")
            rows = []
        elif kind == "truncated_gzip":
            path = tmp / f"{fmt}-truncated.csv.gz"
            whole = gzip.compress(_csv_text(header, rows).encode("utf-8"))
            path.write_bytes(whole[: len(whole) // 2])
        elif kind == "duplicate_ids":
            rows.append(list(rows[0]))
            path.write_text(_csv_text(header, rows), encoding="utf-8")
        elif kind == "mixed_currencies":
            cur = header.index(CONNECTORS[fmt][1]["cur"])
            rows[0][cur], rows[1][cur] = "EUR", "JPY"
            path.write_text(_csv_text(header, rows), encoding="utf-8")
        else:  # pragma: no cover
            raise AssertionError(kind)
        return path, len(rows)
    return build


def _truncated_parquet(tmp: Path) -> tuple[Path, int]:
    whole = (BILLING / "gcp" / "gcp_billing_export_resource_v1_nested.parquet").read_bytes()
    path = tmp / "gcp-truncated.parquet"
    path.write_bytes(whole[: len(whole) // 2])
    return path, 0


def _manifest_missing_files(tmp: Path) -> tuple[Path, int]:
    folder = tmp / "cur"
    folder.mkdir()
    path = folder / "koku-local-Manifest.json"
    path.write_bytes((BILLING / "aws_cur_legacy_Manifest_koku-local.json").read_bytes())
    return path, 0


FATAL = "fatal"

# (id, builder, outcome, expectation). outcome FATAL: the message must contain every `expect` string;
# outcome (billing rows, quarantined rows): expect is None or (reason prefix naming the column, 1-based data row).
CASES = []
for _fmt, (_src, _cols) in CONNECTORS.items():
    CASES += [
        (f"{_fmt}-semicolon", _file(_fmt, "semicolon"), FATAL, ["match no known billing format", "header"]),
        (f"{_fmt}-bom", _file(_fmt, "bom"), (N, 0), None),
        (f"{_fmt}-latin1", _file(_fmt, "latin1"), FATAL, ["not a CSV text file", "utf-8"]),
        (f"{_fmt}-missing-cost", _file(_fmt, "missing_cost"), FATAL,
         ["looks like FOCUS but lacks the required column(s) BilledCost"] if _fmt == "focus"
         else ["missing required", _cols["cost"]]),
        (f"{_fmt}-misspelled-cost", _file(_fmt, "misspelled_cost"), FATAL,
         ["looks like FOCUS but lacks the required column(s) BilledCost"] if _fmt == "focus"
         else ["missing required", _cols["cost"]]),
        (f"{_fmt}-malformed-header", _file(_fmt, "malformed_header"), FATAL, ["match no known billing format"]),
        (f"{_fmt}-extra-columns", _file(_fmt, "extra_columns"), (N, 0), None),
        (f"{_fmt}-empty", _file(_fmt, "empty"), FATAL, ["empty file", "expected a CSV header row"]),
        (f"{_fmt}-header-only", _file(_fmt, "header_only"), (0, 0), None),
        (f"{_fmt}-truncated-gzip", _file(_fmt, "truncated_gzip"), FATAL,
         [("cannot be parsed as CSV: Truncated compressed stream",
           "not a CSV text file: Compressed file ended before the end-of-stream marker")]),
        (f"{_fmt}-negative-cost", _set(_fmt, "cost", 0, "-1.5"), (N, 0), None),
        (f"{_fmt}-nan-cost", _set(_fmt, "cost", 0, "NaN"), (N - 1, 1), (f"{_cols['cost']}: 'NaN' is not a number", 1)),
        (f"{_fmt}-text-cost", _set(_fmt, "cost", 0, "12,50 EUR"), (N - 1, 1), (f"{_cols['cost']}: '12,50 EUR' is not a number", 1)),
        (f"{_fmt}-cost-beyond-exact-totals", _set(_fmt, "cost", 0, "1e40"), (N - 1, 1),
         (f"{_cols['cost']}: '1e40' is out of range (expected a magnitude below 1e36)", 1)),
        (f"{_fmt}-usage-overflows-float", _set(_fmt, "qty", 1, "1e309"), (N - 1, 1),
         (f"{_cols['qty']}: '1e309' is out of range", 2)),
        (f"{_fmt}-negative-usage", _set(_fmt, "qty", 1, "-2"), (N, 0), None),
        (f"{_fmt}-nan-usage", _set(_fmt, "qty", 1, "NaN"), (N - 1, 1), (f"{_cols['qty']}: 'NaN' is not a number", 2)),
        (f"{_fmt}-mixed-currencies", _file(_fmt, "mixed_currencies"), (N, 0), None),
        (f"{_fmt}-unknown-region", _set(_fmt, "region", 0, "mars-north-1"), (N, 0), None),
        (f"{_fmt}-bad-timestamp", _set(_fmt, "start", 0, "yesterday"), (N - 1, 1), (f"{_cols['start']}: 'yesterday' is not a", 1)),
    ]
    if _cols["tags"]:
        CASES.append((f"{_fmt}-huge-tag", _huge_tag(_fmt), (N, 0), None))
    if _cols["itype"]:
        CASES.append((f"{_fmt}-unknown-instance-type", _set(_fmt, "itype", 0, "zz9.plural"), (N, 0), None))
    if _cols["id"]:
        CASES.append((f"{_fmt}-duplicate-line-item-id", _file(_fmt, "duplicate_ids"), (N + 1, 0), None))
CASES += [
    ("gcp-truncated-parquet", _truncated_parquet, FATAL, ["not a readable Parquet file"]),
    ("aws-cur-manifest-missing-files", _manifest_missing_files, FATAL, ["reportKeys", "not found"]),
]


def _tie_out(result) -> list[str]:
    return TieOut.of(result.inputs, ControlTotals.of(result.billing), ControlTotals.of(result.quarantine)).problems()


@pytest.mark.parametrize("build, outcome, expect", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_malformed_input(tmp_path, capsys, build, outcome, expect):
    path, rows_written = build(tmp_path)
    if outcome == FATAL:
        with pytest.raises(InputFormatError) as info:
            read_billing([path])
        message = str(info.value)
        assert str(path) in message
        for text in expect:  # a tuple: any one of these (where the cut falls decides which reader notices)
            assert any(alt in message for alt in (text if isinstance(text, tuple) else (text,))), message
        assert main(["-q", "estimate", str(path), "--out", str(tmp_path / "out"), "--no-report"]) == EXIT_INPUT
        err = capsys.readouterr().err
        assert "Traceback" not in err
        lines = err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("carbonledger: error: ") and str(path) in lines[0]
        return
    result = read_billing([path])
    billing_rows, quarantined_rows = outcome
    assert result.inputs.rows == rows_written
    assert (len(result.billing), len(result.quarantine)) == (billing_rows, quarantined_rows)
    assert _tie_out(result) == []
    if expect is not None:
        reason, source_row = expect
        assert list(result.quarantine["x_Reason"].str.startswith(reason)) == [True]
        assert result.quarantine["x_SourceFile"].tolist() == [str(path)]
        assert result.quarantine["x_SourceRow"].tolist() == [source_row]


# Timestamps: (start written, end written, expected UTC start). Naive means UTC in every billing format.
TIMESTAMPS = [
    ("utc-z", "2024-03-31T01:30:00Z", "2024-03-31T02:30:00Z", "2024-03-31 01:30:00"),
    ("naive-is-utc", "2024-03-31 01:30:00", "2024-03-31 02:30:00", "2024-03-31 01:30:00"),
    ("dst-spring-before", "2024-03-31T01:30:00+01:00", "2024-03-31T03:30:00+02:00", "2024-03-31 00:30:00"),
    ("dst-spring-after", "2024-03-31T03:30:00+02:00", "2024-03-31T04:30:00+02:00", "2024-03-31 01:30:00"),
    ("dst-autumn-first", "2024-10-27T02:30:00+02:00", "2024-10-27T02:30:00+01:00", "2024-10-27 00:30:00"),
    ("dst-autumn-second", "2024-10-27T02:30:00+01:00", "2024-10-27T03:30:00+01:00", "2024-10-27 01:30:00"),
    ("negative-offset", "2024-03-10T01:30:00-05:00", "2024-03-10T03:30:00-04:00", "2024-03-10 06:30:00"),
]


@pytest.mark.parametrize("fmt", ["focus", "aws-cur2", "gcp", "azure"])
@pytest.mark.parametrize("name, start, end, utc", TIMESTAMPS, ids=[t[0] for t in TIMESTAMPS])
def test_timestamps_with_and_without_zones(tmp_path, fmt, name, start, end, utc):
    """Offsets are honoured (so both sides of a DST edge keep their distinct instants); naive is UTC."""
    header, rows = _good(fmt)
    cols = CONNECTORS[fmt][1]
    rows[0][header.index(cols["start"])] = start
    if cols["end"]:
        rows[0][header.index(cols["end"])] = end
    path = tmp_path / f"{fmt}-{name}.csv"
    path.write_text(_csv_text(header, rows), encoding="utf-8")
    result = read_billing([path])
    assert result.quarantine.empty
    assert len(result.billing) == N and _tie_out(result) == []
    first = result.billing[result.billing["x_SourceRow"] == 1]["ChargePeriodStart"].tolist()
    assert first == [pd.Timestamp(utc, tz="UTC")]


def test_dst_edge_instants_stay_distinct(tmp_path):
    """The two readings of 02:30 on the autumn DST day are one hour apart in the ledger, neither dropped."""
    header, rows = _good("focus")
    start, end = header.index("ChargePeriodStart"), header.index("ChargePeriodEnd")
    rows[0][start], rows[0][end] = "2024-10-27T02:30:00+02:00", "2024-10-27T02:30:00+01:00"
    rows[1][start], rows[1][end] = "2024-10-27T02:30:00+01:00", "2024-10-27T03:30:00+01:00"
    path = tmp_path / "focus-dst.csv"
    path.write_text(_csv_text(header, rows), encoding="utf-8")
    billing = read_billing([path]).billing.sort_values("x_SourceRow")
    first, second = billing["ChargePeriodStart"].iloc[0], billing["ChargePeriodStart"].iloc[1]
    assert second - first == pd.Timedelta(hours=1)
    assert billing["ChargePeriodEnd"].iloc[0] == second


# --- property: the tie-out invariant for any generated FOCUS file -----------------------------------------

_COSTS = st.one_of(
    st.decimals(min_value=-10**6, max_value=10**6, places=6, allow_nan=False, allow_infinity=False).map(str),
    st.floats(allow_nan=True, allow_infinity=True, width=64).map(repr),
    st.sampled_from(["", "NaN", "abc", "1,5", "1e309", "-0", "0.000000000000000000001", " 3 "]),
)
_CURRENCIES = st.sampled_from(["USD", "EUR", "JPY", "", "usd", "XX", "€"])
_TIMES = st.one_of(
    st.datetimes(min_value=pd.Timestamp("2000-01-01").to_pydatetime(),
                 max_value=pd.Timestamp("2030-01-01").to_pydatetime()).map(lambda d: d.strftime("%Y-%m-%d %H:%M:%S")),
    st.sampled_from(["", "2024-02-30 00:00:00", "yesterday", "2024-03-31T01:30:00+01:00", "2024-10-27T02:30:00Z"]),
)
_ROW = st.fixed_dictionaries({"cost": _COSTS, "currency": _CURRENCIES, "start": _TIMES,
                              "quantity": st.one_of(_COSTS, st.just("")), "blank": st.booleans()})


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_ROW, min_size=0, max_size=12))
def test_property_focus_rows_tie_out(tmp_path_factory, generated):
    header, template = _good("focus")
    rows = []
    for i, spec in enumerate(generated):
        row = list(template[i % len(template)])
        row[header.index("BilledCost")] = spec["cost"]
        row[header.index("BillingCurrency")] = spec["currency"]
        row[header.index("ChargePeriodStart")] = spec["start"]
        row[header.index("ConsumedQuantity")] = spec["quantity"]
        if spec["blank"]:
            row[header.index("RegionId")] = row[header.index("ServiceName")] = ""
        rows.append(row)
    path = tmp_path_factory.mktemp("prop") / "focus-generated.csv"
    path.write_text(_csv_text(header, rows), encoding="utf-8")
    result = read_billing([path])
    assert result.inputs.rows == len(rows) == len(result.billing) + len(result.quarantine)
    assert sorted(result.billing["x_SourceRow"].tolist() + result.quarantine["x_SourceRow"].tolist()) == \
        list(range(1, len(rows) + 1))
    assert _tie_out(result) == []
    assert all(isinstance(r, str) and r for r in result.quarantine["x_Reason"])
    for cost in result.billing["BilledCost"]:
        assert math.isfinite(cost)
