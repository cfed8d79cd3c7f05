"""`aistack catalog refresh`: rebuild offerings.yaml from the providers' own price sources.

- AWS: the public Price List bulk offer files (no credentials), one per region, streamed
  (aws.py); spot figures from the EC2 spot pricing page's public feed, labelled as such.
- GCP: the Cloud Billing Catalog API (an API key), Compute Engine and Cloud TPU SKUs; a VM is
  priced as Compute Engine bills it: vCPUs x core SKU + GiB x RAM SKU, plus GPUs x GPU SKU (gcp.py).
- build.py turns those figures into catalog rows (with the SKU ids each came from), diff.py says
  what moved. The CLI (aistack/cli/catalog.py) runs the sanity rules before it writes anything.

Everything here is plain urllib + json: no provider SDK (start-up and install size), and the tests
serve the providers' documented formats from a loopback HTTP server so this code path runs.
"""

from __future__ import annotations

import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import IO, Protocol

USER_AGENT = "aistack-catalog-refresh"
TIMEOUT_S = 60.0
# Rate limits (429) and server errors are retried after these pauses; anything else fails at once.
RETRY_DELAYS_S: tuple[float, ...] = (1.0, 4.0)
_TRANSIENT = frozenset({429, 500, 502, 503, 504})


class RefreshError(Exception):
    """A source could not be read or did not say what we need; `fix` says what to do."""

    def __init__(self, message: str, fix: str) -> None:
        super().__init__(message)
        self.fix = fix


class Progress(Protocol):
    """Where the fetchers report what they are doing (a rich bar on a terminal, lines in a pipe)."""

    def begin(self, label: str, total: int | None) -> None: ...
    def advance(self, amount: int) -> None: ...
    def end(self, summary: str) -> None: ...


class NoProgress:
    """Reports nothing (library use, tests)."""

    def begin(self, label: str, total: int | None) -> None:
        pass

    def advance(self, amount: int) -> None:
        pass

    def end(self, summary: str) -> None:
        pass


def is_url(location: str) -> bool:
    return location.startswith(("http://", "https://"))


def open_source(location: str, headers: dict[str, str] | None = None) -> tuple[IO[bytes], int | None]:
    """Open a URL or a local file for streaming reads; returns the stream and its size if known.

    Errors become RefreshError naming the location (never the request headers: they may hold a key).
    """
    if not is_url(location):
        path = Path(location)
        try:
            return path.open("rb"), path.stat().st_size
        except OSError as exc:
            raise RefreshError(f"{location}: cannot read it ({exc.strerror or exc})", "check the path.") from None
    request = urllib.request.Request(location, headers={"User-Agent": USER_AGENT, **(headers or {})})
    for attempt, delay in enumerate((*RETRY_DELAYS_S, None)):
        try:
            response = urllib.request.urlopen(request, timeout=TIMEOUT_S)  # http(s) only: is_url checked it
        except urllib.error.HTTPError as exc:
            body = exc.read(4096).decode("utf-8", "replace")
            if exc.code in _TRANSIENT and delay is not None:
                time.sleep(delay)
                continue
            tries = f" (after {attempt + 1} tries)" if attempt else ""
            raise RefreshError(
                f"{location}: HTTP {exc.code} {exc.reason}{tries}: {_google_error(body) or body[:200]}",
                "check the URL and, for an API, the key and that the API is enabled for its project.",
            ) from None
        except (urllib.error.URLError, TimeoutError, OSError) as exc:
            if delay is not None:
                time.sleep(delay)
                continue
            reason = getattr(exc, "reason", exc)
            raise RefreshError(f"{location}: cannot connect ({reason})", "check the network or the URL.") from None
        length = response.headers.get("Content-Length")
        return response, int(length) if length and length.isdigit() else None
    raise AssertionError("unreachable: the last attempt returns or raises")


def _google_error(body: str) -> str:
    """The message of a Google API error body ({"error": {"code", "message", "status"}}), if it is one."""
    import json

    try:
        doc = json.loads(body)
    except ValueError:
        return ""
    error = doc.get("error") if isinstance(doc, dict) else None
    if isinstance(error, dict) and isinstance(error.get("message"), str):
        return f"{error.get('status', '')} {error['message']}".strip()
    return ""


__all__ = ["NoProgress", "Progress", "RefreshError", "is_url", "open_source"]
