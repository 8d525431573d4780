"""Web-link fetching is off by default and never reaches private or local addresses."""

from __future__ import annotations

import pytest

from parley.ingest.web import WebFetchError, check_public_url, fetch
from parley.settings import IngestSettings


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/admin",
        "http://localhost:8000/",
        "http://10.1.2.3/",
        "http://192.168.0.10/",
        "http://172.16.5.4/",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]/",
        "http://0.0.0.0/",
    ],
)
def test_private_and_local_addresses_are_refused(url):
    with pytest.raises(WebFetchError, match="private or local"):
        check_public_url(url, allowed_hosts=[])


@pytest.mark.parametrize(
    "url", ["file:///etc/passwd", "ftp://example.com/x", "gopher://x/", "http:///nohost"]
)
def test_only_http_and_https_links_are_fetched(url):
    with pytest.raises(WebFetchError, match="http"):
        check_public_url(url, allowed_hosts=[])


def test_an_admin_allowed_host_passes_the_check():
    check_public_url("http://localhost:9/doc.html", allowed_hosts=["localhost"])


def test_fetching_is_disabled_by_default():
    with pytest.raises(WebFetchError, match="disabled"):
        fetch("https://example.com/", IngestSettings(), max_bytes=1000)


def test_enabled_fetching_still_refuses_loopback_before_connecting():
    settings = IngestSettings(allow_web_fetch=True)
    with pytest.raises(WebFetchError, match="private or local"):
        fetch("http://127.0.0.1:1/secret", settings, max_bytes=1000)


@pytest.fixture
def local_site():
    """A real HTTP server on loopback serving a page, a large body and a redirect."""
    import http.server
    import threading

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - the stdlib's name
            if self.path == "/redirect":
                self.send_response(302)
                self.send_header("Location", "http://10.0.0.1/internal")
                self.end_headers()
                return
            body = b"<h1>Hello</h1>" if self.path == "/page" else b"x" * 50_000
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_allowed_host_is_fetched_with_size_and_redirect_checks(local_site):
    settings = IngestSettings(allow_web_fetch=True, web_fetch_allowed_hosts=["127.0.0.1"])
    body, content_type = fetch(f"{local_site}/page", settings, max_bytes=1000)
    assert body == b"<h1>Hello</h1>" and content_type == "text/html"
    with pytest.raises(WebFetchError, match="larger than"):
        fetch(f"{local_site}/big", settings, max_bytes=1000)
    with pytest.raises(WebFetchError, match="private or local"):
        fetch(f"{local_site}/redirect", settings, max_bytes=1000)
