"""Fetching Azure cost details files from Azure: the cost-details report API and delivered Exports.

Two sources, both through ``azure-mgmt-costmanagement`` (FORMATS.md §4.5) and both ending in
local CSV files that ``read_billing`` reads as format ``azure``:

* :func:`fetch_cost_details`: ``generate_cost_details_report.begin_create_operation`` for a scope
  and date range (ActualCost or AmortizedCost), polled until the report is ready (202 +
  ``Location``/``Retry-After``, then 200), then every blob of the returned manifest downloaded
  through its SAS link (no bearer token is sent there).
* :func:`fetch_export_files`: an existing Export's latest completed run (``exports.get`` for the
  storage destination, ``exports.get_execution_history`` for the run and its manifest file), then
  the run's manifest and the blobs it lists, read from Blob Storage with a storage-scoped token.
  The Export manifest layout (``blobs[].blobName``, paths relative to the container) is taken as
  FORMATS.md §4.5 gives it: unverified against a live account.

:func:`daily_costs` is the delivery sensor's cheap look at a scope: one Cost Management Query
(``query.usage``, ``granularity: Daily``, the sum of ``PreTaxCost``) over a window gives each day's
total per currency, the same figures the day's cost-details report adds up to. A day whose
totals changed has been restated. The Query API has no row count, ETag or export time, so a
restatement that leaves every currency's daily total unchanged (a re-tag, cost moved between
resources) is not seen; generating a cost-details report per day to compare is far too costly
for a sensor, and Exports' run history only describes an Export, which a cost-details source
need not have.

Credentials come from ``DefaultAzureCredential`` unless one is given. ``base_url`` (ARM) and
``blob_endpoint`` point the calls elsewhere, for tests; bearer tokens go over plain HTTP only to a
loopback address. Throttled calls (429) are retried, honouring ``Retry-After`` (capped at
``max_wait_s``), at most ``max_retries`` times. Failures raise :class:`AzureRemoteError` naming the scope and what to do;
no message carries a token or a SAS signature (URLs are shown without their query), and SAS
signatures are masked in the HTTP stack's DEBUG logs.

What does not belong here: parsing the files (``azure``), choosing what to fetch (pipelines).
"""

from __future__ import annotations

import ipaddress
import json
import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from azure.core import PipelineClient
from azure.core.credentials import TokenCredential
from azure.core.exceptions import AzureError, HttpResponseError
from azure.core.pipeline.policies import BearerTokenCredentialPolicy, HeadersPolicy, RetryPolicy
from azure.core.rest import HttpRequest
from azure.identity import DefaultAzureCredential
from azure.mgmt.costmanagement import CostManagementClient

from carbonledger.errors import EXIT_INPUT, CarbonLedgerError
from connectors.safe_paths import UnsafePath, contained

#: Metrics the cost-details report API offers.
METRICS = ("ActualCost", "AmortizedCost")
#: Blob Storage REST version sent with export blob reads.
STORAGE_API_VERSION = "2023-11-03"
STORAGE_SCOPE = "https://storage.azure.com/.default"
_CHUNK = 1 << 20
_SAS_SIGNATURE = re.compile(r"(?i)(\bsig=)[^&\s\"']+")
#: Loggers of the HTTP stack that write full request URLs (with SAS signatures) at DEBUG level.
_URL_LOGGERS = ("urllib3.connectionpool",)


class AzureRemoteError(CarbonLedgerError):
    """An Azure call failed: names the scope or object, the HTTP status and what to do."""

    exit_code = EXIT_INPUT

    def __init__(self, message: str, *, status: int | None = None):
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Connection:
    """Where and how to call Azure: credential, ARM endpoint, retry and polling limits."""

    credential: TokenCredential | None = None
    base_url: str | None = None
    max_retries: int = 5
    max_wait_s: float = 120.0
    poll_interval_s: float = 30.0
    timeout_s: float = 3600.0

    def token_credential(self) -> TokenCredential:
        return self.credential if self.credential is not None else DefaultAzureCredential()

    def retry_policy(self) -> RetryPolicy:
        """Retries 429 and 5xx at most ``max_retries`` times, waiting ``Retry-After`` up to ``max_wait_s``."""
        return _BoundedRetryPolicy(max_wait_s=self.max_wait_s, retry_total=self.max_retries)

    def client(self) -> CostManagementClient:
        return CostManagementClient(
            self.token_credential(), base_url=self.base_url, retry_policy=self.retry_policy(),
            polling_interval=self.poll_interval_s,
        )

    def call_options(self) -> dict[str, Any]:
        """Per-call options: bearer tokens over plain HTTP only to a loopback test endpoint."""
        return {"enforce_https": not is_loopback(self.base_url)}


