"""Fetching web-link documents, only when enabled, never from private networks."""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

import httpx

from parley.settings import IngestSettings

MAX_REDIRECTS = 5


class WebFetchError(Exception):
    pass


def check_public_url(url: str, allowed_hosts: list[str]) -> None:
    """Refuse URLs that are not http(s) or that resolve to private, loopback, link-local,
    multicast or reserved addresses (unless the host is explicitly allowed)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise WebFetchError("Only http and https links can be fetched.")
    host = parts.hostname
    if host in allowed_hosts:
        return
    try:
        infos = socket.getaddrinfo(host, parts.port or (443 if parts.scheme == "https" else 80))
    except socket.gaierror as exc:
        raise WebFetchError(f"The host {host} could not be resolved.") from exc
    for info in infos:
        address = ipaddress.ip_address(info[4][0])
        if not address.is_global or address.is_multicast:
            raise WebFetchError(
                f"The link points to a private or local address ({address}); it was not fetched."
            )


def fetch(url: str, settings: IngestSettings, max_bytes: int) -> tuple[bytes, str]:
    """Download ``url`` (following redirects, each hop checked); returns body and content type."""
    if not settings.allow_web_fetch:
        raise WebFetchError("Fetching web links is disabled on this server (PARLEY_INGEST__ALLOW_WEB_FETCH).")
    current = url
    with httpx.Client(timeout=settings.web_fetch_timeout_seconds, follow_redirects=False) as client:
        for _ in range(MAX_REDIRECTS + 1):
            check_public_url(current, settings.web_fetch_allowed_hosts)
            with client.stream("GET", current) as response:
                if response.is_redirect:
                    current = str(response.next_request.url) if response.next_request else ""
                    continue
                if response.status_code >= 400:
                    raise WebFetchError(f"The link answered HTTP {response.status_code}.")
                body = bytearray()
                for piece in response.iter_bytes():
                    body.extend(piece)
                    if len(body) > max_bytes:
                        raise WebFetchError(f"The linked document is larger than {max_bytes} bytes.")
                return bytes(body), response.headers.get("content-type", "")
    raise WebFetchError("Too many redirects.")
