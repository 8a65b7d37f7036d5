"""In-memory tests of the viewer pages on the front door: login and the session cookie, the
console list and status API, noVNC's files and their absence."""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import urlencode

import pytest

from consoleproxy.web import find_novnc, novnc_candidates, session_cookie
from tests.proxy.helpers import HALTED_CONSOLE, PASSWORD, RFB_RELAY, RFB_TEXT, Harness

HOST = "127.0.0.1:8080"


def http(harness: Harness, method: str, target: str, *, cookie: str | None = None,
         body: bytes = b"", origin: str | None = None,
         wait: float = 0.0) -> tuple[int, dict[str, str], bytes]:
    """One request through the front door (answered within ``wait`` seconds of the test's
    clock); returns status, headers (last wins) and body."""
    lines = [f"{method} {target} HTTP/1.1", f"Host: {HOST}", "Connection: close"]
    if cookie is not None:
        lines.append(f"Cookie: {cookie}")
    if origin is not None:
        lines.append(f"Origin: {origin}")
    if body:
        lines += ["Content-Type: application/x-www-form-urlencoded",
                  f"Content-Length: {len(body)}"]
    protocol, transport = harness.connect()
    protocol.dataReceived(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
    if wait:
        assert transport.value() == b"", "answered before the wait"
        harness.clock.advance(wait)
    head, _, rest = transport.value().partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in header_lines:
        name, _, value = line.partition(":")
        headers[name.lower()] = value.strip()
    return int(status_line.split()[1]), headers, rest


def login(harness: Harness, password: str = PASSWORD,
          wait: float = 0.0) -> tuple[int, dict[str, str]]:
    status, headers, _ = http(harness, "POST", "/login", origin=f"http://{HOST}",
                              body=urlencode({"username": "root", "password": password,
                                              "next": "/console.html?ref=x"}).encode(),
                              wait=wait)
    return status, headers


def test_the_pages_are_served_with_security_headers() -> None:
    """/ and /console.html are our pages, with a same-origin content security policy."""
    harness = Harness()
    for target in ("/", "/console.html?ref=x"):
        status, headers, body = http(harness, "GET", target)
        assert status == 200 and body.startswith(b"<!doctype html>")
        assert "default-src 'self'" in headers["content-security-policy"]
        assert "frame-ancestors 'none'" in headers["content-security-policy"]
    status, headers, _ = http(harness, "GET", "/static/console.js")
    assert status == 200 and headers["content-type"].startswith("text/javascript")


def test_login_sets_a_strict_http_only_session_cookie() -> None:
    """A good login answers 303 to the page asked for, with an HttpOnly SameSite cookie."""
    harness = Harness()
    status, headers = login(harness)
    assert status == 303 and headers["location"] == "/console.html?ref=x"
    cookie = headers["set-cookie"]
    name, _, rest = cookie.partition("=")
    assert name == "session_id" and rest.startswith("OpaqueRef:")
    assert "; HttpOnly" in cookie and "; SameSite=Strict" in cookie and "; Path=/" in cookie
    assert "Secure" not in cookie  # a plain listener; TLS ones add it
    assert len(harness.sessions) == 1


def test_secure_cookies_on_tls() -> None:
    """The cookie is marked Secure when the page came over TLS."""
    assert session_cookie("OpaqueRef:x", secure=True).endswith(b"; Secure")


def test_a_failed_login_goes_back_to_the_form() -> None:
    """A wrong password sets no cookie and says the login failed, after the failure delay."""
    harness = Harness()
    status, headers = login(harness, "wrong", wait=harness.config.limits.login_first_delay)
    assert status == 303 and "login=failed" in headers["location"]
    assert "set-cookie" not in headers
    assert len(harness.sessions) == 0


def test_cross_origin_logins_are_refused() -> None:
    """A form posted from another origin (or an opaque one) cannot log in."""
    harness = Harness()
    for origin in ("https://evil.example", "null"):
        status, _, _ = http(harness, "POST", "/login", origin=origin,
                            body=f"username=root&password={PASSWORD}".encode())
        assert status == 403
    assert len(harness.sessions) == 0


def test_console_list_needs_a_session_and_lists_openable_rfb_consoles() -> None:
    """Without a session the list is 401; with one it names the RFB consoles running here."""
    harness = Harness()
    status, _, body = http(harness, "GET", "/api/consoles")
    assert status == 401 and json.loads(body)["error"] == "not logged in"
    session = harness.login()
    status, headers, body = http(harness, "GET", "/api/consoles", cookie=f"session_id={session}")
    listing = json.loads(body)
    assert status == 200 and headers["cache-control"] == "no-store"
    assert listing["user"] == "root"
    assert [item["uuid"] for item in listing["consoles"]] == [RFB_TEXT, RFB_RELAY]
    assert listing["consoles"][0]["ref"] == f"OpaqueRef:{RFB_TEXT}"
    assert listing["consoles"][0]["available"] is True


@pytest.mark.parametrize(("connected", "ref", "logged_in", "expected"), [
    (True, RFB_TEXT, True, 200),
    (False, RFB_TEXT, True, 404),
    (True, HALTED_CONSOLE, True, 500),
    (True, RFB_TEXT, False, 401),
])
def test_console_status_explains_why_a_console_would_not_open(
        connected: bool, ref: str, logged_in: bool, expected: int) -> None:
    """The page learns the status a WebSocket would have got: 200, 404, 500 or 401."""
    harness = Harness(connected=connected)
    cookie = f"session_id={harness.login()}" if logged_in else None
    _, _, body = http(harness, "GET", f"/api/console?ref=OpaqueRef:{ref}", cookie=cookie)
    reply = json.loads(body)
    assert reply["status"] == expected
    assert reply["idle_timeout"] is None


def test_a_401_says_whether_a_session_was_there() -> None:
    """Without a cookie (a first visit) a 401 is not "expired"; with an ended session it is,
    so the pages say "session expired" only to someone whose session expired."""
    harness = Harness()
    session = harness.login()
    harness.sessions.logout(session)
    for target in ("/api/consoles", f"/api/console?ref=OpaqueRef:{RFB_TEXT}"):
        _, _, body = http(harness, "GET", target)
        assert json.loads(body)["expired"] is False
        _, _, body = http(harness, "GET", target, cookie=f"session_id={session}")
        assert json.loads(body)["expired"] is True


def test_logout_ends_the_session_and_clears_the_cookie() -> None:
    """Logging out ends the session and expires the cookie."""
    harness = Harness()
    session = harness.login()
    status, headers, _ = http(harness, "POST", "/logout", cookie=f"session_id={session}",
                              origin=f"http://{HOST}")
    assert status == 303 and "Max-Age=0" in headers["set-cookie"]
    assert harness.sessions.validate(session) is None


def test_novnc_files_are_served_from_its_directory_only(tmp_path: Path) -> None:
    """noVNC's modules are served from its directory; nothing outside it or hidden is."""
    (tmp_path / "core").mkdir()
    (tmp_path / "core" / "rfb.js").write_text("export default class RFB {}\n")
    (tmp_path / ".secret.js").write_text("no")
    (tmp_path / "core" / "notes.txt").write_text("no")
    harness = Harness(novnc_dir=str(tmp_path))
    status, headers, body = http(harness, "GET", "/novnc/core/rfb.js")
    assert status == 200 and body == b"export default class RFB {}\n"
    assert headers["content-type"].startswith("text/javascript")
    for target in ("/novnc/../web.py", "/novnc/%2e%2e/web.py", "/novnc/.secret.js",
                   "/novnc/core/notes.txt", "/novnc/core/", "/static/../web.py"):
        assert http(harness, "GET", target)[0] == 404, target


def test_missing_novnc_is_explained(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without noVNC the module URL answers 404 saying how to install it, and the list says so."""
    monkeypatch.setattr("consoleproxy.protocol.find_novnc", lambda configured=None: None)
    harness = Harness()
    status, _, body = http(harness, "GET", "/novnc/core/rfb.js")
    assert status == 404 and b"npm ci" in body and b"apt-get install novnc" in body
    _, _, body = http(harness, "GET", "/api/consoles")
    assert "npm ci" in json.loads(body)["novnc_missing"]


def test_novnc_search_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The configured directory comes first, then $CONSOLEPROXY_NOVNC_DIR, then installs."""
    monkeypatch.setenv("CONSOLEPROXY_NOVNC_DIR", str(tmp_path / "env"))
    candidates = novnc_candidates(tmp_path / "configured")
    assert candidates[:2] == [tmp_path / "configured", tmp_path / "env"]
    assert candidates[-1] == Path("/usr/share/novnc")
    (tmp_path / "env" / "core").mkdir(parents=True)
    (tmp_path / "env" / "core" / "rfb.js").write_text("")
    assert find_novnc(tmp_path / "configured") == tmp_path / "env"


def test_xmlrpc_still_answers_posts_to_the_root() -> None:
    """The XenAPI endpoint shares the tree: POST / is XML-RPC, not a page."""
    harness = Harness()
    body = (b"<?xml version='1.0'?><methodCall><methodName>session.login_with_password"
            b"</methodName><params><param><value><string>root</string></value></param>"
            b"<param><value><string>" + PASSWORD.encode() + b"</string></value></param>"
            b"</params></methodCall>")
    status, headers, reply = http(harness, "POST", "/", body=body)
    assert status == 200 and headers["content-type"] == "text/xml"
    assert b"Success" in reply


def test_a_websocket_upgrade_on_a_reused_connection_is_refused() -> None:
    """A console upgrade arriving after a page request on one connection is told to reconnect."""
    harness = Harness()
    protocol, transport = harness.connect()
    protocol.dataReceived(f"GET / HTTP/1.1\r\nHost: {HOST}\r\n\r\n".encode())
    protocol.dataReceived(f"GET /console?ref=x HTTP/1.1\r\nHost: {HOST}\r\n"
                          "Upgrade: websocket\r\nConnection: Upgrade\r\n\r\n".encode())
    assert b"HTTP/1.1 400 " in transport.value()
