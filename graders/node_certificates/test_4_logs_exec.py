"""Step logs-exec: ``kubectl logs`` and ``kubectl exec`` reach the node's kubelet, and the learner kept their output.

Both go from the API server to the kubelet's port 10250 over TLS (the API server's
``--kubelet-client-certificate`` on one side, the kubelet's serving certificate on the other). The
grader runs them itself, through the API server with the pinned kubectl, on the node's kube-proxy pod:
the logs (read only) and ``kube-proxy --version`` (prints and exits, changes nothing). Without a serving
certificate the kubelet fails every TLS handshake, and both answer ``remote error: tls: internal error``.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from kubernetes import client

from cluster import binaries
from cluster.errors import CkslabError
from graders import files, kube
from graders.expect import brief, expect, fail
from graders.node_certificates.lab import NodeLab
from graders.context import GradingContext

pytestmark = pytest.mark.step("logs-exec")

EXEC_COMMAND = ("kube-proxy", "--version")


@pytest.fixture(scope="module")
def pod(lab: NodeLab, admin_api: client.ApiClient) -> str:
    """The kube-proxy pod of the lab's node."""
    try:
        pods = client.CoreV1Api(admin_api).list_namespaced_pod(
            "kube-system", label_selector="k8s-app=kube-proxy", field_selector=f"spec.nodeName={lab.node}",
            _request_timeout=kube.REQUEST_TIMEOUT).items
    except Exception as err:
        fail(f"could not check: the cluster did not answer when listing kube-proxy's pods ({brief(err)}).",
             "Run `ckslab status`; `make up` restarts what is down.")
    running = [p.metadata.name for p in pods if p.metadata and p.status and p.status.phase == "Running"]
    expect(running, f"could not check: no kube-proxy pod runs on {lab.node}.", lab.kube_proxy_pod)
    return str(running[0])


def _kubectl(kubeconfig: Path, *args: str) -> subprocess.CompletedProcess[str]:
    try:
        kubectl = binaries.require(("kubectl",)).kubectl
        return subprocess.run([str(kubectl), *args], capture_output=True, text=True, timeout=60, check=False,
                              env={**os.environ, "KUBECONFIG": str(kubeconfig)},
                              stdin=subprocess.DEVNULL)
    except (CkslabError, OSError, subprocess.TimeoutExpired) as err:
        fail(f"could not check: kubectl could not run ({brief(err)}).", "make binaries")


def _refused(what: str, lab: NodeLab, done: subprocess.CompletedProcess[str]) -> str:
    error = " ".join(done.stderr.split())[:240]
    cause = (f": the kubelet of {lab.node} has no serving certificate, so it fails every TLS handshake"
             if "tls: internal error" in error else "")
    return f"{what} fails ({error}){cause}."


@pytest.fixture(scope="module")
def live_logs(lab: NodeLab, pod: str, context: GradingContext) -> str:
    done = _kubectl(context.kubeconfig, "-n", "kube-system", "logs", pod)
    expect(done.returncode == 0, _refused(f"kubectl -n kube-system logs {pod}", lab, done),
           f"{lab.list_serving}; approve the node's own request")
    return done.stdout


@pytest.fixture(scope="module")
def live_exec(lab: NodeLab, pod: str, context: GradingContext) -> str:
    done = _kubectl(context.kubeconfig, "-n", "kube-system", "exec", pod, "--", *EXEC_COMMAND)
    expect(done.returncode == 0, _refused(f"kubectl -n kube-system exec {pod} -- {' '.join(EXEC_COMMAND)}", lab,
                                          done),
           f"{lab.list_serving}; approve the node's own request")
    return done.stdout


def test_kubectl_logs_works(live_logs: str) -> None:
    assert live_logs is not None


def test_kubectl_exec_works(live_exec: str) -> None:
    assert live_exec is not None


def test_logs_file_holds_the_pods_logs(lab: NodeLab, pod: str, live_logs: str) -> None:
    hint = f"kubectl -n kube-system logs {pod} > logs.txt"
    text = files.read_bytes(lab.logs_file, hint).decode("utf-8", errors="replace")
    saved = [line for line in text.splitlines() if line.strip()]
    expect(saved, "logs.txt is empty: kubectl logs printed nothing into it (did it fail?).", hint)
    live = set(live_logs.splitlines())
    expect(saved[0] in live, f"logs.txt does not hold the logs of {pod}: its first line is not in them "
                             f"({saved[0][:100]!r}).", hint)


def test_exec_file_holds_the_commands_output(lab: NodeLab, pod: str, live_exec: str) -> None:
    hint = f"kubectl -n kube-system exec {pod} -- {' '.join(EXEC_COMMAND)} > exec.txt"
    text = files.read_bytes(lab.exec_file, hint).decode("utf-8", errors="replace").strip()
    expect(text == live_exec.strip(), f"exec.txt holds {text[:80]!r}; `{' '.join(EXEC_COMMAND)}` in {pod} prints "
                                      f"{live_exec.strip()!r}.", hint)
