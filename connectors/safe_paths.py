"""File names that come from remote manifests, checked before they become local paths.

S3 manifests (legacy CUR ``reportKeys``, Data Exports ``dataFiles``), S3 listings and Azure export
manifests (``blobs[].blobName``) name the objects carbonledger downloads into a cache directory. Those
names are data written by someone else, so before one is joined to a local directory it must be a
plain relative path that stays below it: no ``..`` segment, no absolute path or drive letter, no
backslash (a separator on Windows, and never in a real billing key), no control character, and no
percent-encoded form of any of these (``%2e%2e%2f``). :func:`unsafe_reason` says what is wrong with a
name; :func:`contained` joins a checked name to its directory and re-checks that the result lies inside.

What does not belong here: reading manifests (``s3_delivery``, ``azure_remote``, ``discover``).
"""

from __future__ import annotations

import os
import re
import urllib.parse
from pathlib import Path, PurePosixPath

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_DRIVE = re.compile(r"^[A-Za-z]:")
#: How many times a name is percent-decoded when looking for hidden traversal (``%252e`` is ``%2e`` twice).
_DECODE_ROUNDS = 3


class UnsafePath(ValueError):
    """A manifest entry that would leave its target directory; ``reason`` says how."""

    def __init__(self, entry: str, reason: str):
        super().__init__(f"{entry!r}: {reason}")
        self.entry, self.reason = entry, reason


def unsafe_reason(name: str) -> str | None:
    """Why ``name`` is not a safe relative path (``None`` when it is one)."""
    if not name:
        return "empty name"
    forms = [name]
    for _ in range(_DECODE_ROUNDS):
        decoded = urllib.parse.unquote(forms[-1])
        if decoded == forms[-1]:
            break
        forms.append(decoded)
    for i, form in enumerate(forms):
        encoded = " (percent-encoded)" if i else ""
        if _CONTROL.search(form):
            return f"contains a control character{encoded}"
        if "\\" in form:
            return f"contains a backslash{encoded}"
        if form.startswith("/") or _DRIVE.match(form):
            return f"is an absolute path{encoded}"
        if ".." in PurePosixPath(form).parts:
            return f"has a '..' segment{encoded}"
    return None


def check(name: str) -> PurePosixPath:
    """``name`` as a relative path, or :class:`UnsafePath`."""
    reason = unsafe_reason(name)
    if reason is not None:
        raise UnsafePath(name, reason)
    return PurePosixPath(name)


def contained(root: Path, name: str) -> Path:
    """``root / name`` after checking ``name``; :class:`UnsafePath` if the result would not lie below ``root``."""
    path = Path(root) / check(name)
    base = os.path.normpath(os.path.abspath(root))
    if os.path.commonpath([base, os.path.normpath(os.path.abspath(path))]) != base:
        raise UnsafePath(name, f"resolves outside {root}")
    return path
