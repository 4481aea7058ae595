"""When each control-plane component started, read where it runs. Read only.

The start of the component's running process on the control-plane node (``Node.started_at``: its
``/proc/<pid>/stat`` there, to 10 ms), whatever the backend. A component that does not run is
explained with its mirror pod's container state where a kubelet runs it as a static pod
(``kubectl -n kube-system get pod -l component=<name>``: CrashLoopBackOff, its last exit).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import NoReturn

from kubernetes import client

from cluster.backends.node import ComponentNotRunning, Node
from cluster.errors import CkslabError
from graders import kube
from graders.cluster_node import UNREACHABLE
from graders.expect import fail


@dataclass(frozen=True)
class Started:
    component: str
    #: When the running process started (UTC).
    at: dt.datetime
    #: "pid 1234", or "pid 57 in the node container ckslab-control-plane" (``Node.process_of``).
    where: str


def started(node: Node, api: client.ApiClient, component: str) -> Started:
    """When ``component`` (kube-controller-manager, ...) started; a StepFailure when it does not run."""
    try:
        return Started(component, node.started_at(component), node.process_of(component))
    except ComponentNotRunning as err:
        if not node.runs_kubelet:
            fail(err.message, err.hint)
        _not_running(api, node, component)
    except CkslabError as err:
        fail(f"could not check: {err.message}", err.hint or UNREACHABLE)


def _not_running(api: client.ApiClient, node: Node, component: str) -> NoReturn:
    why = ""
    try:
        pods = client.CoreV1Api(api).list_namespaced_pod(
            "kube-system", label_selector=f"component={component}", _request_timeout=kube.REQUEST_TIMEOUT).items
    except Exception:
        pods = []  # the API server may be the one restarting: the node's word is enough
    for pod in [p for p in pods if p.spec and p.spec.node_name == node.name] or pods:
        for status in (pod.status.container_statuses or []) if pod.status else []:
            why = why or why_not_running(status)
    fail(f"{component} is not running now{why}. After etcd or the API server restarts, the controller manager and "
         "the scheduler may lose their leader lease and exit; the kubelet starts them again after a back-off "
         "(10 s, then doubling): wait, then check again.",
         f"kubectl -n kube-system get pod -l component={component} -w; "
         f"{node.typed(f'crictl ps -a --name {component}')}")


def why_not_running(status: client.V1ContainerStatus) -> str:
    """ " (its container is waiting: CrashLoopBackOff; it last exited with 1, Error)", or ""."""
    waiting = status.state.waiting if status.state else None
    last = status.last_state.terminated if status.last_state else None
    parts = [f"its container is waiting: {waiting.reason}" if waiting and waiting.reason else "",
             f"it last exited with {last.exit_code}, {last.reason}" if last else ""]
    text = "; ".join(p for p in parts if p)
    return f" ({text})" if text else ""
