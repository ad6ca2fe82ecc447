"""Project pages, the `report` command, and the pages in a real browser (headless Chromium)."""

from __future__ import annotations

import re
import shutil

import pandas as pd
import pytest
from playwright.sync_api import sync_playwright
from test_reports import HOSTILE, ledger_rows, non_energy

from carbonledger.cli import main
from reports.site import UNATTRIBUTED, page_name, write_project_pages


@pytest.fixture
def ledger() -> pd.DataFrame:
    return ledger_rows([
        {"ResourceId": "i-aaa"},
        {"ResourceId": "i-aaa", "ChargePeriodStart": "2022-06-02T03:00:00Z", "ChargePeriodEnd": "2022-06-02T04:00:00Z"},
        {"ResourceId": "i-bbb", "x_InstanceType": "g5.xlarge", "x_GpuModel": "A10G", "x_GpuCount": 1.0, "x_ItEnergyKwh": 0.3},
        {"x_Project": HOSTILE, "x_Team": "vision", "ResourceId": "<img src=x onerror=alert(1)>", "BillingCurrency": "EUR"},
        non_energy(ChargeCategory="Tax", BilledCost=3.1, x_UsageHours=None, x_InstanceType=None,
                   x_EstimateBasis="non_usage", x_Project=None, x_Team=None),
    ])


def test_one_page_per_project_with_its_resources_summed_from_ledger_rows(ledger, tmp_path):
    site = write_project_pages(ledger, tmp_path)
    assert set(site.pages) == {"llm-train", HOSTILE, UNATTRIBUTED}
    html = site.pages["llm-train"].read_text()
    assert html.count("<tr><td><code>i-aaa</code>") == 1 and "i-bbb" in html
    llm = ledger[ledger["x_Project"] == "llm-train"]
    gpu_hours = (llm["x_UsageHours"] * llm["x_GpuCount"]).sum()
    assert f">{gpu_hours:,.0f}</div>" in html                                 # 8 + 8 + 1 GPU-hours
    index = site.index.read_text()
    assert all(f'href="{page_name(p)}"' in index for p in site.pages)
    # largest emitter first in the index
    assert index.index("llm-train") < index.index(UNATTRIBUTED)


def test_names_from_billing_data_are_escaped_and_file_names_are_safe(ledger, tmp_path):
    site = write_project_pages(ledger, tmp_path)
    page = site.pages[HOSTILE]
    assert re.fullmatch(r"script-alert-x-script-[0-9a-f]{8}\.html", page.name)
    html = page.read_text()
    assert HOSTILE not in html and "<img src=x" not in html
    assert "&lt;script&gt;" in html and "&lt;img src=x onerror=alert(1)&gt;" in html


def test_team_bundle_holds_only_that_teams_projects(ledger, tmp_path):
    site = write_project_pages(ledger, tmp_path, team="vision")
    assert set(site.pages) == {HOSTILE}
    assert "llm-train" not in site.index.read_text()


