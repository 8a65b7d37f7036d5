"""The failed-authentication throttle: growing delays, peer blocks, decay, bounded memory."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from vncterm.auththrottle import AuthThrottle, peer_key
from vncterm.limits import AuthThrottleLimits

LIMITS = AuthThrottleLimits(block_after=5, block_seconds=60.0, block_max_seconds=900.0,
                            first_delay=0.5, max_delay=8.0, forget_seconds=60.0,
                            max_entries=100)


def test_refusal_delays_double_per_failure_up_to_the_maximum() -> None:
    """Each failure of the same user waits twice as long as the last, never past max_delay."""
    throttle = AuthThrottle(LIMITS)
    # Different peers, one user: no block gets in the way of the user's growing delay.
    delays = [throttle.failed(f"10.0.0.{i}", "root", 100.0) for i in range(8)]
    assert delays == [0.5, 1.0, 2.0, 4.0, 8.0, 8.0, 8.0, 8.0]


def test_a_peer_is_blocked_after_five_failures_even_for_the_right_password() -> None:
    """The fifth failure blocks the peer; the block ends, and one more failure blocks again,
    twice as long."""
    throttle = AuthThrottle(LIMITS)
    for _ in range(4):
        throttle.failed("192.0.2.7", "root", 100.0)
        assert throttle.blocked_for("192.0.2.7", 100.0) == 0.0
    throttle.failed("192.0.2.7", "root", 100.0)
    assert throttle.blocked_for("192.0.2.7", 100.0) == 60.0
    assert throttle.blocked_for("192.0.2.8", 100.0) == 0.0  # other peers are not blocked
    throttle.succeeded("192.0.2.7", "root", 130.0)  # a success does not lift a block
    assert throttle.blocked_for("192.0.2.7", 130.0) == 30.0
    assert throttle.blocked_for("192.0.2.7", 160.0) == 0.0
    throttle.failed("192.0.2.7", "root", 160.0)
    assert throttle.blocked_for("192.0.2.7", 160.0) == 120.0


def test_users_are_delayed_but_never_blocked() -> None:
    """Failures as one user from many peers block none of the peers that did not fail
    themselves, and the user's own penalty is a delay of at most max_delay."""
    throttle = AuthThrottle(LIMITS)
    for i in range(50):
        throttle.failed(f"10.1.0.{i}", "root", 100.0)
    assert throttle.blocked_for("10.9.9.9", 100.0) == 0.0
    assert throttle.failed("10.9.9.9", "root", 100.0) == LIMITS.max_delay


def test_success_resets_the_users_count_but_not_the_peers() -> None:
    """A success clears the user's penalty; the peer's failures stay counted (a guesser with
    one valid account must not clear its own record)."""
    throttle = AuthThrottle(LIMITS)
    for _ in range(3):
        throttle.failed("10.2.0.1", "alice", 100.0)
    throttle.succeeded("10.2.0.1", "alice", 100.0)
    assert throttle.failed("10.3.0.1", "alice", 100.0) == 0.5  # the user starts again
    assert throttle.failed("10.2.0.1", "bob", 100.0) == 4.0  # the peer's fourth failure


def test_failures_are_forgotten_with_time() -> None:
    """One failure is forgotten every forget_seconds, so an old typo costs nothing."""
    throttle = AuthThrottle(LIMITS)
    for _ in range(4):
        throttle.failed("10.4.0.1", "carol", 100.0)
    assert throttle.failed("10.4.0.1", "carol", 100.0 + 4 * 60.0) == 0.5
    assert len(throttle) == 2
    throttle.blocked_for("10.4.0.1", 100.0 + 6 * 60.0)
    assert throttle.failed("10.5.0.1", "dave", 100.0 + 6 * 60.0) == 0.5


def test_memory_is_bounded() -> None:
    """A flood of distinct peers and user names keeps at most max_entries of each."""
    throttle = AuthThrottle(LIMITS)
    for i in range(1000):
        throttle.failed(f"10.{i // 250}.{i % 250}.1", f"user{i}", 100.0)
    assert len(throttle) == 2 * LIMITS.max_entries


def test_ipv6_peers_count_per_64_and_mapped_ipv4_as_ipv4() -> None:
    """Addresses in one IPv6 /64 share a count; a v4-mapped address is its IPv4 address."""
    assert peer_key("2001:db8:1:2::1") == peer_key("2001:db8:1:2:ffff::9") == "2001:db8:1:2::/64"
    assert peer_key("::ffff:192.0.2.1") == "192.0.2.1"
    assert peer_key("unix") == "unix"
    throttle = AuthThrottle(LIMITS)
    for i in range(5):
        throttle.failed(f"2001:db8::{i + 1}", None, 100.0)
    assert throttle.blocked_for("2001:db8::ffff", 100.0) > 0
    assert throttle.blocked_for("2001:db8:0:1::1", 100.0) == 0.0


events = st.lists(
    st.tuples(
        st.sampled_from(["fail", "succeed", "check"]),
        st.integers(0, 30),
        st.one_of(st.none(), st.integers(0, 30)),
        st.floats(0.0, 120.0),
    ),
    max_size=200,
)


@given(events)
def test_any_history_keeps_delays_blocks_and_memory_within_the_limits(
    history: list[tuple[str, int, int | None, float]],
) -> None:
    """Whatever happens, a delay is within [first_delay, max_delay], a block never lasts
    longer than block_max_seconds, and the tables never pass max_entries."""
    limits = AuthThrottleLimits(max_entries=8)
    throttle = AuthThrottle(limits)
    now = 0.0
    for kind, peer, user, step in history:
        now += step
        address = f"10.0.0.{peer}"
        name = None if user is None else f"u{user}"
        if kind == "fail":
            delay = throttle.failed(address, name, now)
            assert limits.first_delay <= delay <= limits.max_delay
        elif kind == "succeed":
            throttle.succeeded(address, name, now)
        assert 0.0 <= throttle.blocked_for(address, now) <= limits.block_max_seconds
        assert len(throttle) <= 2 * limits.max_entries
