"""The learners' Unix accounts and everyone's passwords.

Each learner is a Unix user made by ``useradd`` and marked by its comment (GECOS) field, so
ckslab never takes over an account it did not make. Homes are 0700: no learner reads another's
files, keys or kubeconfig. Passwords are random, stored as scrypt hashes for the hub and in
clear only in the instructor's 0600 credentials file.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import pwd
import secrets
import shutil
import subprocess
from pathlib import Path

from cluster.errors import CkslabError

#: The comment field of every account ckslab makes (how it recognises its own).
MARKER = "ckslab class learner"
#: scrypt's cost parameters (RFC 7914's interactive-login values: about 50 ms, 16 MB).
SCRYPT = {"n": 2**14, "r": 8, "p": 1}


def require_root() -> None:
    """One line when not root: making Unix users and running servers as them needs it."""
    if os.geteuid() != 0:
        raise CkslabError("hosting a class needs root: it creates a Unix user per learner and runs their "
                          "JupyterLab and control plane as that user.", "Run it with sudo.")


def ensure_user(name: str) -> bool:
    """Make the learner's account (home 0700) unless ckslab made it already; True when made now."""
    try:
        entry = pwd.getpwnam(name)
    except KeyError:
        entry = None
    if entry is not None:
        if entry.pw_gecos != MARKER:
            raise CkslabError(f"the Unix user {name} exists and was not made by ckslab, so it cannot be a learner's.",
                              "Give the learner another name in the roster, or remove that user.")
        Path(entry.pw_dir).chmod(0o700)
        return False
    done = subprocess.run(["useradd", "--create-home", "--user-group", "--shell", "/bin/bash",
                           "--comment", MARKER, name], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise CkslabError(f"useradd {name} failed: {done.stderr.strip() or done.returncode}.",
                          "Check the name and that useradd works here.")
    Path(pwd.getpwnam(name).pw_dir).chmod(0o700)
    return True


def remove_user(name: str) -> bool:
    """Remove a learner's account, its group, its home with every file in it and what it left in /tmp, /var/tmp
    and /dev/shm (only an account ckslab made);
    True when removed now, False when there was none. CkslabError (one line) for another's account, or when
    ``userdel`` refuses (a process of the user still runs)."""
    try:
        if pwd.getpwnam(name).pw_gecos != MARKER:
            raise CkslabError(f"the Unix user {name} was not made by ckslab; it is left alone.")
    except KeyError:
        return False
    _remove_temporary_files(pwd.getpwnam(name).pw_uid)
    done = subprocess.run(["userdel", "--remove", name], capture_output=True, text=True, check=False)
    # userdel exits 12 when it removed the user but not the mail spool (there is none for a learner): not a failure.
    if done.returncode not in (0, 12):
        raise CkslabError(f"userdel --remove {name} failed: {done.stderr.strip() or done.returncode}.",
                          "Stop what still runs as that user, then run `userdel --remove` yourself.")
    return True


#: Folders every user may write to, whose entries outlive an account (``userdel --remove`` removes the home and
#: mail spool only): what a learner left there would belong to the next account given the same uid.
SHARED_TMP = (Path("/tmp"), Path("/var/tmp"), Path("/dev/shm"))


def _remove_temporary_files(uid: int) -> None:
    """Remove the entries of :data:`SHARED_TMP` owned by ``uid`` (folders with all they hold)."""
    for folder in SHARED_TMP:
        try:
            entries = list(folder.iterdir())
        except OSError:
            continue
        for entry in entries:
            try:
                if entry.lstat().st_uid != uid:
                    continue
                if entry.is_dir() and not entry.is_symlink():
                    shutil.rmtree(entry, ignore_errors=True)
                else:
                    entry.unlink()
            except OSError:
                continue


def new_password() -> str:
    """A random password a learner can type (16 characters of base64url)."""
    return secrets.token_urlsafe(12)


def hash_password(password: str) -> str:
    """``scrypt$<salt>$<hash>`` (base64) of ``password``."""
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, **SCRYPT)
    return "scrypt$" + base64.b64encode(salt).decode() + "$" + base64.b64encode(digest).decode()


def check_password(password: str, stored: str) -> bool:
    """True when ``password`` matches ``stored`` (from :func:`hash_password`)."""
    try:
        kind, salt, digest = stored.split("$")
    except ValueError:
        return False
    if kind != "scrypt":
        return False
    got = hashlib.scrypt(password.encode(), salt=base64.b64decode(salt), **SCRYPT)
    return hmac.compare_digest(got, base64.b64decode(digest))
