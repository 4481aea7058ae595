"""Where the API server's audit log of the graded cluster is, read where the API server writes it.

The path is never assumed: it is the ``--audit-log-path`` of the kube-apiserver that runs, by
backend (``.lab/state.json`` beside the admin kubeconfig ``.lab/kubeconfig``):

- local: the process whose pid the state file records; its flags from ``/proc/<pid>/cmdline``.
- kind: the API server's static pod (its mirror pod's command); the log is read inside the node
  container with ``docker exec``. (Not testable without Docker.)
- existing, or no state file: ckslab cannot read that control plane's files, so there is no log.

Read only. ``read_trail`` never fails: when no log can be read it says why (``Unavailable``),
and the graders fall back to what a certificate's age says.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from kubernetes import client

from cluster import controlplane, state
from cluster.backends import kind
from cluster.errors import CkslabError
from graders import audit, kube
from graders.audit import Unavailable
from graders.signing_config.flags import flag_value

AUDIT_LOG_PATH = "--audit-log-path"


def read_trail(kubeconfig: Path, api: client.ApiClient | None = None) -> audit.Trail | Unavailable:
    """The CSR trail of the cluster whose admin kubeconfig is ``kubeconfig``, or why there is none."""
    try:
        current = state.read(kubeconfig.parent / "state.json")
    except CkslabError as err:
        return Unavailable(f"the lab state cannot be read ({err.message.rstrip('.')})")
    if current is None or current.backend not in ("local", "kind"):
        return Unavailable("ckslab cannot read the audit log of a cluster it did not start "
                           "(the existing backend)")
    if current.backend == "local":
        return _local(current)
    return _kind(api or kube.client_for(kubeconfig), kind.node_for(kubeconfig.parent / "state.json"))


def _no_flag() -> Unavailable:
    return Unavailable(f"the API server runs without {AUDIT_LOG_PATH} (a cluster started by an older "
                       "ckslab: `make down && make up` starts one with an audit log)")


def _local(current: state.ClusterState) -> audit.Trail | Unavailable:
    pid = current.details.get("pids", {}).get(controlplane.APISERVER)
    try:
        argv = [a.decode(errors="replace") for a in
                Path(f"/proc/{pid}/cmdline").read_bytes().rstrip(b"\0").split(b"\0")]
    except (OSError, ValueError):
        return Unavailable(f"the API server (pid {pid}) is not running")
    if not argv or not argv[0].endswith(controlplane.APISERVER):
        return Unavailable(f"the API server (pid {pid}) is not running")
    path = flag_value(argv, AUDIT_LOG_PATH)
    if not path or path == "-":
        return _no_flag()
    log = Path(path)
    # Rotated files (--audit-log-maxbackup) are named audit-<timestamp>.log beside it; oldest first.
    files = sorted(log.parent.glob(f"{log.stem}-*{log.suffix}")) + [log]
    lines: list[str] = []
    for file in files:
        try:
            lines += file.read_text(errors="replace").splitlines()
        except FileNotFoundError:
            continue
        except OSError as err:
            return Unavailable(f"the audit log {file} cannot be read ({err.strerror})")
    return audit.parse(lines, str(log))


def _kind(api: client.ApiClient, node: str) -> audit.Trail | Unavailable:
    try:
        pods = client.CoreV1Api(api).list_namespaced_pod(
            "kube-system", label_selector=f"component={controlplane.APISERVER}",
            _request_timeout=kube.REQUEST_TIMEOUT).items
    except Exception as err:
        return Unavailable(f"the API server's pod could not be read ({' '.join(str(err).split())[:120]})")
    command = list(pods[0].spec.containers[0].command or []) if pods and pods[0].spec else []
    path = flag_value(command, AUDIT_LOG_PATH)
    if not path or path == "-":
        return _no_flag()
    where = f"{path} in the node container {node}"
    try:
        # Rotated files are audit-<timestamp>.log beside audit.log: oldest first, then the current one.
        done = subprocess.run([kind.engine()[1], "exec", node, "sh", "-c",
                               'cat "${1%.log}"-*.log "$1" 2>/dev/null; true', "sh", path],
                              capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired) as err:
        return Unavailable(f"{where} cannot be read ({err})")
    return audit.parse(done.stdout.splitlines(), where)
