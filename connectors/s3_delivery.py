"""AWS billing deliveries from S3: find each billing period's latest delivery, cache it locally, notice restatements.

Two layouts are found under ``s3://bucket/prefix`` (FORMATS.md §1.4–1.6, §2.4–2.5), listed with the
paginated ``list_objects_v2``:

* legacy CUR: ``…/<report>/<yyyymmdd-yyyymmdd>/<report>-Manifest.json``, the period-level manifest
  AWS rewrites on every delivery; its ``reportKeys`` name the parts of the current ``assemblyId``;
* Data Exports (CUR 2.0, FOCUS): ``…/<export>/metadata/BILLING_PERIOD=YYYY-MM/…-Manifest.json``,
  whose ``dataFiles`` (``s3://`` URIs) name the parts of one ``executionId``.

Per report and billing period only the manifest at the shallowest level is used (the period-level
one; where only per-delivery manifests exist, the most recently written), and only the objects it
lists are read: a re-delivered month is a **restatement that replaces** the month, never adds to it.

:func:`fetch_deliveries` downloads the chosen manifests and parts to ``<cache>/<bucket>/<key>``
(temporary file, size and simple-ETag check, rename), skips objects already cached with the same
ETag and size, deletes cached parts of deliveries that were superseded, and records the state of
the location in ``<cache>/_state/<bucket>/<prefix>/deliveries.json`` (S3 bucket names cannot hold
``_``, so the state never collides with a cached bucket). The state's ``periods`` map each
``<report>/<YYYY-MM>`` to its assembly id, manifest ETag and delivery time;
:func:`changed_periods` compares two of them (or a state and a fresh :func:`discover_deliveries`)
to say which periods are new or restated. Fetching the same delivery twice downloads nothing and
returns the same files.

Object keys are data: before a manifest's entry (or a listed key) becomes a path in the cache it is
checked by :mod:`connectors.safe_paths` (no ``..``, absolute path, backslash or encoded traversal);
an entry that would leave the cache is an :class:`InputFormatError` naming the manifest and the entry.

Credentials come from boto3's standard chain (environment, profile, SSO, instance role) unless a
client is given; transient failures (5xx, throttling, timeouts, refused connections) are retried by
botocore's ``standard`` retry mode with exponential backoff, a bounded number of attempts; an object
whose body arrives cut off (fewer bytes than its length, a broken or timed-out stream) is
downloaded again, at most ``DOWNLOAD_ATTEMPTS`` times with doubling waits. Refused credentials and denied access raise :class:`ConfigError`, a missing
bucket or a manifest listing missing objects :class:`InputFormatError`, anything else
:class:`S3DeliveryError`; each names the bucket and prefix (or the object), never a credential.

What does not belong here: reading the downloaded files (``reader.read_billing``), local
directories and manifests (``discover``), scheduling (``pipelines``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
import time
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path, PurePosixPath
from typing import Any

import boto3
from botocore.config import Config as BotoConfig
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    IncompleteReadError,
    NoCredentialsError,
    PartialCredentialsError,
    ProfileNotFound,
    ReadTimeoutError,
    ResponseStreamingError,
)

from carbonledger import io
from carbonledger.errors import EXIT_INPUT, CarbonLedgerError, ConfigError, InputFormatError
from connectors.discover import BILLING_SUFFIXES, MANIFEST_SUFFIX, is_billing_file
from connectors.safe_paths import UnsafePath, contained, unsafe_reason

#: Delivery layouts.
LEGACY_CUR = "cur"
DATA_EXPORTS = "data-exports"
#: Attempts per S3 call (first try included) in botocore's ``standard`` retry mode.
DEFAULT_MAX_ATTEMPTS = 5
#: Attempts to download one object whose body arrives cut off (botocore retries requests, not bodies).
DOWNLOAD_ATTEMPTS = 3
#: Seconds before the second download attempt; doubled for each further one.
DOWNLOAD_BACKOFF_S = 1.0
STATE_DIR = "_state"
STATE_FILE = "deliveries.json"

_LEGACY_PERIOD = re.compile(r"^(\d{4})(\d{2})\d{2}-\d{8}$")
_EXPORT_PERIOD = re.compile(r"^BILLING_PERIOD=(\d{4})-(\d{2})$")
#: Bucket names as S3 allows them (plus legacy upper case and ``_``): one path segment, never ``.``/``..``.
_BUCKET = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,254}$")
_SIMPLE_ETAG = re.compile(r"^[0-9a-f]{32}$")
_CHUNK = 1 << 20
_MISSING_SHOWN = 5
_REFUSED_CREDENTIALS = {"InvalidAccessKeyId", "SignatureDoesNotMatch", "ExpiredToken", "InvalidToken",
                        "TokenRefreshRequired", "RequestExpired"}
_DENIED = {"AccessDenied", "AllAccessDisabled", "AccountProblem"}
_THROTTLED = {"SlowDown", "Throttling", "ThrottlingException", "TooManyRequests", "RequestLimitExceeded",
              "ServiceUnavailable", "InternalError", "RequestTimeout"}


class S3DeliveryError(CarbonLedgerError):
    """S3 could not be read (unreachable after retries, or an unexpected error); names the location."""

    exit_code = EXIT_INPUT


@dataclass(frozen=True)
class S3Location:
    """A bucket and a key prefix (no leading or trailing ``/``; empty for the whole bucket)."""

    bucket: str
    prefix: str = ""

    @classmethod
    def parse(cls, uri: str) -> "S3Location":
        """``s3://bucket`` or ``s3://bucket/prefix``."""
        match = re.match(r"^s3://([^/]+)/?(.*)$", uri)
        if not match:
            raise ConfigError(f"S3 location {uri!r}: expected s3://bucket/prefix")
        bucket, prefix = match.group(1), match.group(2).strip("/")
        if not _BUCKET.match(bucket) or ".." in bucket:
            raise ConfigError(f"S3 location {uri!r}: {bucket!r} is not a bucket name (letters, digits, '.', '-')")
        problem = unsafe_reason(prefix) if prefix else None
        if problem:     # the prefix names the state file's folder in the cache
            raise ConfigError(f"S3 location {uri!r}: the prefix {problem}")
        return cls(bucket, prefix)

    def __str__(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}" if self.prefix else f"s3://{self.bucket}"

    def uri(self, key: str) -> str:
        return f"s3://{self.bucket}/{key}"


