"""Tests of VNC Authentication (DES challenge-response)."""

from __future__ import annotations

import warnings

import pytest

from vncterm.rfb.errors import LocalProtocolError
from vncterm.rfb.security import check_response, des_key, expected_response, make_challenge


def _reverse_bits(byte: int) -> int:
    return int(f"{byte:08b}"[::-1], 2)


def test_des_known_answer() -> None:
    """The response is single DES of the challenge under the bit-reversed password.

    Key 133457799BBCDFF1 enciphers 0123456789ABCDEF to 85E813540F0AB405 (the classic
    worked DES example), so the password whose reversed bytes are that key must answer it.
    """
    key = bytes.fromhex("133457799BBCDFF1")
    password = bytes(_reverse_bits(b) for b in key)
    challenge = bytes.fromhex("0123456789ABCDEF") * 2
    assert expected_response(password, challenge) == bytes.fromhex("85E813540F0AB405") * 2


def test_matches_vncdotool_client() -> None:
    """A real client's (vncdotool's) response to a challenge is the one we expect."""
    from cryptography.utils import CryptographyDeprecationWarning

    with warnings.catch_warnings():
        # vncdotool reaches TripleDES by its old, deprecated path.
        warnings.simplefilter("ignore", CryptographyDeprecationWarning)
        from vncdotool.rfb import _vnc_des, des_encrypt

        challenge = bytes(range(16))
        assert des_encrypt(_vnc_des("s3cret!"), challenge) == expected_response(
            b"s3cret!", challenge
        )


def test_only_eight_password_bytes_count() -> None:
    """Passwords are NUL-padded and cut to 8 bytes, as every VNC implementation does."""
    challenge = bytes(range(16))
    assert expected_response(b"abcdefghXYZ", challenge) == expected_response(b"abcdefgh", challenge)
    assert expected_response(b"ab", challenge) == expected_response(b"ab\0\0\0", challenge)
    assert des_key(b"\x01") == b"\x80" + bytes(7)


def test_check_response() -> None:
    """check_response accepts the right response and rejects others."""
    challenge = make_challenge(bytes(range(16)))
    right = expected_response(b"pw", challenge)
    assert check_response(b"pw", challenge, right)
    assert not check_response(b"pW", challenge, expected_response(b"pW", bytes(16)))
    assert not check_response(b"pw", challenge, right[:15])


def test_challenge_must_be_16_bytes() -> None:
    """A challenge of the wrong length is our bug."""
    with pytest.raises(LocalProtocolError):
        make_challenge(bytes(8))
