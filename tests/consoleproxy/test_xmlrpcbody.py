"""Reading XML-RPC request bodies: DTDs refused in any encoding, nesting bounded, values as
the standard library reads them."""

from __future__ import annotations

import xmlrpc.client

import pytest
from hypothesis import given
from hypothesis import strategies as st

from consoleproxy.xmlrpcbody import (
    FAULT_INVALID_REQUEST,
    FAULT_PARSE_ERROR,
    XmlRpcBodyError,
    parse_method_call,
)

BOMB = (b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaaaaaaaa">'
        b'<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]>'
        b"<methodCall><methodName>&b;</methodName></methodCall>")


def parse(body: bytes, max_depth: int = 64) -> tuple[str, tuple[object, ...]]:
    return parse_method_call(body, max_bytes=1 << 20, max_depth=max_depth)


@pytest.mark.parametrize(("encoding", "bom"), [("utf-8", b""), ("utf-16-le", b"\xff\xfe"),
                                               ("utf-16-be", b"\xfe\xff")])
def test_a_dtd_is_refused_in_any_encoding(encoding: str, bom: bytes) -> None:
    """A document type declaration is refused whatever encoding hides it from a byte search."""
    text = BOMB.decode("ascii").replace('<?xml version="1.0"?>',
                                        f'<?xml version="1.0" encoding="{encoding[:6]}"?>')
    body = bom + text.encode(encoding)
    assert (b"<!DOCTYPE" in body) == (encoding == "utf-8")
    with pytest.raises(XmlRpcBodyError) as caught:
        parse(body)
    assert caught.value.code == FAULT_INVALID_REQUEST
    assert "document type" in caught.value.message


def test_deep_nesting_is_refused_before_any_value_is_built() -> None:
    """20,000 nested arrays are refused as too deep instead of raising RecursionError later."""
    depth = 20_000
    value = "<value><array><data>" * depth + "</data></array></value>" * depth
    body = (f"<methodCall><methodName>VM.get_record</methodName><params><param>{value}"
            "</param></params></methodCall>").encode()
    with pytest.raises(XmlRpcBodyError, match="nested deeper than 64"):
        parse(body)


def test_nesting_up_to_the_cap_is_accepted() -> None:
    """A call within the depth cap parses to the values it holds."""
    nested: object = "x"
    for _ in range(5):
        nested = [nested]
    body = xmlrpc.client.dumps((nested,), "VM.get_record").encode()
    assert parse(body, max_depth=32) == ("VM.get_record", (nested,))
    with pytest.raises(XmlRpcBodyError, match="nested deeper than 8"):
        parse(body, max_depth=8)


@pytest.mark.parametrize("body", [b"", b"not xml", b"<methodCall>", b"\xff\xfe\x00"])
def test_malformed_bodies_are_parse_errors(body: bytes) -> None:
    """Bodies that are not XML are parse errors, never exceptions of another kind."""
    with pytest.raises(XmlRpcBodyError) as caught:
        parse(body)
    assert caught.value.code == FAULT_PARSE_ERROR


def test_a_response_is_not_a_call() -> None:
    """A methodResponse is refused as an invalid request."""
    body = xmlrpc.client.dumps(("x",), methodresponse=True).encode()
    with pytest.raises(XmlRpcBodyError, match="not a methodCall"):
        parse(body)


def test_an_oversized_body_is_refused_unparsed() -> None:
    """A body over the byte cap is refused without parsing it."""
    with pytest.raises(XmlRpcBodyError, match="too large"):
        parse_method_call(b"<" * 101, max_bytes=100, max_depth=64)


# Characters XML 1.0 can carry as they are (no controls, no surrogates, no lone CR).
_xml_text = st.text(st.characters(blacklist_categories=("Cs", "Cc"),
                                  blacklist_characters="\ufffe\uffff"))
_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**31), 2**31 - 1) | _xml_text | st.binary()
    | st.floats(allow_nan=False),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_xml_text, inner, max_size=4),
    max_leaves=20,
)


@given(st.lists(_values, max_size=4), st.from_regex(r"[A-Za-z][A-Za-z0-9_.]{0,30}", fullmatch=True))
def test_values_are_those_the_standard_library_reads(params: list[object], name: str) -> None:
    """Any call the standard library writes parses to exactly what it would read back."""
    body = xmlrpc.client.dumps(tuple(params), name, allow_none=True).encode("utf-8")
    expected = xmlrpc.client.loads(body, use_builtin_types=True)
    assert parse(body) == (expected[1], expected[0])