@dataclass(frozen=True)
class RemoteObject:
    """One listed object."""

    key: str
    size: int
    etag: str
    last_modified: dt.datetime


@dataclass(frozen=True)
class Delivery:
    """A billing period's latest delivery of one report or export.

    ``report`` is the key of the report (or export) folder, ``billing_period`` is ``YYYY-MM``,
    ``assembly_id`` the legacy ``assemblyId`` or the Data Exports ``executionId``, ``delivered_at``
    the manifest's last-modified time (ISO 8601, UTC). ``files`` are the local copies of
    ``data_keys``, in manifest order, once fetched (empty from :func:`discover_deliveries`).
    """

    layout: str
    report: str
    billing_period: str
    assembly_id: str
    manifest_key: str
    manifest_etag: str
    delivered_at: str
    data_keys: tuple[str, ...]
    manifest: Mapping[str, Any]
    files: tuple[Path, ...] = ()

    @property
    def period_key(self) -> str:
        """``<report>/<YYYY-MM>``: the key of this period in a state record."""
        return f"{self.report}/{self.billing_period}"

    def record(self) -> dict[str, Any]:
        """This delivery's entry in a state record."""
        return {"assembly_id": self.assembly_id, "manifest_etag": self.manifest_etag,
                "delivered_at": self.delivered_at, "manifest_key": self.manifest_key, "data_keys": list(self.data_keys)}


@dataclass(frozen=True)
class Fetched:
    """What :func:`fetch_deliveries` found and cached."""

    location: S3Location
    deliveries: tuple[Delivery, ...]
    previous_state: dict[str, dict[str, Any]]
    downloaded: tuple[str, ...]
    removed: tuple[Path, ...]
    state_path: Path

    @property
    def files(self) -> list[Path]:
        """Every delivery's local files, ready for ``read_billing``."""
        return [f for d in self.deliveries for f in d.files]

    @property
    def state(self) -> dict[str, dict[str, Any]]:
        return state_of(self.deliveries)

    @property
    def changed(self) -> list[str]:
        """Period keys new or restated since the previous fetch into this cache."""
        return changed_periods(self.previous_state, self.deliveries)


