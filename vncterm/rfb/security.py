"""VNC Authentication: the DES challenge-response (RFC 6143 s7.2.2)."""

from __future__ import annotations

import hmac

from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES
from cryptography.hazmat.primitives.ciphers import Cipher, modes

from vncterm.rfb.errors import LocalProtocolError

#: Length of the challenge and of the response.
CHALLENGE_LENGTH = 16
#: Only this many bytes of a VNC password matter.
PASSWORD_KEY_LENGTH = 8

_REVERSED_BITS = bytes(int(f"{i:08b}"[::-1], 2) for i in range(256))


def make_challenge(random16: bytes) -> bytes:
    """Return the challenge to send, from 16 bytes the caller got from a secure source."""
    if len(random16) != CHALLENGE_LENGTH:
        raise LocalProtocolError(f"a challenge is {CHALLENGE_LENGTH} random bytes")
    return bytes(random16)


def des_key(password: bytes) -> bytes:
    """The DES key VNC derives from a password: 8 bytes, NUL-padded, each bit-reversed."""
    key = password[:PASSWORD_KEY_LENGTH].ljust(PASSWORD_KEY_LENGTH, b"\0")
    return key.translate(_REVERSED_BITS)


def expected_response(password: bytes, challenge: bytes) -> bytes:
    """Return the response a client knowing ``password`` sends for ``challenge``."""
    if len(challenge) != CHALLENGE_LENGTH:
        raise LocalProtocolError(f"a challenge is {CHALLENGE_LENGTH} bytes")
    # Triple DES with one key three times is single DES, which is what RFB specifies.
    encryptor = Cipher(TripleDES(des_key(password) * 3), modes.ECB()).encryptor()
    return encryptor.update(challenge) + encryptor.finalize()


def check_response(password: bytes, challenge: bytes, response: bytes) -> bool:
    """Return whether ``response`` proves knowledge of ``password``, in constant time."""
    return hmac.compare_digest(expected_response(password, challenge), response)
