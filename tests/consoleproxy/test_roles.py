"""xapi's roles and the per-VM users lists: who sees and who opens which console, and the
configuration errors that name the bad key."""

from __future__ import annotations

import pytest

from consoleproxy.auth import Session
from consoleproxy.registry import ConfigError, Registry, parse_config
from consoleproxy.roles import Role, RoleAuthorizer
from tests.proxy.helpers import PASSWORD_HASH

GUEST = "11111111-1111-4111-8111-111111111111"
GUEST_CONSOLE = "22222222-2222-4222-8222-222222222222"
DOM0 = "88888888-8888-4888-8888-888888888888"
DOM0_CONSOLE = "88888888-8888-4888-8888-000000000000"
PRIVATE = "44444444-4444-4444-8444-444444444444"
PRIVATE_CONSOLE = "55555555-5555-4555-8555-555555555555"

ROLES = ["pool-admin", "pool-operator", "vm-power-admin", "vm-admin", "vm-operator", "read-only"]


def config_text(users: str = "", private_users: str = '["tenant"]') -> str:
    """A host with a guest, the control domain and a guest listing its users."""
    people = "".join(
        f'[[users]]\nname = "{role}"\npassword_hash = "{PASSWORD_HASH}"\nrole = "{role}"\n'
        for role in ROLES
    )
    return f"""
[host]
uuid = "99999999-9999-4999-8999-999999999999"
name_label = "h"
address = "127.0.0.1"
{people}
[[users]]
name = "plain"
password_hash = "{PASSWORD_HASH}"
[[users]]
name = "tenant"
password_hash = "{PASSWORD_HASH}"
role = "vm-operator"
[[users]]
name = "watcher"
password_hash = "{PASSWORD_HASH}"
role = "read-only"
{users}
[[vms]]
uuid = "{GUEST}"
name_label = "guest"
  [[vms.consoles]]
  uuid = "{GUEST_CONSOLE}"
  protocol = "rfb"
  backend = "tcp:127.0.0.1:5901"
[[vms]]
uuid = "{DOM0}"
name_label = "Control domain"
is_control_domain = true
  [[vms.consoles]]
  uuid = "{DOM0_CONSOLE}"
  protocol = "rfb"
  backend = "tcp:127.0.0.1:5902"
[[vms]]
uuid = "{PRIVATE}"
name_label = "private"
users = {private_users}
  [[vms.consoles]]
  uuid = "{PRIVATE_CONSOLE}"
  protocol = "rfb"
  backend = "tcp:127.0.0.1:5903"
"""


@pytest.fixture(scope="module")
def registry() -> Registry:
    """The registry over config_text()."""
    return Registry(parse_config(config_text()))


def session(name: str) -> Session:
    """A session of user ``name``."""
    return Session("OpaqueRef:s", name, 0.0)


def decide(registry: Registry, user: str, vm_uuid: str, console_uuid: str) -> tuple[bool, bool]:
    """(sees the VM, opens the console) for ``user``."""
    authorizer = RoleAuthorizer(registry)
    vm = registry.vm_by_uuid(vm_uuid)
    console = registry.console_by_uuid(console_uuid)
    assert vm is not None and console is not None
    return (authorizer.may_see(session(user), vm),
            authorizer.refusal(session(user), console) is None)


def test_roles_are_in_xapis_order() -> None:
    """pool-admin is the most powerful role and read-only the least, in xapi's order."""
    ranked = sorted(Role, key=lambda role: role.rank, reverse=True)
    assert [role.value for role in ranked] == ROLES
    assert Role.POOL_OPERATOR.at_least(Role.VM_POWER_ADMIN)
    assert not Role.VM_ADMIN.at_least(Role.VM_POWER_ADMIN)


