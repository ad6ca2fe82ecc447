"""Which files a set of input paths stands for: plain files, directories and legacy CUR manifests.

* A billing file (``*.csv``, ``*.csv.gz``, ``*.parquet``, JSON lines ``*.jsonl``/``*.ndjson`` and
  their ``.gz``) stands for itself. A ``*.json`` export is read when named, not found in directories
  (other JSON, such as manifests, lives there too).
* A legacy CUR manifest (``*-Manifest.json``, FORMATS.md §1.5) stands for the files in its
  ``reportKeys``; a Data Exports manifest (§2.4, ``metadata/<partition>/…-Manifest.json``) for the
  ``s3://`` URIs in its ``dataFiles``. A key is resolved against the manifest's directory and its
  ancestors (the report root), longest key suffix first, so keys carrying the bucket or report
  prefix still resolve: a local copy of a bucket (``aws s3 sync``, ``s3_delivery``'s cache) reads.
* A directory stands for every billing file under it (recursive, sorted), read through the
  manifests found there.

Duplicate deliveries are read once (FORMATS.md §1.6). Manifests are chosen across *all* the given
paths: per report period, a manifest at the period level (the "latest" manifest) supersedes those
in assembly folders below it, whether found in a directory or named; two different deliveries
(assemblyIds) of one period that neither supersedes is an error. Report parts named
``<reportName>-…`` under a chosen manifest's folder that it does not list are older deliveries and
are skipped, named or not. A file is read once however often it is given, and byte-identical
copies under different names are read once (contents are hashed only when sizes match). Every
skip is reported by :func:`discover` as a (path, reason) pair.

What does not belong here: reading the files (``rawfile``), fetching deliveries from S3 (``s3_delivery``).
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from carbonledger.errors import InputFormatError, redact
from connectors.safe_paths import unsafe_reason

BILLING_SUFFIXES = (".csv", ".csv.gz", ".parquet", ".jsonl", ".jsonl.gz", ".ndjson", ".ndjson.gz")
MANIFEST_SUFFIX = "-Manifest.json"
_ROOT_SEARCH_DEPTH = 6

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Manifest:
    """The parts of a legacy CUR or Data Exports manifest that decide which files to read.

    ``parts_dir`` is the folder its report parts are delivered to (legacy: the manifest's own;
    Data Exports: ``<export>/data/<partition>``).
    """

    path: Path
    report_name: str
    period_start: str
    assembly_id: str
    keys: tuple[str, ...]
    bucket: str
    parts_dir: Path

    def files(self) -> tuple[Path, ...]:
        """The local files of ``reportKeys``; a key that resolves to no readable file is an error."""
        return tuple(_resolve_key(self.path, key, self.bucket) for key in self.keys)


@dataclass(frozen=True)
class Skipped:
    """A given or found path that is not read, and why."""

    path: Path
    reason: str


@dataclass(frozen=True)
class Discovery:
    """The billing files to read, in order, each once, and what was skipped."""

    files: list[Path]
    skipped: list[Skipped]


def is_billing_file(path: Path) -> bool:
    return path.name.lower().endswith(BILLING_SUFFIXES)


def is_manifest(path: Path) -> bool:
    return path.name.endswith(MANIFEST_SUFFIX)


def billing_files(paths: Sequence[str | Path]) -> list[Path]:
    """The billing files the given paths stand for, in order, each once (skips are logged)."""
    found = discover(paths)
    for skip in found.skipped:
        log.info("not reading %s: %s", skip.path, skip.reason)
    return found.files


def discover(paths: Sequence[str | Path]) -> Discovery:
    """The billing files the given paths stand for, with each skipped path and the reason."""
    given = [Path(p) for p in paths]
    for path in given:
        if not path.exists():
            raise InputFormatError(redact(str(path)), "no such file or directory")  # a pasted URL keeps no credential
    found = {path: _manifests_in(path) for path in given}
    chosen, skipped = _choose([m for ms in found.values() for m in ms])
    listed_by = {m.path.resolve(): m.files() for m in chosen}
    listed = {f.resolve() for fs in listed_by.values() for f in fs}
    candidates: list[Path] = []
    for path in given:
        candidates.extend(f for m in found[path] for f in listed_by.get(m.path.resolve(), ()))
        if path.is_dir():
            candidates.extend(p for p in sorted(path.rglob("*"))
                              if p.is_file() and is_billing_file(p) and p.resolve() not in listed)
        elif not is_manifest(path):
            candidates.append(path)
    files: list[Path] = []
    for path in candidates:
        older = None if path.resolve() in listed else _superseding(path, chosen)
        if older is not None:
            skipped.append(Skipped(path, f"part of an older delivery of report {older.report_name!r}: not listed by "
                                         f"the latest manifest {older.path} (assembly {older.assembly_id})"))
        else:
            files.append(path)
    unique, duplicates = _distinct(files)
    return Discovery(unique, skipped + duplicates)


def read_manifest(path: Path) -> Manifest:
    """Parse a legacy CUR or Data Exports manifest (its keys are resolved by :meth:`Manifest.files`)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        column = "reportKeys" if "reportKeys" in data or "dataFiles" not in data else "dataFiles"
        keys = data[column]
    except (ValueError, KeyError, TypeError) as exc:
        raise InputFormatError(path, "not a CUR or Data Exports manifest: expected JSON with a 'reportKeys' or "
                                     f"'dataFiles' list ({exc})") from exc
    if not isinstance(keys, list):
        raise InputFormatError(path, f"not a manifest: {column!r} is not a list", column=column)
    period = data.get("billingPeriod") or {}
    if column == "reportKeys":
        return Manifest(path, str(data.get("reportName", "")), str(period.get("start", "")),
                        str(data.get("assemblyId", "")), tuple(str(k) for k in keys), str(data.get("bucket") or ""),
                        path.parent)
    metadata = next((a for a in path.parents if a.name == "metadata"), path.parent)
    partition = path.relative_to(metadata).parts[0] if metadata != path.parent else ""
    return Manifest(path, path.name.removesuffix(MANIFEST_SUFFIX), str(period.get("start") or partition),
                    str(data.get("executionId", "")), tuple(re.sub(r"^s3://", "", str(k)) for k in keys), "",
                    metadata.parent / "data" / partition if partition else path.parent)


