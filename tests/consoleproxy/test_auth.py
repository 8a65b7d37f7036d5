"""Password hashes, the session store, and credentials found in console requests."""

from __future__ import annotations

import base64
import hashlib

import pytest

from consoleproxy.auth import (
    AnyLoggedInUser,
    AuthenticationFailed,
    Authorizer,
    SessionLimitReached,
    SessionStore,
    User,
    basic_credentials,
    hash_password,
    parse_password_hash,
    session_from_request,
    verify_password,
)
from consoleproxy.connect import PreambleParser, Request
from consoleproxy.limits import Limits
from consoleproxy.registry import BackendKind, BackendSpec, Console, ConsoleProtocol


def cheap_hash(password: str) -> str:
    """A fast scrypt hash, so the tests stay quick."""
    return hash_password(password, n=16, r=1, p=1)


class FakeClock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def make_store(limits: Limits | None = None,
               more_users: list[User] | None = None) -> tuple[SessionStore, FakeClock]:
    """A store with users alice/wonderland and bob/builder (and ``more_users``)."""
    clock = FakeClock()
    users = [
        User("alice", parse_password_hash(cheap_hash("wonderland"))),
        User("bob", parse_password_hash(cheap_hash("builder"))),
        *(more_users or []),
    ]
    return SessionStore(limits or Limits(), clock, users=users), clock


def request(data: bytes) -> Request:
    """Parse one request head."""
    parser = PreambleParser()
    parser.receive_data(data)
    event = parser.next_event()
    assert isinstance(event, Request)
    return event


def basic(user: str, password: str) -> str:
    """An Authorization header value for Basic credentials."""
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


# -- hashes ----------------------------------------------------------------------------------


def test_hash_roundtrip_and_format() -> None:
    """hash_password writes scrypt$n$r$p$salt$hash and only the right password verifies."""
    encoded = hash_password("secret", n=1024, r=8, p=1)
    parts = encoded.split("$")
    assert parts[:4] == ["scrypt", "1024", "8", "1"]
    assert verify_password("secret", encoded)
    assert not verify_password("Secret", encoded)
    assert hash_password("secret", n=1024) != hash_password("secret", n=1024)


def test_default_cost_hash_verifies() -> None:
    """The default (production) cost works within OpenSSL's memory limit."""
    encoded = hash_password("pw")
    assert encoded.startswith("scrypt$16384$8$1$")
    assert verify_password("pw", parse_password_hash(encoded))


def test_pbkdf2_hashes_are_accepted() -> None:
    """A pbkdf2_sha256$iterations$salt$hash string made by any tool verifies."""
    salt = b"0123456789abcdef"
    digest = hashlib.pbkdf2_hmac("sha256", b"pw", salt, 1000)
    salt_b64, digest_b64 = base64.b64encode(salt).decode(), base64.b64encode(digest).decode()
    encoded = f"pbkdf2_sha256$1000${salt_b64}${digest_b64}"
    assert verify_password("pw", encoded)
    assert not verify_password("px", encoded)


@pytest.mark.parametrize(
    "encoded",
    [
        "",
        "plaintext",
        "md5$abc$def",
        "scrypt$1000$8$1$c2FsdHNhbHQ$" + "A" * 43,
        "scrypt$16$0$1$c2FsdHNhbHQ$" + "A" * 43,
        "scrypt$16$8$1$c2FsdA$" + "A" * 43,
        "scrypt$16$8$1$c2FsdHNhbHQ$!!!",
        "scrypt$x$8$1$c2FsdHNhbHQ$" + "A" * 43,
        "pbkdf2_sha256$0$c2FsdHNhbHQ$" + "A" * 43,
    ],
)
def test_bad_hashes_are_refused(encoded: str) -> None:
    """Malformed hashes, weak salts and absurd costs are configuration errors."""
    with pytest.raises(ValueError):
        parse_password_hash(encoded)


# -- sessions --------------------------------------------------------------------------------


def test_login_validate_logout() -> None:
    """A login yields an OpaqueRef session that validates until logged out."""
    store, _ = make_store()
    ref = store.login("alice", "wonderland", originator="test")
    assert ref.startswith("OpaqueRef:") and len(ref) == len("OpaqueRef:") + 36
    session = store.validate(ref)
    assert session is not None
    assert (session.username, session.originator, session.ref) == ("alice", "test", ref)
    assert store.logout(ref)
    assert store.validate(ref) is None
    assert not store.logout(ref)


@pytest.mark.parametrize(
    ("user", "password"), [("alice", "wrong"), ("mallory", "wonderland"), ("alice", "")]
)
def test_login_failures(user: str, password: str) -> None:
    """A wrong password or an unknown user fails the same way."""
    store, _ = make_store()
    with pytest.raises(AuthenticationFailed) as caught:
        store.login(user, password)
    assert caught.value.username == user
    assert str(caught.value) == "Authentication failure"
    assert len(store) == 0


