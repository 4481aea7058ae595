"""Obtaining binaries: cache hit, checksum-verified download first, Go where downloads fail, and errors.

Downloads are served by a real HTTP server on 127.0.0.1 laid out like the release sites; "Go"
is a fake ``go`` on PATH that writes a recognisable file where ``go build -o`` would.
"""

from __future__ import annotations

import hashlib
import http.server
import io
import os
import re
import stat
import socket
import tarfile
import threading
import time
from pathlib import Path
from typing import Iterator

import pytest

from cluster import binaries, paths, release
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
    with pytest.raises(ChecksumMismatch) as info:
        binaries.ensure("auto", progress=lambda _m: None)
    assert str(info.value).startswith(f"the download of {os.environ['CKSLAB_KUBERNETES_RELEASE_URL']}/"
                                      f"{KUBERNETES_VERSION}/bin/linux/{binaries._arch()}/kube-apiserver does not "
                                      "match its published SHA-256")
    assert "nothing was installed" in str(info.value) and "\n" not in str(info.value)
    assert set(binaries.missing(binaries.ALL_BINARIES)) == set(binaries.ALL_BINARIES)
    assert not [p for p in no_go_cache.rglob("*") if p.is_file()]  # no temporary file left either


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


# --- the order: the official downloads first, Go where they cannot be had -------------------------

FAKE_GO = """#!/bin/sh
PATH=/usr/bin:/bin
echo "$*" >> "$(dirname "$0")/go-calls"
out=""; prev=""; pkgs=""
for arg in "$@"; do
  if [ "$prev" = "-o" ]; then out="$arg"; elif [ "$out" != "" ]; then pkgs="$pkgs $arg"; fi
  prev="$arg"
done
case "$out" in
  */) for p in $pkgs; do printf '#!/bin/sh\\necho built by go\\n' > "$out$(basename "$p")"; chmod 755 "$out$(basename "$p")"; done ;;
  *) printf '#!/bin/sh\\necho built by go\\n' > "$out"; chmod 755 "$out" ;;
esac
"""
BUILT = b"#!/bin/sh\necho built by go\n"


@pytest.fixture
def fake_go(no_go_cache: Path) -> Path:
    """A `go` on PATH that "builds" by writing BUILT; its calls are logged next to it."""
    folder = Path(os.environ["PATH"])
    (folder / "go").write_text(FAKE_GO)
    (folder / "go").chmod(0o755)
    return folder / "go-calls"


def _obtained(progress: list[str]) -> tuple[binaries.Binaries, float]:
    started = time.monotonic()
    found = binaries.ensure("auto", progress=progress.append)
    return found, time.monotonic() - started


def test_with_go_installed_the_official_downloads_come_first(fake_go: Path, release_site: dict) -> None:
    said: list[str] = []
    found, _ = _obtained(said)
    for name in binaries.ALL_BINARIES:
        assert found.path(name).read_bytes() == f"#!/bin/sh\necho {name}\n".encode(), name
        assert stat.S_IMODE(found.path(name).stat().st_mode) == 0o755, name
    assert not fake_go.exists(), "go was run although every download verified"
    assert not [line for line in said if "Go" in line], said


def test_a_wrong_checksum_is_refused_in_one_line_and_go_builds_instead(fake_go: Path, release_site: dict) -> None:
    release_site.update(_release_files(tamper="kubectl"))
    said: list[str] = []
    found, _ = _obtained(said)
    for name in binaries.ALL_BINARIES:  # nothing of the tampered release is kept: all built
        assert found.path(name).read_bytes() == BUILT, name
    (refused,) = [line for line in said if "SHA-256" in line]
    assert "/kubectl does not match its published SHA-256" in refused and "\n" not in refused
    assert refused.endswith("building them with Go instead"), refused
    assert "kube-apiserver" in fake_go.read_text()


def test_an_unreachable_release_site_falls_back_to_go_at_once_in_one_line(fake_go: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    for variable in ("CKSLAB_KUBERNETES_RELEASE_URL", "CKSLAB_ETCD_RELEASE_URL", "CKSLAB_KIND_RELEASE_URL"):
        monkeypatch.setenv(variable, "http://127.0.0.1:9/nowhere")  # nothing listens on port 9
    said: list[str] = []
    found, seconds = _obtained(said)
    assert all(found.path(n).read_bytes() == BUILT for n in binaries.ALL_BINARIES)
    (why,) = [line for line in said if line.startswith("could not download")]
    assert why.startswith(f"could not download {', '.join(binaries.ALL_BINARIES)} (127.0.0.1:9 cannot be reached (")
    assert why.endswith("): building them with Go instead") and why.count("cannot be reached") == 1, why
    assert seconds < 5


def test_a_release_site_that_never_answers_is_given_up_after_the_timeout_and_asked_once(
        fake_go: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(16)  # connections complete in the backlog; nothing ever answers them
    url = f"http://127.0.0.1:{silent.getsockname()[1]}"
    for variable in ("CKSLAB_KUBERNETES_RELEASE_URL", "CKSLAB_ETCD_RELEASE_URL", "CKSLAB_KIND_RELEASE_URL"):
        monkeypatch.setenv(variable, url)
    monkeypatch.setattr(release, "TIMEOUT", 1.0)
    try:
        said: list[str] = []
        found, seconds = _obtained(said)
    finally:
        silent.close()
    assert all(found.path(n).read_bytes() == BUILT for n in binaries.ALL_BINARIES)
    assert 1.0 <= seconds < 4, f"{seconds:.1f}s: the host was asked more than once, or without a timeout"
    assert [line for line in said if line.startswith("could not download")], said


def test_one_file_missing_from_the_release_is_built_the_rest_downloaded(fake_go: Path, release_site: dict) -> None:
    del release_site[f"/kind/{KIND_VERSION}/kind-linux-{binaries._arch()}"]
    said: list[str] = []
    found, _ = _obtained(said)
    assert found.kind.read_bytes() == BUILT
    assert found.etcd.read_bytes() == b"#!/bin/sh\necho etcd\n"
    assert found.kubectl.read_bytes() == b"#!/bin/sh\necho kubectl\n"
    (why,) = [line for line in said if line.startswith("could not download")]
    assert why.startswith("could not download kind (") and "answered HTTP 404" in why, why
    assert "sigs.k8s.io/kind" in fake_go.read_text() and "kubernetes/cmd" not in fake_go.read_text()
