"""What the exam's PKI node tasks read: kubeadm's files, setup's record, a node file, a kubeconfig's identity.

Every grader of these tasks records what it expected and found (``observe``) before it fails, and
fails with "the task was not set up in context X" where setup's record is missing (the grading of
work done in another context).
"""

from __future__ import annotations

import base64
import copy
from pathlib import Path
from typing import Any, Callable

import yaml
from kubernetes import client, config

from cluster.backends.node import Node
from graders import kube
from graders.control_plane_certificates import node_pki
from graders.exam import pki_record
from graders.exam.inputs import TaskInput
from graders.exam.pki_record import PkiRecord
from graders.expect import brief, fail

Observe = Callable[[object, object], None]


def setup_record(root: Path, task: TaskInput, wanted: str, observe: Observe) -> PkiRecord:
    """The task's setup record on the graded cluster; observes and fails when the task was not set up there."""
    found = pki_record.load(root, task.id)
    if found is None:
        observe(wanted, f"the task was not set up in context {task['context']}'s cluster graded here")
        fail(f"the task {task.id} was not set up on this cluster (no {pki_record.path_of(root, task.id)}).")
    return found


def current(root: Path, wanted: str, observe: Observe) -> node_pki.NodePki:
    """kubeadm's certificates on the node now; observes and fails when they cannot be read."""
    try:
        return node_pki.read(root)
    except Exception as err:
        observe(wanted, f"the node's /etc/kubernetes cannot be read ({brief(err)})")
        fail(f"could not check: the node's /etc/kubernetes cannot be read ({brief(err)}).")


def node_file(node: Node, path: str) -> bytes | None:
    """The bytes of ``path`` on the node, or None when it is missing."""
    return node.read_files([path])[path].data


def identity(doc: dict[str, Any]) -> tuple[str, list[str]]:
    """(user, groups) the API server sees for kubeconfig ``doc``'s current context (a SelfSubjectReview).

    Raises whatever the client raises when the server refuses it or the TLS handshake fails.
    """
    probe = copy.deepcopy(doc)
    api = config.new_client_from_config_dict(probe, persist_config=False)  # type: ignore[no-untyped-call]
    review = client.AuthenticationV1Api(api).create_self_subject_review(
        client.V1SelfSubjectReview(api_version="authentication.k8s.io/v1", kind="SelfSubjectReview"),
        _request_timeout=kube.REQUEST_TIMEOUT)
    info = review.status.user_info if review.status else None
    return (str(info.username or ""), list(info.groups or [])) if info else ("", [])


def kubeconfig_for(admin_api: client.ApiClient, cert_pem: bytes, key_pem: bytes) -> dict[str, Any]:
    """A kubeconfig for the admin kubeconfig's server and CA with the client ``cert_pem`` and ``key_pem``."""
    def b64(data: bytes) -> str:
        return base64.b64encode(data).decode()

    ca = b64(Path(str(admin_api.configuration.ssl_ca_cert)).read_bytes())
    return {"apiVersion": "v1", "kind": "Config", "current-context": "probe",
            "clusters": [{"name": "c", "cluster": {"server": kube.server_of(admin_api),
                                                   "certificate-authority-data": ca}}],
            "users": [{"name": "u", "user": {"client-certificate-data": b64(cert_pem),
                                             "client-key-data": b64(key_pem)}}],
            "contexts": [{"name": "probe", "context": {"cluster": "c", "user": "u"}}]}


def yaml_doc(data: bytes) -> dict[str, Any] | None:
    try:
        doc = yaml.safe_load(data)
    except yaml.YAMLError:
        return None
    return doc if isinstance(doc, dict) else None
