"""The front door asks a hosted console whether it has room for one more viewer of a user."""

from __future__ import annotations

from consoleproxy.connect import error_reply, ok_reply
from tests.proxy.helpers import RFB_TEXT, Harness
from tests.proxy.test_protocol import GREETING, connect_request
from vncterm.limits import Limits


def test_a_user_at_their_viewer_cap_gets_503_before_the_200() -> None:
    """A user with max_viewers_per_user viewers open on a hosted console gets 503 for one more;
    closing one gives the seat back."""
    harness = Harness()
    harness.console.limits = Limits(max_viewers_per_user=2)
    session = harness.login()
    opened = []
    for _ in range(2):
        protocol, transport = harness.connect()
        protocol.dataReceived(connect_request(RFB_TEXT, session))
        assert transport.value() == ok_reply() + GREETING
        opened.append((protocol, transport))
    protocol, transport = harness.connect()
    protocol.dataReceived(connect_request(RFB_TEXT, session))
    assert transport.value() == error_reply(503, "1.0")
    assert transport.disconnecting
    first, _ = opened[0]
    first.connectionLost()
    protocol, transport = harness.connect()
    protocol.dataReceived(connect_request(RFB_TEXT, session))
    assert transport.value() == ok_reply() + GREETING
