"""Graders of the exam task broken-apiserver: the running API server's flag (read from its process, compared by
the file it names with kubeadm's), its served certificate, and the cause written down."""

from __future__ import annotations

from typing import Callable

import pytest
from cryptography import x509
from kubernetes import client

from cluster import controlplane
from cluster.backends.node import Node, flag_value
from graders import kube
from graders.exam import controlplane as plane
from graders.exam.inputs import TaskInput
from graders.expect import brief, expect, fail

Observe = Callable[[object, object], None]
APISERVER = controlplane.APISERVER
MANIFEST = "/etc/kubernetes/manifests/kube-apiserver.yaml"
#: kubeadm's file for each flag the task may break (cmd/kubeadm/app/phases/controlplane/manifests.go).
KUBEADM_FILES = {
    "tls-cert-file": "/etc/kubernetes/pki/apiserver.crt",
    "client-ca-file": "/etc/kubernetes/pki/ca.crt",
    "etcd-certfile": "/etc/kubernetes/pki/apiserver-etcd-client.crt",
}
SERVING = "/etc/kubernetes/pki/apiserver.crt"


@pytest.mark.step("flag-fixed")
def test_flag_fixed(task: TaskInput, node: Node, observe: Observe) -> None:
    flag, right = f"--{task['flag']}", KUBEADM_FILES[task["flag"]]
    wanted = f"{flag} naming {right} (or a file with the same content)"
    flags = plane.running_flags(node, APISERVER)
    if isinstance(flags, str):
        observe(wanted, flags)
        fail(f"{flags}.", f"Read its log (/var/log/kube-apiserver.log on the node) and fix {MANIFEST}.")
    value = flag_value(flags, flag) or ""
    same = bool(value) and plane.node_file(node, value) == plane.node_file(node, right)
    observe(wanted, f"{flag}={value or '(none)'}" + ("" if same or not value else f", not the content of {right}"))
    expect(same, f"the running kube-apiserver's {flag} is {value or 'not set'}, not {right}.",
           f"Set {flag}={right} in {MANIFEST} on the node.")


@pytest.mark.step("serving")
def test_serving(admin_api: client.ApiClient, node: Node, observe: Observe) -> None:
    wanted = f"/readyz ok, serving {SERVING}"
    try:
        raw = admin_api.call_api(*admin_api.param_serialize(method="GET", resource_path="/readyz",
                                                            auth_settings=["BearerToken"]),
                                 _request_timeout=kube.REQUEST_TIMEOUT)
        raw.read()  # type: ignore[no-untyped-call]
        ready = (raw.data or b"").decode(errors="replace").strip() if raw.status == 200 else f"HTTP {raw.status}"
    except Exception as err:
        ready = f"no answer ({brief(err)})"
    served = plane.served_certificate(str(admin_api.configuration.host))
    data = plane.node_file(node, SERVING)
    ours = served is not None and data is not None and served == x509.load_pem_x509_certificate(data)
    observe(wanted, f"/readyz: {ready}; " + ("no certificate served" if served is None else
                                             f"serving {SERVING}" if ours else "serving another certificate"))
    expect(ready == "ok" and ours, f"the API server does not answer ready with its certificate (/readyz: {ready}).")


@pytest.mark.step("cause")
def test_cause(task: TaskInput, observe: Observe) -> None:
    wanted = f"--{task['flag']}"
    path = task.workspace / task["cause"]
    text = path.read_text(errors="replace").strip() if path.is_file() else ""
    observe(wanted, text or f"no file {task['cause']}")
    expect(text.lstrip("-") == task["flag"], f"{task['cause']} says {text or 'nothing'!r}, not the flag {wanted}.")