def s3_client(*, endpoint_url: str | None = None, profile: str | None = None, region: str | None = None,
              max_attempts: int = DEFAULT_MAX_ATTEMPTS, connect_timeout_s: float = 10,
              read_timeout_s: float = 60) -> Any:
    """An S3 client from the standard credential chain, retrying in botocore's ``standard`` mode."""
    try:
        session = boto3.session.Session(profile_name=profile, region_name=region)
    except ProfileNotFound:
        raise ConfigError(f"AWS profile {profile!r} not found in the AWS config or credentials files") from None
    config = BotoConfig(retries={"mode": "standard", "total_max_attempts": max_attempts},
                        connect_timeout=connect_timeout_s, read_timeout=read_timeout_s)
    try:
        return session.client("s3", endpoint_url=endpoint_url, config=config)
    except ValueError:      # botocore's message repeats the URL, which may carry user:password
        raise ConfigError("S3 endpoint_url is not a valid URL (expected http(s)://host[:port]); "
                          "it is not shown, as it may hold credentials") from None


def discover_deliveries(location: S3Location | str, *, client: Any = None) -> list[Delivery]:
    """Each report period's latest delivery under ``location`` (manifests read, nothing downloaded)."""
    location = _location(location)
    client = client or s3_client()
    listing = _list(client, location)
    return [_delivery(location, group, manifest, _get_json(client, location, manifest), listing)
            for group, manifest in _latest_manifests(listing)]


def fetch_deliveries(location: S3Location | str, cache_dir: Path, *, client: Any = None) -> Fetched:
    """Discover the latest deliveries under ``location`` and cache their manifests and parts locally.

    Objects cached before with the same ETag and size are not downloaded again; cached parts of
    deliveries superseded since the last fetch are deleted; the state record is rewritten.
    """
    location = _location(location)
    client = client or s3_client()
    cache_dir = Path(cache_dir)
    state_path = _state_path(cache_dir, location)
    saved = _read_state(state_path, location)
    objects: dict[str, dict[str, Any]] = saved.get("objects", {})
    previous: dict[str, dict[str, Any]] = saved.get("periods", {})
    listing = _list(client, location)
    downloaded: list[str] = []
    deliveries: list[Delivery] = []
    for group, manifest in _latest_manifests(listing):
        manifest_path = _cached(client, location, manifest, cache_dir, objects, downloaded)
        data = _parse_json(location, manifest.key, manifest_path.read_bytes())
        delivery = _delivery(location, group, manifest, data, listing)
        files = tuple(_cached(client, location, listing[k], cache_dir, objects, downloaded) for k in delivery.data_keys)
        deliveries.append(replace(delivery, files=files))
    kept = {k for d in deliveries for k in (d.manifest_key, *d.data_keys)}
    removed = tuple(_remove_superseded(cache_dir, location, previous, kept, objects))
    state = {"location": str(location), "periods": state_of(deliveries), "objects": objects}
    io.write_json(state_path, state)
    return Fetched(location, tuple(deliveries), previous, tuple(downloaded), removed, state_path)


def load_state(cache_dir: Path, location: S3Location | str) -> dict[str, dict[str, Any]]:
    """The ``periods`` state record of the last fetch of ``location`` into ``cache_dir`` (empty if none)."""
    location = _location(location)
    return _read_state(_state_path(Path(cache_dir), location), location).get("periods", {})


def state_of(deliveries: Iterable[Delivery]) -> dict[str, dict[str, Any]]:
    """A JSON-ready state record: period key → assembly id, manifest ETag, delivery time, keys."""
    return {d.period_key: d.record() for d in sorted(deliveries, key=lambda d: d.period_key)}


def changed_periods(previous: Mapping[str, Mapping[str, Any]],
                    current: Iterable[Delivery] | Mapping[str, Mapping[str, Any]]) -> list[str]:
    """Period keys (``<report>/<YYYY-MM>``) that are new in ``current`` or carry another assembly or manifest ETag."""
    now = current if isinstance(current, Mapping) else state_of(current)
    return sorted(
        key for key, record in now.items()
        if (previous.get(key, {}).get("assembly_id"), previous.get(key, {}).get("manifest_etag"))
        != (record["assembly_id"], record["manifest_etag"])
    )


