"""Injected faults against local fake servers: S3, the grid APIs and Azure blob downloads (issue 9, Faults).

One scripted HTTP server (:class:`FaultServer`, a ``ThreadingHTTPServer`` on 127.0.0.1) answers each
request with the next scripted fault: a status with headers and body (5xx, 429 with ``Retry-After``,
403 ``ExpiredToken``, 401), a delay longer than the client's timeout, or a body cut off before its
``Content-Length``. Each test checks the bounded retries (the number of requests the server saw, and
the waits where the client lets them be recorded), then either the recovered result or a clear error
naming the source, with no planted secret in it. Nothing here touches the network.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pandas as pd
import pytest

from carbonledger.errors import ConfigError
from connectors import s3_delivery
from connectors.azure_remote import AzureRemoteError, Connection, _Downloader
from connectors.grid_http import GridAuthError, GridSourceError, JsonHttpClient
from connectors.s3_delivery import S3DeliveryError, S3Location, discover_deliveries, s3_client
from intensity import GridData
from intensity.live import fetch_zone

SECRET = "PLANTED/secret+Key0123456789abcdefABCDEF"
EMPTY_LISTING = (b'<?xml version="1.0" encoding="UTF-8"?><ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">'
                 b"<Name>billing</Name><Prefix>cur/</Prefix><KeyCount>0</KeyCount><MaxKeys>1000</MaxKeys>"
                 b"<IsTruncated>false</IsTruncated></ListBucketResult>")


def s3_error(code: str, message: str = "failed") -> bytes:
    return (f'<?xml version="1.0" encoding="UTF-8"?><Error><Code>{code}</Code><Message>{message}</Message>'
            f"<RequestId>R1</RequestId></Error>").encode()


@dataclass
class Reply:
    """One scripted answer: ``declared`` > len(body) cuts the body off; ``delay_s`` waits before answering."""

    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    declared: int | None = None
    delay_s: float = 0.0


class _QuietServer(ThreadingHTTPServer):
    """Clients that time out hang up mid-request on purpose: no traceback on the test's stderr."""

    def handle_error(self, request: object, client_address: object) -> None:
        pass


class FaultServer:
    """Answers every request with the next scripted :class:`Reply` (the last one repeats); records requests."""

    def __init__(self) -> None:
        self.script: list[Reply] = [Reply(404)]
        self.requests: list[tuple[str, str, dict[str, str]]] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def answer(self) -> None:
                server.requests.append((self.command, self.path, {k.lower(): v for k, v in self.headers.items()}))
                length = int(self.headers.get("Content-Length") or 0)
                if length:
                    self.rfile.read(length)
                reply = server.script.pop(0) if len(server.script) > 1 else server.script[0]
                if reply.delay_s:
                    time.sleep(reply.delay_s)
                self.send_response(reply.status)
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(reply.declared if reply.declared is not None else len(reply.body)))
                if reply.declared is not None:
                    self.send_header("Connection", "close")
                    self.close_connection = True
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(reply.body)

            do_GET = do_PUT = do_POST = do_HEAD = answer  # noqa: N815 (http.server API)

            def log_message(self, *args: object) -> None:
                pass

        self.server = _QuietServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def play(self, *replies: Reply) -> None:
        self.script = list(replies)
        self.requests.clear()


@pytest.fixture
def fault() -> Iterator[FaultServer]:
    server = FaultServer()
    server.thread.start()
    yield server
    server.server.shutdown()
    server.server.server_close()


@pytest.fixture
def aws_env(monkeypatch, tmp_path):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAPLANTED000000000")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"):
        monkeypatch.delenv(name, raising=False)


