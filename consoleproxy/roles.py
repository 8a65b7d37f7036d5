"""Who may see and open what: xapi's roles, in xapi's order, and the :class:`RoleAuthorizer`
that applies them (with the optional per-VM ``users`` lists) to consoles and VMs. Pure.

The rules (xapi's role-based access control, as far as consoles go):

* Roles, most powerful first: ``pool-admin``, ``pool-operator``, ``vm-power-admin``,
  ``vm-admin``, ``vm-operator``, ``read-only``. A configured user without a role is a
  ``vm-operator``.
* A guest's consoles need ``vm-operator`` or higher; the control domain's (a root shell on
  the host) need ``pool-operator`` or higher; ``read-only`` opens no console at all.
* What a user sees (the rule chosen here): a VM, and with it all its consoles, is visible
  when a user of that role could open its consoles, with ``read-only`` seeing what a
  ``vm-operator`` sees. So a ``vm-operator`` never learns the control domain exists, and a
  ``read-only`` user gets the same discovery answers as a ``vm-operator`` but a 403 on
  opening.
* Beyond xapi: a VM may list ``users = [...]``; then, among users below ``pool-operator``,
  only those listed see and open it. Pool roles are not narrowed by the lists: they may open
  the control domain's root shell anyway, so hiding a guest from them would protect nothing.
* An unknown user (a session whose user left the configuration) sees nothing.
* Opening a console the user may not open (CONNECT, WebSocket, the page's status check) is a
  403 naming the reason in the audit line, as xapi's RBAC answers, whether or not the user may
  see it: only discovery pretends a hidden object does not exist. A client can only ask for a
  hidden console by a ref it already holds (refs are random uuids that discovery never shows
  it), so the 403 tells it nothing it did not know, and a real user learns that the role, not
  a typo, is the problem.
"""

from __future__ import annotations

import enum
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from consoleproxy.auth import Session
    from consoleproxy.registry import VM, Console, Registry

__all__ = ["DEFAULT_ROLE", "Role", "RoleAuthorizer"]


class Role(enum.Enum):
    """xapi's roles; the value is how the configuration spells them."""

    POOL_ADMIN = "pool-admin"
    POOL_OPERATOR = "pool-operator"
    VM_POWER_ADMIN = "vm-power-admin"
    VM_ADMIN = "vm-admin"
    VM_OPERATOR = "vm-operator"
    READ_ONLY = "read-only"

    @property
    def rank(self) -> int:
        """Higher is more powerful (read-only is 0)."""
        return _RANKS[self]

    def at_least(self, other: Role) -> bool:
        """Whether this role has every right ``other`` has."""
        return self.rank >= other.rank


_RANKS: Final = {role: rank for rank, role in enumerate(reversed(Role))}

#: The role of a configured user who names none.
DEFAULT_ROLE: Final = Role.VM_OPERATOR


def role_needed(vm: VM) -> Role:
    """The least role whose holders may open ``vm``'s consoles."""
    return Role.POOL_OPERATOR if vm.is_control_domain else Role.VM_OPERATOR


class RoleAuthorizer:
    """The default :class:`consoleproxy.auth.Authorizer`: the module's rules over a registry."""

    def __init__(self, registry: Registry) -> None:
        self._registry = registry
        self._roles = {user.name: user.role for user in registry.config.users}

    def role_of(self, username: str) -> Role | None:
        """The user's role; None for a user not in the configuration."""
        return self._roles.get(username)

    def may_see(self, session: Session, vm: VM) -> bool:
        """Whether discovery shows ``vm`` (and its consoles) to ``session``'s user."""
        return self._hidden_because(session.username, vm) is None

    def refusal(self, session: Session, console: Console) -> str | None:
        """None when ``session`` may open ``console``; else why not (for the audit line)."""
        vm = self._registry.vm_by_uuid(console.vm_uuid)
        if vm is None:
            return "the console belongs to no VM"
        hidden = self._hidden_because(session.username, vm)
        if hidden is not None:
            return hidden
        if self._roles[session.username] is Role.READ_ONLY:
            return "role read-only opens no console"
        return None

    def _hidden_because(self, username: str, vm: VM) -> str | None:
        role = self._roles.get(username)
        if role is None:
            return "not a configured user"
        sight = Role.VM_OPERATOR if role is Role.READ_ONLY else role
        needed = role_needed(vm)
        if not sight.at_least(needed):
            return f"role {role.value} is below {needed.value}"
        if vm.users is not None and username not in vm.users and not role.at_least(
            Role.POOL_OPERATOR
        ):
            return "not in the VM's users list"
        return None
