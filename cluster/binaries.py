"""The pinned Kubernetes, etcd and kind binaries: from the cache, built with Go, or downloaded.

``ensure()`` looks in this order: the cache outside the checkout (keyed by version) -> ``go
build`` of the modules under ``cluster/gobuild/`` (static, with the release's version stamped
in) -> the official release downloads, each checked against its published SHA-256. A binary
enters the cache only once it is complete, by an atomic rename.
"""

from __future__ import annotations

import hashlib
import io
import os
import platform
import re
import shutil
import subprocess
import tarfile
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from cluster import paths
from cluster.errors import BinariesError, ChecksumMismatch
from cluster.process import log_tail
from cluster.versions import (
    COREDNS_VERSION, CRI_TOOLS_VERSION, ETCD_VERSION, GO_MINIMUM, KIND_VERSION, KUBERNETES_BUILD_DATE,
    KUBERNETES_VERSION, minor,
)

KUBERNETES_BINARIES = ("kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubectl", "kubeadm")
#: What the local control plane needs; kind is obtained too, for the kind backend.
CLUSTER_BINARIES = ("etcd", *KUBERNETES_BINARIES)
ALL_BINARIES = (*CLUSTER_BINARIES, "kind")
#: The rest of a kind node image built here (cluster/nodeimage): built with Go only, on demand
#: (`make node-image`), since a machine that could download them could pull kindest/node too.
NODE_KUBERNETES_BINARIES = ("kubelet", "kube-proxy")
NODE_IMAGE_BINARIES = (*CLUSTER_BINARIES, *NODE_KUBERNETES_BINARIES, "coredns", "crictl")
#: Where the official binaries are published; override for a mirror.
KUBERNETES_RELEASE_URL = "https://dl.k8s.io/release"
ETCD_RELEASE_URL = "https://github.com/etcd-io/etcd/releases/download"
KIND_RELEASE_URL = "https://github.com/kubernetes-sigs/kind/releases/download"
INSTALL_HINT = (
    f"Install Go {GO_MINIMUM[0]}.{GO_MINIMUM[1]} or newer (https://go.dev/doc/install) to build "
    "them, or connect to the internet to download them, then run `make binaries`."
)

Progress = Callable[[str], None]


@dataclass(frozen=True)
class Binaries:
    """Absolute paths of the programs ckslab runs."""

    etcd: Path
    kube_apiserver: Path
    kube_controller_manager: Path
    kubectl: Path
    kind: Path
    kubeadm: Path
    kubelet: Path
    kube_scheduler: Path
    kube_proxy: Path
    coredns: Path
    crictl: Path

    def path(self, program: str) -> Path:
        return Path(getattr(self, program.replace("-", "_")))


def cached() -> Binaries:
    """The binaries' cache paths (whether or not they exist yet)."""
    k8s = paths.kubernetes_bin_dir()
    return Binaries(
        etcd=paths.etcd_bin_dir() / "etcd",
        kube_apiserver=k8s / "kube-apiserver",
        kube_controller_manager=k8s / "kube-controller-manager",
        kubectl=k8s / "kubectl",
        kind=paths.kind_bin_dir() / "kind",
        kubeadm=k8s / "kubeadm",
        kubelet=k8s / "kubelet",
        kube_scheduler=k8s / "kube-scheduler",
        kube_proxy=k8s / "kube-proxy",
        coredns=paths.coredns_bin_dir() / "coredns",
        crictl=paths.cri_tools_bin_dir() / "crictl",
    )


def _present(path: Path) -> bool:
    return path.is_file() and os.access(path, os.X_OK)


def missing(names: tuple[str, ...] = CLUSTER_BINARIES) -> list[str]:
    """Which of ``names`` are not in the cache yet."""
    b = cached()
    return [n for n in names if not _present(b.path(n))]


def require(names: tuple[str, ...] = CLUSTER_BINARIES) -> Binaries:
    """The cached binaries, or an error saying to run ``make binaries``."""
    gone = missing(names)
    if gone:
        raise BinariesError(
            f"the binaries are not built yet (missing: {', '.join(gone)}).",
            hint="Run `make binaries` (or `make up`, which builds them first).",
        )
    return cached()