# --- S3 ------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("reply, shown", [
    (Reply(503, {"Content-Type": "application/xml"}, s3_error("SlowDown")), "SlowDown 503"),
    (Reply(500, {"Content-Type": "application/xml"}, s3_error("InternalError")), "InternalError 500"),
    (Reply(429, {"Content-Type": "application/xml", "Retry-After": "1"}, s3_error("TooManyRequests")), "TooManyRequests 429"),
], ids=["503-slowdown", "500", "429-retry-after"])
def test_s3_server_errors_are_retried_a_bounded_number_of_times_then_fail_clearly(aws_env, fault, reply, shown):
    fault.play(reply)
    client = s3_client(endpoint_url=fault.url, max_attempts=3)
    with pytest.raises(S3DeliveryError) as raised:
        discover_deliveries("s3://billing/cur", client=client)
    assert len(fault.requests) == 3                                          # first try + 2 retries, no more
    assert str(raised.value) == (f"s3://billing/cur: S3 kept failing ({shown}) while listing objects; retries "
                                 "exhausted, try again later")
    assert SECRET not in str(raised.value)
    assert raised.value.exit_code == 3


def test_s3_transient_errors_then_success_recover(aws_env, fault):
    xml = {"Content-Type": "application/xml"}
    fault.play(Reply(503, xml, s3_error("SlowDown")), Reply(500, xml, s3_error("InternalError")), Reply(200, xml, EMPTY_LISTING))
    began = time.monotonic()
    assert discover_deliveries("s3://billing/cur", client=s3_client(endpoint_url=fault.url, max_attempts=3)) == []
    assert len(fault.requests) == 3 and time.monotonic() - began < 10   # backoff waits are bounded (jittered, <= 2 s here)


def test_s3_timeouts_are_retried_then_name_the_location(aws_env, fault):
    fault.play(Reply(200, {"Content-Type": "application/xml"}, EMPTY_LISTING, delay_s=1.5))
    client = s3_client(endpoint_url=fault.url, max_attempts=2, read_timeout_s=0.3)
    with pytest.raises(S3DeliveryError, match=r"^s3://billing/cur: S3 could not be reached while listing objects, "
                                              r"retries exhausted \(ReadTimeoutError\)$"):
        discover_deliveries("s3://billing/cur", client=client)
    assert len(fault.requests) == 2


@pytest.mark.parametrize("status", [403, 400])
def test_s3_expired_token_is_a_config_error_without_retries_or_secrets(aws_env, fault, status):
    fault.play(Reply(status, {"Content-Type": "application/xml"},
                     s3_error("ExpiredToken", f"The provided token has expired. {SECRET}")))
    with pytest.raises(ConfigError) as raised:
        discover_deliveries("s3://billing/cur", client=s3_client(endpoint_url=fault.url, max_attempts=3))
    assert str(raised.value) == ("s3://billing/cur: AWS refused the credentials (ExpiredToken) while listing objects; "
                                 "refresh them (new session token, 'aws sso login') or check the profile")
    assert len(fault.requests) == 1                                          # refused credentials are not retried
    assert SECRET not in str(raised.value) and "AKIAPLANTED" not in str(raised.value)


def _object(body: bytes, *, cut: bool) -> Reply:
    etag = hashlib.md5(body, usedforsecurity=False).hexdigest()
    return Reply(200, {"ETag": f'"{etag}"', "Content-Type": "application/octet-stream"},
                 body[:10] if cut else body, declared=len(body) if cut else None)


def test_s3_download_cut_off_is_fetched_again_then_succeeds(aws_env, fault, tmp_path, monkeypatch):
    monkeypatch.setattr(s3_delivery, "DOWNLOAD_BACKOFF_S", 0.01)
    body = b"lineItem/UsageStartDate,lineItem/UnblendedCost\n" * 40
    fault.play(_object(body, cut=True), _object(body, cut=True), _object(body, cut=False))
    target = tmp_path / "cache" / "billing" / "cur" / "part-1.csv"
    client = s3_client(endpoint_url=fault.url, max_attempts=1)
    etag, size = s3_delivery._download(client, S3Location("billing", "cur"), "cur/part-1.csv", target)
    assert target.read_bytes() == body and size == len(body) and etag == hashlib.md5(body, usedforsecurity=False).hexdigest()
    assert [r[0] for r in fault.requests] == ["GET"] * 3
    assert sorted(p.name for p in target.parent.iterdir()) == ["part-1.csv"]           # no temporary left


