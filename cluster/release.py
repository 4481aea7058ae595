"""Downloading official release files: streamed to disk, checked against their published SHA-256.

A module of its own so that ``cluster.binaries`` reads as the order of sources (cache, download,
Go) while this one holds the network's details: a short timeout, so that a machine without
internet gives up in seconds and builds instead; one failure per host, so that an unreachable
host is asked once, not once per file; and nothing installed unless every file it fetched
matched its checksum. Files are written under a temporary name next to their destination and
renamed into place (mode 0755) only when all are verified.
"""

from __future__ import annotations

import hashlib
import os
import re
import tarfile
import tempfile
import urllib.error
import urllib.request
from dataclasses import dataclass
from http.client import HTTPResponse
from pathlib import Path
from typing import Callable, cast
from urllib.parse import urlsplit

from cluster.errors import BinariesError, ChecksumMismatch

#: Seconds to connect, and then between two reads: a release site that does not answer in this
#: time is treated as unreachable (on a machine without internet, DNS fails in about 1 s).
TIMEOUT = 10.0
_CHUNK = 1 << 20

Progress = Callable[[str], None]


@dataclass(frozen=True)
class Download:
    """One binary to download: from ``url`` (or the ``member`` of the ``.tar.gz`` at ``url``) to ``dest``.

    ``checksum_url`` is the published checksum file: a bare ``.sha256`` digest, or a list of
    ``<digest>  <file name>`` lines (``.sha256sum``, ``SHA256SUMS``).
    """

    name: str
    url: str
    checksum_url: str
    dest: Path
    member: str = ""


class Unreachable(BinariesError):
    """A release site did not answer, or answered with an HTTP error."""


def _open(url: str) -> HTTPResponse:
    try:
        return cast(HTTPResponse, urllib.request.urlopen(url, timeout=TIMEOUT))  # noqa: S310
    except urllib.error.HTTPError as err:
        raise Unreachable(f"{url} answered HTTP {err.code}") from err
    except (urllib.error.URLError, OSError) as err:
        reason = getattr(err, "reason", err)
        raise Unreachable(f"{urlsplit(url).netloc} cannot be reached ({reason})") from err


def _text(url: str) -> str:
    with _open(url) as resp:
        return bytes(resp.read(1 << 20)).decode(errors="replace")


def expected_sha256(text: str, filename: str) -> str:
    """The digest for ``filename`` in a ``.sha256`` file or a ``SHA256SUMS`` list.

    Raises :class:`BinariesError` when the text holds none for that file.
    """
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 1 and re.fullmatch(r"[0-9a-f]{64}", parts[0]):
            return parts[0]
        if len(parts) == 2 and parts[1].lstrip("*").rsplit("/", 1)[-1] == filename:
            return parts[0]
    raise BinariesError(f"no SHA-256 checksum for {filename} in the published checksums")


def _copy(resp: HTTPResponse, url: str, dest: Path) -> str:
    """Write the body of ``resp`` to ``dest``; its SHA-256."""
    digest = hashlib.sha256()
    try:
        with open(dest, "wb") as fh:
            while chunk := resp.read(_CHUNK):
                digest.update(chunk)
                fh.write(chunk)
    except OSError as err:  # a read that waited longer than TIMEOUT included
        raise Unreachable(f"the download of {url} stopped ({err})") from err
    return digest.hexdigest()


def _fetch_one(item: Download, staged: Path, progress: Progress) -> None:
    filename = item.url.rsplit("/", 1)[-1]
    expected = expected_sha256(_text(item.checksum_url), filename)
    target = staged if not item.member else staged.with_name(staged.name + ".tar.gz")
    with _open(item.url) as resp:
        length = int(resp.headers.get("Content-Length") or 0)
        size = f" ({length / 1e6:.0f} MB)" if length >= 1e6 else f" ({length} bytes)" if length else ""
        progress(f"downloading {item.name}{size} from {item.url}")
        actual = _copy(resp, item.url, target)
    if actual != expected.lower():
        target.unlink(missing_ok=True)
        raise ChecksumMismatch(f"the download of {item.url} does not match its published SHA-256 "
                               f"({item.checksum_url} says {expected}, the file has {actual}); nothing was installed.",
                               "Run `make binaries` again; if it repeats, the download is being tampered with.")
    if item.member:
        try:
            with tarfile.open(target, mode="r:gz") as tar:
                fh = tar.extractfile(item.member)
                if fh is None:
                    raise KeyError(item.member)
                staged.write_bytes(fh.read())
        except (tarfile.TarError, KeyError) as err:
            raise BinariesError(f"{filename} does not contain {item.member}") from err
        finally:
            target.unlink(missing_ok=True)


def fetch_all(items: list[Download], progress: Progress) -> dict[str, str]:
    """Download and verify ``items``, then install every one that arrived; the others, with why.

    Returns ``{name: reason}`` of what could not be downloaded (a host that cannot be reached is
    asked once). Raises :class:`ChecksumMismatch`, installing nothing, when a file does not match
    its published checksum.
    """
    failed: dict[str, str] = {}
    down_hosts: dict[str, str] = {}
    staged: dict[Path, Path] = {}
    try:
        for item in items:
            host = urlsplit(item.url).netloc
            if host in down_hosts:
                failed[item.name] = down_hosts[host]
                continue
            item.dest.parent.mkdir(parents=True, exist_ok=True)
            fd, name = tempfile.mkstemp(dir=item.dest.parent, prefix=f".{item.dest.name}.download-")
            os.close(fd)
            staged[Path(name)] = item.dest
            try:
                _fetch_one(item, Path(name), progress)
            except ChecksumMismatch:
                raise
            except BinariesError as err:  # unreachable, an HTTP error, no checksum for it, not in its archive
                failed[item.name] = err.message
                if isinstance(err, Unreachable) and not isinstance(err.__cause__, urllib.error.HTTPError):
                    down_hosts[host] = err.message
                Path(name).unlink(missing_ok=True)
                del staged[Path(name)]
        for tmp, dest in list(staged.items()):  # every file that arrived matched its checksum
            tmp.chmod(0o755)
            os.replace(tmp, dest)
            del staged[tmp]
    finally:
        for tmp in staged:
            tmp.unlink(missing_ok=True)
    return failed
