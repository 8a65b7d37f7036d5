"""Who may open a console: password hashes, XenAPI sessions, credentials in a console
request, and the :class:`Authorizer` plug-in point.

Choices (documented because real clients differ):

* A console request names its session in the ``session_id`` cookie (XenCenter, Xen
  Orchestra) or the ``session_id`` query parameter (``xe console``, nova). The cookie is
  looked at first, as xapi does; a cookie holding a session that is no longer alive does not
  hide a valid one in the query.
* HTTP Basic credentials (RFC 7617) are also accepted: a password that is a live session ref
  is taken as that session (so ``Basic`` with ``:OpaqueRef:...`` works); otherwise the
  username and password log in, creating a session the caller should end when the console
  connection closes (:attr:`Authenticated.ephemeral`).
* Password hashes are ``scrypt$<n>$<r>$<p>$<salt_b64>$<hash_b64>`` (the default written by
  :func:`hash_password`) or ``pbkdf2_sha256$<iterations>$<salt_b64>$<hash_b64>``. Checking
  an unknown user still costs one hash, so timing does not reveal which users exist.
* Sessions live in memory only; restarting the proxy logs everyone out.
* Session caps (``consoleproxy.limits``) keep one user's logins from ending another user's
  session: a user past ``max_sessions_per_originator`` sessions from one originator loses
  that originator's least recently active one (xapi evicts per originator too), a user past
  ``max_sessions_per_user`` loses their own least recently active one, and at the global
  ``max_sessions`` backstop a session of the user holding the most goes, unless that would be
  someone else's only session: then the login fails.
* A login is split in three so the costly hash can run off the event loop:
  :meth:`SessionStore.password_check` (cheap, on the loop), :meth:`PasswordCheck.run`
  (the hash: any thread, touches nothing shared) and :meth:`SessionStore.open_session`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
import uuid
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final, Protocol, TypeVar

from consoleproxy.connect import Request
from consoleproxy.limits import DEFAULT_LIMITS, Limits
from consoleproxy.roles import DEFAULT_ROLE, Role

if TYPE_CHECKING:
    from consoleproxy.registry import VM, Console

__all__ = [
    "AnyLoggedInUser",
    "Authenticated",
    "AuthenticationFailed",
    "Authorizer",
    "PasswordCheck",
    "PasswordHash",
    "Session",
    "SessionLimitReached",
    "SessionStore",
    "User",
    "basic_credentials",
    "hash_password",
    "parse_password_hash",
    "session_from_request",
    "verify_password",
]

#: Prefix of every reference, as in the XenAPI.
OPAQUE_REF_PREFIX: Final = "OpaqueRef:"

#: Default scrypt cost: 16 MiB of memory and tens of milliseconds per check.
SCRYPT_N: Final = 1 << 14
SCRYPT_R: Final = 8
SCRYPT_P: Final = 1
#: Caps on what a configured hash may ask for, so a typo cannot make every login hang.
MAX_SCRYPT_N: Final = 1 << 20
MAX_PBKDF2_ITERATIONS: Final = 10_000_000
_KEY_BYTES: Final = 32


class AuthenticationFailed(Exception):
    """A login or a console request did not prove who it is.

    ``username`` may be empty (no credentials at all); ``reason`` carries no secrets.
    """

    def __init__(self, username: str, reason: str) -> None:
        super().__init__(username, reason)
        self.username = username
        self.reason = reason

    def __str__(self) -> str:
        return self.reason


class SessionLimitReached(AuthenticationFailed):
    """The password was right, but the global session cap leaves no session to give."""


# -- password hashes -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PasswordHash:
    """A parsed password hash; ``params`` are (n, r, p) for scrypt, (iterations,) for PBKDF2."""

    algorithm: str
    params: tuple[int, ...]
    salt: bytes
    digest: bytes

    def derive(self, password: bytes) -> bytes:
        """The digest ``password`` yields under this hash's algorithm, salt and cost."""
        if self.algorithm == "scrypt":
            n, r, p = self.params
            # OpenSSL refuses unless maxmem covers both the V array and the B blocks.
            maxmem = 128 * r * (n + 2) + 128 * r * p + (1 << 20)
            return hashlib.scrypt(
                password, salt=self.salt, n=n, r=r, p=p, maxmem=maxmem, dklen=len(self.digest)
            )
        (iterations,) = self.params
        return hashlib.pbkdf2_hmac(
            "sha256", password, self.salt, iterations, dklen=len(self.digest)
        )