def _manifests_in(path: Path) -> list[Manifest]:
    if path.is_dir():
        return [read_manifest(p) for p in sorted(path.rglob(f"*{MANIFEST_SUFFIX}"))]
    return [read_manifest(path)] if is_manifest(path) else []


def _resolve_key(manifest: Path, key: str, bucket: str) -> Path:
    problem = unsafe_reason(key.lstrip("/"))
    if problem:     # a key is looked up below the manifest's folders, never above them
        raise InputFormatError(manifest, f"report key {key!r} {problem}; expected a key relative to the report",
                               column="reportKeys")
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


def _choose(manifests: list[Manifest]) -> tuple[list[Manifest], list[Skipped]]:
    """Per (report, period), the manifests no period-level manifest above them supersedes.

    A manifest given twice counts once. Chosen manifests of one period must name one assemblyId.
    """
    groups: dict[tuple[str, str], dict[Path, Manifest]] = {}
    for manifest in manifests:
        groups.setdefault((manifest.report_name, manifest.period_start), {}).setdefault(manifest.path.resolve(), manifest)
    chosen: list[Manifest] = []
    skipped: list[Skipped] = []
    for (report, period), group in groups.items():
        members = list(group.values())
        latest: list[Manifest] = []
        for manifest in members:
            above = next((m for m in members if m is not manifest and m.path.parent in manifest.path.parents), None)
            if above is None:
                latest.append(manifest)
            elif above.assembly_id != manifest.assembly_id:
                skipped.append(Skipped(manifest.path, f"assembly {manifest.assembly_id} of report {report!r} is "
                                                      f"superseded by the latest manifest {above.path} "
                                                      f"(assembly {above.assembly_id})"))
        assemblies = sorted({m.assembly_id for m in latest})
        if len(assemblies) > 1:
            raise InputFormatError(
                latest[0].path,
                f"{len(assemblies)} deliveries (assemblyIds {', '.join(assemblies)}) of report {report!r} for period "
                f"{period!r} and no period-level manifest that chooses one; expected one (pass the manifest of the "
                "delivery to read)",
            )
        chosen.extend(latest)
    return chosen, skipped


def _superseding(path: Path, manifests: list[Manifest]) -> Manifest | None:
    """The chosen manifest whose report folder holds ``path`` as an unlisted part, if any."""
    return next((m for m in manifests if m.report_name and path.name.startswith(f"{m.report_name}-")
                 and m.parts_dir in path.parents), None)


def _distinct(paths: list[Path]) -> tuple[list[Path], list[Skipped]]:
    """Each file once: by resolved path, then by content among files of equal size."""
    seen: dict[Path, Path] = {}
    skipped: list[Skipped] = []
    by_size: dict[int, list[Path]] = {}
    for path in paths:
        key = path.resolve()
        if key in seen:
            skipped.append(Skipped(path, f"given more than once (as {seen[key]})"))
            continue
        seen[key] = path
        by_size.setdefault(key.stat().st_size, []).append(path)
    copies: dict[Path, Path] = {}
    for same_size in by_size.values():
        if len(same_size) > 1:
            first_of: dict[str, Path] = {}
            for path in same_size:
                digest = _sha256(path)
                if digest in first_of:
                    copies[path] = first_of[digest]
                else:
                    first_of[digest] = path
    for copy, original in copies.items():
        log.warning("not reading %s: byte-identical to %s (a duplicate delivery)", copy, original)
        skipped.append(Skipped(copy, f"byte-identical to {original} (a duplicate delivery)"))
    return [p for p in seen.values() if p not in copies], skipped


def _sha256(path: Path) -> str:
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()
