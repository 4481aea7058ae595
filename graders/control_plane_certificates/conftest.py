"""What the control-plane-certificates graders look at, read once per session and only read.

The runner (``ckslab grade``) sets ``CKSLAB_WORKSPACE`` (the lab's folder), ``KUBECONFIG`` (the
admin kubeconfig, ``<root>/.lab/kubeconfig``) and ``CKSLAB_USER``. The project root, where the
cluster's state and setup's record are kept, is the kubeconfig's ``../..``.
"""

from __future__ import annotations

import pytest

from graders import kube
from graders.cluster_node import node_at
from graders.control_plane_certificates import node_pki, record
from graders.control_plane_certificates.lab import LAB_ID, CertLab
from graders.control_plane_certificates.node_pki import NodePki
from graders.control_plane_certificates.record import SetupRecord
from graders.expect import fail

DEFAULT_USER = "jane"


@pytest.fixture(scope="session")
def lab() -> CertLab:
    workspace, user = kube.lab_context(LAB_ID, DEFAULT_USER)
    root = kube.kubeconfig_path().resolve().parent.parent
    return CertLab(workspace, user, root, node_at(root))


@pytest.fixture(scope="session")
def pki(lab: CertLab) -> NodePki:
    """kubeadm's certificates and kubeconfigs as they are now."""
    return node_pki.read(lab.root)


@pytest.fixture(scope="session")
def setup_record(lab: CertLab, pki: NodePki) -> SetupRecord:
    """The serials setup.sh gave the certificates, for this cluster."""
    found = record.load(lab.root)
    if found is None:
        fail(f"The lab was not started on this cluster: there is no record of its certificates in "
             f"{lab.root / record.RECORD}.", lab.start)
    ca = pki.get("ca").cert
    if ca is not None and record.fingerprint(ca) != found.ca_fingerprint:
        fail("The lab was started on another cluster (its record names another CA): start it again here.", lab.start)
    return found
