"""The cluster's kube-controller-manager as it runs, and as its manifest says it should run.

The two can differ: a manifest edited but not applied yet. The graders judge the running one,
read where it really is, by backend (``.lab/state.json``):

- local: the process whose pid the state file records; its flags from ``/proc/<pid>/cmdline``,
  its start time from ``/proc/<pid>/stat``; the manifest is the file the backend starts it from.
- kind: the static pod. Its manifest is read inside the node container (``docker exec``), its
  running command and start time from the mirror pod in kube-system, which the kubelet
  publishes for the pod it really runs. (Not testable without Docker.)
- existing: ckslab neither sees nor changes that control plane; the lab cannot be done there.

Read only: nothing here writes to the cluster or to a file.
"""

from __future__ import annotations

import datetime as dt
import subprocess
from dataclasses import dataclass
from pathlib import Path

import yaml
from kubernetes import client

from cluster import controlplane, process, state
from cluster.backends import kind
from cluster.errors import CkslabError
from graders import kube
from graders.expect import fail
from graders.signing_config.flags import SigningConfig
from graders.signing_config.lab import KIND_MANIFEST

_UNREACHABLE = "Run `ckslab status`; `make up` restarts what is down."


@dataclass(frozen=True)
class ControllerManager:
    """The controller manager of the cluster being graded."""

    backend: str
    #: The flags of the process (local) or of the static pod the kubelet runs (kind).
    running: SigningConfig
    #: The flags its manifest holds: what the next restart will run.
    manifest: SigningConfig
    #: Where the manifest is, as the learner would name it.
    manifest_path: str
    #: When the running controller manager started (None when not known).
    started_at: dt.datetime | None
    #: "pid 1234" or "pod kube-system/kube-controller-manager-ckslab-control-plane".
    where: str


def read(root: Path, admin_api: client.ApiClient) -> ControllerManager:
    """The controller manager of the cluster whose project root is ``root``, or a StepFailure."""
    try:
        current = state.read(root / ".lab" / "state.json")
    except CkslabError as err:
        fail(f"could not check: {err.message}", err.hint)
    if current is None:
        fail(f"could not check: no cluster is recorded in {root / '.lab' / 'state.json'}.", "Run `make up`.")
    if current.backend == "local":
        return _local(root, current)
    if current.backend == "kind":
        return _kind(admin_api, kind.node_for(root / ".lab" / "state.json"))
    fail(f"This lab cannot be done on the {current.backend} backend: ckslab neither sees nor changes the "
         "controller manager of a cluster it did not create.",
         "Run the lab on a cluster ckslab creates: make down && make up BACKEND=local (or BACKEND=kind)")


def _manifest_command(text: str, where: str) -> SigningConfig:
    try:
        return SigningConfig(tuple(controlplane.command_from_manifest(text, controlplane.CONTROLLER_MANAGER)))
    except (ValueError, yaml.YAMLError) as err:
        fail(f"The manifest {where} cannot be read ({' '.join(str(err).split())[:160]}): the kubelet could "
             "not start the controller manager from it either.",
             f"Fix the YAML of {where}: spec.containers[0].command must be a list of strings.")


def _local(root: Path, current: state.ClusterState) -> ControllerManager:
    layout = controlplane.Layout(root / ".lab" / "local")
    path = layout.manifest(controlplane.CONTROLLER_MANAGER)
    try:
        text = path.read_text()
    except OSError as err:
        fail(f"could not check: the manifest {path} cannot be read ({err.strerror}).", _UNREACHABLE)
    manifest = _manifest_command(text, str(path))
    pid = current.details.get("pids", {}).get(controlplane.CONTROLLER_MANAGER)
    if not isinstance(pid, int) or not process.is_running(pid, str(layout.base)):
        fail(f"The controller manager is not running (was pid {pid}): it may have failed to start from "
             f"its manifest; its log is {layout.log(controlplane.CONTROLLER_MANAGER)}.",
             f"Fix {path}, then ckslab controlplane restart controller-manager (or make up)")
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().rstrip(b"\0").split(b"\0")
    except OSError as err:
        fail(f"could not check: the command line of pid {pid} cannot be read ({err.strerror}).", _UNREACHABLE)
    running = SigningConfig(tuple(a.decode(errors="replace") for a in argv))
    return ControllerManager("local", running, manifest, str(path), process.start_time(pid), f"pid {pid}")


def _kind(admin_api: client.ApiClient, node: str) -> ControllerManager:
    where = f"{KIND_MANIFEST} in the node container {node}"
    try:
        done = subprocess.run([kind.engine()[1], "exec", node, "cat", KIND_MANIFEST], capture_output=True,
                              text=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired) as err:
        fail(f"could not check: {kind.engine()[1]} exec {node} failed ({err}).", _UNREACHABLE)
    if done.returncode != 0:
        fail(f"could not check: {where} cannot be read ({done.stderr.strip()[:160]}).", _UNREACHABLE)
    manifest = _manifest_command(done.stdout, where)
    try:
        pods = client.CoreV1Api(admin_api).list_namespaced_pod(
            "kube-system", label_selector=f"component={controlplane.CONTROLLER_MANAGER}",
            _request_timeout=kube.REQUEST_TIMEOUT).items
    except Exception as err:
        fail(f"could not check: the cluster did not answer when listing the controller manager's pod "
             f"({' '.join(str(err).split())[:160]}).", _UNREACHABLE)
    pods = [p for p in pods if p.spec and p.spec.node_name == node] or pods
    ready = [p for p in pods if p.status and p.status.phase == "Running"]
    if not ready:
        fail("The controller manager's static pod is not running: the kubelet may have failed to start it "
             f"from {where}.", "kubectl -n kube-system get pod -l component=kube-controller-manager; "
             f"{kind.engine()[1]} exec {node} crictl ps -a --name kube-controller-manager")
    pod = ready[0]
    statuses = (pod.status.container_statuses or []) if pod.status else []
    running_state = statuses[0].state.running if statuses and statuses[0].state else None
    started = running_state.started_at if running_state else None
    command = tuple(pod.spec.containers[0].command or ()) if pod.spec and pod.spec.containers else ()
    name = pod.metadata.name if pod.metadata else controlplane.CONTROLLER_MANAGER
    return ControllerManager("kind", SigningConfig(command), manifest, where, started, f"pod kube-system/{name}")