@pytest.mark.parametrize(("user", "guest", "dom0"), [
    ("pool-admin", (True, True), (True, True)),
    ("pool-operator", (True, True), (True, True)),
    ("vm-power-admin", (True, True), (False, False)),
    ("vm-admin", (True, True), (False, False)),
    ("vm-operator", (True, True), (False, False)),
    ("plain", (True, True), (False, False)),
    ("read-only", (True, False), (False, False)),
    ("nobody-configured", (False, False), (False, False)),
])
def test_xapis_rules_for_guests_and_the_control_domain(
        registry: Registry, user: str, guest: tuple[bool, bool],
        dom0: tuple[bool, bool]) -> None:
    """Guests need vm-operator, the control domain pool-operator; read-only sees what a
    vm-operator sees and opens nothing; a user without a role is a vm-operator; an unknown
    user sees nothing."""
    assert decide(registry, user, GUEST, GUEST_CONSOLE) == guest
    assert decide(registry, user, DOM0, DOM0_CONSOLE) == dom0


@pytest.mark.parametrize(("user", "expected"), [
    ("tenant", (True, True)),
    ("vm-operator", (False, False)),
    ("vm-power-admin", (False, False)),
    ("read-only", (False, False)),
    ("pool-operator", (True, True)),
    ("pool-admin", (True, True)),
])
def test_a_vms_users_list_narrows_vm_roles_but_not_pool_roles(
        registry: Registry, user: str, expected: tuple[bool, bool]) -> None:
    """Only listed users below pool-operator see and open a VM with a users list."""
    assert decide(registry, user, PRIVATE, PRIVATE_CONSOLE) == expected


def test_a_listed_read_only_user_sees_but_does_not_open() -> None:
    """A read-only user on a VM's list sees it, and still opens nothing."""
    registry = Registry(parse_config(config_text(private_users='["watcher"]')))
    assert decide(registry, "watcher", PRIVATE, PRIVATE_CONSOLE) == (True, False)
    authorizer = RoleAuthorizer(registry)
    console = registry.console_by_uuid(PRIVATE_CONSOLE)
    assert console is not None
    assert authorizer.refusal(session("watcher"), console) == "role read-only opens no console"


def test_refusals_say_why() -> None:
    """The reason for the audit line names the role that was missing or the list."""
    registry = Registry(parse_config(config_text()))
    authorizer = RoleAuthorizer(registry)
    dom0 = registry.console_by_uuid(DOM0_CONSOLE)
    private = registry.console_by_uuid(PRIVATE_CONSOLE)
    assert dom0 is not None and private is not None
    assert authorizer.refusal(session("vm-admin"), dom0) == (
        "role vm-admin is below pool-operator")
    assert authorizer.refusal(session("plain"), private) == "not in the VM's users list"


@pytest.mark.parametrize(("extra_user", "private_users", "key", "words"), [
    ('[[users]]\nname = "x"\npassword_hash = "HASH"\nrole = "admin"\n', '["tenant"]',
     "users[9].role", "unknown role 'admin'"),
    ('[[users]]\nname = "x"\npassword_hash = "HASH"\nrole = 5\n', '["tenant"]',
     "users[9].role", "must be a string"),
    ("", '["tenant", "mallory"]', "vms[2].users", "unknown user 'mallory'"),
    ("", '"tenant"', "vms[2].users", "array of user names"),
    ("", "[1]", "vms[2].users", "array of user names"),
])
def test_configuration_errors_name_the_key(extra_user: str, private_users: str, key: str,
                                           words: str) -> None:
    """An unknown role or an unknown user in a VM's list is a ConfigError naming the key."""
    text = config_text(extra_user.replace("HASH", PASSWORD_HASH), private_users)
    with pytest.raises(ConfigError) as caught:
        parse_config(text)
    assert caught.value.key == key
    assert words in caught.value.message


def test_the_control_domain_takes_no_users_list() -> None:
    """A users list on the control domain is refused: it would suggest a vm-operator could be
    let in."""
    text = config_text().replace('is_control_domain = true', 'is_control_domain = true\n'
                                 'users = ["tenant"]')
    with pytest.raises(ConfigError) as caught:
        parse_config(text)
    assert caught.value.key == "vms[1].users"


def test_the_demos_user_is_a_pool_admin() -> None:
    """The embedded demo's root is a pool-admin."""
    from importlib.resources import files

    text = files("consoleproxy").joinpath("demo.toml").read_text()
    config = parse_config(text.replace("@PYTHON@", "/usr/bin/python3"))
    assert [(user.name, user.role) for user in config.users] == [("root", Role.POOL_ADMIN)]