def test_overlong_password_fails_without_hashing() -> None:
    """A password over the cap fails at once."""
    store, _ = make_store(Limits(max_password_bytes=8))
    with pytest.raises(AuthenticationFailed):
        store.login("alice", "wonderland")


def test_sessions_expire_after_idle_time() -> None:
    """A session unused for the idle expiry is gone; activity keeps it alive."""
    store, clock = make_store(Limits(session_idle_expiry=100.0))
    busy = store.login("alice", "wonderland")
    idle = store.login("bob", "builder")
    clock.now += 60
    assert store.validate(busy) is not None
    clock.now += 60
    assert store.validate(idle) is None
    assert store.validate(busy) is not None
    clock.now += 100
    assert store.validate(busy) is None
    assert len(store) == 0


def test_least_recently_active_session_is_evicted() -> None:
    """Beyond the cap, a login evicts the session idle the longest, not the oldest."""
    store, clock = make_store(Limits(max_sessions=3))
    refs = []
    for _ in range(3):
        refs.append(store.login("alice", "wonderland"))
        clock.now += 1
    assert store.validate(refs[0]) is not None  # refs[1] is now the least recently active
    newest = store.login("bob", "builder")
    assert len(store) == 3
    assert store.validate(refs[1]) is None
    assert all(store.validate(r) is not None for r in (refs[0], refs[2], newest))


def test_default_caps_are_200_sessions_and_100_per_user() -> None:
    """The default limits keep at most 100 live sessions per user and 200 in all."""
    store, _ = make_store()
    for _ in range(105):
        store.login("alice", "wonderland", originator=f"script {_ % 3}")
    assert len(store) == store.sessions_of("alice") == 100
    for _ in range(105):
        store.login("bob", "builder", originator=f"script {_ % 3}")
    assert store.sessions_of("bob") == 100 and len(store) == 200


# -- console requests ------------------------------------------------------------------------


def test_session_from_cookie_in_any_position() -> None:
    """session_id is found wherever it sits among the cookies."""
    req = request(b"CONNECT /c HTTP/1.0\r\nCookie: a=1; session_id=OpaqueRef:s; b=2\r\n\r\n")
    assert session_from_request(req) == "OpaqueRef:s"


def test_session_from_query() -> None:
    """session_id in the query is used when there is no cookie."""
    req = request(b"CONNECT /c?ref=x&session_id=OpaqueRef%3Aq HTTP/1.0\r\n\r\n")
    assert session_from_request(req) == "OpaqueRef:q"


def test_cookie_wins_over_query() -> None:
    """With both, the cookie is looked at first, as xapi does."""
    req = request(b"CONNECT /c?session_id=OpaqueRef:q HTTP/1.0\r\nCookie: session_id=k\r\n\r\n")
    assert session_from_request(req) == "k"


def test_no_session_in_request() -> None:
    """A request without session or credentials names no session."""
    assert session_from_request(request(b"CONNECT /c HTTP/1.0\r\n\r\n")) is None


def test_basic_credentials_parsing() -> None:
    """Basic credentials decode to (username, password); odd headers count as none."""
    good = request(f"CONNECT /c HTTP/1.0\r\nAuthorization: {basic('a', 'b:c')}\r\n\r\n".encode())
    assert basic_credentials(good) == ("a", "b:c")
    for header in ("Bearer xyz", "Basic !!!", "Basic " + base64.b64encode(b"nocolon").decode()):
        req = request(f"CONNECT /c HTTP/1.0\r\nAuthorization: {header}\r\n\r\n".encode())
        assert basic_credentials(req) is None


def test_authenticate_request_with_cookie_or_query_session() -> None:
    """A live session in the cookie or the query authenticates the request."""
    store, _ = make_store()
    ref = store.login("alice", "wonderland")
    for data in (
        f"CONNECT /c HTTP/1.0\r\nCookie: x=1; session_id={ref}\r\n\r\n",
        f"CONNECT /c?session_id={ref} HTTP/1.1\r\n\r\n",
        f"CONNECT /c?session_id={ref} HTTP/1.1\r\nCookie: session_id=OpaqueRef:dead\r\n\r\n",
    ):
        result = store.authenticate_request(request(data.encode()))
        assert result.session.ref == ref
        assert not result.ephemeral


