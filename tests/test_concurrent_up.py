"""Local control planes started at the same moment are each their own (issue 20, item 15).

Six clusters started at once (a class on one machine, an exam's second context) once shared
ports: a cluster's health checks were answered by another's controller manager ("healthy after
0.0s") and its preflight then found no certificate. Ten ``up``s at once, each in its own project
root: every one must end healthy, on ports of its own, with every component's listening socket
held by the process its state names, and signing CSRs; then every ``down`` leaves nothing.
"""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from cluster import controlplane, ports, preflight, process
from cluster.backends import local_kubelet
from cluster.backends.local import LocalBackend
from cluster.paths import LabPaths

pytestmark = pytest.mark.cluster

CLUSTERS = 10


def test_ten_clusters_started_at_once_are_each_their_own(tmp_path_factory: pytest.TempPathFactory,
                                                         binaries_built: None) -> None:
    backends = [LocalBackend(LabPaths(tmp_path_factory.mktemp(f"at-once-{i}"))) for i in range(CLUSTERS)]

    def up(backend: LocalBackend) -> str:
        try:
            backend.up(lambda _m: None)  # its preflight signs a CSR
        except Exception as err:  # noqa: BLE001 - every cluster's outcome is reported below
            return f"{backend.lab.root}: {err}"
        return ""

    try:
        with ThreadPoolExecutor(CLUSTERS) as pool:
            failures = [f for f in pool.map(up, backends) if f]
        assert failures == [], "\n".join(failures)
        chosen = [json.loads(b.lab.state_file.read_text())["details"]["ports"] for b in backends]
        every = [port for c in chosen for port in c.values()]
        assert len(every) == len(set(every)), chosen
        for backend, recorded in zip(backends, chosen):
            status = backend.status()
            assert status is not None and status.healthy, status
            pids = json.loads(backend.lab.state_file.read_text())["details"]["pids"]
            for component in controlplane.COMPONENTS:
                port = urlsplit(controlplane.health_url(component, controlplane.Ports(**recorded))).port or 0
                assert ports.listens(pids[component], port), (backend.lab.root, component, port)
            found = preflight.signs_client_certificates(backend.kubeconfig(), backend.ca_certificate())
            assert found.ok, (backend.lab.root, found)
    finally:
        with ThreadPoolExecutor(CLUSTERS) as pool:
            list(pool.map(lambda b: b.down(lambda _m: None), backends))
    for backend in backends:
        base = backend.layout.base
        assert process.processes_with(str(base), controlplane.COMPONENTS) == [] and local_kubelet.find(base) == []
        assert not Path(base).exists()
