"""kubeadm's PKI of the cluster being graded, read where the cluster keeps it. Read only.

The files are kubeadm's, under its ``/etc/kubernetes``: on the local backend that tree is
``<root>/.lab/local/etc/kubernetes``; on kind it is ``/etc/kubernetes`` in the control-plane node's
container, read with one ``docker exec`` (``stat`` for the modification time, ``cat`` for the
content). Each certificate is named as ``kubeadm certs check-expiration`` names it: the rows of
``cluster.certlist`` (kubeadm's ``certlist.go``) and the kubeconfigs whose embedded client
certificate ``kubeadm certs renew`` renews (``renewal/manager.go``: admin.conf, super-admin.conf,
controller-manager.conf, scheduler.conf; kubelet.conf is the kubelet's to rotate).
"""

from __future__ import annotations

import datetime as dt
import subprocess
from dataclasses import dataclass
from pathlib import Path

import yaml
from cryptography import x509

from cluster import certlist, kubeconfig, state
from cluster.backends import kind
from cluster.controlplane import Layout
from cluster.errors import CkslabError
from graders.expect import fail

#: Where kubeadm keeps its files on a node.
KUBEADM_ETC = "/etc/kubernetes"
_UNREACHABLE = "Run `ckslab status`; `make up` restarts what is down."


def _leaf_paths() -> dict[str, str]:
    paths = {spec.name: f"pki/{spec.base_name}.crt" for spec in certlist.CERTIFICATES if not spec.is_ca}
    paths.update({spec.file_name: spec.file_name for spec in certlist.KUBECONFIGS})
    return dict(sorted(paths.items()))


#: What ``kubeadm certs renew all`` renews: kubeadm's name -> path under /etc/kubernetes.
RENEWED: dict[str, str] = _leaf_paths()
#: The CAs, which it never renews (``renewal/manager.go``: "we are not offering support for renewing CAs").
CAS: dict[str, str] = {spec.name: f"pki/{spec.base_name}.crt" for spec in certlist.CERTIFICATES if spec.is_ca}
#: The CA that signs each renewed certificate (every kubeconfig's is "ca").
SIGNED_BY: dict[str, str] = {**{spec.name: spec.ca or "" for spec in certlist.CERTIFICATES if not spec.is_ca},
                             **{spec.file_name: "ca" for spec in certlist.KUBECONFIGS}}


@dataclass(frozen=True)
class PkiFile:
    """One certificate file, or the certificate embedded in a kubeconfig."""

    name: str
    #: Where it is, as the learner would name it (a path on this machine or in the node).
    path: str
    #: None when the file is missing or holds no certificate: ``problem`` says which.
    cert: x509.Certificate | None
    problem: str
    #: When the file was last written (seconds since the epoch; whole seconds on kind).
    mtime: float

    @property
    def written(self) -> dt.datetime:
        return dt.datetime.fromtimestamp(self.mtime, dt.timezone.utc)


@dataclass(frozen=True)
class NodePki:
    """Every file of ``RENEWED`` and ``CAS`` of one cluster, by kubeadm's name."""

    backend: str
    #: The folder that stands for /etc/kubernetes, as the learner would name it.
    etc: str
    #: The kind node's container ("" on the local backend).
    node: str
    files: dict[str, PkiFile]

    def get(self, name: str) -> PkiFile:
        return self.files[name]


def backend_of(root: Path) -> str:
    """The backend of the cluster recorded in ``root``/.lab/state.json; a StepFailure when none."""
    try:
        current = state.read(root / ".lab" / "state.json")
    except CkslabError as err:
        fail(f"could not check: {err.message}", err.hint)
    if current is None:
        fail(f"could not check: no cluster is recorded in {root / '.lab' / 'state.json'}.", "Run `make up`.")
    return current.backend


def read(root: Path) -> NodePki:
    """The PKI of the cluster whose project root is ``root``, or a StepFailure saying why not."""
    backend = backend_of(root)
    wanted = {**RENEWED, **CAS}
    if backend == "local":
        etc = Layout(root / ".lab" / "local").etc
        files = {name: _local(name, etc / rel) for name, rel in wanted.items()}
        return NodePki(backend, str(etc), "", files)
    if backend == "kind":
        node = kind.node_for(root / ".lab" / "state.json")
        raw = _kind_files(node, [f"{KUBEADM_ETC}/{rel}" for rel in wanted.values()])
        files = {name: _parse(name, f"{KUBEADM_ETC}/{rel}", *raw[f"{KUBEADM_ETC}/{rel}"])
                 for name, rel in wanted.items()}
        return NodePki(backend, f"{KUBEADM_ETC} in the node container {node}", node, files)
    fail(f"This lab cannot be done on the {backend} backend: ckslab cannot read the files of a control plane it "
         "did not create.", "Run the lab on a cluster ckslab creates: make down && make up BACKEND=local (or kind)")


def _local(name: str, path: Path) -> PkiFile:
    try:
        data, mtime = path.read_bytes(), path.stat().st_mtime
    except OSError as err:
        return PkiFile(name, str(path), None, f"{path} cannot be read ({err.strerror})", 0.0)
    return _parse(name, str(path), data, mtime)


def _kind_files(node: str, paths: list[str]) -> dict[str, tuple[bytes | None, float]]:
    """Each path's content and modification time in the node (None when it cannot be read)."""
    script = ('for f in "$@"; do if [ -r "$f" ]; then printf "\\n=== %s %s\\n" "$f" "$(stat -c %Y "$f")"; '
              'cat "$f"; else printf "\\n=== %s missing\\n" "$f"; fi; done')
    client = kind.engine()[1]
    try:
        done = subprocess.run([client, "exec", node, "sh", "-c", script, "sh", *paths], capture_output=True,
                              timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired) as err:
        fail(f"could not check: {client} exec {node} failed ({err}).", _UNREACHABLE)
    if done.returncode != 0:
        fail(f"could not check: the files in {node} cannot be read "
             f"({done.stderr.decode(errors='replace').strip()[:160]}).", _UNREACHABLE)
    found: dict[str, tuple[bytes | None, float]] = {p: (None, 0.0) for p in paths}
    for chunk in done.stdout.split(b"\n=== ")[1:]:
        header, _, body = chunk.partition(b"\n")
        path, _, when = header.decode(errors="replace").rpartition(" ")
        if path in found and when != "missing":
            found[path] = (body, float(when))
    return found


def _parse(name: str, path: str, data: bytes | None, mtime: float) -> PkiFile:
    if data is None:
        return PkiFile(name, path, None, f"{path} does not exist or cannot be read", 0.0)
    try:
        if name.endswith(".conf"):
            doc = yaml.safe_load(data)
            cert = kubeconfig.client_certificate(doc if isinstance(doc, dict) else {})
        else:
            cert = x509.load_pem_x509_certificate(data)
    except (yaml.YAMLError, KeyError, IndexError, TypeError, ValueError) as err:
        what = "an embedded client certificate" if name.endswith(".conf") else "a PEM certificate"
        return PkiFile(name, path, None, f"{path} holds no readable {what} ({' '.join(str(err).split())[:80]})",
                       mtime)
    return PkiFile(name, path, cert, "", mtime)
