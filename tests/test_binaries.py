"""Obtaining binaries: cache hit, checksum-verified download, and the no-Go-no-network error.

Downloads are served by a real HTTP server on 127.0.0.1 laid out like the release sites.
"""

from __future__ import annotations

import hashlib
import http.server
import io
import os
import re
import stat
import tarfile
import threading
from pathlib import Path
from typing import Iterator

import pytest

from cluster import binaries, paths
from cluster.errors import BinariesError, ChecksumMismatch
from cluster.versions import COREDNS_VERSION, CRI_TOOLS_VERSION, ETCD_VERSION, KIND_VERSION, KUBERNETES_VERSION


@pytest.fixture
def no_go_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty binaries cache and a PATH with no `go` on it."""
    monkeypatch.setenv("CKSLAB_CACHE", str(tmp_path / "cache"))
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    return tmp_path / "cache"


def _serve(files: dict[str, bytes]) -> tuple[http.server.ThreadingHTTPServer, str]:
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            body = files.get(self.path)
            self.send_response(200 if body is not None else 404)
            self.end_headers()
            self.wfile.write(body or b"not found")

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


def _release_files(tamper: str = "") -> dict[str, bytes]:
    files: dict[str, bytes] = {}
    arch = binaries._arch()
    for name in binaries.KUBERNETES_BINARIES:
        body = f"#!/bin/sh\necho {name}\n".encode()
        path = f"/k8s/{KUBERNETES_VERSION}/bin/linux/{arch}/{name}"
        files[path] = body + (b"tampered" if name == tamper else b"")
        files[path + ".sha256"] = hashlib.sha256(body).hexdigest().encode()
    kind = b"#!/bin/sh\necho kind\n"
    files[f"/kind/{KIND_VERSION}/kind-linux-{arch}"] = kind
    files[f"/kind/{KIND_VERSION}/kind-linux-{arch}.sha256sum"] = (
        f"{hashlib.sha256(kind).hexdigest()}  kind-linux-{arch}\n".encode())
    tarball = f"etcd-{ETCD_VERSION}-linux-{arch}.tar.gz"
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        data = b"#!/bin/sh\necho etcd\n"
        info = tarfile.TarInfo(tarball.removesuffix(".tar.gz") + "/etcd")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    files[f"/etcd/{ETCD_VERSION}/{tarball}"] = buf.getvalue()
    files[f"/etcd/{ETCD_VERSION}/SHA256SUMS"] = (
        f"{'0' * 64}  other-file.zip\n{hashlib.sha256(buf.getvalue()).hexdigest()}  {tarball}\n".encode())
    return files


@pytest.fixture
def release_site(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, bytes]]:
    files = _release_files()
    server, url = _serve(files)
    monkeypatch.setenv("CKSLAB_KUBERNETES_RELEASE_URL", url + "/k8s")
    monkeypatch.setenv("CKSLAB_ETCD_RELEASE_URL", url + "/etcd")
    monkeypatch.setenv("CKSLAB_KIND_RELEASE_URL", url + "/kind")
    yield files
    server.shutdown()


def test_download_without_go_installs_verified_executables(no_go_cache: Path, release_site: dict) -> None:
    found = binaries.ensure("auto", progress=lambda _m: None)
    assert found.kubectl.read_bytes() == b"#!/bin/sh\necho kubectl\n"
    assert found.etcd.read_bytes() == b"#!/bin/sh\necho etcd\n"
    assert found.kind.read_bytes() == b"#!/bin/sh\necho kind\n"
    assert found.kubectl.parent == no_go_cache / KUBERNETES_VERSION / "bin"
    assert stat.S_IMODE(found.etcd.stat().st_mode) == 0o755
    assert binaries.missing(binaries.ALL_BINARIES) == []


def test_checksum_mismatch_installs_nothing(no_go_cache: Path, release_site: dict,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    tampered = _release_files(tamper="kube-apiserver")
    release_site.update(tampered)
    with pytest.raises(ChecksumMismatch, match="checksum mismatch .*kube-apiserver"):
        binaries.ensure("auto", progress=lambda _m: None)
    assert set(binaries.missing(binaries.ALL_BINARIES)) == set(binaries.ALL_BINARIES)


def test_no_go_and_no_network_names_what_to_install(no_go_cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CKSLAB_KUBERNETES_RELEASE_URL", "http://127.0.0.1:9/nowhere")
    monkeypatch.setenv("CKSLAB_ETCD_RELEASE_URL", "http://127.0.0.1:9/nowhere")
    with pytest.raises(BinariesError) as info:
        binaries.ensure("auto", progress=lambda _m: None)
    message = str(info.value)
    assert "Go is not installed" in message and "Install Go 1.26" in message
    assert "connect to the internet" in message
    assert "\n" not in message


def test_build_requested_without_go_says_so(no_go_cache: Path) -> None:
    with pytest.raises(BinariesError, match="Go is not installed"):
        binaries.ensure("build", progress=lambda _m: None)


def test_cache_hit_needs_neither_go_nor_network(no_go_cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CKSLAB_KUBERNETES_RELEASE_URL", "http://127.0.0.1:9/nowhere")
    for name in binaries.ALL_BINARIES:
        path = binaries.cached().path(name)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("#!/bin/sh\n")
        path.chmod(0o755)
    assert binaries.ensure("auto", progress=lambda _m: None) == binaries.cached()


def test_cache_is_outside_the_checkout_and_keyed_by_version(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("CKSLAB_CACHE", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert paths.kubernetes_bin_dir() == tmp_path / "ckslab" / KUBERNETES_VERSION / "bin"
    assert paths.etcd_bin_dir() == tmp_path / "ckslab" / f"etcd-{ETCD_VERSION}" / "bin"


def test_version_ldflags_stamp_the_release() -> None:
    flags = binaries.version_ldflags()
    assert f"k8s.io/component-base/version.gitVersion={KUBERNETES_VERSION}" in flags
    assert f"k8s.io/client-go/pkg/version.gitVersion={KUBERNETES_VERSION}" in flags
    assert "gitMinor=37" in flags


def test_go_modules_pin_the_same_versions_as_versions_py() -> None:
    gobuild = paths.checkout() / "cluster" / "gobuild"
    k8s = (gobuild / "kubernetes" / "go.mod").read_text()
    assert re.search(rf"^require k8s.io/kubernetes {re.escape(KUBERNETES_VERSION)}\b", k8s, re.M)
    staging = re.findall(r"^\t(k8s.io/\S+) => \1 (\S+)$", k8s, re.M)
    assert len(staging) > 25
    assert {v for _, v in staging} == {KUBERNETES_VERSION.replace("v1.", "v0.")}
    etcd = (gobuild / "etcd" / "go.mod").read_text()
    assert re.search(rf"^require go.etcd.io/etcd/server/v3 {re.escape(ETCD_VERSION)}\b", etcd, re.M)
    kind = (gobuild / "kind" / "go.mod").read_text()
    assert re.search(rf"^require sigs.k8s.io/kind {re.escape(KIND_VERSION)}\b", kind, re.M)
    coredns = (gobuild / "coredns" / "go.mod").read_text()
    assert re.search(rf"^require github.com/coredns/coredns {re.escape(COREDNS_VERSION)}\b", coredns, re.M)
    crictl = (gobuild / "cri-tools" / "go.mod").read_text()
    assert re.search(rf"^(require )?\s*sigs.k8s.io/cri-tools {re.escape(CRI_TOOLS_VERSION)}\b", crictl, re.M)
    for module in ("kubernetes", "etcd", "kind", "coredns", "cri-tools"):
        assert os.path.exists(gobuild / module / "go.sum"), module
    for tool in ("kube-apiserver", "kube-controller-manager", "kubectl", *binaries.NODE_KUBERNETES_BINARIES):
        assert f"\tk8s.io/kubernetes/cmd/{tool}\n" in k8s, tool


def test_node_image_binaries_are_never_downloaded(no_go_cache: Path, release_site: dict) -> None:
    with pytest.raises(BinariesError, match="Go is not installed, so kubelet, kube-proxy.* cannot be built"):
        binaries.ensure("auto", progress=lambda _m: None, names=binaries.NODE_IMAGE_BINARIES)
    assert set(binaries.missing(binaries.NODE_IMAGE_BINARIES)) == set(binaries.NODE_IMAGE_BINARIES)
