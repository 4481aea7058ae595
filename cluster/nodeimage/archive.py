"""Container image archives in the ``docker save`` format (docker.v1.2), written without Docker.

``ctr images import`` and ``docker load`` both read this format. A layer is a plain tar whose
SHA-256 is its diff ID (image-spec ``config.md``: ``rootfs.diff_ids``); the config names the
entrypoint and environment. Pure: files in, one ``.tar`` out; times are fixed so the same input
gives the same archive.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import tarfile
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

#: The time stamped on every file and in the config (the epoch: reproducible archives).
EPOCH = 0
#: PATH inside the images, as in the distroless images Kubernetes publishes.
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


@dataclass(frozen=True)
class ImageFile:
    """A file to place in the image: its absolute path there, its source here, its mode."""

    path: str
    source: Path
    mode: int = 0o755


@dataclass(frozen=True)
class Image:
    """One single-platform image: an optional base layer (a root filesystem tar) plus files."""

    reference: str  # e.g. registry.k8s.io/kube-apiserver:v1.37.0
    files: tuple[ImageFile, ...]
    entrypoint: tuple[str, ...] = ()
    base_layer: Path | None = None
    env: tuple[str, ...] = (f"PATH={DEFAULT_PATH}",)
    labels: dict[str, str] = field(default_factory=dict)
    architecture: str = "amd64"


def _directories(paths: list[str]) -> list[str]:
    """Every parent folder of ``paths`` (without the root), parents first."""
    found: set[str] = set()
    for path in paths:
        parts = path.strip("/").split("/")[:-1]
        for end in range(1, len(parts) + 1):
            found.add("/".join(parts[:end]))
    return sorted(found, key=lambda d: (d.count("/"), d))


def write_layer(files: tuple[ImageFile, ...], dest: Path) -> str:
    """Write ``files`` as a layer tar at ``dest``; return its diff ID (``sha256:<hex>``)."""
    with tarfile.open(dest, "w", format=tarfile.PAX_FORMAT) as tar:
        for folder in _directories([f.path for f in files]):
            info = tarfile.TarInfo(folder)
            info.type, info.mode, info.mtime = tarfile.DIRTYPE, 0o755, EPOCH
            tar.addfile(info)
        for item in sorted(files, key=lambda f: f.path):
            info = tarfile.TarInfo(item.path.strip("/"))
            info.size, info.mode, info.mtime = item.source.stat().st_size, item.mode, EPOCH
            with open(item.source, "rb") as fh:
                tar.addfile(info, fh)
    return "sha256:" + sha256_file(dest)


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def config_json(image: Image, diff_ids: list[str]) -> bytes:
    """The image config (image-spec ``config.md``) for ``image`` with these layers."""
    config = {
        "architecture": image.architecture,
        "os": "linux",
        "created": "1970-01-01T00:00:00Z",
        "config": {"Env": list(image.env), "Entrypoint": list(image.entrypoint) or None,
                   "WorkingDir": "/", "Labels": dict(image.labels) or None},
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "history": [{"created": "1970-01-01T00:00:00Z", "created_by": "ckslab nodeimage"} for _ in diff_ids],
    }
    return json.dumps(config, sort_keys=True, separators=(",", ":")).encode()


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime = len(data), 0o644, EPOCH
    tar.addfile(info, io.BytesIO(data))


def write_archive(image: Image, dest: Path) -> str:
    """Write ``image`` as a ``docker save`` archive at ``dest`` (atomically); return its config digest."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=dest.parent, prefix=".archive-") as tmp:
        layers: list[tuple[str, Path]] = []
        if image.base_layer is not None:
            layers.append(("sha256:" + sha256_file(image.base_layer), image.base_layer))
        if image.files:
            own = Path(tmp) / "layer.tar"
            layers.append((write_layer(image.files, own), own))
        diff_ids = [diff_id for diff_id, _ in layers]
        config = config_json(image, diff_ids)
        config_digest = hashlib.sha256(config).hexdigest()
        manifest = [{"Config": f"{config_digest}.json", "RepoTags": [image.reference],
                     "Layers": [f"{d.split(':', 1)[1]}/layer.tar" for d in diff_ids]}]
        partial = Path(tmp) / "image.tar"
        with tarfile.open(partial, "w", format=tarfile.PAX_FORMAT) as tar:
            _add_bytes(tar, f"{config_digest}.json", config)
            for diff_id, path in layers:
                info = tarfile.TarInfo(f"{diff_id.split(':', 1)[1]}/layer.tar")
                info.size, info.mode, info.mtime = path.stat().st_size, 0o644, EPOCH
                with open(path, "rb") as fh:
                    tar.addfile(info, fh)
            _add_bytes(tar, "manifest.json", json.dumps(manifest).encode())
            _add_bytes(tar, "repositories", json.dumps(_repositories(image.reference, diff_ids[-1])).encode())
        os.replace(partial, dest)
    return f"sha256:{config_digest}"


def _repositories(reference: str, top_layer: str) -> dict[str, dict[str, str]]:
    name, _, tag = reference.rpartition(":")
    return {name: {tag: top_layer.split(":", 1)[1]}}


def copy_executable(source: Path, dest: Path) -> None:
    """Copy ``source`` to ``dest`` with mode 0755 (helper for staging binaries)."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, dest)
    dest.chmod(0o755)
