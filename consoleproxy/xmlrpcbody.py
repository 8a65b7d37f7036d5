"""Reading one XML-RPC request body safely: its method name and parameters, or a fault code.

``xmlrpc.client.loads`` trusts its input in two ways a server must not:

* a document type declaration is parsed, so entities could be declared and expanded; a
  byte search for ``<!DOCTYPE`` misses one written in UTF-16 (expat decodes the body first).
  Here expat itself reports the declaration, in whatever encoding it was written, and the
  body is refused before any entity could be declared;
* nesting depth is unbounded: 20,000 nested arrays parse, and the first ``repr`` or
  recursive walk of the result raises RecursionError. Here elements nest at most
  ``max_depth`` deep (XenAPI calls need about 8).

The parse is one pass of expat feeding the standard library's Unmarshaller, so the values
are exactly those ``xmlrpc.client.loads(body, use_builtin_types=True)`` would give.
This module imports neither Twisted nor ``socket``.
"""

from __future__ import annotations

import xmlrpc.client
from typing import Any, Final
from xml.parsers import expat

__all__ = [
    "FAULT_INVALID_REQUEST",
    "FAULT_PARSE_ERROR",
    "MethodCall",
    "XmlRpcBodyError",
    "parse_method_call",
]

#: Fault codes of the XML-RPC error-code convention (specs.xmlrpc.com, "fault codes").
FAULT_PARSE_ERROR: Final = -32700
FAULT_INVALID_REQUEST: Final = -32600

MethodCall = tuple[str, tuple[Any, ...]]


class XmlRpcBodyError(ValueError):
    """The body is not an acceptable XML-RPC call; answer with a fault of ``code``."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class _Refused(Exception):
    """Raised from inside an expat handler to stop the parse at once."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def parse_method_call(body: bytes, *, max_bytes: int, max_depth: int) -> MethodCall:
    """The method name and parameters of ``body``; raises XmlRpcBodyError saying why not."""
    if len(body) > max_bytes:
        raise XmlRpcBodyError(FAULT_INVALID_REQUEST, "request too large")
    target = xmlrpc.client.Unmarshaller(use_builtin_types=True)
    parser = expat.ParserCreate(None, None)
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    depth = 0

    def start(tag: str, attributes: dict[str, str]) -> None:
        nonlocal depth
        depth += 1
        if depth > max_depth:
            raise _Refused(f"elements nested deeper than {max_depth}")
        target.start(tag, attributes)

    def end(tag: str) -> None:
        nonlocal depth
        depth -= 1
        target.end(tag)

    def no_dtd(*_: object) -> None:
        raise _Refused("document type declarations are not allowed")

    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.CharacterDataHandler = target.data
    parser.StartDoctypeDeclHandler = no_dtd
    parser.EntityDeclHandler = no_dtd
    # As ExpatParser does: None, or methodName is "decoded" again (typeshed says str).
    target.xml(None, None)  # type: ignore[arg-type]
    try:
        parser.Parse(body, True)
        params = target.close()
    except _Refused as refused:
        raise XmlRpcBodyError(FAULT_INVALID_REQUEST, refused.message) from None
    except Exception:  # expat, xmlrpc and conversion errors alike: the body is bad
        raise XmlRpcBodyError(FAULT_PARSE_ERROR, "parse error: not an XML-RPC request") \
            from None
    name = target.getmethodname()
    if name is None:
        raise XmlRpcBodyError(FAULT_INVALID_REQUEST, "not a methodCall")
    return name, tuple(params)