def test_s3_download_cut_off_every_time_fails_clearly_and_leaves_nothing(aws_env, fault, tmp_path, monkeypatch):
    monkeypatch.setattr(s3_delivery, "DOWNLOAD_BACKOFF_S", 0.01)
    fault.play(_object(b"x" * 500, cut=True))
    target = tmp_path / "cache" / "billing" / "cur" / "part-1.csv"
    with pytest.raises(S3DeliveryError, match=r"^s3://billing/cur/part-1\.csv: download cut off 3 times \(last: .*\); "
                                              r"retries exhausted, run again later$"):
        s3_delivery._download(s3_client(endpoint_url=fault.url, max_attempts=1), S3Location("billing", "cur"),
                              "cur/part-1.csv", target)
    assert len(fault.requests) == s3_delivery.DOWNLOAD_ATTEMPTS
    assert [p for p in (tmp_path / "cache").rglob("*") if p.is_file()] == []


def test_s3_endpoint_url_with_credentials_never_appears_in_errors(aws_env):
    with pytest.raises(ConfigError) as raised:
        s3_client(endpoint_url=f"ht!tp://minio:{SECRET}@bad host")
    assert SECRET not in str(raised.value) and "endpoint_url is not a valid URL" in str(raised.value)


# --- grid APIs (connectors.grid_http) ------------------------------------------------------------------------

def grid_client(fault: FaultServer, sleeps: list[float], **options) -> JsonHttpClient:
    settings = {"max_retries": 2, "backoff_s": 1.0, "max_backoff_s": 8.0, "timeout_s": 5.0, **options}
    return JsonHttpClient("electricitymaps", fault.url, sleep=sleeps.append, **settings)


def test_grid_timeouts_back_off_then_fail_naming_the_source(fault):
    sleeps: list[float] = []
    fault.play(Reply(200, {}, b"{}", delay_s=1.0))
    with pytest.raises(GridSourceError, match=r"^electricitymaps /past-range: gave up after 3 attempts "
                                              r"\(last: connection failed \((TimeoutError|URLError)\)\)$"):
        grid_client(fault, sleeps, timeout_s=0.2).get_json("/past-range", {"zone": "DE"})
    assert len(fault.requests) == 3 and sleeps == [1.0, 2.0]


def test_grid_body_cut_off_is_retried_and_recovers(fault):
    sleeps: list[float] = []
    whole = b'{"zone": "DE", "data": [{"carbonIntensity": 321}]}'
    fault.play(Reply(200, {}, whole[:12], declared=len(whole)), Reply(200, {}, whole))
    assert grid_client(fault, sleeps).get_json("/past-range") == {"zone": "DE", "data": [{"carbonIntensity": 321}]}
    assert len(fault.requests) == 2 and sleeps == [1.0]


def test_grid_body_cut_off_every_time_is_a_source_error(fault):
    sleeps: list[float] = []
    fault.play(Reply(200, {}, b'{"zone": ', declared=400))
    with pytest.raises(GridSourceError, match=r"gave up after 3 attempts \(last: response cut off or malformed "
                                              r"\(IncompleteRead\)\)"):
        grid_client(fault, sleeps).get_json("/past-range")
    assert sleeps == [1.0, 2.0]


def test_grid_429_waits_retry_after_capped_and_is_bounded(fault):
    sleeps: list[float] = []
    fault.play(Reply(429, {"Retry-After": "3"}), Reply(429, {"Retry-After": "3600"}), Reply(429, {}))
    with pytest.raises(GridSourceError, match=r"gave up after 3 attempts \(last: HTTP 429\)"):
        grid_client(fault, sleeps).get_json("/past-range")
    assert sleeps == [3.0, 8.0]                  # Retry-After honoured, capped at max_backoff_s


