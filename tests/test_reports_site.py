"""Project pages, the `report` command, and the pages in a real browser (headless Chromium)."""

from __future__ import annotations

import re
import shutil

import pandas as pd
import pytest
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
    playwright = pytest.importorskip("playwright.sync_api")
    ledger_dir = tmp_path / "ledger"
    ledger_dir.mkdir()
    ledger.to_parquet(ledger_dir / "ledger.parquet")
    assert main(["report", "--ledger", str(ledger_dir), "--out", str(tmp_path / "site")]) == 0
    site = tmp_path / "site"
    with playwright.sync_playwright() as p:
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
