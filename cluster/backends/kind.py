"""The kind backend: a real kubeadm control plane in a Docker container.

Its kube-controller-manager is a static pod, as on the CKS exam's clusters. The cluster is
named ``ckslab``, made from ``cluster/kind/kind-config.yaml`` (plus ``KIND_WORKERS`` workers)
and the node image pinned by digest in ``cluster/versions.py``. Creation is an ordered list of
actions; when one fails, the cluster is deleted and kind's output shown.
"""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import yaml

from cluster import binaries, docker, paths, preflight, state
from cluster.backends.base import Availability, Backend, ClusterStatus, ComponentStatus, Progress, UpResult
from cluster.errors import CkslabError
from cluster.process import log_tail
from cluster.versions import KIND_NODE_IMAGE, KUBERNETES_VERSION

CLUSTER_NAME = "ckslab"
NODE = f"{CLUSTER_NAME}-control-plane"
CONFIG_TEMPLATE = paths.checkout() / "cluster" / "kind" / "kind-config.yaml"
#: kind's own wait for the control plane to be ready.
CREATE_WAIT = "180s"


def kind_config(workers: int) -> str:
    """The kind config: the template's control plane plus ``workers`` worker nodes."""
    config = yaml.safe_load(CONFIG_TEMPLATE.read_text())
    config["nodes"] = [n for n in config["nodes"] if n.get("role") == "control-plane"]
    config["nodes"] += [{"role": "worker"} for _ in range(workers)]
    return yaml.safe_dump(config, sort_keys=False)


def workers_from_env() -> int:
    value = os.environ.get("KIND_WORKERS", "0") or "0"
    if not value.isdigit() or int(value) > 3:
        raise CkslabError(f"KIND_WORKERS={value!r} is not a number of workers from 0 to 3.",
                          "Use for example `make up BACKEND=kind KIND_WORKERS=1`.")
    return int(value)


class KindBackend(Backend):
    name = "kind"
    needs = ("kind", "kubectl")

    def available(self) -> Availability:
        found = docker.check()
        return Availability(found.usable, found.reason)

    def _kind(self, *args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(binaries.require(self.needs).kind), *args], capture_output=True, text=True,
                              timeout=timeout, stdin=subprocess.DEVNULL, check=False)

    def _exists(self) -> bool:
        listed = self._kind("get", "clusters", timeout=60)
        return CLUSTER_NAME in listed.stdout.split()

    def up(self, progress: Progress) -> UpResult:
        started = time.monotonic()
        current = state.read(self.lab.state_file)
        if current is not None and current.backend == self.name:
            status = self.status()
            if status is not None and status.healthy:
                return UpResult(self.name, current.version, current.server, self.lab.kubeconfig,
                                time.monotonic() - started, already_running=True)
        workers = workers_from_env()
        config_file = self.lab.lab / "kind" / "kind-config.yaml"
        config_file.parent.mkdir(parents=True, exist_ok=True)
        config_file.write_text(kind_config(workers))
        log = self.lab.lab / "kind" / "create.log"
        if self._exists():
            progress(f"kind cluster {CLUSTER_NAME!r} exists: using it")
            exported = self._kind("export", "kubeconfig", "--name", CLUSTER_NAME, f"--kubeconfig={self.lab.kubeconfig}")
            if exported.returncode != 0:
                raise CkslabError(f"kind export kubeconfig failed: {exported.stderr.strip()}",
                                  "Run `make down`, then `make up BACKEND=kind`.")
        else:
            progress(f"creating kind cluster {CLUSTER_NAME!r} from {KIND_NODE_IMAGE.split('@')[0]} "
                     f"({1 + workers} node{'s' if workers else ''}; about a minute)")
            created = self._kind("create", "cluster", "--name", CLUSTER_NAME, "--image", KIND_NODE_IMAGE,
                                 f"--config={config_file}", f"--kubeconfig={self.lab.kubeconfig}",
                                 f"--wait={CREATE_WAIT}")
            log.write_text(created.stdout + created.stderr)
            if created.returncode != 0:
                self._kind("delete", "cluster", "--name", CLUSTER_NAME, timeout=300)
                raise CkslabError(f"kind could not create the cluster; its output ({log}):\n{log_tail(log)}\n",
                                  "What was made has been deleted. Fix the cause above and run `make up` again.")
        os.chmod(self.lab.kubeconfig, 0o600)
        server = _server_of(self.lab.kubeconfig)
        state.write(self.lab.state_file, state.ClusterState(self.name, KUBERNETES_VERSION, server,
                                                            {"cluster": CLUSTER_NAME, "workers": workers}))
        progress("preflight: proving the cluster signs kube-apiserver-client CSRs")
        preflight.require_signing(self.lab.kubeconfig, self.ca_certificate())
        return UpResult(self.name, KUBERNETES_VERSION, server, self.lab.kubeconfig, time.monotonic() - started)

    def down(self, progress: Progress) -> bool:
        existed = self.lab.state_file.exists()
        if not binaries.missing(("kind",)) and self._exists():
            progress(f"deleting kind cluster {CLUSTER_NAME!r}")
            deleted = self._kind("delete", "cluster", "--name", CLUSTER_NAME, timeout=300)
            if deleted.returncode != 0:
                raise CkslabError(f"kind delete cluster failed: {deleted.stderr.strip()}",
                                  "Run `make down` again, or `docker rm -f ckslab-control-plane`.")
            existed = True
        for path in (self.lab.state_file, self.lab.kubeconfig):
            path.unlink(missing_ok=True)
        return existed

    def status(self) -> ClusterStatus | None:
        current = state.read(self.lab.state_file)
        if current is None:
            return None
        inspect = subprocess.run(["docker", "inspect", "-f", "{{.State.Running}}", NODE], capture_output=True,
                                 text=True, timeout=30, check=False)
        running = inspect.stdout.strip() == "true"
        answers = running and preflight.api_answers(self.lab.kubeconfig)
        detail = f"container {NODE}" if running else f"container {NODE} is not running"
        return ClusterStatus(self.name, current.version, current.server,
                             [ComponentStatus("control-plane node", running, answers, detail)])

    def _node_file(self, path: str) -> bytes:
        if state.read(self.lab.state_file) is None:
            raise CkslabError("no kind cluster is up.", "Run `make up BACKEND=kind` first.")
        shown = subprocess.run(["docker", "exec", NODE, "cat", path], capture_output=True, timeout=30, check=False)
        if shown.returncode != 0:
            raise CkslabError(f"cannot read {path} in the node {NODE}: {shown.stderr.decode().strip()}",
                              "Run `make status`; `make up` restarts a stopped cluster.")
        return shown.stdout

    def show_component(self, component: str) -> str:
        path = f"/etc/kubernetes/manifests/{component}.yaml"
        return f"# {path} in the node container {NODE}\n{self._node_file(path).decode()}"

    def ca_certificate(self) -> bytes:
        return self._node_file("/etc/kubernetes/pki/ca.crt")


def _server_of(kubeconfig: Path) -> str:
    config = yaml.safe_load(kubeconfig.read_text())
    return str(config["clusters"][0]["cluster"]["server"])
