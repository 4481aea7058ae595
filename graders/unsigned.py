"""Why an approved CSR still has no certificate, read from the controller manager the cluster runs.

The kube-controller-manager's csrsigning controller signs approved CSRs of the kubernetes.io
signers (pkg/controller/certificates/signer). An approved CSR without ``status.certificate`` means
it does not run, runs without that controller (``--controllers=...,-csrsigning``), or has not
got to it yet. Where ckslab reaches the control-plane node (``Backend.node()``) the controller
manager's real process is read (graders.signing_config.controller); on a cluster ckslab did not
start, only the question can be asked.
"""

from __future__ import annotations

from pathlib import Path

from kubernetes import client

from cluster import backends
from cluster.paths import LabPaths
from cluster.errors import CkslabError
from graders import kube
from graders.expect import StepFailure
from graders.signing_config import controller, flags

STATUS = "ckslab status"


def cause(csr_name: str, admin_api: client.ApiClient, root: Path) -> tuple[str, str]:
    """(message, hint) for the approved CSR ``csr_name`` that has no certificate.

    ``root``: the project root of the graded cluster (the grading context's), whose node is read.
    """
    head = f"The CSR {csr_name} is approved but has no certificate yet"
    try:
        backends.node_of(LabPaths(root))
    except CkslabError:  # a cluster ckslab did not start (or none recorded): no node to look at
        return f"{head}: is the cluster's controller manager running with its CSR signer?", ""
    try:
        cm = controller.read(root, admin_api)
    except StepFailure as failure:
        return f"{head}. {failure.message}", failure.hint
    if flags.SIGNER not in cm.running.enabled_csr_controllers():
        return (f"{head}: the controller manager runs without its CSR signer ({flags.CONTROLLERS}="
                f"{','.join(cm.running.controllers)} turns csrsigning off), so nothing is signed.",
                f"Remove -csrsigning from {flags.CONTROLLERS} in {cm.manifest_path}, then "
                "ckslab controlplane restart controller-manager")
    return (f"{head}: the controller manager ({cm.where}) runs its signer and may not have got to it yet. "
            "Grade again in a few seconds.", STATUS)
