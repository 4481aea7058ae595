"""The cluster's kube-controller-manager as it runs, and as its manifest says it should run.

The two can differ: a manifest edited but not applied yet. The graders judge the running one,
read through the cluster's control-plane node (``cluster.backends.node``): the manifest
``/etc/kubernetes/manifests/kube-controller-manager.yaml`` on the node, the running process's
command line and start time. Where a kubelet runs it as a static pod (kind), a process that is not
running is explained by its mirror pod in kube-system; elsewhere by its own log. A cluster ckslab
did not create (``existing``) has no node ckslab can reach: the lab cannot be done there.

Read only: nothing here writes to the cluster or to a file.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

import yaml
from kubernetes import client

from cluster import controlplane
from cluster.backends.node import ComponentNotRunning, Node, last_error
from cluster.errors import CkslabError
from graders import kube
from graders.cluster_node import UNREACHABLE, node_at
from graders.expect import fail
from graders.signing_config.flags import SigningConfig
from graders.signing_config.lab import MANIFEST, MANIFEST_DIR

_UNREACHABLE = UNREACHABLE


@dataclass(frozen=True)
class ControllerManager:
    """The controller manager of the cluster being graded."""

    #: The flags of the process that runs on the node.
    running: SigningConfig
    #: The flags its manifest holds: what the next restart will run.
    manifest: SigningConfig
    #: Where the manifest is, as the learner would name it.
    manifest_path: str
    #: When the running controller manager started.
    started_at: dt.datetime | None
    #: "pid 1234", or "pid 57 in the node container ckslab-control-plane" (``Node.process_of``).
    where: str
    #: The node it runs on (for the commands hints name).
    node: Node
    #: Other files in the kubelet's manifest folder that define the same static pod (kind only):
    #: the kubelet runs one pod of a name, not necessarily the one of the edited manifest.
    duplicates: tuple[str, ...] = ()


def read(root: Path, admin_api: client.ApiClient) -> ControllerManager:
    """The controller manager of the cluster whose project root is ``root``, or a StepFailure."""
    node = node_at(root)
    where = node.where(MANIFEST)
    try:
        text = node.read_file(MANIFEST).decode(errors="replace")
    except CkslabError as err:
        fail(f"could not check: {err.message}", _UNREACHABLE)
    manifest = _manifest_command(text, where)
    try:
        running = SigningConfig(tuple(node.running_command(controlplane.CONTROLLER_MANAGER)))
        started = node.started_at(controlplane.CONTROLLER_MANAGER)
        process = node.process_of(controlplane.CONTROLLER_MANAGER)
    except ComponentNotRunning as err:
        if node.runs_kubelet:
            others = _duplicates(node)
            if others:  # the kubelet may be switching between two definitions of the pod: that is the cause
                fail(f"The controller manager is not running now, and {' and '.join(others)} also defines the static "
                     f"pod {controlplane.CONTROLLER_MANAGER}: the kubelet runs only one pod of a name.",
                     f"Move {' and '.join(others)} out of {MANIFEST_DIR}/ (keep backups outside it, e.g. in /root); "
                     "the kubelet then runs the edited manifest")
            _pod_not_running(admin_api, node, where)
        said = f"; its log ends: {err.last_error.rstrip('.')}" if err.last_error else ""
        fail(f"The controller manager is not running (was {err.was or 'not started'}): it may have failed to start "
             f"from its manifest; its log is {err.log}{said}.",
             f"Fix {where}, then ckslab controlplane restart controller-manager")  # make up would rewrite it
    except CkslabError as err:
        fail(f"could not check: {err.message}", _UNREACHABLE)
    return ControllerManager(running, manifest, where, started, process, node, _duplicates(node))


def _manifest_command(text: str, where: str) -> SigningConfig:
    try:
        return SigningConfig(tuple(controlplane.command_from_manifest(text, controlplane.CONTROLLER_MANAGER)))
    except (ValueError, yaml.YAMLError) as err:
        fail(f"The manifest {where} cannot be read ({' '.join(str(err).split())[:160]}): the kubelet could "
             "not start the controller manager from it either.",
             f"Fix the YAML of {where}: spec.containers[0].command must be a list of strings.")


def _pod_not_running(admin_api: client.ApiClient, node: Node, where: str) -> NoReturn:
    """Fail with why the kubelet's static pod of the controller manager does not run its process."""
    try:
        pods = client.CoreV1Api(admin_api).list_namespaced_pod(
            "kube-system", label_selector=f"component={controlplane.CONTROLLER_MANAGER}",
            _request_timeout=kube.REQUEST_TIMEOUT).items
    except Exception as err:
        fail(f"could not check: the cluster did not answer when listing the controller manager's pod "
             f"({' '.join(str(err).split())[:160]}).", _UNREACHABLE)
    pods = [p for p in pods if p.spec and p.spec.node_name == node.name] or pods
    if not pods:
        fail("The controller manager's static pod is not running: the kubelet may have failed to start it "
             f"from {where}.", "kubectl -n kube-system get pod -l component=kube-controller-manager; "
             f"{node.typed('crictl ps -a --name kube-controller-manager')}")
    pod = pods[0]
    name = str(pod.metadata.name if pod.metadata and pod.metadata.name else controlplane.CONTROLLER_MANAGER)
    statuses = (pod.status.container_statuses or []) if pod.status else []
    _not_running(admin_api, name, statuses[0] if statuses else None, where, node)


def _not_running(admin_api: client.ApiClient, pod: str, status: client.V1ContainerStatus | None,
                 where: str, node: Node) -> NoReturn:
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
        error = last_error(str(log).splitlines())
        said = f"; its log ends: {error}" if error else ""
    except Exception:
        pass  # no previous container yet, or no log: the state alone says enough
    fail(f"The controller manager is not running: its container keeps exiting{why}{said}. Nothing is signed "
         "until it runs.",
         f"Fix {where} ({node.typed('bash', interactive=True)}); the kubelet starts it again from the fixed manifest. "
         f"Its log: kubectl -n kube-system logs {pod} --previous")


def _duplicates(node: Node) -> tuple[str, ...]:
    """Other manifests in the kubelet's folder with a pod named kube-controller-manager (none without a kubelet).

    The kubelet reads every file of the folder but hidden ones (pkg/kubelet/config/file.go), so a
    backup copy left there (``kube-controller-manager.yaml.bak``) is a second definition of the pod.
    """
    if not node.runs_kubelet:
        return ()
    listed = node.exec("grep", "-l", "kube-controller-manager", "-r", MANIFEST_DIR)
    found = []
    for path in listed.stdout.decode(errors="replace").split():
        if path == MANIFEST or Path(path).name.startswith(".") or Path(path).parent != Path(MANIFEST_DIR):
            continue
        try:
            doc = yaml.safe_load(node.read_file(path))
        except (yaml.YAMLError, CkslabError):
            continue
        if isinstance(doc, dict) and (doc.get("metadata") or {}).get("name") == controlplane.CONTROLLER_MANAGER:
            found.append(path)
    return tuple(found)
