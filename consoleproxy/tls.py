"""TLS for the front door's ``ssl:`` listeners: certificates (configured or generated once),
protocol versions, the cipher profile and ALPN, and ``ssl:`` endpoint strings.

The server context is built here with pyOpenSSL rather than Twisted's ``CertificateOptions``
because every choice below is one we must own:

* **ALPN.** Browsers and curl offer ``h2,http/1.1``. We speak HTTP/1.1 (XML-RPC, the pages,
  WebSocket upgrades, CONNECT), so that is what we select; a client offering only protocols
  we do not speak gets no ALPN answer and carries on (RFC 7301 allows that). Twisted 26.10's
  own selection callback answers "no overlap" with an empty protocol name, which OpenSSL
  turns into alert 80 for every client that offers ALPN: every browser.
* **Versions.** TLS 1.2 and 1.3 by default; 1.0/1.1 only when the operator lowers the
  minimum for old clients.
* **Ciphers.** For TLS 1.2, the forward-secret AEAD suites of Mozilla's "intermediate"
  profile (ECDHE with AES-GCM or ChaCha20-Poly1305); no CBC, no SHA-1 MACs, no RSA key
  exchange. Lowering the minimum below 1.2 adds the CBC suites those versions need.
* Compression and renegotiation are off; the server's cipher order wins.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Final

from OpenSSL import SSL
from twisted.internet.interfaces import IOpenSSLServerConnectionCreator
from twisted.logger import Logger
from twisted.protocols.tls import TLSMemoryBIOProtocol
from zope.interface import implementer

__all__ = [
    "ALPN_PROTOCOLS",
    "INTERMEDIATE_CIPHERS",
    "TLS_VERSIONS",
    "ServerTLS",
    "certificate_options",
    "ensure_certificate",
    "split_tls_endpoint",
]

log = Logger()

#: The accepted values of ``tls_minimum`` and what each means to OpenSSL.
TLS_VERSIONS: Final = {
    "1.0": SSL.TLS1_VERSION,
    "1.1": SSL.TLS1_1_VERSION,
    "1.2": SSL.TLS1_2_VERSION,
    "1.3": SSL.TLS1_3_VERSION,
}

#: TLS 1.2 suites of Mozilla's intermediate profile that need no DH parameters (TLS 1.3
#: suites are OpenSSL's defaults, all AEAD).
INTERMEDIATE_CIPHERS: Final = ":".join((
    "ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-RSA-AES128-GCM-SHA256",
    "ECDHE-ECDSA-AES256-GCM-SHA384", "ECDHE-RSA-AES256-GCM-SHA384",
    "ECDHE-ECDSA-CHACHA20-POLY1305", "ECDHE-RSA-CHACHA20-POLY1305",
))
#: What TLS 1.0/1.1 clients need on top (only when the minimum is lowered for them); the
#: security level drops to 0 because OpenSSL 3 and later refuse SHA-1 handshakes above it.
_LEGACY_CIPHERS: Final = ":".join((
    "ECDHE-ECDSA-AES128-SHA", "ECDHE-RSA-AES128-SHA", "ECDHE-ECDSA-AES256-SHA",
    "ECDHE-RSA-AES256-SHA", "AES128-GCM-SHA256", "AES256-GCM-SHA384", "AES128-SHA",
    "AES256-SHA", "@SECLEVEL=0",
))

#: Application protocols we select over ALPN, most preferred first.
ALPN_PROTOCOLS: Final = (b"http/1.1",)

# Endpoint parameters that configure TLS rather than the TCP listener under it.
_TLS_PARAMETERS: Final = frozenset({"privateKey", "certKey"})
_UNSUPPORTED_TLS_PARAMETERS: Final = frozenset({"extraCertChain", "sslmethod", "dhParameters"})

_PEM_KEY: Final = re.compile(
    rb"-----BEGIN ([A-Z ]*)PRIVATE KEY-----.+?-----END \1PRIVATE KEY-----", re.DOTALL
)


def select_alpn(offered: Sequence[bytes]) -> bytes | None:
    """The protocol to select from what a client offered, or None when we speak none."""
    for protocol in ALPN_PROTOCOLS:
        if protocol in offered:
            return protocol
    return None


@implementer(IOpenSSLServerConnectionCreator)
class ServerTLS:
    """Server-side TLS for one listener: one shared context, one Connection per client."""

    def __init__(self, context: SSL.Context) -> None:
        self._context = context

    @property
    def context(self) -> SSL.Context:
        """The shared OpenSSL context (for inspection; do not change it)."""
        return self._context

    def serverConnectionForTLS(self, tlsProtocol: TLSMemoryBIOProtocol) -> SSL.Connection:
        """A new server connection; Twisted sets its accept state and app data."""
        return SSL.Connection(self._context, None)


def _alpn_select(connection: SSL.Connection, offered: list[bytes]) -> object:
    chosen = select_alpn(offered)
    return SSL.NO_OVERLAPPING_PROTOCOLS if chosen is None else chosen


def certificate_options(cert_path: str | Path, key_path: str | Path | None,
                        minimum: str = "1.2") -> ServerTLS:
    """TLS server options from PEM files; versions below ``minimum`` are refused.

    The certificate file may hold a chain (leaf first) and, when ``key_path`` is None, the key.
    Raises ValueError when the files hold no usable key or certificate, or they do not match.
    """
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    cert_pem = Path(cert_path).read_bytes()
    key_pem = Path(key_path).read_bytes() if key_path is not None else cert_pem
    key_block = _PEM_KEY.search(key_pem)
    if key_block is None:
        raise ValueError(f"no PEM private key in {key_path or cert_path}")
    chain = x509.load_pem_x509_certificates(cert_pem)
    key = load_pem_private_key(key_block.group(0), password=None)
    version = TLS_VERSIONS[minimum]
    context = SSL.Context(SSL.TLS_METHOD)
    context.set_min_proto_version(version)
    context.set_options(SSL.OP_NO_COMPRESSION | SSL.OP_CIPHER_SERVER_PREFERENCE
                        | SSL.OP_NO_RENEGOTIATION)
    ciphers = INTERMEDIATE_CIPHERS
    if version < SSL.TLS1_2_VERSION:
        ciphers = f"{ciphers}:{_LEGACY_CIPHERS}"
    context.set_cipher_list(ciphers.encode("ascii"))
    context.use_certificate(chain[0])
    for extra in chain[1:]:
        context.add_extra_chain_cert(extra)
    try:
        context.use_privatekey(key)  # type: ignore[arg-type]
        context.check_privatekey()
    except SSL.Error:
        raise ValueError(f"the private key does not match the certificate in {cert_path}") \
            from None
    context.set_alpn_select_callback(_alpn_select)  # type: ignore[arg-type]
    return ServerTLS(context)


def ensure_certificate(state_dir: Path, host_address: str, host_name: str) -> tuple[Path, Path]:
    """(certificate, key) PEM paths under ``state_dir/tls``, made once (self-signed) and reused."""
    directory = state_dir / "tls"
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    if cert_path.is_file() and key_path.is_file():
        return cert_path, key_path
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    key = ec.generate_private_key(ec.SECP256R1())
    names: list[x509.GeneralName] = [
        x509.DNSName("localhost"),
        x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
        x509.IPAddress(ipaddress.ip_address("::1")),
    ]
    try:
        address = ipaddress.ip_address(host_address)
    except ValueError:
        names.append(x509.DNSName(host_address))
    else:
        if x509.IPAddress(address) not in names:
            names.append(x509.IPAddress(address))
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host_name[:64] or "consoleproxy")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=3650))
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    # Written under temporary names and renamed, so a crash never leaves half a key pair.
    for path, data, mode in ((key_path, key_pem, 0o600),
                             (cert_path, certificate.public_bytes(serialization.Encoding.PEM),
                              0o644)):
        temporary = path.with_suffix(".tmp")
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(data)
        os.replace(temporary, path)
    log.info("generated a self-signed TLS certificate in {path}", path=str(cert_path))
    return cert_path, key_path


def _split_unescaped(text: str) -> list[str]:
    # Endpoint strings separate fields with ':' and escape a literal ':' as '\:'.
    fields, current, escaped = [], [], False
    for char in text:
        if escaped:
            current.append("\\" + char)
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == ":":
            fields.append("".join(current))
            current = []
        else:
            current.append(char)
    fields.append("".join(current))
    return fields


def _unescape(text: str) -> str:
    out, escaped = [], False
    for char in text:
        if escaped or char != "\\":
            out.append(char)
            escaped = False
        else:
            escaped = True
    return "".join(out)


def split_tls_endpoint(description: str) -> tuple[str, dict[str, str]] | None:
    """For an ``ssl:`` endpoint string, the ``tcp:`` string under it and its TLS parameters.

    Returns None for any other endpoint. Raises ValueError for TLS parameters we do not
    support (use the configuration instead).
    """
    fields = _split_unescaped(description)
    if fields[0] != "ssl":
        return None
    kept, tls = ["tcp"], {}
    for field in fields[1:]:
        name, equals, value = field.partition("=")
        if equals and name in _TLS_PARAMETERS:
            tls[name] = _unescape(value)
        elif equals and name in _UNSUPPORTED_TLS_PARAMETERS:
            raise ValueError(f"{name}= is not supported in ssl: endpoints here")
        else:
            kept.append(field)
    return ":".join(kept), tls