def _state_path(cache_dir: Path, location: S3Location) -> Path:
    return cache_dir / STATE_DIR / location.bucket / location.prefix / STATE_FILE


def _location(location: S3Location | str) -> S3Location:
    return location if isinstance(location, S3Location) else S3Location.parse(location)


@contextmanager
def _s3_errors(location: S3Location, action: str) -> Iterator[None]:
    """Turn boto errors into carbonledger errors naming the location; no credential or raw message is shown."""
    try:
        yield
    except ClientError as exc:
        code = str(exc.response.get("Error", {}).get("Code", ""))
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        if code == "NoSuchBucket":
            raise InputFormatError(str(location), f"no such bucket {location.bucket!r} (check the bucket name and "
                                                  "that it belongs to the account of the credentials)") from None
        if code in _REFUSED_CREDENTIALS:
            raise ConfigError(f"{location}: AWS refused the credentials ({code}) while {action}; refresh them "
                              "(new session token, 'aws sso login') or check the profile") from None
        if code in _DENIED or status == 403:
            raise ConfigError(f"{location}: access denied ({code or status}) while {action}; the identity needs "
                              f"s3:ListBucket on bucket {location.bucket!r} and s3:GetObject on "
                              f"'{location.prefix or ''}/*'") from None
        if status == 429 or (isinstance(status, int) and status >= 500) or code in _THROTTLED:
            raise S3DeliveryError(f"{location}: S3 kept failing ({code or 'HTTP'} {status}) while {action}; retries "
                                  "exhausted, try again later") from None
        raise S3DeliveryError(f"{location}: S3 error {code or status} while {action}") from None
    except (NoCredentialsError, PartialCredentialsError):
        raise ConfigError(f"{location}: no AWS credentials found while {action} (looked in the environment, the "
                          "shared config and credentials files, SSO and the instance role)") from None
    except BotoCoreError as exc:
        raise S3DeliveryError(f"{location}: S3 could not be reached while {action}, retries exhausted "
                              f"({type(exc).__name__})") from None


def _list(client: Any, location: S3Location) -> dict[str, RemoteObject]:
    prefix = f"{location.prefix}/" if location.prefix else ""
    listing: dict[str, RemoteObject] = {}
    with _s3_errors(location, "listing objects"):
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=location.bucket, Prefix=prefix):
            for item in page.get("Contents", []):
                listing[item["Key"]] = RemoteObject(item["Key"], int(item["Size"]), item["ETag"].strip('"'),
                                                    item["LastModified"])
    return listing


#: (layout, report folder key, YYYY-MM) of a manifest.
_Group = tuple[str, str, str]


def _manifest_group(key: str) -> tuple[_Group, int] | None:
    """(layout, report folder key, YYYY-MM) of a manifest key and its depth below the period folder, or None."""
    parts = PurePosixPath(key).parts
    if not parts[-1].endswith(MANIFEST_SUFFIX):
        return None
    for i in range(1, len(parts) - 1):
        legacy = _LEGACY_PERIOD.match(parts[i])
        if legacy and parts[-1] == f"{parts[i - 1]}{MANIFEST_SUFFIX}" and len(parts) - i - 2 <= 1:
            return (LEGACY_CUR, "/".join(parts[:i]), f"{legacy.group(1)}-{legacy.group(2)}"), len(parts) - i - 2
        export = _EXPORT_PERIOD.match(parts[i + 1]) if parts[i] == "metadata" and i + 1 < len(parts) - 1 else None
        if export:
            return (DATA_EXPORTS, "/".join(parts[:i]), f"{export.group(1)}-{export.group(2)}"), len(parts) - i - 3
    return None


