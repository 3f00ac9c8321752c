"""What stands between `fakescope serve` and other websites, as one ASGI middleware in front of
every route (before any body is read):

- a Host allow-list: a page on another site whose name was re-pointed at this machine (DNS
  rebinding) sends its own name as Host and is refused (400);
- no cross-site state change: a POST/PUT/PATCH/DELETE whose ``Sec-Fetch-Site`` is not
  ``same-origin``/``none``, or whose ``Origin`` is not this server's, is refused (403) — a
  token-less loopback server would otherwise take uploads and deletions from any page the user
  visits; clients that send neither header (curl, scripts) are not browsers acting for a site;
- security headers on every response: a strict CSP (scripts, styles and frames from this
  origin only), ``X-Frame-Options: DENY``, ``nosniff``, ``no-referrer``, and ``no-store`` on
  the API.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from urllib.parse import urlsplit

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
SAME_SITE_FETCH = frozenset({"same-origin", "none"})

SECURITY_HEADERS = (
    (b"content-security-policy",
     b"default-src 'self'; img-src 'self' blob: data:; object-src 'none'; base-uri 'none'; "
     b"frame-ancestors 'none'; form-action 'self'"),
    (b"x-frame-options", b"DENY"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"cross-origin-resource-policy", b"same-origin"),
)


def host_name(host: str) -> str:
    """The name in a Host header or URL authority, without port, brackets or final dot."""
    host = host.strip().lower()
    if host.startswith("["):  # [v6]:port
        return host[1:].split("]", 1)[0]
    if host.count(":") == 1:
        host = host.split(":", 1)[0]
    return host.rstrip(".")


def allowed_hosts(listen_host: str, extra: Iterable[str] = ()) -> frozenset[str]:
    """Host names the server answers to: the one it listens on (with the loopback names when
    that is loopback or every interface) plus `extra` (``--allowed-host``)."""
    names = {host_name(listen_host)} | {host_name(h) for h in extra if h.strip()}
    if names & set(LOOPBACK_HOSTS) or listen_host in ("0.0.0.0", "::", ""):
        names |= set(LOOPBACK_HOSTS)
    names -= {"0.0.0.0", "::", ""}
    return frozenset(names)


class Guard:
    """ASGI middleware: Host allow-list, cross-site refusal, security headers."""

    def __init__(self, app: ASGIApp, hosts: Iterable[str]) -> None:
        self.app = app
        self.hosts = frozenset(host_name(h) for h in hosts)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        api = scope.get("path", "").startswith("/api/")

        async def send_secured(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = {k.lower() for k, _ in message.get("headers", [])}
                extra = [(k, v) for k, v in SECURITY_HEADERS if k not in present]
                if api and b"cache-control" not in present:
                    extra.append((b"cache-control", b"no-store"))
                message["headers"] = list(message.get("headers", [])) + extra
            await send(message)

        refusal = self._refusal(scope, headers)
        if refusal is None:
            await self.app(scope, receive, send_secured)
            return
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008})
            return
        status, detail = refusal
        body = json.dumps({"detail": detail}).encode()
        await send_secured({"type": "http.response.start", "status": status,
                            "headers": [(b"content-type", b"application/json"),
                                        (b"content-length", str(len(body)).encode())]})
        await send_secured({"type": "http.response.body", "body": body})

    def _refusal(self, scope: Scope, headers: Headers) -> tuple[int, str] | None:
        host = headers.get("host", "")
        if host_name(host) not in self.hosts:
            return 400, ("this server does not answer to that Host name (start it with "
                         "--allowed-host NAME to add one)")
        if scope["type"] == "http" and scope["method"] in SAFE_METHODS:
            return None
        site = headers.get("sec-fetch-site")
        if site is not None and site.lower() not in SAME_SITE_FETCH:
            return 403, "cross-site requests may not change anything here"
        origin = headers.get("origin")
        if origin is not None and (origin == "null" or urlsplit(origin).netloc.lower()
                                   != host.strip().lower()):
            return 403, "cross-origin requests may not change anything here"
        return None
