"""The static pods a manifests folder asks for, read as the kubelet's file source reads them.

Modelled on the kubelet's ``pkg/kubelet/config/file.go`` (``extractFromDir``): every entry of the
folder whose name does not start with a dot, in name order; a subfolder is not read; a file that
does not parse as a Pod is logged and runs nothing; the pods are keyed by name, so of two files
naming the same pod the later one in name order is the one that runs (a ``kube-apiserver.yaml.bak``
left beside ``kube-apiserver.yaml`` wins, a classic exam trap). Only the local backend's four
components can run here; a pod of another name is reported and ignored.

The digest of a pod is over its parsed document: a change of comments or indentation does not
restart it, any change of its content does (the kubelet hashes the decoded pod likewise).

No processes, no network: only the folder's files are read.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from cluster import controlplane


@dataclass(frozen=True)
class Source:
    """The manifest a component runs from: its file, its command and the digest of its pod."""

    component: str
    path: Path
    command: tuple[str, ...]
    digest: str


@dataclass(frozen=True)
class Problem:
    """A file that runs nothing: why, and the component it most likely was (None: unknown)."""

    path: Path
    component: str | None
    reason: str


@dataclass(frozen=True)
class Folder:
    """What a manifests folder asks for: one :class:`Source` per component, and what it could not use."""

    pods: dict[str, Source] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    #: Files that lost to a later file naming the same pod: (loser, winner).
    shadowed: list[tuple[Path, Path]] = field(default_factory=list)

    def problem_of(self, component: str) -> Problem | None:
        """The last problem reported for ``component`` (None when there is none)."""
        found = [p for p in self.problems if p.component == component]
        return found[-1] if found else None


def digest(doc: Any) -> str:
    """A digest of a parsed manifest (sha256 over its canonical JSON), ignoring layout and comments."""
    return hashlib.sha256(json.dumps(doc, sort_keys=True, default=str).encode()).hexdigest()


def text_digest(text: str) -> str:
    """:func:`digest` of a manifest's text; the digest of the text itself when it does not parse."""
    try:
        return digest(yaml.safe_load(text))
    except yaml.YAMLError:
        return hashlib.sha256(text.encode()).hexdigest()


def entries(folder: Path) -> list[Path]:
    """The entries the kubelet reads: names not starting with a dot, in name order (none: [])."""
    try:
        names = sorted(n for n in os.listdir(folder) if not n.startswith("."))
    except OSError:
        return []
    return [folder / n for n in names]


def read_source(path: Path, text: str) -> Source | Problem:
    """One manifest file: the component it runs, or why it runs nothing."""
    guess = path.name.split(".")[0]
    component = guess if guess in controlplane.COMPONENTS else None
    try:
        command = controlplane.command_from_manifest(text, component or path.name)
    except ValueError as err:  # not YAML, or no command: the kubelet cannot decode a Pod either
        return Problem(path, component, str(err))
    doc = yaml.safe_load(text)  # parsed without error just above
    metadata = doc.get("metadata") if isinstance(doc, dict) else None
    name = metadata.get("name") if isinstance(metadata, dict) else None
    if not isinstance(name, str) or not name:
        return Problem(path, component, "it is not a Pod with a metadata.name")
    if name not in controlplane.COMPONENTS:
        return Problem(path, None, f"it names the pod {name!r}: the local backend runs only "
                                   f"{', '.join(controlplane.COMPONENTS)}; ignored")
    if command[0] != name:  # as LocalBackend._process requires
        return Problem(path, name, f"its command must start with {name!r}, not {command[0]!r}")
    return Source(name, path, tuple(command), digest(doc))


def scan(folder: Path) -> Folder:
    """Read ``folder`` as the kubelet reads its static pod path."""
    result = Folder()
    for path in entries(folder):
        if path.is_dir():
            result.problems.append(Problem(path, None, "a folder: not read (the kubelet does not recurse)"))
            continue
        try:
            text = path.read_text()
        except OSError as err:  # gone since the listing, or unreadable
            if path.exists():
                result.problems.append(Problem(path, None, f"cannot be read ({err.strerror})"))
            continue
        found = read_source(path, text)
        if isinstance(found, Problem):
            result.problems.append(found)
            continue
        earlier = result.pods.get(found.component)
        if earlier is not None:
            result.shadowed.append((earlier.path, found.path))
        result.pods[found.component] = found
    return result


def settled(folder: Path, now: float, quiet: float) -> bool:
    """True when no entry of ``folder`` changed in the last ``quiet`` seconds (an edit is complete)."""
    for path in entries(folder):
        try:
            if 0 <= now - path.stat().st_mtime < quiet:  # a time in the future: not an edit in progress
                return False
        except OSError:
            continue
    return True