def ensure(source: str = "auto", progress: Progress = print,
           names: tuple[str, ...] = ALL_BINARIES) -> Binaries:
    """Return the binaries, obtaining the missing ones of ``names`` from ``source``.

    ``source`` is ``auto`` (build with Go when it is installed, else download), ``build`` or
    ``download``.
    """
    if source not in ("auto", "build", "download"):
        raise BinariesError(f"unknown binaries source {source!r}: use auto, build or download.")
    gone = missing(names)
    if not gone:
        return cached()
    go = find_go()
    build_only = [n for n in gone if n not in ALL_BINARIES]
    if build_only and go is None:
        raise BinariesError(f"Go is not installed, so {', '.join(build_only)} cannot be built "
                            "(they are never downloaded).", INSTALL_HINT)
    if source == "build" or (source == "auto" and go is not None):
        if go is None:
            raise BinariesError("Go is not installed, so the binaries cannot be built.", INSTALL_HINT)
        build(go, gone, progress)
    else:
        try:
            download(gone, progress)
        except BinariesError as err:
            if source == "download" or isinstance(err, ChecksumMismatch):
                raise
            raise BinariesError(
                f"Go is not installed and the release binaries could not be downloaded ({err.message})",
                INSTALL_HINT,
            ) from err
    return require(names)


# --- building with Go ------------------------------------------------------------------------

def find_go() -> str | None:
    """The ``go`` command, if installed (a go.mod toolchain line may fetch a newer one)."""
    return shutil.which("go")


def version_ldflags(version: str = KUBERNETES_VERSION) -> str:
    """The ``-X`` flags Kubernetes' own build sets, so binaries report the real version."""
    major = version.lstrip("v").split(".")[0]
    flags = ["-s", "-w"]
    for pkg in ("k8s.io/component-base/version", "k8s.io/client-go/pkg/version"):
        flags += [
            f"-X {pkg}.gitVersion={version}",
            f"-X {pkg}.gitMajor={major}",
            f"-X {pkg}.gitMinor={minor(version)}",
            f"-X {pkg}.gitTreeState=clean",
            f"-X {pkg}.buildDate={KUBERNETES_BUILD_DATE}",
        ]
    return " ".join(flags)


def build_log() -> Path:
    return paths.cache_root() / "logs" / f"build-{KUBERNETES_VERSION}-etcd-{ETCD_VERSION}-kind-{KIND_VERSION}.log"


@dataclass(frozen=True)
class _BuildJob:
    module: str  # folder under cluster/gobuild
    dest: Path
    output: str  # file name, or "" for one file per package (named after it)
    packages: list[str]
    ldflags: str


def _jobs(names: list[str]) -> list[_BuildJob]:
    jobs = []
    k8s = [n for n in names if n in KUBERNETES_BINARIES + NODE_KUBERNETES_BINARIES]
    if k8s:
        jobs.append(_BuildJob("kubernetes", paths.kubernetes_bin_dir(), "",
                              [f"k8s.io/kubernetes/cmd/{n}" for n in k8s], version_ldflags()))
    if "etcd" in names:
        jobs.append(_BuildJob("etcd", paths.etcd_bin_dir(), "etcd", ["go.etcd.io/etcd/server/v3"], "-s -w"))
    if "kind" in names:
        jobs.append(_BuildJob("kind", paths.kind_bin_dir(), "kind", ["sigs.k8s.io/kind"], "-s -w"))
    if "coredns" in names:
        # CoreDNS's own Makefile stamps the git commit; the module version is what matters here.
        jobs.append(_BuildJob("coredns", paths.coredns_bin_dir(), "coredns", ["."],
                              f"-s -w -X github.com/coredns/coredns/coremain.GitCommit={COREDNS_VERSION}"))
    if "crictl" in names:
        jobs.append(_BuildJob("cri-tools", paths.cri_tools_bin_dir(), "crictl", ["sigs.k8s.io/cri-tools/cmd/crictl"],
                              f"-s -w -X sigs.k8s.io/cri-tools/pkg/version.Version={CRI_TOOLS_VERSION}"))
    return jobs


