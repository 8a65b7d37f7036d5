"""The service's pieces: [proxy] settings, TLS endpoints and certificates, console-list."""

from __future__ import annotations

import ssl
import warnings
from pathlib import Path

import pytest
from cryptography import x509
from OpenSSL import SSL
from twisted.internet.testing import MemoryReactorClock

from consoleproxy.cli import demo_config_text, format_console_list
from consoleproxy.registry import ConfigError, Registry, parse_config
from consoleproxy.service import ConsoleProxy, parse_proxy_settings
from consoleproxy.tls import (
    INTERMEDIATE_CIPHERS,
    ServerTLS,
    certificate_options,
    ensure_certificate,
    split_tls_endpoint,
)
from tests.proxy.helpers import CONFIG_TEXT, RFB_RELAY, TEXT_BACKEND


def test_proxy_settings_are_checked_by_name() -> None:
    """Known [proxy] keys are read; an unknown or ill-typed one is an error naming it."""
    settings = parse_proxy_settings({"listen": ["tcp:1"], "max_sessions_per_console": 2,
                                     "tls_minimum": "1.3"})
    assert settings.listen == ("tcp:1",)
    assert settings.max_sessions_per_console == 2
    with pytest.raises(ConfigError, match=r"proxy\.listne"):
        parse_proxy_settings({"listne": ["tcp:1"]})
    with pytest.raises(ConfigError, match=r"proxy\.tls_minimum"):
        parse_proxy_settings({"tls_minimum": "1.4"})
    assert parse_proxy_settings({}).relay_thread
    assert not parse_proxy_settings({"relay_thread": False}).relay_thread
    with pytest.raises(ConfigError, match=r"proxy\.relay_thread"):
        parse_proxy_settings({"relay_thread": "no"})
    origins = parse_proxy_settings({"websocket_allowed_origins": ["https://xo.example.com"]})
    assert origins.websocket_allowed_origins == frozenset({"https://xo.example.com"})
    with pytest.raises(ConfigError, match=r"proxy\.websocket_allowed_origins"):
        parse_proxy_settings({"websocket_allowed_origins": ["xo.example.com/page"]})


def test_ssl_endpoints_split_into_tcp_and_tls_parameters() -> None:
    """ssl: endpoints become tcp: ones plus their key and certificate; others are left alone."""
    assert split_tls_endpoint("tcp:80") is None
    assert split_tls_endpoint("ssl:443:interface=127.0.0.1:privateKey=/k\\:x.pem") == (
        "tcp:443:interface=127.0.0.1", {"privateKey": "/k:x.pem"})
    assert split_tls_endpoint("ssl:0") == ("tcp:0", {})
    with pytest.raises(ValueError, match="sslmethod"):
        split_tls_endpoint("ssl:443:sslmethod=TLSv1_METHOD")


def test_self_signed_certificate_is_made_once_and_reused(tmp_path: Path) -> None:
    """A missing certificate is generated with the host's address and then kept."""
    cert, key = ensure_certificate(tmp_path, "192.0.2.7", "xenhost1")
    assert key.stat().st_mode & 0o077 == 0
    first = cert.read_bytes()
    names = x509.load_pem_x509_certificate(first).extensions.get_extension_for_class(
        x509.SubjectAlternativeName).value
    assert "192.0.2.7" in {str(ip) for ip in names.get_values_for_type(x509.IPAddress)}
    assert ensure_certificate(tmp_path, "192.0.2.7", "xenhost1") == (cert, key)
    assert cert.read_bytes() == first


def _handshake(server: ServerTLS, client: ssl.SSLContext) -> ssl.SSLObject:
    """Run a TLS handshake in memory between ``server`` and a Python ``client``; raises
    ssl.SSLError (or OpenSSL's SSL.Error) when it fails."""
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls_client = client.wrap_bio(incoming, outgoing, server_hostname="localhost")
    tls_server = server.serverConnectionForTLS(None)  # type: ignore[arg-type]
    tls_server.set_accept_state()
    for _ in range(20):
        try:
            tls_client.do_handshake()
            return tls_client
        except ssl.SSLWantReadError:
            pass
        tls_server.bio_write(outgoing.read())
        try:
            tls_server.do_handshake()
        except SSL.WantReadError:
            pass
        try:
            incoming.write(tls_server.bio_read(65536))
        except SSL.WantReadError:
            pass
    raise AssertionError("handshake did not finish")


def _client(*, maximum: ssl.TLSVersion | None = None, ciphers: str | None = None,
            alpn: list[str] | None = None) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    if maximum is not None:
        context.minimum_version = ssl.TLSVersion.MINIMUM_SUPPORTED
        context.maximum_version = maximum
    if ciphers is not None:
        context.set_ciphers(ciphers)
    if alpn is not None:
        context.set_alpn_protocols(alpn)
    return context


