"""Which files a set of input paths stands for: plain files, directories and legacy CUR manifests.

* A billing file (``*.csv``, ``*.csv.gz``, ``*.parquet``) stands for itself.
* A legacy CUR manifest (``*-Manifest.json``, FORMATS.md §1.5) stands for the files in its
  ``reportKeys``. A key is resolved against the manifest's directory and its ancestors (the report
  root), longest key suffix first, so keys carrying the bucket or report prefix still resolve.
* A directory stands for every billing file under it (recursive, sorted). Manifests found there
  are read; when one report period has a manifest at the period level (the "latest" manifest) and
  others in assembly folders below it, only the shallowest is used, and report parts named
  ``<reportName>-…`` under its folder that it does not list are older deliveries and are skipped.
  Files listed by a manifest are never read twice.

What does not belong here: reading the files (``rawfile``).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from carbonledger.errors import InputFormatError

BILLING_SUFFIXES = (".csv", ".csv.gz", ".parquet")
MANIFEST_SUFFIX = "-Manifest.json"
_ROOT_SEARCH_DEPTH = 6


@dataclass(frozen=True)
class Manifest:
    """The parts of a legacy CUR manifest that decide which files to read."""

    path: Path
    report_name: str
    period_start: str
    assembly_id: str
    files: tuple[Path, ...]


def is_billing_file(path: Path) -> bool:
    return path.name.lower().endswith(BILLING_SUFFIXES)


def is_manifest(path: Path) -> bool:
    return path.name.endswith(MANIFEST_SUFFIX)


def billing_files(paths: Sequence[str | Path]) -> list[Path]:
    """The billing files the given paths stand for, in order, each once."""
    found: list[Path] = []
    for given in paths:
        path = Path(given)
        if path.is_dir():
            found.extend(_directory_files(path))
        elif is_manifest(path):
            found.extend(read_manifest(path).files)
        elif path.is_file():
            found.append(path)
        else:
            raise InputFormatError(path, "no such file or directory")
    return _unique(found)


def read_manifest(path: Path) -> Manifest:
    """Parse a legacy CUR manifest and resolve its ``reportKeys`` to local files."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        keys = data["reportKeys"]
    except (ValueError, KeyError, TypeError) as exc:
        raise InputFormatError(path, f"not a CUR manifest: expected JSON with a 'reportKeys' list ({exc})") from exc
    if not isinstance(keys, list):
        raise InputFormatError(path, "not a CUR manifest: 'reportKeys' is not a list", column="reportKeys")
    bucket = str(data.get("bucket") or "")
    files = tuple(_resolve_key(path, str(key), bucket) for key in keys)
    period = data.get("billingPeriod") or {}
    return Manifest(path, str(data.get("reportName", "")), str(period.get("start", "")),
                    str(data.get("assemblyId", "")), files)


def _resolve_key(manifest: Path, key: str, bucket: str) -> Path:
    parts = PurePosixPath(key.lstrip("/")).parts
    if bucket and parts and parts[0] == bucket:
        parts = parts[1:]
    roots = [manifest.parent, *list(manifest.parent.parents)[:_ROOT_SEARCH_DEPTH]]
    for start in range(len(parts)):
        for root in roots:
            candidate = root.joinpath(*parts[start:])
            if candidate.is_file():
                if not is_billing_file(candidate):
                    raise InputFormatError(
                        manifest, f"report key {key!r} is not a readable part (expected {', '.join(BILLING_SUFFIXES)})",
                        column="reportKeys",
                    )
                return candidate
    raise InputFormatError(
        manifest, f"report key {key!r} not found under {manifest.parent} or its parent folders", column="reportKeys"
    )


def _directory_files(directory: Path) -> list[Path]:
    manifests = _latest_manifests(read_manifest(p) for p in sorted(directory.rglob(f"*{MANIFEST_SUFFIX}")))
    listed = {f.resolve() for m in manifests for f in m.files}
    files: list[Path] = [f for m in manifests for f in m.files]
    for path in sorted(p for p in directory.rglob("*") if p.is_file() and is_billing_file(p)):
        if path.resolve() in listed or _older_delivery(path, manifests):
            continue
        files.append(path)
    return files


def _latest_manifests(manifests: Iterable[Manifest]) -> list[Manifest]:
    """Per (report, period), the shallowest manifest; several different ones at that depth is an error."""
    groups: dict[tuple[str, str], list[Manifest]] = {}
    for manifest in manifests:
        groups.setdefault((manifest.report_name, manifest.period_start), []).append(manifest)
    chosen = []
    for (report, period), group in groups.items():
        depth = min(len(m.path.parts) for m in group)
        shallowest = [m for m in group if len(m.path.parts) == depth]
        if len({m.assembly_id for m in shallowest}) > 1:
            raise InputFormatError(
                shallowest[0].path,
                f"{len(shallowest)} deliveries (assemblyIds) of report {report!r} for period {period!r} at the "
                "same level; expected one (pass the manifest of the delivery to read)",
            )
        chosen.append(shallowest[0])
    return chosen


def _older_delivery(path: Path, manifests: list[Manifest]) -> bool:
    return any(
        m.report_name and path.name.startswith(f"{m.report_name}-") and m.path.parent in path.parents
        for m in manifests
    )


def _unique(paths: list[Path]) -> list[Path]:
    seen, out = set(), []
    for path in paths:
        key = path.resolve()
        if key not in seen:
            seen.add(key)
            out.append(path)
    return out
