"""The pinned Kubernetes, etcd and kind binaries: from the cache, downloaded, or built with Go.

``ensure()`` looks in this order: the cache outside the checkout (keyed by version) -> the
official release downloads (dl.k8s.io, etcd's and kind's GitHub releases), each checked against
its published SHA-256 (``cluster.release``) -> ``go build`` of the modules under
``cluster/gobuild/`` (static, with the release's version stamped in) for what could not be
downloaded. A download is a minute or two where a build is minutes of compiling on every core;
a machine without internet (this project's, CI) finds out in about a second and builds. A
binary enters the cache only once it is complete, by an atomic rename.
"""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from cluster import paths, release
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

    ``source`` is ``auto`` (download the official release files, checksum-verified; build with Go
    what cannot be downloaded, saying why in one line), ``build`` (Go only) or ``download``
    (downloads only). The node image's own binaries (coredns, crictl, kubelet, kube-proxy) are
    always built. Raises :class:`BinariesError` with what to install when neither way works, and
    :class:`ChecksumMismatch` when a download does not match its checksum and Go cannot replace it.
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
    if source == "download" and build_only:
        raise BinariesError(f"{', '.join(build_only)} are never downloaded: they are built with Go.",
                            "Run `ckslab binaries --from build` (or `make node-image`).")
    if source == "build":
        if go is None:
            raise BinariesError("Go is not installed, so the binaries cannot be built.", INSTALL_HINT)
        build(go, gone, progress)
        return require(names)
    wanted = [n for n in gone if n in ALL_BINARIES]
    try:
        failed = download(wanted, progress)
    except ChecksumMismatch as err:
        if source == "download" or go is None:
            raise
        failed = {n: err.message for n in wanted}
        why = err.message
    else:
        why = "; ".join(dict.fromkeys(failed.values()))
    if failed and source == "download":
        raise BinariesError(f"the release binaries could not be downloaded ({why})", INSTALL_HINT)
    if failed and go is None:
        raise BinariesError(f"Go is not installed and the release binaries could not be downloaded ({why})",
                            INSTALL_HINT)
    if failed:
        progress(f"could not download {', '.join(failed)} ({why}): building them with Go instead")
    if failed or build_only:
        assert go is not None
        build(go, [*failed, *build_only], progress)
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
                slow = (" (about 11 minutes on 2 cores with empty Go caches)"
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


def _base(variable: str, default: str) -> str:
    return os.environ.get(variable, default).rstrip("/")


def release_downloads(names: list[str]) -> list[release.Download]:
    """Where each of ``names`` is published, with its checksum file (overridable per site, for a mirror)."""
    arch = _arch()
    found = []
    for name in names:
        if name == "etcd":
            base = f"{_base('CKSLAB_ETCD_RELEASE_URL', ETCD_RELEASE_URL)}/{ETCD_VERSION}"
            tarball = f"etcd-{ETCD_VERSION}-linux-{arch}"
            found.append(release.Download(name, f"{base}/{tarball}.tar.gz", f"{base}/SHA256SUMS", cached().etcd,
                                          member=f"{tarball}/etcd"))
        elif name == "kind":
            url = f"{_base('CKSLAB_KIND_RELEASE_URL', KIND_RELEASE_URL)}/{KIND_VERSION}/kind-linux-{arch}"
            found.append(release.Download(name, url, url + ".sha256sum", cached().kind))
        else:
            url = (f"{_base('CKSLAB_KUBERNETES_RELEASE_URL', KUBERNETES_RELEASE_URL)}/{KUBERNETES_VERSION}"
                   f"/bin/linux/{arch}/{name}")
            found.append(release.Download(name, url, url + ".sha256", cached().path(name)))
    return found


def download(names: list[str], progress: Progress) -> dict[str, str]:
    """Download ``names`` from their official releases into the cache; those not downloaded, with why.

    Raises :class:`ChecksumMismatch`, installing nothing, when a file does not match its
    published SHA-256.
    """
    return release.fetch_all(release_downloads(names), progress)