def test_authenticate_request_with_basic_password_logs_in() -> None:
    """Basic username/password make a session that the caller should end afterwards."""
    store, _ = make_store()
    header = basic("bob", "builder")
    result = store.authenticate_request(
        request(f"CONNECT /c HTTP/1.0\r\nAuthorization: {header}\r\n\r\n".encode())
    )
    assert result.ephemeral
    assert result.session.username == "bob"
    assert store.validate(result.session.ref) is not None


def test_authenticate_request_with_basic_session_ref() -> None:
    """Basic with a live session ref as the password uses that session."""
    store, _ = make_store()
    ref = store.login("alice", "wonderland")
    header = basic("", ref)
    result = store.authenticate_request(
        request(f"CONNECT /c HTTP/1.0\r\nAuthorization: {header}\r\n\r\n".encode())
    )
    assert (result.session.ref, result.ephemeral) == (ref, False)


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"CONNECT /c HTTP/1.0\r\n\r\n", "no credentials"),
        (b"CONNECT /c?session_id=OpaqueRef:dead HTTP/1.0\r\n\r\n", "session is not valid"),
        (
            f"CONNECT /c HTTP/1.0\r\nAuthorization: {basic('bob', 'nope')}\r\n\r\n".encode(),
            "Authentication failure",
        ),
    ],
)
def test_authenticate_request_failures(data: bytes, reason: str) -> None:
    """Missing credentials, a dead session and a wrong password all fail (a 401)."""
    store, _ = make_store()
    with pytest.raises(AuthenticationFailed) as caught:
        store.authenticate_request(request(data))
    assert caught.value.reason == reason


def test_any_logged_in_user_authorizer_allows_everything() -> None:
    """The tenant-less authorizer lets every session see and open every console."""
    store, _ = make_store()
    session = store.validate(store.login("alice", "wonderland"))
    assert session is not None
    console = Console(
        uuid="76825670-6b1e-439b-b2c1-eccaa11fbc0f",
        protocol=ConsoleProtocol.RFB,
        vm_uuid="f4029d84-2d86-4d45-b6b1-1fb65d2a9dc3",
        backend=BackendSpec(BackendKind.TCP, "tcp:127.0.0.1:5901", host="127.0.0.1", port=5901),
    )
    authorizer: Authorizer = AnyLoggedInUser()
    assert authorizer.refusal(session, console) is None


# -- session caps ----------------------------------------------------------------------------


def test_one_users_logins_never_end_another_users_session() -> None:
    """300 logins by alice leave bob's one session alive (the cap is per user)."""
    store, clock = make_store()
    bobs = store.login("bob", "builder", originator="XenCenter")
    for _ in range(300):
        clock.now += 1
        store.login("alice", "wonderland")
    assert store.validate(bobs) is not None
    assert store.sessions_of("alice") == 50  # all from one originator ("")


def test_an_originator_past_its_cap_loses_its_own_oldest_session() -> None:
    """A script logging in again and again ends its own sessions, not the same user's
    XenCenter session."""
    store, clock = make_store(Limits(max_sessions_per_originator=3))
    xencenter = store.login("alice", "wonderland", originator="XenCenter")
    scripted = []
    for _ in range(5):
        clock.now += 1
        scripted.append(store.login("alice", "wonderland", originator="script"))
    assert store.validate(xencenter) is not None
    assert [store.validate(ref) is not None for ref in scripted] == [False, False] + [True] * 3


def test_the_global_cap_takes_from_the_heaviest_user_never_an_only_session() -> None:
    """At the global cap a login ends a session of the user holding the most; when that
    would be someone else's only session, the login fails instead."""
    users = [User(name, parse_password_hash(cheap_hash(name))) for name in ("carol", "dave")]
    store, clock = make_store(Limits(max_sessions=3), more_users=users)
    alice_first = store.login("alice", "wonderland")
    clock.now += 1
    alice_second = store.login("alice", "wonderland")
    clock.now += 1
    bobs = store.login("bob", "builder")
    clock.now += 1
    carols = store.login("carol", "carol")
    assert store.validate(alice_first) is None  # alice held two: her older one went
    assert all(store.validate(ref) for ref in (alice_second, bobs, carols))
    with pytest.raises(SessionLimitReached):
        store.login("dave", "dave")
    assert all(store.validate(ref) for ref in (alice_second, bobs, carols))
    again = store.login("bob", "builder")  # bob may replace his own only session
    assert store.validate(bobs) is None and store.validate(again) is not None


def test_a_password_check_runs_apart_and_hides_the_password() -> None:
    """The costly part of a login is a value any thread may run; its repr has no password."""
    store, _ = make_store()
    check = store.password_check("alice", "wonderland")
    assert check.run() is True
    assert "wonderland" not in repr(check)
    assert store.password_check("alice", "nope").run() is False
    assert store.password_check("mallory", "wonderland").run() is False
    assert len(store) == 0  # a check alone opens no session
