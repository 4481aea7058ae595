"""Container image names as an engine stores them: with their registry, always.

Docker reads a name without a registry as Docker Hub's (``kindest/node`` is
``docker.io/kindest/node``, ``busybox`` is ``docker.io/library/busybox``). Podman does not: it
refuses to pull a short name unless containers-registries.conf(5) lists unqualified-search
registries (Debian's podman 4.3 lists none), and it stores an image loaded or built under a short
name as ``localhost/<name>``. kind's podman provider then qualifies a short name with docker.io
(its ``sanitizeImage``), so ``ckslab/node:v1.37.0`` loaded in podman is asked for as
``docker.io/ckslab/node:v1.37.0``, which no registry serves. Every name ckslab gives an engine or
kind is therefore fully qualified by :func:`qualified`, and a local image is looked up under every
name an engine may have stored it as (:func:`stored_names`).

The rules are those of Docker's reference normalization (github.com/distribution/reference,
``ParseNormalizedNamed``): the first path component is a registry when it holds a ``.`` or a
``:`` or is ``localhost``. Pure: strings in, strings out.
"""

from __future__ import annotations

from dataclasses import dataclass

#: Docker Hub, the registry of a name that names none.
DEFAULT_REGISTRY = "docker.io"
#: Docker Hub's namespace of one-component names (``busybox`` is ``library/busybox``).
OFFICIAL_NAMESPACE = "library"
#: The registry podman gives an image loaded or built under a short name.
LOCAL_REGISTRY = "localhost"


@dataclass(frozen=True)
class Reference:
    """An image reference in parts: ``registry/path[:tag][@digest]``."""

    registry: str  # "docker.io", "localhost", "registry.k8s.io", "localhost:5000"
    path: str  # "kindest/node", "library/busybox"
    tag: str = ""  # "v1.37.0"; "" when none was given
    digest: str = ""  # "sha256:<hex>"; "" when none was given

    def __str__(self) -> str:
        return (f"{self.registry}/{self.path}" + (f":{self.tag}" if self.tag else "")
                + (f"@{self.digest}" if self.digest else ""))

    @property
    def repository(self) -> str:
        """``registry/path``: the name without tag and digest."""
        return f"{self.registry}/{self.path}"


def has_registry(name: str) -> bool:
    """Whether ``name`` (without digest) starts with a registry: ``localhost``, or a host with ``.`` or ``:``."""
    first, slash, _rest = name.partition("/")
    return bool(slash) and (first == LOCAL_REGISTRY or "." in first or ":" in first)


def parse(reference: str) -> Reference:
    """``reference`` in its parts, the registry filled in as Docker does; ValueError when empty."""
    reference = reference.strip()
    name, _at, digest = reference.partition("@")
    if not name:
        raise ValueError(f"{reference!r} is not an image reference")
    slash = name.rfind("/")
    colon = name.rfind(":")
    tag = ""
    if colon > slash:  # a ":" after the last "/" starts the tag; before it, a registry's port
        name, tag = name[:colon], name[colon + 1:]
    if has_registry(name):
        registry, path = name.split("/", 1)
    else:
        registry, path = DEFAULT_REGISTRY, name
    if registry == DEFAULT_REGISTRY and "/" not in path:
        path = f"{OFFICIAL_NAMESPACE}/{path}"
    return Reference(registry, path, tag, digest)


def qualified(reference: str) -> str:
    """``reference`` with its registry: ``kindest/node:v1`` -> ``docker.io/kindest/node:v1``.

    A name that has one is returned as it was written (tag and digest kept).
    """
    return str(parse(reference))


def stored_names(reference: str) -> list[str]:
    """The fully qualified names an engine may store ``reference`` under, to look it up by.

    ``qualified(reference)`` (what Docker and a podman pull store), and for a name without a
    registry also ``localhost/<name>`` (what podman stores an image loaded or built under a short
    name as): ``ckslab/node:v1`` -> ``docker.io/ckslab/node:v1``, ``localhost/ckslab/node:v1``.
    """
    names = [qualified(reference)]
    name = reference.strip().partition("@")[0]
    if not has_registry(name):
        names.append(f"{LOCAL_REGISTRY}/{reference.strip()}")
    return names


def same_image(a: str, b: str) -> bool:
    """Whether two references name the same image: the same repository, and the same digest where both
    have one, else the same tag (a missing tag is ``latest``).

    ``kindest/node:v1@sha256:x`` and ``docker.io/kindest/node@sha256:x`` (kind's podman provider drops
    the tag of a digest reference) are the same image.
    """
    first, second = parse(a), parse(b)
    if first.repository != second.repository:
        return False
    if first.digest and second.digest:
        return first.digest == second.digest
    return (first.tag or "latest") == (second.tag or "latest")
