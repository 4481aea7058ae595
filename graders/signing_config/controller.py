"""The cluster's kube-controller-manager as it runs, and as its manifest says it should run.

The two can differ: a manifest edited but not applied yet. The graders judge the running one,
read where it really is, by backend (``.lab/state.json``):

- local: the process whose pid the state file records; its flags from ``/proc/<pid>/cmdline``,
  its start time from ``/proc/<pid>/stat``; the manifest is the file the backend starts it from.
- kind: the static pod. Its manifest is read inside the node container (``docker exec``, or podman's), its
  running command and start time from the mirror pod in kube-system, which the kubelet
  publishes for the pod it really runs. (Not testable without Docker.)
- existing: ckslab neither sees nor changes that control plane; the lab cannot be done there.

Read only: nothing here writes to the cluster or to a file.
"""

from __future__ import annotations

import datetime as dt
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

import yaml
from kubernetes import client

from cluster import controlplane, process, state
from cluster.backends import kind
from cluster.errors import CkslabError
from graders import kube
from graders.expect import fail
from graders.signing_config.flags import SigningConfig
from graders.signing_config.lab import KIND_MANIFEST, KIND_MANIFEST_DIR

#: A line of a failing component's log worth quoting: cobra's "Error: ..." or a klog error ("E1130 ...").
_ERROR_LINE = re.compile(r"^(Error: |E\d{4} )")
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
    #: Other files in the kubelet's manifest folder that define the same static pod (kind only):
    #: the kubelet runs one pod of a name, not necessarily the one of the edited manifest.
    duplicates: tuple[str, ...] = ()


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
        log = layout.log(controlplane.CONTROLLER_MANAGER)
        fail(f"The controller manager is not running (was pid {pid}): it may have failed to start from "
             f"its manifest; its log is {log}{_last_error(log)}.",
             f"Fix {path}, then ckslab controlplane restart controller-manager")  # make up would rewrite it
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().rstrip(b"\0").split(b"\0")
    except OSError as err:
        fail(f"could not check: the command line of pid {pid} cannot be read ({err.strerror}).", _UNREACHABLE)
    running = SigningConfig(tuple(a.decode(errors="replace") for a in argv))
    return ControllerManager("local", running, manifest, str(path), process.start_time(pid), f"pid {pid}")


def _last_error(log: Path) -> str:
    """The last error line of a component's log as '; its log ends: Error: ...', or '' when none."""
    try:
        lines = log.read_text(errors="replace").splitlines()[-40:]
    except OSError:
        return ""
    errors = [line.strip() for line in lines if _ERROR_LINE.match(line.strip())]
    return f"; its log ends: {errors[-1][:200].rstrip('.')}" if errors else ""


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
    name = str(pod.metadata.name if pod.metadata and pod.metadata.name else controlplane.CONTROLLER_MANAGER)
    statuses = (pod.status.container_statuses or []) if pod.status else []
    running_state = statuses[0].state.running if statuses and statuses[0].state else None
    if running_state is None:  # phase Running, container crash-looping: a flag it refuses
        _not_running(admin_api, name, statuses[0] if statuses else None, where, node)
    started = running_state.started_at
    command = tuple(pod.spec.containers[0].command or ()) if pod.spec and pod.spec.containers else ()
    return ControllerManager("kind", SigningConfig(command), manifest, where, started, f"pod kube-system/{name}",
                             _duplicates(node))


def _not_running(admin_api: client.ApiClient, pod: str, status: client.V1ContainerStatus | None,
                 where: str, node: str) -> NoReturn:
    """Fail with why the container of a Running pod is not running: its waiting reason, its own error."""
    waiting = status.state.waiting if status and status.state else None
    ended = status.state.terminated if status and status.state else None
    why = ""
    if status and waiting and waiting.reason:
        why = f" ({waiting.reason}, restarted {status.restart_count} times)"
    elif ended:
        why = f" (it just exited with code {ended.exit_code})"
    said = ""
    try:  # its last words: cobra prints "Error: invalid argument ..." for a flag it cannot parse
        log = client.CoreV1Api(admin_api).read_namespaced_pod_log(  # the exited container's, when waiting
            pod, "kube-system", previous=ended is None, tail_lines=30, _request_timeout=kube.REQUEST_TIMEOUT)
        errors = [line.strip() for line in str(log).splitlines() if _ERROR_LINE.match(line.strip())]
        said = f"; its log ends: {errors[-1][:200]}" if errors else ""
    except Exception:
        pass  # no previous container yet, or no log: the state alone says enough
    fail(f"The controller manager is not running: its container keeps exiting{why}{said}. Nothing is signed "
         "until it runs.",
         f"Fix {where} ({kind.engine()[1]} exec -it {node} bash); the kubelet starts it again from the fixed manifest. "
         f"Its log: kubectl -n kube-system logs {pod} --previous")


def _duplicates(node: str) -> tuple[str, ...]:
    """Other manifests in the kubelet's folder with a pod named kube-controller-manager.

    The kubelet reads every file of the folder but hidden ones (pkg/kubelet/config/file.go), so a
    backup copy left there (``kube-controller-manager.yaml.bak``) is a second definition of the pod.
    """
    folder = KIND_MANIFEST_DIR
    listed = subprocess.run([kind.engine()[1], "exec", node, "grep", "-l", "kube-controller-manager", "-r", folder],
                            capture_output=True, text=True, timeout=30, check=False)
    found = []
    for path in listed.stdout.split():
        if path == KIND_MANIFEST or Path(path).name.startswith(".") or Path(path).parent != Path(folder):
            continue
        shown = subprocess.run([kind.engine()[1], "exec", node, "cat", path], capture_output=True, text=True,
                               timeout=30, check=False)
        try:
            doc = yaml.safe_load(shown.stdout)
        except yaml.YAMLError:
            continue
        if isinstance(doc, dict) and (doc.get("metadata") or {}).get("name") == controlplane.CONTROLLER_MANAGER:
            found.append(path)
    return tuple(found)