def build(go: str, names: list[str], progress: Progress) -> None:
    """``go build`` the missing binaries into the cache."""
    log = build_log()
    log.parent.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "CGO_ENABLED": "0", "GOFLAGS": "-mod=readonly -buildvcs=false"}
    for job in _jobs(names):
        module = paths.checkout() / "cluster" / "gobuild" / job.module
        job.dest.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=job.dest, prefix=".build-") as tmp:
            cmd = [go, "build", "-trimpath", "-ldflags", job.ldflags, "-o", f"{tmp}/{job.output}", *job.packages]
            what = ", ".join(job.output or p.rsplit("/", 1)[-1] for p in job.packages)
            slow = ""
            if job.module == "kubernetes":  # measured on 2 cores, with empty Go caches for the first
                slow = (" (the first time takes about 12 minutes on 2 cores)"
                        if "k8s.io/kubernetes/cmd/kube-apiserver" in job.packages
                        else " (about 4 minutes once kube-apiserver has been built)")
            progress(f"building {what} with Go{slow}; log: {log}")
            started = time.monotonic()
            with open(log, "ab") as fh:
                fh.write(f"\n$ (cd {module} && {' '.join(cmd)})\n".encode())
                fh.flush()
                result = subprocess.run(cmd, cwd=module, env=env, stdout=fh, stderr=subprocess.STDOUT,
                                        stdin=subprocess.DEVNULL, check=False)
            if result.returncode != 0:
                raise BinariesError(
                    f"`go build` failed (exit {result.returncode}); the end of {log}:\n{log_tail(log)}\n",
                    hint=f"Go {GO_MINIMUM[0]}.{GO_MINIMUM[1]}+ and access to the Go module proxy are needed; "
                    "fix the error above and run `make binaries` again.",
                )
            for built in Path(tmp).iterdir():
                os.replace(built, job.dest / built.name)
            progress(f"built {what} in {time.monotonic() - started:.0f}s -> {job.dest}")


# --- downloading release binaries ------------------------------------------------------------

def _arch() -> str:
    machine = platform.machine().lower()
    return {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}.get(machine, machine)


def _fetch(url: str, timeout: float = 30.0) -> bytes:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:  # noqa: S310 - https release URL
            return bytes(resp.read())
    except (urllib.error.URLError, OSError) as err:
        reason = getattr(err, "reason", err)
        raise BinariesError(f"could not download {url}: {reason}") from err


def _expected_sha256(text: str, filename: str) -> str:
    """The digest for ``filename`` in a ``.sha256`` file or a SHA256SUMS list."""
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 1 and re.fullmatch(r"[0-9a-f]{64}", parts[0]):
            return parts[0]
        if len(parts) == 2 and parts[1].lstrip("*").endswith(filename):
            return parts[0]
    raise BinariesError(f"no SHA-256 checksum for {filename} in the published checksums")


def _verified(url: str, data: bytes, expected: str) -> bytes:
    actual = hashlib.sha256(data).hexdigest()
    if actual != expected.lower():
        raise ChecksumMismatch(
            f"checksum mismatch for {url}: expected {expected}, got {actual}; nothing was installed.",
            hint="Try `make binaries` again; if it repeats, the download is being tampered with.",
        )
    return data


def _install(data: bytes, dest: Path) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.download")
    tmp.write_bytes(data)
    tmp.chmod(0o755)
    os.replace(tmp, dest)


def _base(variable: str, default: str) -> str:
    return os.environ.get(variable, default).rstrip("/")


def download(names: list[str], progress: Progress) -> None:
    """Download the missing binaries from their official releases, verifying checksums."""
    arch = _arch()
    fetched: dict[Path, bytes] = {}
    for name in names:
        if name == "etcd":
            base = f"{_base('CKSLAB_ETCD_RELEASE_URL', ETCD_RELEASE_URL)}/{ETCD_VERSION}"
            tarball = f"etcd-{ETCD_VERSION}-linux-{arch}.tar.gz"
            progress(f"downloading {base}/{tarball}")
            sums = _fetch(f"{base}/SHA256SUMS").decode()
            data = _verified(f"{base}/{tarball}", _fetch(f"{base}/{tarball}", timeout=300),
                             _expected_sha256(sums, tarball))
            fetched[cached().etcd] = _etcd_from_tarball(data, tarball)
            continue
        if name == "kind":
            url = f"{_base('CKSLAB_KIND_RELEASE_URL', KIND_RELEASE_URL)}/{KIND_VERSION}/kind-linux-{arch}"
            checksum_url = url + ".sha256sum"
        else:
            url = f"{_base('CKSLAB_KUBERNETES_RELEASE_URL', KUBERNETES_RELEASE_URL)}/{KUBERNETES_VERSION}/bin/linux/{arch}/{name}"
            checksum_url = url + ".sha256"
        progress(f"downloading {url}")
        digest = _expected_sha256(_fetch(checksum_url).decode(), url.rsplit("/", 1)[1])
        fetched[cached().path(name)] = _verified(url, _fetch(url, timeout=300), digest)
    for dest, data in fetched.items():  # install only when every download verified
        _install(data, dest)


def _etcd_from_tarball(data: bytes, tarball: str) -> bytes:
    member = tarball.removesuffix(".tar.gz") + "/etcd"
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
            fh = tar.extractfile(member)
            if fh is None:
                raise KeyError(member)
            return fh.read()
    except (tarfile.TarError, KeyError) as err:
        raise BinariesError(f"{tarball} does not contain {member}") from err