def test_grid_401_is_not_retried_and_the_zone_falls_back_flagged(fault):
    sleeps: list[float] = []
    fault.play(Reply(401, {}, f'{{"message": "invalid token {SECRET}"}}'.encode()))
    client = grid_client(fault, sleeps)
    with pytest.raises(GridAuthError) as raised:
        client.get_json("/past-range", headers={"auth-token": SECRET})
    assert len(fault.requests) == 1 and sleeps == [] and SECRET not in str(raised.value)
    start, end = pd.Timestamp("2022-06-01T10:00Z"), pd.Timestamp("2022-06-01T11:00Z")
    live = fetch_zone("DE", lambda: client.get_json("/past-range", headers={"auth-token": SECRET}), "live test source")
    assert live.problem is not None and "HTTP 401" in live.problem and SECRET not in live.problem
    line = (pd.Series(["gcp"]), pd.Series(["europe-west3"]), pd.Series([start]), pd.Series([end]))
    flagged = GridData.bundled().with_live([live]).annotate(*line).iloc[0]
    bundled = GridData.bundled().annotate(*line).iloc[0]
    assert flagged["x_CarbonIntensity"] == bundled["x_CarbonIntensity"]          # the bundled value is used
    assert "bundled data used" in flagged["x_IntensitySource"] and "live test source" in flagged["x_IntensitySource"]


# --- Azure blob downloads (connectors.azure_remote) -------------------------------------------------------

def test_azure_blob_cut_off_is_an_error_and_leaves_no_file(fault, tmp_path):
    fault.play(Reply(200, {"Content-Type": "text/csv"}, b"BillingAccountId,Date\n", declared=4000))
    target = tmp_path / "parts" / "part1.csv"
    downloads = _Downloader(Connection(max_retries=1), bearer=False)
    with pytest.raises(AzureRemoteError) as raised:
        downloads.save(f"{fault.url}/ccm/part1.csv?sv=1&sig={SECRET}", target)
    message = str(raised.value)
    assert message.startswith(f"download {fault.url}/ccm/part1.csv: ") and "run again" in message
    assert SECRET not in message and "sig=" not in message
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == []                    # neither the file nor a .part


@pytest.mark.parametrize("status, words", [(503, "HTTP 503"), (429, "HTTP 429: still throttled")])
def test_azure_blob_5xx_and_429_are_retried_a_bounded_number_of_times(fault, tmp_path, status, words):
    fault.play(Reply(status, {"Retry-After": "0"}, b"busy"))
    downloads = _Downloader(Connection(max_retries=2, max_wait_s=0.1), bearer=False)
    with pytest.raises(AzureRemoteError, match=words):
        downloads.save(f"{fault.url}/ccm/part1.csv?sig={SECRET}", tmp_path / "part1.csv")
    assert len(fault.requests) == 3
    assert not (tmp_path / "part1.csv").exists()


def test_azure_blob_401_is_not_retried_and_says_what_to_do(fault, tmp_path):
    fault.play(Reply(401, {}, b"expired"))
    downloads = _Downloader(Connection(max_retries=3), bearer=False)
    with pytest.raises(AzureRemoteError, match=r"HTTP 401: the credential was not accepted; sign in again"):
        downloads.save(f"{fault.url}/ccm/part1.csv?sig={SECRET}", tmp_path / "part1.csv")
    assert len(fault.requests) == 1


def test_azure_blob_recovers_after_a_503(fault, tmp_path):
    fault.play(Reply(503, {"Retry-After": "0"}, b"busy"), Reply(200, {}, b"a,b\n1,2\n"))
    path = _Downloader(Connection(max_retries=2), bearer=False).save(f"{fault.url}/ccm/p.csv", tmp_path / "p.csv")
    assert path.read_bytes() == b"a,b\n1,2\n" and len(fault.requests) == 2
