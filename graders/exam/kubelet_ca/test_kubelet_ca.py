"""Graders of the exam task kubelet-ca: the running API server verifies kubelets, and logs still work.

The flag is read from the running kube-apiserver process (``Node.running_command``), never from the
manifest, which may not have been applied; the file it names is read on the node and compared with the
cluster CA. Then ``kubectl logs`` of the task's pod is asked of the API server, which connects to the
kubelet: it succeeds only when the kubelet's certificate verifies against that file.
"""

from __future__ import annotations

from typing import Callable

import pytest
from cryptography import x509
from kubernetes import client

from cluster.backends.node import Node, NodeError, flag_value
from graders import kube
from graders.exam import kubelet
from graders.exam.inputs import TaskInput
from graders.expect import brief, expect, fail

Observe = Callable[[object, object], None]
FLAG = "--kubelet-certificate-authority"


@pytest.fixture(scope="module")
def kubelet_ca_flag(node: Node) -> str | None:
    """The value of --kubelet-certificate-authority in the running kube-apiserver's command line."""
    try:
        return flag_value(kubelet.kubelet_node(node).running_command("kube-apiserver"), FLAG)
    except NodeError as err:
        fail(f"could not check: {err.message}", err.hint)


def _holds_cluster_ca(node: Node, path: str, ca: x509.Certificate) -> bool:
    try:
        return x509.load_pem_x509_certificate(node.read_file(path)) == ca
    except (NodeError, ValueError):
        return False


@pytest.mark.step("verifies-kubelets")
def test_verifies_kubelets(kubelet_ca_flag: str | None, observe: Observe) -> None:
    observe(f"{FLAG}=/etc/kubernetes/pki/ca.crt", f"{FLAG}={kubelet_ca_flag}" if kubelet_ca_flag else f"no {FLAG}")
    expect(kubelet_ca_flag, f"the running kube-apiserver has no {FLAG}: it does not verify the kubelets' "
                            "serving certificates.")


@pytest.mark.step("logs-verified")
def test_logs_verified(task: TaskInput, kubelet_ca_flag: str | None, node: Node, cluster_ca: x509.Certificate,
                       admin_api: client.ApiClient, observe: Observe) -> None:
    expected = f"ready {task['line']}"
    try:
        logs = client.CoreV1Api(admin_api).read_namespaced_pod_log(task["pod"], task["ns"],
                                                                  _request_timeout=kube.REQUEST_TIMEOUT)
        found = f"the log says {logs.strip()[:80]!r}"
    except Exception as err:
        logs, found = "", f"kubectl logs fails: {brief(err)}"
    verified = bool(kubelet_ca_flag) and _holds_cluster_ca(node, str(kubelet_ca_flag), cluster_ca)
    ca_said = ("verified against the cluster CA" if verified else
               f"verified against {kubelet_ca_flag}, which is not the cluster CA" if kubelet_ca_flag else
               "not verified")
    observe(f"{expected!r} in the log of {task['ns']}/{task['pod']}, the kubelet verified against the cluster CA",
            f"{found}; the kubelet {ca_said}")
    expect(verified, f"the API server's {FLAG} is {kubelet_ca_flag or 'not set'}: the kubelet's certificate is "
                     f"{ca_said}.")
    expect(expected in logs, f"kubectl -n {task['ns']} logs {task['pod']}: {found}.")