class _BoundedRetryPolicy(RetryPolicy):
    """azure-core's retry policy with the server's ``Retry-After`` wait capped."""

    def __init__(self, *, max_wait_s: float, **kwargs: Any):
        super().__init__(**kwargs)
        self._max_wait_s = max_wait_s

    def get_retry_after(self, response: Any) -> float | None:
        wait = super().get_retry_after(response)
        return None if wait is None else min(wait, self._max_wait_s)


def is_loopback(url: str | None) -> bool:
    """True for an ``http(s)://`` URL whose host is a loopback address or ``localhost``."""
    if not url:
        return False
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def without_query(url: str) -> str:
    """A URL for messages: scheme, host and path, without the query (SAS signatures live there)."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))


def fetch_cost_details(
    scope: str, start: date, end: date, dest_dir: str | Path, *,
    metric: str = "ActualCost", connection: Connection = Connection(),
) -> list[Path]:
    """Generate a cost-details report for ``scope`` over ``start``..``end`` (inclusive) and download it.

    Returns the downloaded CSV files (none when Azure reports ``NoDataFound``).
    """
    if metric not in METRICS:
        raise AzureRemoteError(f"unknown cost details metric {metric!r}; expected one of {', '.join(METRICS)}")
    if end < start:
        raise AzureRemoteError(f"cost details for {scope}: end {end} is before start {start}")
    body = {"metric": metric, "timePeriod": {"start": start.isoformat(), "end": end.isoformat()}}
    client = connection.client()
    with _azure_errors(f"cost details report for {scope} ({metric}, {start}..{end})"):
        poller = client.generate_cost_details_report.begin_create_operation(
            scope, body, **connection.call_options()
        )
        result = poller.result(timeout=connection.timeout_s)
        if not poller.done():
            raise AzureRemoteError(
                f"cost details report for {scope}: not ready after {connection.timeout_s:g} s; try again later"
            )
    status = _text(result.status)
    if status.lower() == "nodatafound":
        return []
    if status.lower() != "completed":
        reason = result.error.message if result.error is not None and result.error.message else "no reason given"
        raise AzureRemoteError(f"cost details report for {scope}: status {status or 'unknown'} ({reason})")
    links = [blob.blob_link for blob in (result.manifest.blobs if result.manifest else None) or [] if blob.blob_link]
    if not links:
        raise AzureRemoteError(f"cost details report for {scope}: completed, but its manifest lists no blobs")
    suffix = ".csv.gz" if result.manifest.compress_data else ".csv"
    downloads = _Downloader(connection, bearer=False)
    dest = Path(dest_dir)
    return [
        downloads.save(link, dest / f"{_safe_stem(scope)}_{metric}_{start:%Y%m%d}-{end:%Y%m%d}_part{n}{suffix}")
        for n, link in enumerate(links, start=1)
    ]


def daily_costs(
    scope: str, start: date, end: date, *, metric: str = "ActualCost", connection: Connection = Connection(),
) -> dict[date, list[list[str]]]:
    """Each day's total cost per currency for ``scope`` from ``start`` to ``end`` (inclusive), by the
    Cost Management Query API: day → sorted ``[currency, total as text]`` pairs. Days without cost
    are absent.
    """
    if metric not in METRICS:
        raise AzureRemoteError(f"unknown cost details metric {metric!r}; expected one of {', '.join(METRICS)}")
    body = {
        "type": metric, "timeframe": "Custom",
        "timePeriod": {"from": f"{start.isoformat()}T00:00:00+00:00", "to": f"{end.isoformat()}T23:59:59+00:00"},
        "dataset": {"granularity": "Daily", "aggregation": {"totalCost": {"name": "PreTaxCost", "function": "Sum"}}},
    }
    what = f"daily cost query for {scope} ({metric}, {start}..{end})"
    with _azure_errors(what):
        result = connection.client().query.usage(scope, body, **connection.call_options())
    if result is None:       # 204: nothing billed in the window
        return {}
    if result.next_link:
        raise AzureRemoteError(f"{what}: more rows than one page; shorten the window")
    names = [str(c.name or "").lower() for c in result.columns or []]
    try:
        cost_at = names.index("pretaxcost")
        day_at = names.index("usagedate")
    except ValueError:
        raise AzureRemoteError(f"{what}: expected PreTaxCost and UsageDate columns, got {', '.join(names)}") from None
    currency_at = next((names.index(n) for n in ("currency", "billingcurrency") if n in names), None)
    totals: dict[date, list[list[str]]] = {}
    for row in result.rows or []:
        day = _usage_date(row[day_at], what)
        currency = str(row[currency_at]) if currency_at is not None and row[currency_at] is not None else ""
        totals.setdefault(day, []).append([currency, repr(float(row[cost_at] or 0.0))])
    return {day: sorted(pairs) for day, pairs in sorted(totals.items())}


def _usage_date(value: object, what: str) -> date:
    """The Query API's ``UsageDate`` (a number ``20261103`` or text ``2026-11-03[T...]``) as a date."""
    text = str(int(value)) if isinstance(value, (int, float)) else str(value)
    try:
        return date(int(text[0:4]), int(text[4:6]), int(text[6:8])) if text.isdigit() else date.fromisoformat(text[:10])
    except ValueError:
        raise AzureRemoteError(f"{what}: UsageDate {text!r} is not a date") from None


