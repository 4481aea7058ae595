#!/usr/bin/python3
"""OCI runtime wrapper: drop the capabilities this host cannot grant, then run runc.

Why it exists: on some VMs (ours: Firecracker) the capability bounding set lacks a capability,
for instance CAP_SYS_RESOURCE (``CapBnd: 000001fffeffffff`` in /proc/self/status). A privileged
container asks for every capability the engine knows, and runc refuses the whole container with
"unable to apply caps: operation not permitted". kind's node containers are privileged, so kind
cannot start there. This wrapper is registered as dockerd's default runtime; it removes from the
OCI spec the capabilities missing from its own bounding set (which dockerd's, containerd's and
runc's bounding sets equal: they are inherited) and then replaces itself with runc:

- ``create`` and ``run``: ``<bundle>/config.json``, key ``process.capabilities``;
- ``exec``: the process spec file given with ``--process`` (``docker exec`` always passes one);
- every other command and every argument is passed to runc unchanged.

It is installed outside the repository by ``ckslab kind-ready`` (cluster/engine.py) and must stay
a single stdlib-only file: it runs under /usr/bin/python3, not ckslab's virtualenv. The OCI spec
fields are those of runtime-spec config.md ("capabilities": bounding, effective, inheritable,
permitted, ambient); capability numbers are those of linux/include/uapi/linux/capability.h.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from typing import Any

REAL_RUNC_CANDIDATES = ("/usr/bin/runc", "/usr/sbin/runc", "/usr/local/bin/runc", "/usr/local/sbin/runc")
"""Where the real runc is looked for, in order; the environment variable CKSLAB_REAL_RUNC overrides."""

CAPABILITY_NUMBERS: dict[str, int] = {
    name: number
    for number, name in enumerate(
        (
            "CHOWN DAC_OVERRIDE DAC_READ_SEARCH FOWNER FSETID KILL SETGID SETUID SETPCAP "
            "LINUX_IMMUTABLE NET_BIND_SERVICE NET_BROADCAST NET_ADMIN NET_RAW IPC_LOCK IPC_OWNER "
            "SYS_MODULE SYS_RAWIO SYS_CHROOT SYS_PTRACE SYS_PACCT SYS_ADMIN SYS_BOOT SYS_NICE "
            "SYS_RESOURCE SYS_TIME SYS_TTY_CONFIG MKNOD LEASE AUDIT_WRITE AUDIT_CONTROL SETFCAP "
            "MAC_OVERRIDE MAC_ADMIN SYSLOG WAKE_ALARM BLOCK_SUSPEND AUDIT_READ PERFMON BPF "
            "CHECKPOINT_RESTORE"
        ).split()
    )
}
"""Capability name without ``CAP_`` → bit number (capability.h, Linux 5.9+)."""

CAPABILITY_SETS = ("bounding", "effective", "inheritable", "permitted", "ambient")

# runc's global options that take a value (runc main.go; go-runc passes them before the command).
_GLOBAL_OPTIONS_WITH_VALUE = frozenset({"--root", "--log", "--log-format", "--criu", "--rootless"})
# The options of create, run and exec that take no value (runc create.go, run.go, exec.go); every
# other option of theirs takes one.
_BOOLEAN_OPTIONS = frozenset({"--tty", "-t", "--detach", "-d", "--no-new-privs", "--ignore-paused", "--no-pivot",
                              "--no-new-keyring", "--keep", "--no-subreaper", "--help", "-h"})


def bounding_set(status_text: str) -> int:
    """The ``CapBnd`` mask from the text of /proc/<pid>/status; ValueError if absent."""
    for line in status_text.splitlines():
        if line.startswith("CapBnd:"):
            return int(line.split(":", 1)[1].strip(), 16)
    raise ValueError("no CapBnd line in the process status")


def unavailable(names: list[str], bounding: int) -> list[str]:
    """The names (``CAP_X``) whose bit is not in ``bounding``; unknown names are kept (not listed)."""
    missing = []
    for name in names:
        number = CAPABILITY_NUMBERS.get(name.removeprefix("CAP_"))
        if number is not None and not bounding >> number & 1:
            missing.append(name)
    return missing


def missing_from_bounding_set(bounding: int, last_capability: int) -> list[str]:
    """The capabilities the kernel has (0..``last_capability``) that ``bounding`` lacks, as ``CAP_X``."""
    return [f"CAP_{name}" for name, number in CAPABILITY_NUMBERS.items()
            if number <= last_capability and not bounding >> number & 1]


def filter_process(process: dict[str, Any], bounding: int) -> list[str]:
    """Remove unavailable capabilities from an OCI ``process`` object in place; returns them sorted."""
    capabilities = process.get("capabilities")
    if not isinstance(capabilities, dict):
        return []
    removed: set[str] = set()
    for key in CAPABILITY_SETS:
        names = capabilities.get(key)
        if not isinstance(names, list):
            continue
        missing = unavailable(names, bounding)
        if missing:
            capabilities[key] = [name for name in names if name not in missing]
            removed.update(missing)
    return sorted(removed)


def spec_to_patch(args: list[str]) -> tuple[str, bool] | None:
    """Which JSON file a runc command line reads its process from: (path, is_bundle_config).

    ``args`` are runc's arguments without the program name. None when the command is not
    create/run/exec, or exec without ``--process``.
    """
    i = 0
    while i < len(args) and args[i].startswith("-"):
        option = args[i]
        i += 2 if option in _GLOBAL_OPTIONS_WITH_VALUE else 1
    if i >= len(args):
        return None
    command, rest = args[i], args[i + 1 :]
    if command in ("create", "run"):
        bundle = _option_value(rest, "--bundle", "-b") or "."
        return os.path.join(bundle, "config.json"), True
    if command == "exec":
        process = _option_value(rest, "--process", "-p")
        return (process, False) if process else None
    return None


def _option_value(args: list[str], *names: str) -> str | None:
    """The value of the command option ``names`` in ``args``; options end at the first operand."""
    i = 0
    while i < len(args):
        arg = args[i]
        if arg == "--" or not arg.startswith("-"):
            return None  # the container id: what follows belongs to the container's command
        name, has_value, value = arg.partition("=")
        if not name.startswith("--") and len(name) > 2:
            name = "-" + name  # urfave/cli also accepts -bundle for --bundle
        if name in _BOOLEAN_OPTIONS:
            i += 1
            continue
        if not has_value:
            value = args[i + 1] if i + 1 < len(args) else ""
            i += 1
        if name in names:
            return value or None
        i += 1
    return None


def patch_spec_file(path: str, is_bundle_config: bool, bounding: int) -> list[str]:
    """Drop unavailable capabilities from the spec file at ``path``; rewrite it only if changed."""
    with open(path, encoding="utf-8") as f:
        spec = json.load(f)
    process = spec.get("process") if is_bundle_config else spec
    if not isinstance(process, dict):
        return []
    removed = filter_process(process, bounding)
    if removed:
        directory = os.path.dirname(os.path.abspath(path))
        fd, temporary = tempfile.mkstemp(dir=directory, prefix=".capfilter-")
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(spec, f)
        os.chmod(temporary, os.stat(path).st_mode & 0o7777)
        os.replace(temporary, path)
    return removed


def real_runc() -> str:
    """The first runc of REAL_RUNC_CANDIDATES that exists (the first candidate if none does)."""
    return next((path for path in REAL_RUNC_CANDIDATES if os.path.exists(path)), REAL_RUNC_CANDIDATES[0])


def main(args: list[str]) -> None:
    """Patch the spec the command reads, then exec the real runc with the same arguments."""
    runc = os.environ.get("CKSLAB_REAL_RUNC") or real_runc()
    target = spec_to_patch(args)
    if target is not None:
        try:
            with open("/proc/self/status", encoding="ascii") as f:
                bounding = bounding_set(f.read())
            patch_spec_file(target[0], target[1], bounding)
        except (OSError, ValueError) as error:
            # runc then reports its own error; ours says why the capabilities were not filtered.
            print(f"ckslab runc-capfilter: could not filter {target[0]}: {error}", file=sys.stderr)
    os.execv(runc, [runc, *args])


if __name__ == "__main__":
    main(sys.argv[1:])