def _latest_manifests(listing: Mapping[str, RemoteObject]) -> list[tuple[_Group, RemoteObject]]:
    """Per (layout, report, period): the shallowest manifest, the most recently written among equals."""
    groups: dict[_Group, list[tuple[int, RemoteObject]]] = {}
    for key, obj in listing.items():
        found = _manifest_group(key)
        if found is not None:
            groups.setdefault(found[0], []).append((found[1], obj))
    chosen = {group: max(members, key=lambda m: (-m[0], m[1].last_modified, m[1].key))[1]
              for group, members in groups.items()}
    return sorted(chosen.items())


def _get_json(client: Any, location: S3Location, obj: RemoteObject) -> dict[str, Any]:
    with _s3_errors(location, f"reading {obj.key}"):
        body = client.get_object(Bucket=location.bucket, Key=obj.key)["Body"].read()
    return _parse_json(location, obj.key, body)


def _parse_json(location: S3Location, key: str, body: bytes) -> dict[str, Any]:
    try:
        data = json.loads(body)
    except ValueError as exc:
        raise InputFormatError(location.uri(key), f"manifest is not valid JSON ({exc})") from None
    if not isinstance(data, dict):
        raise InputFormatError(location.uri(key), "manifest is not a JSON object")
    return data


def _delivery(location: S3Location, group: _Group, manifest: RemoteObject, data: dict[str, Any],
              listing: Mapping[str, RemoteObject]) -> Delivery:
    layout, report, period = group
    where = location.uri(manifest.key)
    id_field, list_field = ("assemblyId", "reportKeys") if layout == LEGACY_CUR else ("executionId", "dataFiles")
    entries = data.get(list_field)
    if not isinstance(entries, list) or not data.get(id_field):
        raise InputFormatError(where, f"expected a {layout} manifest with {id_field!r} and a {list_field!r} list",
                               column=list_field)
    keys = tuple(_legacy_key(location, str(e), listing) if layout == LEGACY_CUR else _export_key(location, where, str(e))
                 for e in entries)
    for entry, key in zip(entries, keys):
        problem = unsafe_reason(key)
        if problem:
            raise InputFormatError(where, f"{list_field} entry {str(entry)!r} {problem}: it would be written outside "
                                          "the cache directory; expected an object key below the report",
                                   column=list_field)
    missing = [k for k in keys if k not in listing]
    if missing:
        shown = ", ".join(missing[:_MISSING_SHOWN]) + (f" and {len(missing) - _MISSING_SHOWN} more"
                                                       if len(missing) > _MISSING_SHOWN else "")
        raise InputFormatError(where, f"lists {len(missing)} object(s) missing from bucket {location.bucket!r}: "
                                      f"{shown}; expected every {list_field} entry to exist (delivery incomplete "
                                      "or parts deleted)", column=list_field)
    unreadable = [k for k in keys if not is_billing_file(PurePosixPath(k))]
    if unreadable:
        raise InputFormatError(where, f"lists parts that are not readable billing files: {', '.join(unreadable)} "
                                      f"(expected {', '.join(BILLING_SUFFIXES)})", column=list_field)
    delivered = manifest.last_modified.astimezone(dt.timezone.utc).isoformat()
    return Delivery(layout, report, period, str(data[id_field]), manifest.key, manifest.etag, delivered, keys, data)


def _legacy_key(location: S3Location, entry: str, listing: Mapping[str, RemoteObject]) -> str:
    """A ``reportKeys`` entry as an object key: as written, or relative to the prefix (leading ``/``)."""
    key = entry.lstrip("/")
    relative = f"{location.prefix}/{key}" if location.prefix else key
    return key if key in listing or relative not in listing else relative


def _export_key(location: S3Location, where: str, uri: str) -> str:
    match = re.match(r"^s3://([^/]+)/(.+)$", uri)
    if not match or match.group(1) != location.bucket:
        raise InputFormatError(where, f"dataFiles entry {uri!r} is not an object of bucket {location.bucket!r} "
                                      "(expected s3://<bucket>/<key>)", column="dataFiles")
    return match.group(2)


