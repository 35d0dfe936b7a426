"""ASGI guard in front of the service's APIs: API key, content type, body size, concurrency, GET /metadata.

BentoML's own traffic settings give the deadline (504); this guard adds what they lack: a body-size
limit that answers 413 before the body is read whole, a concurrency cap whose 429 carries
Retry-After, 415 for anything but JSON (so no deserializer that can unpickle is ever chosen), and
the optional API key (401; header `X-API-Key` or `Authorization: Bearer`, compared in constant
time, never logged).
"""

from __future__ import annotations

import hmac
import json
import os
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from mlops_declare.contracts.service import ServiceSpec

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]

API_PATHS = frozenset({"/predict", "/predict_batch", "/metadata"})
API_KEY_HEADER = "x-api-key"
JSON_TYPES = frozenset({"application/json", ""})


async def respond(send: Send, status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> None:
    """A complete JSON response."""
    payload = json.dumps(body).encode("utf-8")
    raw = [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())]
    raw += [(key.lower().encode(), value.encode()) for key, value in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": payload})


class ServiceGuard:
    """Pure ASGI middleware, added with `Service.add_asgi_middleware(ServiceGuard, spec=SPEC)`."""

    def __init__(self, app: App, spec: ServiceSpec) -> None:
        self.app = app
        self.spec = spec
        self.in_flight = 0
        # serving.limits.max_concurrency is per replica; each worker process holds its share (as BentoML's own cap).
        self.max_in_flight = -(-spec.limits.max_concurrency // spec.workers)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] not in API_PATHS:
            await self.app(scope, receive, send)
            return
        headers = {key.decode("latin-1").lower(): value.decode("latin-1") for key, value in scope.get("headers", [])}
        offered = headers.get(API_KEY_HEADER) or _bearer(headers.get("authorization", ""))
        if self.spec.api_key_env is not None and not self._authorised(offered):
            await respond(send, 401, {"error": "missing or wrong X-API-Key header"}, {"WWW-Authenticate": "ApiKey"})
            return
        if scope["method"] == "GET" and scope["path"] == "/metadata":
            await self._metadata(send)
            return
        refusal = self._refusal(headers)
        if refusal is not None:
            await respond(send, *refusal)
            return
        self.in_flight += 1
        try:
            await self._forward(scope, receive, send, headers.get("content-length") is None)
        finally:
            self.in_flight -= 1

    def _refusal(self, headers: dict[str, str]) -> tuple[int, dict[str, Any], dict[str, str]] | None:
        """415 for anything but JSON, 413 for a declared body over the limit, 429 over the concurrency cap."""
        media_type = headers.get("content-type", "").split(";")[0].strip().lower()
        if media_type not in JSON_TYPES:
            return 415, {"error": f"content type {media_type!r} is not supported; send application/json"}, {}
        declared = headers.get("content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.spec.limits.max_body_bytes):
            return 413, self._too_large(), {}
        if self.in_flight >= self.max_in_flight:
            cap = self.spec.limits.max_concurrency
            return (
                429,
                {"error": f"more than serving.limits.max_concurrency ({cap}) requests in flight"},
                {"Retry-After": "1"},
            )
        return None

    async def _forward(self, scope: Scope, receive: Receive, send: Send, chunked: bool) -> None:
        """The request to the service; a body without Content-Length is read first, up to the limit (413 past it)."""
        if chunked:
            body = await self._read_limited(receive, self.spec.limits.max_body_bytes)
            if body is None:
                await respond(send, 413, self._too_large())
                return
            receive = _replay(body, receive)
        await self.app(scope, receive, send)

    def _too_large(self) -> dict[str, Any]:
        return {
            "error": f"request body is larger than serving.limits.max_body_bytes ({self.spec.limits.max_body_bytes} bytes)"
        }

    def _authorised(self, offered: str | None) -> bool:
        expected = os.environ.get(self.spec.api_key_env or "", "")
        if not expected or offered is None:
            return False
        return hmac.compare_digest(offered.encode("utf-8"), expected.encode("utf-8"))

    async def _metadata(self, send: Send) -> None:
        from mlops_declare.serve.loading import ServingError
        from mlops_declare.serve.runtime import current_runtime

        runtime = current_runtime()
        try:
            if runtime is None:
                raise ServingError("not ready: the service is starting")
            await respond(send, 200, runtime.metadata())
        except ServingError as exc:
            await respond(send, 503, {"error": str(exc)}, {"Retry-After": "5"})

    @staticmethod
    async def _read_limited(receive: Receive, limit: int) -> bytes | None:
        """The body of a request without Content-Length, or None as soon as it passes `limit`."""
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return b"".join(chunks)
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                return None
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)


def _bearer(value: str) -> str | None:
    """The token of `Authorization: Bearer <token>` (what BentoML's clients send with `token=`)."""
    scheme, _, token = value.partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay
