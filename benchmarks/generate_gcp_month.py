"""Generate a synthetic month of a GCP detailed (resource-level) billing export for a large organisation.

The scaled GCP variant of ``generate_cur_month.py`` (same options, same month, same spirit). One
resource per ~100 rows: Compute Engine VMs whose machine types come from the GCP rows of
``footprint/data/instances.csv`` (CPU types; a2/a3/a4/g2 machines whose GPUs belong to the machine
type; N1 VMs with attached T4/V100/P100/P4 GPUs), in GCP regions with an hourly grid zone
(``intensity/data/regions.csv``), spread over GCP projects of two billing accounts (one billing in
USD, one in EUR). Rows are what the export holds since resource-based pricing: separate vCPU
(``... Instance Core running in <geo>``) and RAM SKUs per VM-hour with the ``system_labels`` machine
spec (``compute.googleapis.com/machine_spec``, ``cores``, ``memory``), GPUs as their own SKUs
(``Nvidia Tesla T4 GPU running in Americas``, ...), persistent disk, egress, Cloud Storage and
BigQuery lines, and ``tax``, ``adjustment`` and ``rounding_error`` rows. ``labels`` carry
project/team/workload (5 % of resources unlabelled), ``project.labels`` a cost centre, ``credits``
sustained-use and committed-use discounts and promotions (never netted into ``cost``),
``export_time`` lags usage by 1-36 hours, and ``price`` has the detailed export's unit price.

Formats, each a shape ``connectors/gcp.py`` reads:

* ``parquet``: nested columns as the BigQuery table has them (RECORD → struct, REPEATED RECORD →
  list of structs, TIMESTAMP → ``timestamp[us, UTC]``);
* ``csv.gz``: a flattened export (dotted names such as ``usage.amount``; ``labels``,
  ``system_labels``, ``project.labels`` and ``credits`` as JSON text);
* ``jsonl.gz``: newline-delimited JSON records, nested, as BigQuery's JSON export writes them.

Run::

    .venv/bin/python benchmarks/generate_gcp_month.py --rows 1000000 --out /tmp/gcp --format parquet

and read it with ``carbonledger estimate /tmp/gcp/gcp-1000000.parquet --format gcp --out OUT``.
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _synthetic import (  # noqa: E402  (run as a script from any directory)
    HOURS_IN_MONTH, PROJECTS, TEAMS, WORKLOADS, catalogue, dictionary, flattened, grid_regions, hour_timestamps,
    known_gpus, main, write_json_lines_gz, write_parquet, write_text_csv_gz,
)

#: Row kinds and their share of all rows.
KIND_MIX: dict[str, float] = {
    "core": 0.36, "ram": 0.30, "gpu": 0.08, "disk": 0.08, "egress": 0.05, "gcs": 0.04, "bigquery": 0.03,
    "tax": 0.02, "adjustment": 0.02, "rounding": 0.02,
}
VM_KINDS = ("core", "ram", "gpu")
GPU_BUNDLED_SHARE = 0.09        # a2/a3/a4/g2 machines
GPU_ATTACHED_SHARE = 0.06       # N1 VMs with attached GPUs
#: Accelerators attached to N1 VMs: Google's name → (SKU wording, price per GPU-hour in USD).
ATTACHED_GPUS = {"nvidia-tesla-t4": ("Tesla T4", 0.35), "nvidia-tesla-v100": ("Tesla V100", 2.48),
                 "nvidia-tesla-p100": ("Tesla P100", 1.46), "nvidia-tesla-p4": ("Tesla P4", 0.60)}
#: GPU model of a bundled machine type → (SKU wording, price per GPU-hour in USD).
BUNDLED_GPUS = {"NVIDIA A100 SXM4 40GB": ("Tesla A100", 2.93), "NVIDIA A100 SXM4 80GB": ("A100 80GB", 3.93),
                "NVIDIA H100 SXM5 80GB": ("H100 80GB", 9.80), "NVIDIA H200 SXM 141GB": ("H200 141GB", 10.6),
                "NVIDIA B200": ("B200", 11.2), "NVIDIA L4": ("L4", 0.56)}
SERVICES = {"compute": ("6F81-5844-456A", "Compute Engine"), "gcs": ("95FF-2EF5-5EA1", "Cloud Storage"),
            "bigquery": ("24E6-581D-38E5", "BigQuery"), "invoice": ("", "Invoice")}
#: Credits: kind → (name, type, share of the line's cost taken off).
CREDITS = {"sud": ("Sustained Usage Discount", "SUSTAINED_USAGE_DISCOUNT", 0.20),
           "cud": ("Committed use discount: CPU", "COMMITTED_USAGE_DISCOUNT", 0.37),
           "promo": ("Free trial credit", "PROMOTION", 0.05)}
ACCOUNTS = [("01A2B3-C4D5E6-F7A8B9", "USD", 1.0), ("0F1E2D-3C4B5A-697887", "EUR", 0.92)]
LABEL = pa.struct([("key", pa.string()), ("value", pa.string())])
CREDIT = pa.struct([("name", pa.string()), ("amount", pa.float64()), ("full_name", pa.string()),
                    ("id", pa.string()), ("type", pa.string())])


def geography(region: str) -> str:
    """The geography GCP names in SKU descriptions (``running in Americas``)."""
    if region.startswith(("us-", "northamerica-", "southamerica-")):
        return "Americas"
    if region.startswith(("europe-", "me-", "africa-")):
        return "EMEA"
    return "APAC"


def machine_types() -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """CPU machine types, GPU-bundled machine types (a2/a3/a4/g2) and N1 types for attached GPUs."""
    gcp = catalogue("gcp")
    family = gcp["instance_type"].str.split("-").str[0]
    gpus = known_gpus()
    bundled = gcp[(gcp["gpu_count"] > 0) & family.isin(["a2", "a3", "a4", "g2"]) & gcp["gpu_model"].isin(gpus)
                  & gcp["gpu_model"].isin(BUNDLED_GPUS)]
    cpu = gcp[(gcp["gpu_count"] == 0) & gcp["vcpus"].ge(1) & ~family.isin(["f1", "g1"])
              & gcp["instance_type"].str.fullmatch(r"[a-z0-9]+-[a-z]+-\d+")]
    n1 = cpu[cpu["instance_type"].str.startswith("n1-standard-") & cpu["vcpus"].between(4, 32)]
    return cpu.reset_index(drop=True), bundled.reset_index(drop=True), n1.reset_index(drop=True)


def _sku_id(description: str) -> str:
    """A stable SKU id in GCP's ``XXXX-XXXX-XXXX`` shape."""
    digest = hashlib.sha1(description.encode()).hexdigest().upper()
    return f"{digest[0:4]}-{digest[4:8]}-{digest[8:12]}"


