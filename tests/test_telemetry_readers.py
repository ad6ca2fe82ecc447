"""Telemetry readers: golden energies per format, counter resets, gaps, clock skew, units and time zones."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from conftest import FIXTURES

from carbonledger.errors import InputFormatError, UsageError
from connectors.telemetry import TELEMETRY_COLUMNS, detect_format, read_telemetry

TEL = FIXTURES / "telemetry"
J_PER_KWH = 3.6e6


def _joules(samples: pd.DataFrame) -> float:
    return float(samples["energy_kwh"].sum() * J_PER_KWH)


def _assert_canonical(samples: pd.DataFrame) -> None:
    assert list(samples.columns) == list(TELEMETRY_COLUMNS)
    assert {c: str(t) for c, t in samples.dtypes.items()} == TELEMETRY_COLUMNS


@pytest.mark.parametrize("name, fmt", [
    ("codecarbon_2.x_emissions.csv", "codecarbon"), ("codecarbon_3.2_emissions.csv", "codecarbon"),
    ("dcgm_scrapes.prom", "dcgm"), ("dcgm_range.json", "dcgm"), ("nvidia_smi_units.csv", "nvidia-smi"),
    ("nvidia_smi_nounits.csv", "nvidia-smi"), ("kepler_v0.11.prom", "kepler"), ("kepler_v0.9.prom", "kepler"),
    ("scaphandre.json", "scaphandre"),
])
def test_format_is_detected_from_content(name, fmt):
    assert detect_format(TEL / name) == fmt


def test_dcgm_counter_reset_and_power_fallback_per_gpu():
    read = read_telemetry(TEL / "dcgm_scrapes.prom")
    s = read.samples
    _assert_canonical(s)
    gpu_a = s[s["gpu_uuid"] == "GPU-aaaaaaaa-0000-0000-0000-000000000001"]
    # counter (mJ): +10.8e6, reset to 5.4e6 (the increase is the new reading), +10.8e6
    assert gpu_a["energy_kwh"].mul(J_PER_KWH).round(6).tolist() == [10800.0, 5400.0, 10800.0]
    # the counter wins over the 361.5 W gauge of the same GPU: never both
    assert _joules(gpu_a) == pytest.approx(27000.0)
    gpu_b = s[s["gpu_uuid"] == "GPU-bbbbbbbb-0000-0000-0000-000000000002"]
    assert _joules(gpu_b) == pytest.approx(300.0 * 90)  # power gauge only: 300 W for 90 s
    # Hostname -> hostname rename and the pod change keep one continuous series
    assert set(s["host"]) == {"gpu-node-7"}
    assert gpu_a["pod"].tolist() == ["train-0", "train-1", "train-1"]
    assert set(s["gpu_model"]) == {"NVIDIA H100 80GB HBM3"}
    assert (s["interval_s"] == 30.0).all()
    assert s["timestamp_utc"].min() == pd.Timestamp("2026-11-01T10:00:00Z")


def test_dcgm_bad_lines_are_reported_with_line_numbers():
    problems = read_telemetry(TEL / "dcgm_scrapes.prom").problems
    assert problems["source_row"].tolist() == [28, 29]
    assert problems["reason"].tolist() == ["not a Prometheus sample line", "value NaN is not a finite number"]


def test_dcgm_range_json_gap_is_not_integrated_and_is_reported():
    read = read_telemetry(TEL / "dcgm_range.json")
    assert _joules(read.samples) == pytest.approx(5 * 60 * 200 + 60 * 250)
    assert read.samples["host"].unique().tolist() == ["gpu-node-8"]
    assert len(read.problems) == 1
    assert read.problems.loc[0, "reason"].startswith("gap of 600.0 s")


def test_nvidia_smi_units_local_time_and_na_values():
    read = read_telemetry(TEL / "nvidia_smi_units.csv", local_tz="Europe/Berlin", labels={"host": "gpu-node-3"})
    s = read.samples
    # 11:00 in Berlin (CET, UTC+1) is 10:00 UTC
    assert s["timestamp_utc"].iloc[0] == pd.Timestamp("2026-11-01T10:00:00Z")
    # trapezoid: (100+200)/2*10 + 200*10 + the [N/A] row skipped: (200+100)/2*20
    assert _joules(s) == pytest.approx(1500 + 2000 + 3000)
    assert set(s["host"]) == {"gpu-node-3"} and set(s["gpu_model"]) == {"NVIDIA A10G"}
    assert read.problems[["source_row", "reason"]].values.tolist() == [[4, "power.draw is not a number ([N/A])"]]


def test_nvidia_smi_nounits_clock_skew_sample_is_skipped_and_reported():
    read = read_telemetry(TEL / "nvidia_smi_nounits.csv", local_tz="Europe/Berlin")
    assert _joules(read.samples) == pytest.approx(3000.0)  # the 999 W sample at a time already passed is skipped
    assert read.problems["source_row"].tolist() == [4]
    assert "clock skew" in read.problems.loc[0, "reason"]


def test_nvidia_smi_energy_counter_wins_and_resets(tmp_path):
    path = tmp_path / "collect.csv"
    path.write_text(
        "timestamp, hostname, instance_id, name, index, uuid, power.draw [W], total_energy_consumption [mJ]\n"
        "2026-11-01T10:00:00.000+00:00, n1, i-1, NVIDIA H100, 0, GPU-1, 500.00 W, 1000000\n"
        "2026-11-01T10:00:10.000+00:00, n1, i-1, NVIDIA H100, 0, GPU-1, 500.00 W, 6000000\n"
        "2026-11-01T10:00:20.000+00:00, n1, i-1, NVIDIA H100, 0, GPU-1, 500.00 W, 2000000\n"
    )
    s = read_telemetry(path).samples
    assert s["energy_kwh"].mul(J_PER_KWH).round(6).tolist() == [5000.0, 2000.0]
    assert s["instance_id"].unique().tolist() == ["i-1"] and s["host"].unique().tolist() == ["n1"]


def test_nvidia_smi_dst_end_repeated_hour_is_resolved_from_sample_order(tmp_path):
    path = tmp_path / "dst.csv"
    stamps = ["2026/10/25 02:59:00.000", "2026/10/25 02:00:00.000", "2026/10/25 02:01:00.000"]
    path.write_text("timestamp, uuid, power.draw [W]\n" + "".join(f"{t}, GPU-1, 100 W\n" for t in stamps))
    read = read_telemetry(path, local_tz="Europe/Berlin")
    # 02:59 CEST = 00:59 UTC; then the clock falls back: 02:00 CET = 01:00 UTC
    assert read.samples["timestamp_utc"].tolist() == [pd.Timestamp("2026-10-25T00:59Z"), pd.Timestamp("2026-10-25T01:00Z")]
    assert read.samples["interval_s"].tolist() == [60.0, 60.0]
    assert read.problems.empty


def test_nvidia_smi_without_header_is_a_clear_error(tmp_path):
    path = tmp_path / "noheader.csv"
    path.write_text("2026/11/01 10:00:00.000, NVIDIA A10G, 0, 120.00 W\n")
    with pytest.raises(InputFormatError, match="noheader"):
        read_telemetry(path, fmt="nvidia-smi")


def test_codecarbon_3_2_cumulative_rows_pue_removed_and_split():
    s = read_telemetry(TEL / "codecarbon_3.2_emissions.csv", local_tz="Europe/Paris").samples
    _assert_canonical(s)
    # rows are run totals (0.6 then 1.2 kWh with pue 1.2): two half-hour intervals of 0.5 kWh IT each
    assert s["energy_kwh"].sum() == pytest.approx(1.2 / 1.2)
    gpu = s[s["component"] == "gpu"].sort_values("timestamp_utc")
    assert gpu["energy_kwh"].tolist() == pytest.approx([0.4, 0.4])  # gpu 0.8 of 1.0 kWh components
    # 11:30 Paris (CET) = 10:30 UTC, minus the run's 1800 s
    assert gpu["timestamp_utc"].tolist() == [pd.Timestamp("2026-11-01T10:00Z"), pd.Timestamp("2026-11-01T10:30Z")]
    assert set(s["project"]) == {"llm-train"} and set(s["cloud_region"]) == {"us-east-1"}
    assert set(s["gpu_model"]) == {"NVIDIA A100-SXM4-40GB"}


def test_codecarbon_2x_header_and_bad_row_reported():
    read = read_telemetry(TEL / "codecarbon_2.x_emissions.csv")
    assert read.samples["energy_kwh"].sum() == pytest.approx(0.5)
    assert read.samples["interval_s"].unique().tolist() == [7200.0]
    assert read.problems[["source_row", "reason"]].values.tolist() == [[2, "energy_consumed '' is not a non-negative number"]]


def test_codecarbon_per_task_file_without_pue_column(tmp_path):
    path = tmp_path / "emissions_exp_run.csv"
    path.write_text("task_name,timestamp,project_name,run_id,duration,emissions,cpu_energy,gpu_energy,ram_energy,energy_consumed\n"
                    "epoch1,2026-11-01T10:00:00,p,r,3600,0.1,0.2,0.6,0.2,1.0\n")
    s = read_telemetry(path).samples
    assert s.groupby("component")["energy_kwh"].sum().to_dict() == pytest.approx({"gpu": 0.6, "host": 0.4})


def test_kepler_new_generation_package_zone_only_with_restart():
    s = read_telemetry(TEL / "kepler_v0.11.prom").samples
    host = s[s["component"] == "host"]
    # package zone of both sockets; core and dram zones overlap it and are not added; socket 0 restarts
    assert _joules(host) == pytest.approx(360 + 240 + 100 + 240)
    assert _joules(s[s["component"] == "gpu"]) == pytest.approx(36000)
    assert set(s["host"]) == {"gpu-node-7"}


def test_kepler_legacy_generation_package_and_dram_all_modes():
    s = read_telemetry(TEL / "kepler_v0.9.prom").samples
    assert _joules(s) == pytest.approx(90 + 30 + 6)
    assert set(s["host"]) == {"gpu-node-9"} and set(s["component"]) == {"host"}


def test_scaphandre_json_unclosed_array_and_null_first_host():
    read = read_telemetry(TEL / "scaphandre.json", labels={"host": "cpu-node-1"})
    assert _joules(read.samples) == pytest.approx(90 * 10 + 110 * 10)  # µW -> W, trapezoid
    assert read.problems["source_row"].tolist() == [1]
    assert set(read.samples["host"]) == {"cpu-node-1"}


def test_scaphandre_prometheus_energy_counter(tmp_path):
    path = tmp_path / "scaph.prom"
    path.write_text("scaph_host_energy_microjoules 1000000000 1793527200000\n"
                    "scaph_host_energy_microjoules 1060000000 1793527260000\n"
                    "scaph_host_power_microwatts 1000000 1793527260000\n")
    s = read_telemetry(path, labels={"host": "n"}).samples
    assert _joules(s) == pytest.approx(60.0)


def test_directory_mixes_formats_and_clock_offset_shifts_one_host():
    files = sorted(p for p in TEL.iterdir() if p.suffix != ".md" and p.is_file())
    read = read_telemetry([*files, TEL / "scenario" / "telemetry"], local_tz="UTC", clock_offsets_s={"gpu-node-8": 120})
    assert set(read.samples["source_format"]) == {"codecarbon", "dcgm", "nvidia-smi", "kepler", "scaphandre"}
    assert set(read.samples["source_file"]) >= {str(TEL / "scenario" / "telemetry" / "emissions.csv")}
    node8 = read.samples[read.samples["host"] == "gpu-node-8"]
    assert node8["timestamp_utc"].min() == pd.Timestamp("2026-11-01T09:58:00Z")


def test_unknown_file_and_format_are_clear_errors(tmp_path):
    path = tmp_path / "x.csv"
    path.write_text("a,b\n1,2\n")
    with pytest.raises(InputFormatError, match="not a telemetry format"):
        read_telemetry(path)
    with pytest.raises(UsageError, match="unknown telemetry format"):
        read_telemetry(path, fmt="carbontracker")
    with pytest.raises(InputFormatError, match="query API"):
        (tmp_path / "y.json").write_text(json.dumps({"status": "success"}))
        read_telemetry(tmp_path / "y.json", fmt="dcgm")
