"""The errors ckslab raises on purpose.

Each one carries what went wrong and what to do next, so the CLI can print a single line a
learner can act on instead of a traceback. Library errors are wrapped with ``raise ... from``.
"""

from __future__ import annotations


class CkslabError(Exception):
    """Base class: ``str(err)`` is the one-line message; ``hint`` says what to do next."""

    exit_code = 1

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message} {self.hint}".strip() if self.hint else self.message


class BinariesError(CkslabError):
    """The Kubernetes or etcd binaries could not be found, built or downloaded."""


class ChecksumMismatch(BinariesError):
    """A downloaded binary does not match its published SHA-256 checksum."""


class ComponentFailed(CkslabError):
    """A control-plane process exited or never became healthy."""


class ManifestFailed(CkslabError):
    """A component does not start from its (edited) static pod manifest: the manifest is to fix, not the cluster."""


class StateCorrupted(CkslabError):
    """The runtime state under ``.lab/`` cannot be read."""


class BackendUnavailable(CkslabError):
    """The chosen backend cannot run on this machine."""


class UsageError(CkslabError):
    """The command line asks for something that does not exist."""

    exit_code = 2
