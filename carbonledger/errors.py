"""User-facing errors and the CLI exit codes they map to.

Every error a user can cause (bad input file, bad config, unknown instance type) is raised as a
:class:`CarbonLedgerError` whose message names the file, the row or column, and what was expected.
The CLI prints the message, never a traceback, and exits with the error's documented code;
:func:`redact` removes credentials from any message before it is printed.
"""

from __future__ import annotations

import os
import re

#: Exit codes of the ``carbonledger`` CLI (documented in README.md).
EXIT_OK = 0
EXIT_USAGE = 2          # bad arguments, unknown instance type or region
EXIT_INPUT = 3          # an input file cannot be read as the expected format
EXIT_CONFIG = 4         # configuration file invalid
EXIT_TIE_OUT = 5        # control totals do not tie out (a bug: nothing may be lost)


class CarbonLedgerError(Exception):
    """Base class of errors a user can act on; ``exit_code`` is the CLI's exit status."""

    exit_code = EXIT_USAGE


class UsageError(CarbonLedgerError):
    """Bad arguments or a lookup of something carbonledger does not know."""

    exit_code = EXIT_USAGE


class InputFormatError(CarbonLedgerError):
    """An input file cannot be read: names the file, the row/column and what was expected."""

    exit_code = EXIT_INPUT

    def __init__(self, path: str, problem: str, *, row: int | None = None, column: str | None = None):
        where = str(path)
        if row is not None:
            where += f", row {row}"
        if column is not None:
            where += f", column {column!r}"
        super().__init__(f"{where}: {problem}")
        self.path, self.row, self.column, self.problem = str(path), row, column, problem

    def __reduce__(self):
        # Rebuilt from its parts when it crosses a process boundary (parallel batches of an estimate).
        return _input_format_error, (self.path, self.problem, self.row, self.column)


def _input_format_error(path: str, problem: str, row: int | None, column: str | None) -> InputFormatError:
    return InputFormatError(path, problem, row=row, column=column)


class ConfigError(CarbonLedgerError):
    """The configuration file is invalid."""

    exit_code = EXIT_CONFIG


#: Signature-like query parameters (Azure SAS ``sig``, S3 presigned ``X-Amz-*``, ``token``/``key``/``code``).
_SECRET_QUERY = re.compile(
    r"(?i)([?&](?:sig|signature|x-amz-signature|x-amz-credential|x-amz-security-token|token|key|code)=)[^&\s'\"]*")
#: Environment variables whose values are credentials carbonledger or its clients read.
SECRET_ENV_VARS = ("AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "ELECTRICITYMAPS_API_TOKEN", "WATTTIME_PASSWORD",
                   "AZURE_CLIENT_SECRET", "DAGSTER_PG_PASSWORD", "CARBONLEDGER_WAREHOUSE_URL",
                   "CARBONLEDGER_ALERT_WEBHOOK_URL")


def redact(text: str, *secrets: str) -> str:
    """``text`` without URL query credentials, the values of the known secret environment variables, or any
    of ``secrets`` (values a caller read from a configured variable: a connection string, its password)."""
    text = _SECRET_QUERY.sub(r"\1REDACTED", text)
    for name in SECRET_ENV_VARS:
        value = os.environ.get(name, "")
        if len(value) >= 6:
            text = text.replace(value, f"<{name}>")
    for secret in sorted(filter(None, secrets), key=len, reverse=True):
        text = text.replace(secret, "<redacted>")
    return text
