"""No planted secret leaks from `carbonledger estimate`, and hostile tag text is escaped in HTML.

Secrets planted: an AWS secret key and session token in the environment, an Electricity Maps token
(``ELECTRICITYMAPS_API_TOKEN``), a token-looking string as a config value (``project_tag_keys``), and an
Azure SAS-signed URL query string in an input path that does not exist (the failing case). After a good
run and failing runs, every file under the output directory (ledger.parquet and quarantine.parquet
read as raw bytes, summary.json, report.html, CSVs, project pages) and the captured stdout, stderr and
log records are scanned: none of the planted values may appear.

Hostile text: a FOCUS ``Tags`` JSON whose project is ``<script>alert(1)</script>`` and whose team is
``" onmouseover="x``; neither may appear unescaped in report.html or any project page, and the escaped
project name must appear (so the value did reach the report). Nothing here touches the network.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import re
from pathlib import Path

from carbonledger.cli import main
from carbonledger.errors import EXIT_CONFIG, EXIT_INPUT, EXIT_OK

FOCUS = Path(__file__).resolve().parent / "fixtures" / "billing" / "focus_1.0_sample_1000rows.csv"

AWS_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYPLANTEDKEY01"
AWS_TOKEN = "FwoGZXIvYXdzEPLANTEDsessionTOKEN0123456789"
EMAPS_TOKEN = "emapsPLANTEDtoken7f3a9c2b1d0e"
CONFIG_TOKEN = "ghp_PLANTEDconfigTOKEN0123456789abcdef"
SAS_SIG = "PLANTEDsasSIG%2BAbCdEf0123%3D"
PLANTED = [AWS_SECRET, AWS_TOKEN, EMAPS_TOKEN, CONFIG_TOKEN, SAS_SIG, SAS_SIG.replace("%2B", "+").replace("%3D", "=")]

SCRIPT = "<script>alert(1)</script>"
ATTRIBUTE = '" onmouseover="x'


def _focus(path: Path, rows: int = 8, tags: dict | None = None) -> Path:
    with open(FOCUS, encoding="utf-8", newline="") as handle:
        table = list(csv.reader(handle))[: rows + 1]
    if tags is not None:
        column = table[0].index("Tags")
        for row in table[1:]:
            row[column] = json.dumps(tags)
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerows(table)
    path.write_text(buf.getvalue(), encoding="utf-8")
    return path


def _plant_env(monkeypatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAPLANTED000000000")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", AWS_SECRET)
    monkeypatch.setenv("AWS_SESSION_TOKEN", AWS_TOKEN)
    monkeypatch.setenv("ELECTRICITYMAPS_API_TOKEN", EMAPS_TOKEN)


def _leaks(text: str) -> list[str]:
    return [secret for secret in PLANTED if secret in text]


def test_no_planted_secret_in_outputs_or_messages(tmp_path, monkeypatch, capsys, caplog):
    _plant_env(monkeypatch)
    caplog.set_level(logging.DEBUG)
    config = tmp_path / "carbonledger.yaml"
    config.write_text(f"project_tag_keys: [project, {CONFIG_TOKEN}]\n", encoding="utf-8")
    out = tmp_path / "out"
    good = _focus(tmp_path / "focus.csv")

    assert main(["estimate", str(good), "--config", str(config), "--out", str(out)]) == EXIT_OK
    sas_path = tmp_path / f"export.csv?sv=2022-11-02&ss=b&srt=o&sp=r&se=2030-01-01&sig={SAS_SIG}"
    assert main(["estimate", str(sas_path), "--out", str(tmp_path / "out-failed")]) == EXIT_INPUT
    bad_config = tmp_path / "bad.yaml"
    bad_config.write_text(f"power_model:\n  api_token: {CONFIG_TOKEN}\n", encoding="utf-8")
    assert main(["estimate", str(good), "--config", str(bad_config), "--out", str(tmp_path / "o2")]) == EXIT_CONFIG

    captured = capsys.readouterr()
    assert "sig=REDACTED" in captured.err  # the failing case did print its path, with the signature removed
    assert "Traceback" not in captured.err
    assert _leaks(captured.out) == [] and _leaks(captured.err) == []
    assert _leaks("\n".join(r.getMessage() for r in caplog.records)) == []

    # Every output written (the inputs themselves, which hold the planted config token, are not outputs).
    files = sorted(p for d in ("out", "out-failed", "o2") for p in (tmp_path / d).rglob("*") if p.is_file())
    names = {p.name for p in files}
    assert {"ledger.parquet", "summary.json", "report.html"} <= names
    assert any(p.parent.name == "projects" and p.suffix == ".html" for p in files)
    assert any(p.suffix == ".csv" for p in files)
    for path in files:
        text = path.read_bytes().decode("utf-8", "replace")
        assert _leaks(text) == [], path


def test_hostile_tag_text_is_escaped_in_html(tmp_path, monkeypatch, capsys):
    _plant_env(monkeypatch)
    good = _focus(tmp_path / "focus.csv", tags={"project": SCRIPT, "team": ATTRIBUTE, "env": SCRIPT})
    out = tmp_path / "out"
    assert main(["-q", "estimate", str(good), "--out", str(out)]) == EXIT_OK
    capsys.readouterr()
    pages = [out / "report.html", *sorted((out / "projects").glob("*.html"))]
    assert len(pages) >= 2
    for page in pages:
        html = page.read_text(encoding="utf-8")
        assert SCRIPT not in html, page
        assert ATTRIBUTE not in html, page
        assert re.search(r'"\s*onmouseover\s*=', html) is None, page  # the quote must arrive escaped
    report = (out / "report.html").read_text(encoding="utf-8")
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in report
    assert "&#34; onmouseover=&#34;x" in report or "&quot; onmouseover=&quot;x" in report


def test_every_cli_error_message_is_redacted(monkeypatch, capsys, tmp_path):
    """An error anywhere (here a config error quoting a value) never prints a known secret's value."""
    from carbonledger.cli import main
    from carbonledger.errors import redact

    monkeypatch.setenv("WATTTIME_PASSWORD", "hunter2-planted-password")
    assert redact("https://x/blob.csv?sv=1&sig=abc%2Fdef&se=2") == "https://x/blob.csv?sv=1&sig=REDACTED&se=2"
    assert redact("login failed for hunter2-planted-password") == "login failed for <WATTTIME_PASSWORD>"
    (tmp_path / "bad.yaml").write_text("start_date: hunter2-planted-password\n")
    assert main(["run", "--date", "2026-11-02", "--config", str(tmp_path / "bad.yaml")]) == 4
    err = capsys.readouterr().err
    assert "hunter2-planted-password" not in err and "<WATTTIME_PASSWORD>" in err
