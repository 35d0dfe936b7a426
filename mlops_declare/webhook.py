"""The one webhook poster (standard library only): monitoring alerts and Airflow failure notices POST
JSON through `post_json`, which retries, never raises, and never shows more of the URL than
scheme://host[:port] (a webhook's path or query often is its secret, and a URL may carry a password).
"""

from __future__ import annotations

import base64
import http.client
import json
import logging
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from typing import Any
from urllib.parse import unquote, urlsplit, urlunsplit

LOGGER = logging.getLogger("mlops_declare.webhook")
RETRY_BASE_S = 0.2
"""Wait before the first retry; each later retry waits twice as long."""


def endpoint_of(url: str) -> str:
    """`scheme://host[:port]` of `url`: what messages, logs and results may show of a webhook."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port is not None else ""
    except ValueError:
        return "<unparseable URL>"
    if ":" in host:
        host = f"[{host}]"
    return f"{parts.scheme}://{host}{port}" if parts.scheme else "<URL without a scheme>"


def post_json(
    url: str, payload: Mapping[str, Any], timeout_s: float, retries: int = 0, *, purpose: str = "webhook"
) -> dict[str, Any]:
    """POST `payload` as JSON; retry `retries` times with exponential backoff; never raise.

    Returns `{"ok", "endpoint", "attempts", "status"}` plus `"error"` when it failed; `endpoint` is
    `endpoint_of(url)`. Credentials in the URL (`https://user:token@host/...`) are sent as HTTP Basic
    authentication. A failure is logged once, as "<purpose> to <endpoint> failed after N attempt(s)".
    """
    endpoint = endpoint_of(url)
    body = json.dumps(payload, default=str).encode("utf-8")
    status: int | None = None
    error = ""
    for attempt in range(retries + 1):
        if attempt:
            time.sleep(RETRY_BASE_S * 2 ** (attempt - 1))
        try:
            with urllib.request.urlopen(_request(url, body), timeout=timeout_s) as response:
                status = int(response.status)
        except urllib.error.HTTPError as exc:
            status, error = exc.code, f"HTTP {exc.code}"
            continue
        except (urllib.error.URLError, http.client.HTTPException, OSError, ValueError) as exc:
            error = _without_url(str(getattr(exc, "reason", exc)), url)
            continue
        if 200 <= status < 300:
            return {"ok": True, "endpoint": endpoint, "attempts": attempt + 1, "status": status}
        error = f"HTTP {status}"
    LOGGER.error("%s to %s failed after %d attempt(s): %s", purpose, endpoint, retries + 1, error)
    return {"ok": False, "endpoint": endpoint, "attempts": retries + 1, "status": status, "error": error}


def _request(url: str, body: bytes) -> urllib.request.Request:
    """The POST request; user and password move from the URL into an Authorization header."""
    parts = urlsplit(url)
    headers = {"Content-Type": "application/json"}
    if parts.username is not None or parts.password is not None:
        credentials = f"{unquote(parts.username or '')}:{unquote(parts.password or '')}"
        headers["Authorization"] = "Basic " + base64.b64encode(credentials.encode("utf-8")).decode("ascii")
        netloc = parts.netloc.rpartition("@")[2]
        url = urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
    return urllib.request.Request(url, data=body, method="POST", headers=headers)


def _without_url(message: str, url: str) -> str:
    """An error message with every part of the URL past scheme://host cut out (some errors quote the URL)."""
    try:
        parts = urlsplit(url)
        secrets = [url, parts.netloc, parts.path, parts.query, parts.username, parts.password]
        secrets += [unquote(secret) for secret in secrets if secret]
    except ValueError:
        secrets = [url]
    for secret in sorted((s for s in secrets if s and s != "/"), key=len, reverse=True):
        message = message.replace(secret, "<hidden>")
    return message