def fetch_export_files(
    scope: str, export_name: str, dest_dir: str | Path, *,
    blob_endpoint: str | None = None, connection: Connection = Connection(),
) -> list[Path]:
    """Download the files of an Export's latest completed run (listed by that run's manifest).

    ``blob_endpoint`` defaults to ``https://<storage account>.blob.core.windows.net`` of the
    Export's destination.
    """
    client = connection.client()
    what = f"export {export_name!r} at {scope}"
    with _azure_errors(what):
        export = client.exports.get(scope, export_name, **connection.call_options())
        runs = client.exports.get_execution_history(scope, export_name, **connection.call_options()).value or []
    destination = export.delivery_info.destination if export.delivery_info else None
    if destination is None or not destination.container:
        raise AzureRemoteError(f"{what}: has no storage destination (expected deliveryInfo.destination.container)")
    completed = [r for r in runs if _text(r.status).lower() == "completed" and r.manifest_file]
    if not completed:
        raise AzureRemoteError(f"{what}: no completed run with a manifest file yet; run the export first")
    latest = max(completed, key=lambda r: (r.processing_end_time or r.submitted_time, r.manifest_file))
    account = destination.storage_account or (destination.resource_id or "").rstrip("/").split("/")[-1]
    if not blob_endpoint and not account:
        raise AzureRemoteError(f"{what}: destination names no storage account (resourceId or storageAccount)")
    endpoint = (blob_endpoint or f"https://{account}.blob.core.windows.net").rstrip("/")
    container = destination.container.strip("/")
    downloads = _Downloader(connection, bearer=True, endpoint=endpoint)
    manifest_url = _blob_url(endpoint, container, str(latest.manifest_file))
    manifest = downloads.json(manifest_url)
    names = [b.get("blobName") for b in manifest.get("blobs", []) if isinstance(b, dict)]
    if not names or not all(isinstance(n, str) and n for n in names):
        raise AzureRemoteError(
            f"{what}: manifest {without_query(manifest_url)} lists no blobs (expected blobs[].blobName)"
        )
    dest = Path(dest_dir)
    return [downloads.save(_blob_url(endpoint, container, name), _local_path(dest, name, manifest_url)) for name in names]


def _text(value: object) -> str:
    """An SDK enum or string as its wire text (``ExecutionStatus.COMPLETED`` → ``Completed``)."""
    return str(getattr(value, "value", value) or "")


def _blob_url(endpoint: str, container: str, name: str) -> str:
    """URL of a blob named relative to its container (an absolute URL is kept)."""
    if urlsplit(name).scheme in ("http", "https"):
        return name
    path = name.strip("/")
    if path.startswith(container + "/"):
        path = path[len(container) + 1:]
    return f"{endpoint}/{container}/{path}"


def _local_path(dest: Path, blob_name: str, manifest_url: str) -> Path:
    """A blob's file below the download folder; a name that would leave it (``..``, backslash, encoded
    traversal, see :mod:`connectors.safe_paths`) is an error naming the manifest and the entry."""
    name = urlsplit(blob_name).path.strip("/")
    try:
        return contained(dest, name)
    except UnsafePath as exc:
        raise AzureRemoteError(f"export manifest {without_query(manifest_url)}: blob name "
                               f"{without_query(blob_name)!r} {exc.reason}: it would be written outside {dest}; "
                               "expected a path relative to the container") from None


