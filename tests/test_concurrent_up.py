"""Local control planes started at the same moment are each their own (issue 20, item 15).

Six clusters started at once (a class on one machine, an exam's second context) once shared
ports: a cluster's health checks were answered by another's controller manager ("healthy after
0.0s") and its preflight then found no certificate. Here ten ``ckslab up`` processes start at
once, each with its own ``CKSLAB_ROOT``: every one must end healthy, on ports of its own, with
every component's listening socket held by the process its state names, and signing CSRs; then
every ``down`` leaves nothing.

The collision needs kubeadm's ports free, which they are not on a machine where another cluster
runs: so the test runs in a network namespace of its own (``unshare -n``, or ``-rn`` when not
root), where 127.0.0.1 has every port free, as on a fresh machine. Where no namespace can be made
it runs in this one. Before the fix, two or three of the ten failed their preflight there.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from cluster import controlplane, paths, ports, preflight, process
from cluster.backends import local_kubelet
from cluster.backends.local import LocalBackend
from cluster.paths import LabPaths

pytestmark = pytest.mark.cluster

CLUSTERS = 10
#: Set in the copy of this test that runs inside the network namespace.
OWN_NETWORK = "CKSLAB_TEST_OWN_NETWORK"


def own_network() -> list[str] | None:
    """The ``unshare`` prefix that runs a command in a network namespace of its own; None if not allowed."""
    prefix = ["unshare", "-n"] if os.geteuid() == 0 else ["unshare", "-rn"]
    try:
        tried = subprocess.run([*prefix, "ip", "link", "set", "lo", "up"], capture_output=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return prefix if tried.returncode == 0 else None


def test_ten_clusters_started_at_once_are_each_their_own(tmp_path_factory: pytest.TempPathFactory,
                                                         binaries_built: None) -> None:
    prefix = own_network() if os.environ.get(OWN_NETWORK) != "1" else None
    if prefix is not None:
        name = f"{__file__}::test_ten_clusters_started_at_once_are_each_their_own"
        inside = subprocess.run(
            [*prefix, "sh", "-c", 'ip link set lo up && exec "$@"', "sh",
             sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", name],
            env={**os.environ, OWN_NETWORK: "1"}, cwd=paths.checkout(), capture_output=True, text=True,
            timeout=1200, check=False)
        assert inside.returncode == 0, inside.stdout[-8000:] + inside.stderr[-2000:]
        return
    roots = [tmp_path_factory.mktemp(f"at-once-{i}") for i in range(CLUSTERS)]
    ups = [subprocess.Popen([sys.executable, "-m", "ckslab", "up", "--backend", "local"], text=True,
                            env={**os.environ, "CKSLAB_ROOT": str(root)}, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT) for root in roots]
    said = [up.communicate(timeout=900)[0] for up in ups]
    backends = [LocalBackend(LabPaths(root)) for root in roots]
    try:
        failed = [f"{root}:\n{out[-1500:]}" for root, up, out in zip(roots, ups, said) if up.returncode != 0]
        assert failed == [], "\n".join(failed)
        recorded = [json.loads(b.lab.state_file.read_text())["details"] for b in backends]
        every = [port for r in recorded for port in r["ports"].values()]
        assert len(every) == len(set(every)), [r["ports"] for r in recorded]
        for backend, details in zip(backends, recorded):
            status = backend.status()
            assert status is not None and status.healthy, status
            for component in controlplane.COMPONENTS:
                url = controlplane.health_url(component, controlplane.Ports(**details["ports"]))
                assert ports.listens(details["pids"][component], urlsplit(url).port or 0), (backend.lab.root, url)
            found = preflight.signs_client_certificates(backend.kubeconfig(), backend.ca_certificate())
            assert found.ok, (backend.lab.root, found)
    finally:
        with ThreadPoolExecutor(CLUSTERS) as pool:
            list(pool.map(lambda b: b.down(lambda _m: None), backends))
    for backend in backends:
        base = backend.layout.base
        assert process.processes_with(str(base), controlplane.COMPONENTS) == [] and local_kubelet.find(base) == []
        assert not Path(base).exists()
