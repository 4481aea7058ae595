"""What the graders read inside the kind node: the kubelet's certificate files and configuration.

Read only, through the cluster's node (``Node.exec``: the engine's exec on kind): the PEM certificate blocks of
``kubelet-client-current.pem`` (which holds the private key too: only the CERTIFICATE blocks are
copied out) and ``kubelet-server-current.pem``, where their symlinks point, and the kubelet's
configuration. The configuration the kubelet runs is asked first (``/configz`` through the API
server's node proxy), which needs the kubelet's serving TLS; while it has no serving certificate
the file ``/var/lib/kubelet/config.yaml`` it was started from is read instead.
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from typing import Any

import yaml
from cryptography import x509
from kubernetes import client

from cluster.errors import CkslabError
from graders import kube
from graders.expect import fail
from graders.node_certificates.lab import KUBELET_CONFIG, RESET_REVIEW, NodeLab

_UNREACHABLE = "Run `ckslab status`; `make up` restarts what is down."
#: Prints the target of a symlink, then its certificate blocks only (never the private key).
_CERT_ONLY = ("readlink -f {path} && sed -n '/-----BEGIN CERTIFICATE-----/,/-----END CERTIFICATE-----/p' {path}")


@dataclass(frozen=True)
class NodeCertificate:
    """A kubelet certificate file: where its ``-current.pem`` symlink points, and its first certificate."""

    target: str
    certificate: x509.Certificate


@dataclass(frozen=True)
class KubeletConfig:
    """The kubelet's configuration, and where it was read (``/configz`` or the file)."""

    values: dict[str, Any]
    source: str


def run_in_node(lab: NodeLab, script: str) -> subprocess.CompletedProcess[str]:
    """``sh -c script`` on the node; a StepFailure when it cannot be run there."""
    try:
        done = lab.cluster_node.exec("sh", "-c", script, timeout=30)
    except CkslabError as err:
        fail(f"could not check: {err.message}", _UNREACHABLE)
    return subprocess.CompletedProcess(done.args, done.returncode, done.stdout.decode(errors="replace"),
                                       done.stderr.decode(errors="replace"))


def certificate(lab: NodeLab, path: str) -> NodeCertificate | None:
    """The certificate the kubelet keeps at ``path``, or None when there is none."""
    done = run_in_node(lab, f"[ -e {path} ] || exit 3; " + _CERT_ONLY.format(path=path))
    if done.returncode == 3:
        return None
    if done.returncode != 0:
        fail(f"could not check: {path} in {lab.node} cannot be read ({done.stderr.strip()[:160]}).", _UNREACHABLE)
    target, _, pem = done.stdout.partition("\n")
    try:
        return NodeCertificate(target.strip(), x509.load_pem_x509_certificate(pem.encode()))
    except ValueError:
        fail(f"{path} in {lab.node} holds no readable certificate.",
             f"{RESET_REVIEW} (the kubelet writes a new one when it is restarted)")


def kubelet_config(lab: NodeLab, api: client.ApiClient) -> KubeletConfig:
    """The running kubelet's configuration (``/configz``), else the file it was started from."""
    try:
        raw = api.call_api(*api.param_serialize(method="GET", resource_path=f"/api/v1/nodes/{lab.node}/proxy/configz",
                                                auth_settings=["BearerToken"]),
                           _request_timeout=kube.REQUEST_TIMEOUT)
        raw.read()  # type: ignore[no-untyped-call]
        if raw.status == 200:
            values = json.loads(raw.data or b"{}").get("kubeletconfig", {})
            if isinstance(values, dict):
                return KubeletConfig(values, "the running kubelet's /configz")
    except Exception:  # the kubelet serves no TLS yet: read the file it started from
        pass
    done = run_in_node(lab, f"cat {KUBELET_CONFIG}")
    try:
        values = yaml.safe_load(done.stdout) if done.returncode == 0 else None
    except yaml.YAMLError:
        values = None
    if not isinstance(values, dict):
        fail(f"could not check: {KUBELET_CONFIG} in {lab.node} cannot be read.", _UNREACHABLE)
    return KubeletConfig(values, f"{KUBELET_CONFIG} in {lab.node}")