def test_browsers_offering_alpn_get_http_1_1(tmp_path: Path) -> None:
    """A client offering h2 and http/1.1 over ALPN (every browser, curl) is served HTTP/1.1;
    one offering only protocols we do not speak still connects, with no protocol selected."""
    cert, key = ensure_certificate(tmp_path, "127.0.0.1", "h")
    server = certificate_options(cert, key)
    offered = _handshake(server, _client(alpn=["h2", "http/1.1"]))
    assert offered.selected_alpn_protocol() == "http/1.1"
    assert _handshake(server, _client(alpn=["h2"])).selected_alpn_protocol() is None
    assert _handshake(server, _client()).selected_alpn_protocol() is None


def test_tls_1_2_is_the_default_minimum(tmp_path: Path) -> None:
    """A TLS 1.1 client is refused unless an older minimum is configured."""
    cert, key = ensure_certificate(tmp_path, "127.0.0.1", "h")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # what the test is about
        old_client = _client(maximum=ssl.TLSVersion.TLSv1_1, ciphers="DEFAULT:@SECLEVEL=0")
    with pytest.raises((ssl.SSLError, SSL.Error)):
        _handshake(certificate_options(cert, key), old_client)
    try:
        accepted = _handshake(certificate_options(cert, key, "1.0"), old_client)
    except (ssl.SSLError, SSL.Error) as error:
        pytest.skip(f"this OpenSSL cannot speak TLS 1.1 at all ({error})")
    assert accepted.version() == "TLSv1.1"
    assert _handshake(certificate_options(cert, key), _client()).version() == "TLSv1.3"


def test_tls_1_2_offers_only_forward_secret_aead_suites(tmp_path: Path) -> None:
    """TLS 1.2 clients get ECDHE with AES-GCM or ChaCha20; CBC and SHA-1 suites are refused."""
    cert, key = ensure_certificate(tmp_path, "127.0.0.1", "h")
    server = certificate_options(cert, key)
    tls12 = ssl.TLSVersion.TLSv1_2
    for cbc in ("ECDHE-ECDSA-AES128-SHA", "ECDHE-ECDSA-AES256-SHA384", "AES128-SHA"):
        with pytest.raises((ssl.SSLError, SSL.Error)):
            _handshake(server, _client(maximum=tls12, ciphers=cbc))
    chosen = _handshake(server, _client(maximum=tls12)).cipher()
    assert chosen is not None and chosen[0] in INTERMEDIATE_CIPHERS.split(":")
    assert chosen[1] == "TLSv1.2"


def test_a_key_that_does_not_match_the_certificate_is_refused(tmp_path: Path) -> None:
    """Mismatched PEM files are a clear error at start-up, not a handshake failure later."""
    cert, _ = ensure_certificate(tmp_path / "a", "127.0.0.1", "h")
    _, other_key = ensure_certificate(tmp_path / "b", "127.0.0.1", "h")
    with pytest.raises(ValueError, match="does not match"):
        certificate_options(cert, other_key)


def test_service_hosts_one_session_per_text_backend(tmp_path: Path) -> None:
    """An rfb and a vt100 console over the same text backend share one hosted session."""
    proxy = ConsoleProxy(MemoryReactorClock(), parse_config(CONFIG_TEXT), state_dir=tmp_path)
    assert list(proxy.text_consoles) == [TEXT_BACKEND]
    assert proxy.factory.text_consoles[TEXT_BACKEND] is proxy.text_consoles[TEXT_BACKEND]


def test_console_list_prints_what_xe_prints() -> None:
    """console-list shows uuid, vm-uuid, vm-name-label, protocol and location per console."""
    registry = Registry(parse_config(CONFIG_TEXT))
    text = format_console_list(registry, vm_uuid="44444444-4444-4444-8444-444444444444")
    assert text == (
        f"uuid ( RO)             : {RFB_RELAY}\n"
        "    vm-uuid ( RO)      : 44444444-4444-4444-8444-444444444444\n"
        "    vm-name-label ( RO): hvm\n"
        "    protocol ( RO)     : RFB\n"
        f"    location ( RO)     : https://127.0.0.1/console?ref=OpaqueRef:{RFB_RELAY}\n\n"
    )


def test_demo_configuration_is_valid_and_runs_this_python() -> None:
    """The embedded demo loads and its console command is this interpreter."""
    import sys

    config = parse_config(demo_config_text())
    assert [vm.name_label for vm in config.vms] == ["demo"]
    assert {console.backend.argv[0] for console in config.consoles} == {sys.executable}


def test_connection_cap_fits_the_descriptor_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    """max_connections is lowered so two descriptors per tunnel always fit under the limit."""
    import resource

    from consoleproxy.limits import Limits
    from consoleproxy.service import fit_connection_cap

    monkeypatch.setattr(resource, "getrlimit", lambda _kind: (1024, 1024))
    monkeypatch.setattr(resource, "setrlimit", lambda _kind, _value: None)
    assert fit_connection_cap(Limits(max_connections=1024), reserved=64).max_connections == 480
    assert fit_connection_cap(Limits(max_connections=100), reserved=64).max_connections == 100