def _cached(client: Any, location: S3Location, obj: RemoteObject, cache_dir: Path,
            objects: dict[str, dict[str, Any]], downloaded: list[str]) -> Path:
    """The local copy of ``obj``, downloaded unless the cached copy has its size and ETag."""
    try:
        target = contained(cache_dir / location.bucket, obj.key)
    except UnsafePath as exc:
        raise InputFormatError(location.uri(obj.key), f"object key {exc.reason}: it would be written outside the "
                                                       f"cache directory {cache_dir}; expected a relative key") from None
    known = objects.get(obj.key, {})
    if target.is_file() and target.stat().st_size == obj.size and (
        (known.get("etag"), known.get("size")) == (obj.etag, obj.size)
        or (_SIMPLE_ETAG.match(obj.etag) and _md5(target) == obj.etag)
    ):
        objects[obj.key] = {"etag": obj.etag, "size": obj.size}
        return target
    etag, size = _download(client, location, obj.key, target)
    objects[obj.key] = {"etag": etag, "size": size}
    downloaded.append(obj.key)
    return target


class _CutOff(Exception):
    """An object's body arrived incomplete (retried by :func:`_download`)."""


def _download(client: Any, location: S3Location, key: str, target: Path) -> tuple[str, int]:
    """Stream one object to ``target`` atomically, checking its length and (where it is an MD5) its ETag;
    a body cut off is fetched again, at most ``DOWNLOAD_ATTEMPTS`` times."""
    for attempt in range(1, DOWNLOAD_ATTEMPTS + 1):
        try:
            return _download_once(client, location, key, target)
        except _CutOff as exc:
            if attempt == DOWNLOAD_ATTEMPTS:
                raise S3DeliveryError(f"{location.uri(key)}: download cut off {attempt} times (last: {exc}); "
                                      "retries exhausted, run again later") from None
            time.sleep(DOWNLOAD_BACKOFF_S * 2 ** (attempt - 1))
    raise AssertionError("unreachable")


def _download_once(client: Any, location: S3Location, key: str, target: Path) -> tuple[str, int]:
    response: dict[str, Any] = {}

    def write(tmp: Path) -> None:
        with _s3_errors(location, f"downloading {key}"):
            reply = client.get_object(Bucket=location.bucket, Key=key)
            digest, written = hashlib.md5(usedforsecurity=False), 0
            try:
                with open(tmp, "wb") as handle:
                    for chunk in reply["Body"].iter_chunks(_CHUNK):
                        handle.write(chunk)
                        digest.update(chunk)
                        written += len(chunk)
            except (IncompleteReadError, ResponseStreamingError, ReadTimeoutError) as exc:
                raise _CutOff(f"{type(exc).__name__} after {written} bytes") from None
        etag = reply["ETag"].strip('"')
        if written != reply["ContentLength"]:
            raise _CutOff(f"{written} of {reply['ContentLength']} bytes")
        if _SIMPLE_ETAG.match(etag) and reply.get("ServerSideEncryption") != "aws:kms" and digest.hexdigest() != etag:
            raise S3DeliveryError(f"{location.uri(key)}: downloaded bytes have MD5 {digest.hexdigest()}, "
                                  f"expected the ETag {etag}")
        response.update(etag=etag, size=written)

    io.write_atomic(target, write)
    return response["etag"], response["size"]


def _remove_superseded(cache_dir: Path, location: S3Location, previous: Mapping[str, Mapping[str, Any]],
                       kept: set[str], objects: dict[str, dict[str, Any]]) -> Iterator[Path]:
    """Delete cached manifests and parts of earlier deliveries that no current delivery uses."""
    for record in previous.values():
        for key in [record.get("manifest_key", ""), *record.get("data_keys", [])]:
            if key and key not in kept:
                objects.pop(key, None)
                if unsafe_reason(key):      # a tampered state file: never delete outside the cache
                    continue
                path = cache_dir / location.bucket / PurePosixPath(key)
                if path.is_file():
                    path.unlink()
                    yield path


def _read_state(path: Path, location: S3Location) -> dict[str, Any]:
    if not path.is_file():
        return {}
    try:
        state = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise InputFormatError(path, f"S3 delivery state of {location} is not valid JSON ({exc}); delete it to "
                                     "fetch everything again") from None
    if not isinstance(state, dict) or state.get("location") != str(location):
        raise InputFormatError(path, f"not the S3 delivery state of {location}")
    return state


def _md5(path: Path) -> str:
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, lambda: hashlib.md5(usedforsecurity=False)).hexdigest()
