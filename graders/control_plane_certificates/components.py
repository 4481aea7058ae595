"""When each control-plane component started, read where it runs. Read only.

local: the process whose pid ``.lab/state.json`` records, its start from ``/proc/<pid>/stat``.
kind: the static pod's mirror pod in kube-system (label ``component=<name>``), the ``startedAt`` of
its running container, which the kubelet reports for the container it really runs (a container
stopped and started again by the kubelet has a new one).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

from kubernetes import client

from cluster import controlplane, process, state
from cluster.backends import kind
from graders import kube
from graders.expect import brief, fail

_UNREACHABLE = "Run `ckslab status`; `make up` restarts what is down."


@dataclass(frozen=True)
class Started:
    component: str
    #: When the running process or container started (None when not known).
    at: dt.datetime | None
    #: "pid 1234" or "pod kube-system/kube-scheduler-ckslab-control-plane".
    where: str


def started(root: Path, backend: str, api: client.ApiClient, component: str) -> Started:
    """When ``component`` (kube-controller-manager, ...) started; a StepFailure when it does not run."""
    if backend == "kind":
        return _kind(api, kind.node_for(root / ".lab" / "state.json"), component)
    current = state.read(root / ".lab" / "state.json")
    pid = current.details.get("pids", {}).get(component) if current else None
    layout = controlplane.Layout(root / ".lab" / "local")
    if not isinstance(pid, int) or not process.is_running(pid, str(layout.base)):
        fail(f"{component} is not running (was pid {pid}); its log is {layout.log(component)}.",
             "make up (restarts what is down)")
    return Started(component, process.start_time(pid), f"pid {pid}")


def _kind(api: client.ApiClient, node: str, component: str) -> Started:
    try:
        pods = client.CoreV1Api(api).list_namespaced_pod(
            "kube-system", label_selector=f"component={component}", _request_timeout=kube.REQUEST_TIMEOUT).items
    except Exception as err:
        fail(f"could not check: the cluster did not answer when listing the pod of {component} ({brief(err)}).",
             _UNREACHABLE)
    pods = [p for p in pods if p.spec and p.spec.node_name == node] or pods
    why = ""
    for pod in pods:
        for status in (pod.status.container_statuses or []) if pod.status else []:
            running = status.state.running if status.state else None
            if running is not None:
                return Started(component, running.started_at, f"pod kube-system/{pod.metadata.name if pod.metadata else component}")
            why = why or why_not_running(status)
    fail(f"{component} is not running now{why}. After etcd or the API server restarts, the controller manager and "
         "the scheduler may lose their leader lease and exit; the kubelet starts them again after a back-off "
         "(10 s, then doubling): wait, then check again.",
         f"kubectl -n kube-system get pod -l component={component} -w; "
         f"{kind.engine()[1]} exec {node} crictl ps -a --name {component}")


def why_not_running(status: client.V1ContainerStatus) -> str:
    """ " (its container is waiting: CrashLoopBackOff; it last exited with 1, Error)", or ""."""
    waiting = status.state.waiting if status.state else None
    last = status.last_state.terminated if status.last_state else None
    parts = [f"its container is waiting: {waiting.reason}" if waiting and waiting.reason else "",
             f"it last exited with {last.exit_code}, {last.reason}" if last else ""]
    text = "; ".join(p for p in parts if p)
    return f" ({text})" if text else ""
