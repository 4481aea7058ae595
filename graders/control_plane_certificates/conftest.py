"""What the control-plane-certificates graders look at, read once per session and only read.

The workspace, the user and the project root (where setup's record is kept) come from the grading
context; kubeadm's files are read on the cluster's node (``Backend.node()``).
"""

from __future__ import annotations

import pytest

from cluster.backends.node import Node
from graders.context import GradingContext
from graders.control_plane_certificates import node_pki, record
from graders.control_plane_certificates.lab import LAB_ID, CertLab
from graders.control_plane_certificates.node_pki import NodePki
from graders.control_plane_certificates.record import SetupRecord
from graders.expect import fail

@pytest.fixture(scope="session")
def lab(context: GradingContext, node: Node) -> CertLab:
    return CertLab(context.workspace, context.user, context.root, node)


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