def _b64encode(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii").rstrip("=")


def _b64decode(text: str) -> bytes:
    padded = text + "=" * (-len(text) % 4)
    return base64.b64decode(padded.encode("ascii"), validate=True)


def parse_password_hash(encoded: str) -> PasswordHash:
    """Parse and check a stored hash; raises ValueError saying what is wrong with it."""
    parts = encoded.split("$")
    try:
        if parts[0] == "scrypt" and len(parts) == 6:
            n, r, p = (int(x) for x in parts[1:4])
            if n < 2 or n & (n - 1) or n > MAX_SCRYPT_N:
                raise ValueError(f"scrypt n must be a power of two from 2 to {MAX_SCRYPT_N}")
            if not 1 <= r <= 64 or not 1 <= p <= 16:
                raise ValueError("scrypt r must be 1..64 and p 1..16")
            params: tuple[int, ...] = (n, r, p)
            salt, digest = _b64decode(parts[4]), _b64decode(parts[5])
        elif parts[0] == "pbkdf2_sha256" and len(parts) == 4:
            iterations = int(parts[1])
            if not 1 <= iterations <= MAX_PBKDF2_ITERATIONS:
                raise ValueError("pbkdf2_sha256 iterations out of range")
            params = (iterations,)
            salt, digest = _b64decode(parts[2]), _b64decode(parts[3])
        else:
            raise ValueError(
                "expected scrypt$n$r$p$salt$hash or pbkdf2_sha256$iterations$salt$hash"
            )
    except (binascii.Error, UnicodeEncodeError):
        raise ValueError("salt and hash must be base64") from None
    if len(salt) < 8 or len(digest) < 16:
        raise ValueError("salt must be at least 8 bytes and hash at least 16")
    return PasswordHash(parts[0], params, salt, digest)


def hash_password(
    password: str,
    *,
    n: int = SCRYPT_N,
    r: int = SCRYPT_R,
    p: int = SCRYPT_P,
    salt: bytes | None = None,
) -> str:
    """A new ``scrypt$n$r$p$salt$hash`` string for ``password`` (random 16-byte salt)."""
    salt = secrets.token_bytes(16) if salt is None else salt
    template = PasswordHash("scrypt", (n, r, p), salt, b"\0" * _KEY_BYTES)
    digest = template.derive(password.encode("utf-8"))
    encoded = f"scrypt${n}${r}${p}${_b64encode(salt)}${_b64encode(digest)}"
    parse_password_hash(encoded)  # refuses costs the loader would refuse
    return encoded


def verify_password(password: str, stored: PasswordHash | str) -> bool:
    """Whether ``password`` matches ``stored``, compared in constant time."""
    if isinstance(stored, str):
        stored = parse_password_hash(stored)
    return hmac.compare_digest(stored.derive(password.encode("utf-8")), stored.digest)


# A hash no password matches, for a store without users.
_DECOY: Final = PasswordHash("scrypt", (SCRYPT_N, SCRYPT_R, SCRYPT_P), b"\0" * 16, b"\0" * 32)


# -- users and sessions ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class User:
    """A user from the configuration."""

    name: str
    password_hash: PasswordHash
    role: Role = DEFAULT_ROLE


@dataclass(frozen=True, slots=True)
class Session:
    """A live XenAPI session."""

    #: "OpaqueRef:<uuid4>": a bearer secret, never logged.
    ref: str
    username: str
    #: The clock's reading at login.
    created: float
    #: The originator a XenAPI client gave at login ("" when none).
    originator: str = ""


@dataclass(frozen=True, slots=True)
class Authenticated:
    """A console request's session, and whether it was made just for that request."""

    session: Session
    #: True when Basic username/password logged in for this request: log it out at close.
    ephemeral: bool


@dataclass(frozen=True, slots=True)
class PasswordCheck:
    """One password to check against one stored hash: the costly part of a login.

    :meth:`run` touches nothing shared, so it may run on any thread.
    """

    username: str
    #: False for a user not in the configuration (checked against a decoy hash, so that
    #: timing does not tell which users exist; then it never passes).
    known: bool
    stored: PasswordHash
    password: bytes = field(repr=False)

    def run(self) -> bool:
        """Whether the password matches (constant-time comparison)."""
        matched = hmac.compare_digest(self.stored.derive(self.password), self.stored.digest)
        return matched and self.known


@dataclass(slots=True)
class _Live:
    session: Session
    last_active: float


class SessionStore:
    """Live sessions: login, validation (which counts as activity), logout and expiry.

    Sessions are capped per originator, per user and in all (see the module docstring). A
    session unused for ``limits.session_idle_expiry`` seconds expires. ``clock`` must never
    go backwards (``time.monotonic`` or a test clock).
    """

    def __init__(
        self,
        limits: Limits = DEFAULT_LIMITS,
        clock: Callable[[], float] | None = None,
        *,
        users: Iterable[User] = (),
    ) -> None:
        if clock is None:
            import time

            clock = time.monotonic
        self._limits = limits
        self._clock = clock
        self._users = {user.name: user for user in users}
        # Unknown users are checked against a hash as costly as a real one, so timing does
        # not tell which users exist.
        model = next(iter(self._users.values())).password_hash if self._users else _DECOY
        self._decoy = PasswordHash(model.algorithm, model.params, b"\0" * 16, b"\0" * 32)
        # Ordered by last activity, least recent first: expiry takes from the front. The
        # per-user and per-originator views keep the same order, for eviction within them.
        self._sessions: OrderedDict[str, _Live] = OrderedDict()
        self._by_user: dict[str, OrderedDict[str, None]] = {}
        self._by_originator: dict[tuple[str, str], OrderedDict[str, None]] = {}

    def __len__(self) -> int:
        self._expire()
        return len(self._sessions)

    def user(self, username: str) -> User | None:
        """The configured user called ``username``, or None."""
        return self._users.get(username)

    def sessions_of(self, username: str) -> int:
        """How many live sessions ``username`` holds."""
        self._expire()
        return len(self._by_user.get(username, ()))

    def login(self, username: str, password: str, *, originator: str = "") -> str:
        """Check the password here and now and return a new session ref, or raise
        AuthenticationFailed. (The service checks off the event loop instead: see
        :class:`consoleproxy.logins.PasswordLogins`.)"""
        check = self.password_check(username, password)
        if not check.run():
            raise AuthenticationFailed(username, "Authentication failure")
        return self.open_session(username, originator=originator)

    def password_check(self, username: str, password: str) -> PasswordCheck:
        """The check a login needs; raises AuthenticationFailed when no hash need be run."""
        user = self._users.get(username)
        stored = user.password_hash if user is not None else self._decoy
        encoded = password.encode("utf-8", "surrogatepass")
        if len(encoded) > self._limits.max_password_bytes:
            raise AuthenticationFailed(username, "Authentication failure")
        return PasswordCheck(username, user is not None, stored, encoded)

    def open_session(self, username: str, *, originator: str = "") -> str:
        """A new session for ``username``, whose password was just checked; may evict one of
        theirs, or raise SessionLimitReached (see the module docstring)."""
        self._expire()
        limits = self._limits
        same_origin = self._by_originator.get((username, originator))
        if same_origin is not None and len(same_origin) >= limits.max_sessions_per_originator:
            self._remove(next(iter(same_origin)))
        mine = self._by_user.get(username)
        if mine is not None and len(mine) >= limits.max_sessions_per_user:
            self._remove(next(iter(mine)))
        if len(self._sessions) >= limits.max_sessions:
            heaviest = max(self._by_user, key=lambda name: (len(self._by_user[name]),
                                                            name == username))
            if len(self._by_user[heaviest]) < 2 and heaviest != username:
                raise SessionLimitReached(username, "too many sessions; try again later")
            self._remove(next(iter(self._by_user[heaviest])))
        now = self._clock()
        ref = f"{OPAQUE_REF_PREFIX}{uuid.uuid4()}"
        self._sessions[ref] = _Live(Session(ref, username, now, originator), now)
        self._by_user.setdefault(username, OrderedDict())[ref] = None
        self._by_originator.setdefault((username, originator), OrderedDict())[ref] = None
        return ref

    def validate(self, ref: str) -> Session | None:
        """The live session ``ref`` names, marking it active; None if there is none."""
        self._expire()
        live = self._sessions.get(ref)
        if live is None:
            return None
        session = live.session
        live.last_active = self._clock()
        self._sessions.move_to_end(ref)
        self._by_user[session.username].move_to_end(ref)
        self._by_originator[session.username, session.originator].move_to_end(ref)
        return session

    def logout(self, ref: str) -> bool:
        """End session ``ref``; False if it was not alive."""
        self._expire()
        if ref not in self._sessions:
            return False
        self._remove(ref)
        return True

    def resolve_request(self, request: Request) -> Authenticated | tuple[str, str]:
        """The live session a console request names, or the Basic (username, password) it
        still has to log in with; raises AuthenticationFailed when it has neither.

        Order: the ``session_id`` cookie, the ``session_id`` query parameter, then Basic
        credentials (a session ref as password, else a username/password login).
        """
        for ref in _session_candidates(request):
            session = self.validate(ref)
            if session is not None:
                return Authenticated(session, ephemeral=False)
        credentials = basic_credentials(request)
        if credentials is None:
            if session_from_request(request) is not None:
                raise AuthenticationFailed("", "session is not valid")
            raise AuthenticationFailed("", "no credentials")
        username, password = credentials
        if password.startswith(OPAQUE_REF_PREFIX):
            session = self.validate(password)
            if session is not None:
                return Authenticated(session, ephemeral=False)
        return username, password

    def authenticate_request(self, request: Request) -> Authenticated:
        """The session a console request proves, checking a Basic password here and now."""
        found = self.resolve_request(request)
        if isinstance(found, Authenticated):
            return found
        username, password = found
        return self.ephemeral(self.login(username, password, originator=CONSOLE_ORIGINATOR))

    def ephemeral(self, ref: str) -> Authenticated:
        """The session a console request's Basic login just made (ended with the request)."""
        live = self._sessions[ref]
        return Authenticated(live.session, ephemeral=True)

    def _remove(self, ref: str) -> None:
        session = self._sessions.pop(ref).session
        _discard(self._by_user, session.username, ref)
        _discard(self._by_originator, (session.username, session.originator), ref)

    def _expire(self) -> None:
        deadline = self._clock() - self._limits.session_idle_expiry
        while self._sessions:
            ref, live = next(iter(self._sessions.items()))
            if live.last_active > deadline:
                break
            self._remove(ref)


_Key = TypeVar("_Key")


def _discard(index: dict[_Key, OrderedDict[str, None]], key: _Key, ref: str) -> None:
    refs = index[key]
    del refs[ref]
    if not refs:
        del index[key]


#: The originator of sessions made by a console request's Basic username and password.
CONSOLE_ORIGINATOR: Final = "console"


def _session_candidates(request: Request) -> list[str]:
    candidates = []
    for ref in (request.cookies.get("session_id"), request.query.get("session_id")):
        if ref and ref not in candidates:
            candidates.append(ref)
    return candidates


def session_from_request(request: Request) -> str | None:
    """The session ref a console request names (cookie first, then query), without checking."""
    candidates = _session_candidates(request)
    return candidates[0] if candidates else None


def basic_credentials(request: Request) -> tuple[str, str] | None:
    """(username, password) from an ``Authorization: Basic`` header, or None.

    Malformed credentials are treated as absent: the request then fails with 401 like one
    that sent none.
    """
    header = request.header("authorization")
    if header is None:
        return None
    scheme, _, encoded = header.strip().partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(encoded.strip().encode("ascii"), validate=True)
        text = decoded.decode("utf-8")
    except (binascii.Error, UnicodeError):
        return None
    username, colon, password = text.partition(":")
    if not colon:
        return None
    return username, password


# -- authorisation ---------------------------------------------------------------------------


class Authorizer(Protocol):
    """Decides what an authenticated session may open and see (one job only)."""

    def refusal(self, session: Session, console: Console) -> str | None:
        """None if ``session`` may connect to ``console``; else why not (no secrets)."""
        ...

    def may_see(self, session: Session, vm: VM) -> bool:
        """Whether discovery shows ``vm`` and its consoles to ``session``."""
        ...


class AnyLoggedInUser:
    """An :class:`Authorizer` for a host without tenants: every logged-in user may see and
    open everything (the default is ``consoleproxy.roles.RoleAuthorizer``)."""

    def refusal(self, session: Session, console: Console) -> str | None:
        """Always None: being logged in is enough."""
        return None

    def may_see(self, session: Session, vm: VM) -> bool:
        """Always True."""
        return True