def _safe_stem(scope: str) -> str:
    return "_".join(part for part in scope.strip("/").split("/") if part)[-120:] or "scope"


@contextmanager
def _azure_errors(what: str) -> Iterator[None]:
    """Azure SDK errors raised inside become :class:`AzureRemoteError` naming ``what``."""
    try:
        yield
    except HttpResponseError as exc:
        raise _status_error(what, exc.status_code, exc.reason) from None
    except AzureError as exc:
        raise AzureRemoteError(f"{what}: {type(exc).__name__}: {exc.message}") from None


def _status_error(what: str, status: int | None, reason: str | None) -> AzureRemoteError:
    advice = {
        401: "the credential was not accepted; sign in again (az login) or check the service principal",
        403: "access denied; the identity needs the Cost Management Reader role (or Storage Blob Data "
             "Reader on the export's storage account)",
        404: "not found; check the scope, the export name and the api-version",
        429: "still throttled after the allowed retries; try again later",
    }.get(status or 0, f"unexpected response{f' ({reason})' if reason else ''}")
    return AzureRemoteError(f"{what}: HTTP {status}: {advice}", status=status)


class _RedactSasSignatures(logging.Filter):
    """Masks ``sig=...`` in log records, so SAS links never reach a log in full."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if "sig=" in message.lower():
            record.msg, record.args = _SAS_SIGNATURE.sub(r"\1REDACTED", message), ()
        return True


def _redact_url_logs() -> None:
    for name in _URL_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, _RedactSasSignatures) for f in logger.filters):
            logger.addFilter(_RedactSasSignatures())


class _Downloader:
    """GETs blobs (SAS links, or storage paths with a bearer token) into files, retrying 429 and 5xx."""

    def __init__(self, connection: Connection, *, bearer: bool, endpoint: str = ""):
        _redact_url_logs()
        policies: list[Any] = [HeadersPolicy({"x-ms-version": STORAGE_API_VERSION})]
        policies.append(connection.retry_policy())
        if bearer:
            policies.append(BearerTokenCredentialPolicy(connection.token_credential(), STORAGE_SCOPE))
        self._client = PipelineClient(base_url=endpoint, policies=policies)
        self._options = {"enforce_https": not is_loopback(endpoint)} if bearer else {}

    def _get(self, url: str, *, stream: bool):
        try:
            response = self._client.send_request(HttpRequest("GET", url), stream=stream, **self._options)
        except AzureError as exc:
            raise AzureRemoteError(f"download {without_query(url)}: {type(exc).__name__}: {exc.message}") from None
        if response.status_code != 200:
            response.close()
            raise _status_error(f"download {without_query(url)}", response.status_code, response.reason)
        return response

    def json(self, url: str) -> dict:
        response = self._get(url, stream=False)
        try:
            parsed = json.loads(response.text())
        except ValueError as exc:
            raise AzureRemoteError(f"{without_query(url)}: not JSON ({exc})") from None
        if not isinstance(parsed, dict):
            raise AzureRemoteError(f"{without_query(url)}: expected a JSON object")
        return parsed

    def save(self, url: str, path: Path) -> Path:
        """Stream ``url`` into ``path`` through a ``.part`` file; a cut-off body (fewer bytes than its
        Content-Length, or a broken connection) is an error and leaves neither file."""
        response = self._get(url, stream=True)
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(path.name + ".part")
        expected = response.headers.get("Content-Length")
        written = 0
        try:
            with response, open(partial, "wb") as handle:
                for chunk in response.iter_bytes(chunk_size=_CHUNK):
                    handle.write(chunk)
                    written += len(chunk)
            if expected is not None and expected.isdigit() and written != int(expected):
                raise AzureRemoteError(f"download {without_query(url)}: truncated, {written} of {expected} bytes "
                                       "received; run again to fetch it whole")
            partial.replace(path)
        except AzureError as exc:
            raise AzureRemoteError(f"download {without_query(url)}: connection broke after {written} bytes "
                                   f"({type(exc).__name__}); run again to fetch it whole") from None
        finally:
            partial.unlink(missing_ok=True)
        return path
