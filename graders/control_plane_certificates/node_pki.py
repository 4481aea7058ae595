"""kubeadm's PKI of the cluster being graded, read where the cluster keeps it. Read only.

The files are kubeadm's, under its ``/etc/kubernetes`` on the control-plane node, read in one go
through the cluster's :class:`~cluster.backends.node.Node` (``Node.read_files``: content and
modification time; on the local backend that tree is ``<root>/.lab/local/etc/kubernetes``). Each certificate is named as ``kubeadm certs check-expiration`` names it: the rows of
``cluster.certlist`` (kubeadm's ``certlist.go``) and the kubeconfigs whose embedded client
certificate ``kubeadm certs renew`` renews (``renewal/manager.go``: admin.conf, super-admin.conf,
controller-manager.conf, scheduler.conf; kubelet.conf is the kubelet's to rotate).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import yaml
from cryptography import x509

from cluster import certlist, kubeconfig
from cluster.backends.node import Node
from graders.cluster_node import node_at

#: Where kubeadm keeps its files on a node.
KUBEADM_ETC = "/etc/kubernetes"


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

    #: The folder that stands for /etc/kubernetes, as the learner would name it.
    etc: str
    #: The node the files were read on.
    node: Node
    files: dict[str, PkiFile]

    def get(self, name: str) -> PkiFile:
        return self.files[name]


def read(root: Path) -> NodePki:
    """The PKI of the cluster whose project root is ``root``, or a StepFailure saying why not."""
    node = node_at(root)
    wanted = {name: f"{KUBEADM_ETC}/{rel}" for name, rel in {**RENEWED, **CAS}.items()}
    raw = node.read_files(list(wanted.values()))
    files = {name: _parse(name, raw[path].path, raw[path].data, raw[path].mtime) for name, path in wanted.items()}
    return NodePki(node.where(KUBEADM_ETC), node, files)


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
