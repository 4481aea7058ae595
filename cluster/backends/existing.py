"""The ``existing`` backend: any conformant cluster, given by its kubeconfig.

For classes that outgrow one laptop. ckslab only records the cluster: ``up`` checks that it
answers and signs client CSRs, ``down`` forgets it. It never creates or deletes that cluster,
and cannot read its control plane's files.
"""

from __future__ import annotations

import base64
import os
import subprocess
import time
from pathlib import Path

import yaml

from cluster import binaries, csr, preflight, state
from cluster.backends.base import Availability, Backend, ClusterStatus, ComponentStatus, Progress, UpResult
from cluster.errors import CkslabError, UsageError
from cluster.paths import write_private


class ExistingBackend(Backend):
    name = "existing"
    needs = ("kubectl",)

    def _source(self) -> Path:
        value = os.environ.get("KUBECONFIG", "")
        if not value:
            raise UsageError("BACKEND=existing needs the cluster's kubeconfig.",
                             "Run `make up BACKEND=existing KUBECONFIG=/path/to/kubeconfig`.")
        source = Path(value.split(os.pathsep)[0]).expanduser().resolve()
        if source == self.lab.kubeconfig.resolve():
            raise UsageError(f"KUBECONFIG points at ckslab's own {source}.",
                             "Give the kubeconfig of the existing cluster instead.")
        if not source.is_file():
            raise UsageError(f"KUBECONFIG={source} does not exist.", "Give the path of a kubeconfig file.")
        return source

    def available(self) -> Availability:
        try:
            self._source()
        except UsageError as err:
            return Availability(False, str(err))
        return Availability(True, "a kubeconfig is given")

    def up(self, progress: Progress) -> UpResult:
        started = time.monotonic()
        source = self._source()
        # A self-contained copy: certificates inlined, only the current context.
        flat = subprocess.run([str(binaries.require(self.needs).kubectl), "config", "view", "--flatten", "--minify",
                               "--raw", f"--kubeconfig={source}"], capture_output=True, timeout=30, check=False)
        if flat.returncode != 0:
            raise CkslabError(f"cannot read the kubeconfig {source}: {flat.stderr.decode().strip()}",
                              "Check the file with `kubectl config view`.")
        write_private(self.lab.kubeconfig, flat.stdout)
        if not preflight.api_answers(self.lab.kubeconfig):
            self.lab.kubeconfig.unlink(missing_ok=True)
            raise CkslabError(f"the cluster of {source} does not answer.",
                              "Check the kubeconfig's server and credentials (`kubectl get --raw /version`).")
        server = str(yaml.safe_load(flat.stdout)["clusters"][0]["cluster"]["server"])
        version = preflight.server_version(self.lab.kubeconfig)
        state.write(self.lab.state_file, state.ClusterState(self.name, version, server, {"source": str(source)}))
        progress("preflight: proving the cluster signs kube-apiserver-client CSRs")
        try:
            preflight.require_signing(self.lab.kubeconfig, self.ca_certificate())
        except CkslabError:
            self.down(lambda _m: None)
            raise
        return UpResult(self.name, version, server, self.lab.kubeconfig, time.monotonic() - started)

    def down(self, progress: Progress) -> bool:
        existed = self.lab.state_file.exists()
        for path in (self.lab.state_file, self.lab.kubeconfig):
            path.unlink(missing_ok=True)
        if existed:
            progress("forgot the existing cluster; it keeps running (ckslab never deletes it)")
        return existed

    def status(self) -> ClusterStatus | None:
        current = state.read(self.lab.state_file)
        if current is None:
            return None
        answers = preflight.api_answers(self.lab.kubeconfig)
        return ClusterStatus(self.name, current.version, current.server,
                             [ComponentStatus("kube-apiserver", answers, answers,
                                              f"from {current.details.get('source', '?')}")])

    def show_component(self, component: str) -> str:
        raise CkslabError(
            f"the {component} configuration of an existing cluster cannot be read from here: its "
            "manifest lives on the cluster's control-plane nodes (on kubeadm, "
            f"/etc/kubernetes/manifests/{component}.yaml), and managed clusters do not expose it at all.",
            "Ask the cluster's admin, or read it on a control-plane node.")

    def ca_certificate(self) -> bytes:
        """The CA in the kubeconfig, else the kube-root-ca.crt ConfigMap every namespace gets."""
        from kubernetes import client
        config = yaml.safe_load(self.lab.kubeconfig.read_text()) if self.lab.kubeconfig.exists() else None
        if config is None:
            raise CkslabError("no existing cluster is recorded.", "Run `make up BACKEND=existing KUBECONFIG=...`.")
        data = config["clusters"][0]["cluster"].get("certificate-authority-data")
        if data:
            return base64.b64decode(data)
        cm = client.CoreV1Api(csr.api_client(self.lab.kubeconfig)).read_namespaced_config_map(
            "kube-root-ca.crt", "default")
        return str((cm.data or {}).get("ca.crt", "")).encode()