def test_report_command_rebuilds_report_extracts_and_pages_from_a_ledger(ledger, tmp_path, capsys):
    ledger_dir = tmp_path / "ledger"
    ledger_dir.mkdir()
    ledger.to_parquet(ledger_dir / "ledger.parquet")
    assert main(["report", "--ledger", str(ledger_dir), "--out", str(tmp_path / "site")]) == 0
    out = capsys.readouterr().out
    assert "report of 5 ledger rows" in out and "(3 projects)" in out
    assert (tmp_path / "site" / "report.html").is_file() and (tmp_path / "site" / "breakdowns.xlsx").is_file()
    assert main(["report", "--ledger", str(ledger_dir), "--out", str(tmp_path / "team"), "--team", "research"]) == 0
    team_projects = pd.read_csv(tmp_path / "team" / "by_project.csv")
    assert set(team_projects["project"]) == {"llm-train"}
    assert main(["report", "--ledger", str(ledger_dir), "--out", str(tmp_path / "x"), "--team", "nobody"]) == 2
    assert "teams in this ledger: research, vision" in capsys.readouterr().err
    assert main(["report", "--ledger", str(tmp_path / "empty"), "--out", str(tmp_path / "y")]) == 2


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.skipif(CHROMIUM is None, reason="no Chromium on this machine (Debian package 'chromium'); browser checks skipped")
def test_report_and_project_pages_render_in_chromium_without_errors(ledger, tmp_path):
    ledger_dir = tmp_path / "ledger"
    ledger_dir.mkdir()
    ledger.to_parquet(ledger_dir / "ledger.parquet")
    assert main(["report", "--ledger", str(ledger_dir), "--out", str(tmp_path / "site")]) == 0
    site = tmp_path / "site"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = browser.new_page()
        problems: list[str] = []
        page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: problems.append(str(e)))
        page.on("dialog", lambda d: (problems.append(f"dialog: {d.message}"), d.dismiss()))
        page.goto((site / "report.html").as_uri())
        assert page.locator("svg.chart").count() >= 4
        assert page.locator("table").first.is_visible()
        page.screenshot(path=str(tmp_path / "report.png"), full_page=True)
        page.goto((site / "projects" / "index.html").as_uri())
        page.click("text=llm-train")
        assert page.title().startswith("Project llm-train")
        rows = page.locator("#resources tbody tr")
        assert rows.count() == 2
        page.fill("#filter", "i-bbb")
        assert [rows.nth(i).is_visible() for i in range(2)] == [False, True]
        assert page.locator("#shown").inner_text() == "1 of 2 shown"
        page.click("text=All projects")
        page.click(f"text={HOSTILE}")                                         # the hostile name is text, not markup
        page.screenshot(path=str(tmp_path / "project.png"), full_page=True)
        browser.close()
    assert problems == []


def test_report_shows_intensity_kpis_and_top_recommendations(ledger, tmp_path):
    from footprint.recommend import COLUMNS
    from reports import write_report
    from test_reports import summary_of

    recs = pd.DataFrame([{"kind": "region", "project": "llm-train", "provider": "aws", "instance_type": "p4d.24xlarge",
                          "from_region": "us-east-1", "to_region": "eu-north-1", "usage_hours": 2.0,
                          "co2e_kg_current": 10.0, "co2e_kg_moved": 1.0, "co2e_saving_kg": 9.0, "saving_fraction": 0.9,
                          "cost_delta": 12.5, "cost_currency": "USD", "cost_basis": "list", "window_hours": None,
                          "intensity_basis": "hourly", "caveats": "egress not included"}], columns=list(COLUMNS))
    html = write_report(ledger, summary_of(ledger), tmp_path, recommendations=recs).html.read_text()
    gpu = ledger["x_GpuCount"] > 0
    per_gpu_hour = ledger.loc[gpu, "x_Co2eKg"].sum() / (ledger["x_UsageHours"] * ledger["x_GpuCount"]).sum()
    assert f"{per_gpu_hour:,.3f}" in html and "kg CO2e per 1,000 EUR" in html
    assert "us-east-1 → eu-north-1" in html and "9.00 kg (90 %)" in html and "12.50 USD" in html
    assert "Top recommendations" not in write_report(ledger, summary_of(ledger), tmp_path / "plain").html.read_text()


def test_project_page_shows_its_own_recommendations_and_statement(ledger, tmp_path):
    from footprint.recommend import COLUMNS

    recs = pd.DataFrame([
        {"kind": "region", "project": "llm-train", "provider": "aws", "instance_type": "p4d.24xlarge",
         "from_region": "us-east-1", "to_region": "eu-north-1", "co2e_saving_kg": 9.0, "saving_fraction": 0.9,
         "cost_delta": None, "cost_currency": "USD", "caveats": "egress not included"},
        {"kind": "region", "project": "vision", "provider": "aws", "instance_type": "g5.xlarge",
         "from_region": "us-east-1", "to_region": "ca-central-1", "co2e_saving_kg": 1.0, "saving_fraction": 0.5,
         "cost_delta": 1.0, "cost_currency": "USD", "caveats": "x"},
    ], columns=list(COLUMNS))
    site = write_project_pages(ledger, tmp_path, recommendations=recs,
                               statements={"llm-train": "## Carbon statement: llm-train\n\n<b>1 kWh</b>"})
    html = site.pages["llm-train"].read_text()
    assert "us-east-1 → eu-north-1" in html and "ca-central-1" not in html and "unknown" in html
    assert "## Carbon statement: llm-train" in html and "&lt;b&gt;1 kWh&lt;/b&gt;" in html
    assert "Carbon statement" not in site.pages[UNATTRIBUTED].read_text()
