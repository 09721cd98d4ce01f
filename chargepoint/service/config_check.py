"""What ``check_config`` adds to loading: files, hooks, device nodes for a user, the storage directory."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from chargepoint.service.config_model import Config, Problem

DEVICE_NODE_OPTIONS = {"port": "dialout", "chip": "gpio", "path": "input"}
"""Options that name a device node, with the group that usually owns such nodes on a board."""


def check_machine(config: Config, user: str | None) -> list[Problem]:
    """The checks of ``check_config`` that need this machine, in its order; ``[]`` when all is well."""
    csms = config.csms
    problems: list[Problem] = []
    for key, file in (("ca_file", csms.ca_file), ("client_cert", csms.client_cert),
                      ("client_key", csms.client_key)):
        if file is not None:
            problems.extend(_check_file(f"csms.{key}", file))
    if config.firmware.ca_file is not None:
        problems.extend(_check_file("firmware.ca_file", config.firmware.ca_file))
    for key, hook in (("station.hard_reset_hook", config.station.hard_reset_hook),
                      ("firmware.install_hook", config.firmware.install_hook)):
        if hook is not None:
            problems.extend(_check_file(key, hook))
            if hook.is_file() and not os.access(hook, os.X_OK):
                problems.append(Problem(key, f"{hook}: not executable"))
    access = Access.of(user)
    devices = [d for e in config.evses for d in (e.meter, e.pilot, e.contactor, e.lock) if d]
    for device in [*devices, *config.rfid]:
        for option, group in DEVICE_NODE_OPTIONS.items():
            node = device.options.get(option)
            if isinstance(node, str) and "://" not in node:
                problems.extend(_check_node(f"{device.key}.{option}", Path(node), access, group))
    problems.extend(_check_storage("storage.dir", config.storage.dir))
    return problems


def _user() -> str:
    try:
        import pwd

        return pwd.getpwuid(os.geteuid()).pw_name
    except (ImportError, KeyError):
        return f"uid {os.geteuid()}"


def _check_file(key: str, path: Path) -> list[Problem]:
    if not path.exists():
        return [Problem(key, f"{path}: no such file")]
    if not path.is_file():
        return [Problem(key, f"{path}: not a regular file")]
    if not os.access(path, os.R_OK):
        return [Problem(key, f"{path}: not readable by {_user()}")]
    return []


@dataclass(frozen=True, slots=True)
class Access:
    """Who must be able to open the device nodes: a user name, uid and the groups it belongs to."""

    name: str
    uid: int
    gids: frozenset[int]

    @classmethod
    def of(cls, user: str | None) -> Access:
        """``user`` (the service user, e.g. ``chargepoint``), or the current user when ``None``."""
        if user is None:
            return cls(_user(), os.geteuid(), frozenset([os.getegid(), *os.getgroups()]))
        import grp
        import pwd

        try:
            entry = pwd.getpwnam(user)
        except KeyError:
            raise LookupError(f"no such user {user!r} on this machine") from None
        gids = {entry.pw_gid, *(g.gr_gid for g in grp.getgrall() if user in g.gr_mem)}
        return cls(user, entry.pw_uid, frozenset(gids))

    def can_read_write(self, path: Path) -> bool:
        if self.uid == os.geteuid():
            return os.access(path, os.R_OK | os.W_OK)
        if self.uid == 0:
            return True
        st = path.stat()
        if st.st_uid == self.uid:
            return st.st_mode & 0o600 == 0o600
        if st.st_gid in self.gids:
            return st.st_mode & 0o060 == 0o060
        return st.st_mode & 0o006 == 0o006


def _check_node(key: str, path: Path, access: Access, group: str) -> list[Problem]:
    if not path.exists():
        return [Problem(key, f"{path}: no such device")]
    if path.is_dir():
        return [Problem(key, f"{path}: is a directory, not a device")]
    if not access.can_read_write(path):
        return [Problem(key, f"{path}: not readable and writable by {access.name} (add the user to the "
                        f"group that owns it, usually '{group}')")]
    return []


def _check_storage(key: str, path: Path) -> list[Problem]:
    if path.exists():
        if not path.is_dir():
            return [Problem(key, f"{path}: not a directory")]
        if not os.access(path, os.W_OK | os.X_OK):
            return [Problem(key, f"{path}: not writable by {_user()}")]
        return []
    parent = path.parent
    if not parent.is_dir():
        return [Problem(key, f"{path}: does not exist, and neither does its parent {parent}")]
    if not os.access(parent, os.W_OK | os.X_OK):
        return [Problem(key, f"{path}: does not exist and {_user()} cannot create it in {parent}")]
    return []