def _labels(n: int, keys: list[str], values: list[pa.Array], present: np.ndarray) -> pa.ListArray:
    """``n`` lists of ``{key, value}``: the given keys where ``present``, else empty."""
    counts = np.where(present, len(keys), 0)
    offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int32)
    idx = np.flatnonzero(present)
    key_col = pa.array(np.tile(np.array(keys, dtype=object), len(idx)), pa.string())
    value_col = pa.concat_arrays([pc.take(v, pa.array(idx)) for v in values]) if len(idx) else pa.array([], pa.string())
    # interleave: value k of resource j sits at j * len(keys) + k
    order = (np.arange(len(keys))[None, :] * len(idx) + np.arange(len(idx))[:, None]).ravel()
    items = pa.StructArray.from_arrays([key_col, pc.take(value_col, pa.array(order))], fields=list(LABEL))
    return pa.ListArray.from_arrays(pa.array(offsets), items)


def generate(rows: int, seed: int = 42) -> pa.Table:
    """The synthetic month as an Arrow table with the BigQuery export's nested columns."""
    rng = np.random.default_rng(seed)
    cpu, bundled, n1 = machine_types()
    regions = grid_regions("gcp")
    n_regions = len(regions)

    # Machine types: CPU types, then bundled GPU types, then N1 hosts (attached GPUs chosen per resource).
    types = pd.concat([cpu, bundled, n1], ignore_index=True)
    n_cpu, n_bundled = len(cpu), len(bundled)
    attached = list(ATTACHED_GPUS)

    # Resources (VMs): type, region, zone, project, labels.
    n_res = max(60, rows // 100)
    draw = rng.random(n_res)
    res_type = np.where(draw < GPU_BUNDLED_SHARE, n_cpu + rng.integers(0, n_bundled, n_res),
                        np.where(draw < GPU_BUNDLED_SHARE + GPU_ATTACHED_SHARE,
                                 n_cpu + n_bundled + rng.integers(0, len(n1), n_res), rng.integers(0, n_cpu, n_res)))
    res_attached = np.where(res_type >= n_cpu + n_bundled, rng.integers(0, len(attached), n_res), -1)
    res_attached_count = rng.choice([1, 2, 4], n_res, p=[0.6, 0.3, 0.1])
    res_region = rng.choice(n_regions, n_res, p=rng.dirichlet(np.full(n_regions, 0.8)))
    res_zone = rng.integers(0, 3, n_res)
    n_projects = max(5, n_res // 50)
    res_project = rng.integers(0, n_projects, n_res)
    res_account = (res_project % 10 == 9).astype(int)          # every tenth project bills in EUR
    res_label_project = rng.integers(0, len(PROJECTS), n_res)
    res_workload = rng.integers(0, len(WORKLOADS), n_res)
    labelled = rng.random(n_res) >= 0.05
    res_numbers = rng.integers(10**15, 10**16, n_res)

    vcpus = types["vcpus"].to_numpy()
    memory = types["memory_gib"].to_numpy()
    family = types["instance_type"].str.split("-").str[0].to_numpy()
    gpu_count = types["gpu_count"].to_numpy()

    # Row kinds; GPU rows go to GPU resources only.
    kinds = list(KIND_MIX)
    shares = np.array(list(KIND_MIX.values()))
    kind = rng.choice(len(kinds), rows, p=shares / shares.sum())
    name = np.array(kinds)[kind]
    res = rng.integers(0, n_res, rows)
    gpu_res = np.flatnonzero(res_type >= n_cpu)
    is_gpu = name == "gpu"
    res[is_gpu] = gpu_res[rng.integers(0, len(gpu_res), int(is_gpu.sum()))]
    vm = np.isin(name, VM_KINDS)
    resourced = vm | (name == "disk")
    non_usage = np.isin(name, ["tax", "adjustment", "rounding"])
    rtype = res_type[res]
    region = res_region[res]

    hour = rng.integers(0, HOURS_IN_MONTH, rows)
    hour[non_usage] = 0
    end_hour = np.where(non_usage, HOURS_IN_MONTH, hour + 1)
    fraction = np.where(rng.random(rows) < 0.9, 1.0, rng.choice([0.25, 0.5, 0.75], rows))

    # GPUs of a GPU row: the bundled machine's, or the attached ones.
    attached_idx = res_attached[res]
    row_gpus = np.where(attached_idx >= 0, res_attached_count[res], gpu_count[rtype])
    bundled_names = [BUNDLED_GPUS[m] for m in bundled["gpu_model"]]
    gpu_price = np.array([p for _, p in bundled_names] + [p for _, p in ATTACHED_GPUS.values()])
    gpu_wording = [w for w, _ in bundled_names] + [w for w, _ in ATTACHED_GPUS.values()]
    gpu_idx = np.where(attached_idx >= 0, n_bundled + attached_idx, np.clip(rtype - n_cpu, 0, n_bundled - 1))

    # Usage amounts (export units) and pricing-unit amounts.
    disk_gib = rng.choice([100.0, 500.0, 2000.0], rows)
    egress_gib = np.round(rng.lognormal(2.0, 1.5, rows), 3)
    gcs_gib = np.round(rng.lognormal(6.0, 1.0, rows), 3)
    bq_tib = np.round(rng.lognormal(-3.0, 1.0, rows), 6)
    amount = np.select(
        [name == "core", name == "ram", is_gpu, name == "disk", name == "egress", name == "gcs", name == "bigquery"],
        [vcpus[rtype] * fraction * 3600, memory[rtype] * 2**30 * fraction * 3600, row_gpus * fraction * 3600,
         disk_gib * 2**30 * 3600, egress_gib * 2**30, gcs_gib * 2**30 * 3600, bq_tib * 2**40], np.nan)
    in_pricing = np.select(
        [name == "core", name == "ram", is_gpu, name == "disk", name == "egress", name == "gcs", name == "bigquery"],
        [vcpus[rtype] * fraction, memory[rtype] * fraction, row_gpus * fraction, disk_gib / HOURS_IN_MONTH,
         egress_gib, gcs_gib / HOURS_IN_MONTH, bq_tib], np.nan)
    unit_price = np.select(
        [name == "core", name == "ram", is_gpu, name == "disk", name == "egress", name == "gcs", name == "bigquery"],
        [np.full(rows, 0.0316), np.full(rows, 0.00424), gpu_price[gpu_idx], np.full(rows, 0.04),
         np.full(rows, 0.12), np.full(rows, 0.02), np.full(rows, 6.25)], np.nan)
    account = np.where(non_usage, (rng.random(rows) < 0.1).astype(int), res_account[res])
    rate = np.array([r for _, _, r in ACCOUNTS])[account]
    cost = np.round(in_pricing * unit_price * rate, 6)
    other_cost = np.select([name == "tax", name == "adjustment"],
                           [np.round(rng.uniform(5, 500, rows), 2), np.round(rng.uniform(-50, 50, rows), 2)],
                           np.round(rng.uniform(-1e-4, 1e-4, rows), 6))
    cost = np.where(non_usage, other_cost, cost)
    amount, in_pricing, unit_price = (np.where(non_usage, np.nan, a) for a in (amount, in_pricing, unit_price))

    # SKUs: one description per (kind, family or accelerator, geography).
    geos = ["Americas", "EMEA", "APAC"]
    region_geo = np.array([geos.index(geography(r)) for r in regions["region"]])
    families = sorted(set(family))
    fam_idx = np.searchsorted(families, family)[rtype]
    n_fam, n_gpu = len(families), len(gpu_wording)

    def core_name(f: str) -> str:
        return "N1 Predefined Instance" if f == "n1" else f"{f.upper()} Instance"

    sku_text = ([f"{core_name(f)} Core running in {g}" for f in families for g in geos]
                + [f"{core_name(f)} Ram running in {g}" for f in families for g in geos]
                + [f"Nvidia {w} GPU running in {g}" for w in gpu_wording for g in geos]
                + [f"Storage PD Capacity in {g}" for g in geos]
                + [f"Network Internet Egress from {g} to {g}" for g in geos]
                + ["Standard Storage US Multi-region", "Analysis", "Tax", "Adjustment", "Rounding error"])
    base = {"core": 0, "ram": n_fam * 3, "gpu": n_fam * 6, "disk": n_fam * 6 + n_gpu * 3,
            "egress": n_fam * 6 + n_gpu * 3 + 3, "fixed": n_fam * 6 + n_gpu * 3 + 6}
    geo = region_geo[region]
    fixed = {"gcs": 0, "bigquery": 1, "tax": 2, "adjustment": 3, "rounding": 4}
    sku = np.select(
        [name == "core", name == "ram", is_gpu, name == "disk", name == "egress"],
        [base["core"] + fam_idx * 3 + geo, base["ram"] + fam_idx * 3 + geo, base["gpu"] + gpu_idx * 3 + geo,
         base["disk"] + geo, base["egress"] + geo],
        base["fixed"] + np.select([name == k for k in fixed], list(fixed.values()), 0))
    sku_ids = [_sku_id(t) for t in sku_text]
    service = np.select([name == "gcs", name == "bigquery", name == "tax"], [1, 2, 3], 0)
    service_ids = [v[0] for v in SERVICES.values()]
    service_names = [v[1] for v in SERVICES.values()]
    units = ["seconds", "byte-seconds", "bytes", "byte-seconds", "bytes"]
    pricing_units = ["hour", "gibibyte hour", "gibibyte", "gibibyte month", "tebibyte"]
    unit_idx = np.select([np.isin(name, ["core", "gpu"]), name == "ram", name == "egress",
                          np.isin(name, ["disk", "gcs"])], [0, 1, 2, 3], 4)
    pricing_idx = np.select([np.isin(name, ["core", "gpu"]), name == "ram", name == "egress",
                             np.isin(name, ["disk", "gcs"])], [0, 1, 2, 3], 4)
    cost_types = ["regular", "tax", "adjustment", "rounding_error"]
    cost_type = np.select([name == "tax", name == "adjustment", name == "rounding"], [1, 2, 3], 0)

    # Locations: the VM's region and zone; multi-regions for Cloud Storage and BigQuery; none on tax rows.
    region_names = regions["region"].tolist()
    zone_names = [f"{r}-{z}" for r in region_names for z in "abc"]
    multi = np.isin(name, ["gcs", "bigquery"])
    location = pa.StructArray.from_arrays([
        dictionary(np.where(multi, n_regions + (name == "bigquery"), region), region_names + ["us", "US"],
                   non_usage),
        dictionary(np.where(multi, 0, region), regions["country"].fillna("US").tolist(), non_usage),
        dictionary(region, region_names, non_usage | multi),
        dictionary(region * 3 + res_zone[res], zone_names, ~resourced),
    ], names=["location", "country", "region", "zone"])

    # Projects (GCP projects) with a cost-centre label.
    project_ids = [f"ml-org-{p:04d}" for p in range(n_projects)]
    project_labels = _labels(n_projects + 1, ["cost-center"],
                             [pa.array([f"cc-{p % 40:02d}" for p in range(n_projects)] + [""])],
                             np.arange(n_projects + 1) < n_projects)
    project = pa.StructArray.from_arrays([
        dictionary(res_project[res], project_ids),
        dictionary(res_project[res], [str(4 * 10**11 + p) for p in range(n_projects)]),
        dictionary(res_project[res], [f"ML org project {p}" for p in range(n_projects)]),
        pc.take(project_labels, pa.array(res_project[res])),
        dictionary(np.zeros(rows), ["/123456789012/"]),
    ], names=["id", "number", "name", "labels", "ancestry_numbers"], mask=pa.array(non_usage))

    # Resource labels (project/team/workload) and system labels (machine spec) per resource and type.
    label_lists = _labels(n_res + 1, ["project", "team", "workload"], [
        pa.array([PROJECTS[p] for p in res_label_project] + [""]),
        pa.array([TEAMS[p % len(TEAMS)] for p in res_label_project] + [""]),
        pa.array([WORKLOADS[w] for w in res_workload] + [""]),
    ], np.append(labelled, False))
    labels = pc.take(label_lists, pa.array(np.where(resourced, res, n_res)))
    spec = _labels(len(types) + 1, ["compute.googleapis.com/machine_spec", "compute.googleapis.com/cores",
                                    "compute.googleapis.com/memory"], [
        pa.array(types["instance_type"].tolist() + [""]),
        pa.array([str(int(v)) for v in vcpus] + [""]),
        pa.array([str(int(m * 1024)) for m in memory] + [""]),
    ], np.arange(len(types) + 1) < len(types))
    system_labels = pc.take(spec, pa.array(np.where(vm, rtype, len(types))))

    # Credits: sustained use (N1/N2 vCPU and RAM lines) or committed use, plus promotions; at most two a line.
    core_ram = np.isin(name, ["core", "ram"])
    draw = rng.random(rows)
    sud = core_ram & np.isin(family[rtype], ["n1", "n2"]) & (draw < 0.25)
    cud = core_ram & ~sud & (draw > 0.90)
    promo = ~non_usage & (rng.random(rows) < 0.03)
    first = np.flatnonzero(sud | cud)
    second = np.flatnonzero(promo)
    credit_row = np.concatenate([first, second])
    credit_kind = np.concatenate([np.where(sud[first], 0, 1), np.full(len(second), 2)])
    order = np.lexsort((credit_kind, credit_row))
    credit_row, credit_kind = credit_row[order], credit_kind[order]
    credit_share = np.array([c[2] for c in CREDITS.values()])
    offsets = np.concatenate([[0], np.cumsum(np.bincount(credit_row, minlength=rows))]).astype(np.int32)
    credits = pa.ListArray.from_arrays(pa.array(offsets), pa.StructArray.from_arrays([
        dictionary(credit_kind, [c[0] for c in CREDITS.values()]),
        pa.array(-np.round(cost[credit_row] * credit_share[credit_kind], 6)),
        pa.nulls(len(credit_row), pa.string()),
        dictionary(credit_kind, ["", "commitment-cpu-2026", ""]),
        dictionary(credit_kind, [c[1] for c in CREDITS.values()]),
    ], names=[f.name for f in CREDIT]))

    resource_names = [f"vm-{n:x}" for n in res_numbers]
    global_names = [f"//compute.googleapis.com/projects/{project_ids[p]}/zones/{zone_names[r * 3 + z]}/instances/{n}"
                    for p, r, z, n in zip(res_project, res_region, res_zone, res_numbers)]
    export_lag_h = rng.integers(1, 37, rows)
    columns: dict[str, pa.Array] = {
        "billing_account_id": dictionary(account, [a for a, _, _ in ACCOUNTS]),
        "service": pa.StructArray.from_arrays([dictionary(service, service_ids), dictionary(service, service_names)],
                                              names=["id", "description"]),
        "sku": pa.StructArray.from_arrays([dictionary(sku, sku_ids), dictionary(sku, sku_text)],
                                          names=["id", "description"]),
        "usage_start_time": hour_timestamps(hour),
        "usage_end_time": hour_timestamps(end_hour),
        "project": project,
        "labels": labels,
        "system_labels": system_labels,
        "location": location,
        "resource": pa.StructArray.from_arrays([dictionary(res, resource_names, ~resourced),
                                                dictionary(res, global_names, ~resourced)],
                                               names=["name", "global_name"]),
        "export_time": hour_timestamps(end_hour + export_lag_h),
        "cost": pa.array(cost),
        "currency": dictionary(account, [c for _, c, _ in ACCOUNTS]),
        "currency_conversion_rate": pa.array(rate),
        "usage": pa.StructArray.from_arrays([
            pa.array(amount, mask=non_usage), dictionary(unit_idx, units, non_usage),
            pa.array(in_pricing, mask=non_usage), dictionary(pricing_idx, pricing_units, non_usage),
        ], names=["amount", "unit", "amount_in_pricing_units", "pricing_unit"]),
        "credits": credits,
        "invoice": pa.StructArray.from_arrays([dictionary(np.zeros(rows), ["202610"])], names=["month"]),
        "cost_type": dictionary(cost_type, cost_types),
        "price": pa.StructArray.from_arrays([
            pa.array(unit_price * rate, mask=non_usage), pa.array(np.zeros(rows), mask=non_usage),
            dictionary(pricing_idx, pricing_units, non_usage), pa.array(np.ones(rows), mask=non_usage),
        ], names=["effective_price", "tier_start_amount", "unit", "pricing_unit_quantity"]),
    }
    return pa.table(columns)


def write(table: pa.Table, out_dir: Path, fmt: str) -> Path:
    """Write ``gcp-<rows>.parquet`` (nested), ``.csv.gz`` (flattened) or ``.jsonl.gz`` (nested JSON)."""
    stem = out_dir / f"gcp-{table.num_rows}"
    if fmt == "parquet":
        return write_parquet(table, stem.with_suffix(".parquet"))
    if fmt == "csv.gz":
        return write_text_csv_gz(table, stem.with_suffix(".csv.gz"), flattened)
    return write_json_lines_gz(table, stem.with_suffix(".jsonl.gz"))


if __name__ == "__main__":
    main(__doc__.splitlines()[0], generate, write, ["parquet", "csv.gz", "jsonl.gz"])
