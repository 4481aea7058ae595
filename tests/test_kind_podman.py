"""kind on podman, for real: `make kind-ready` and `make up BACKEND=kind` with podman as the engine, two labs
solved and reset on the cluster, and `make down` leaving nothing in podman.

Podman is chosen as a user chooses it (``CKSLAB_ENGINE=podman``) for kind-ready and ``up`` only: every later
command runs without it, where Docker may answer too, so the labs' scripts, the graders and ``down`` must
reach the node through the engine ``up`` recorded. Podman's settings go to a containers.conf of the test's
own (``CONTAINERS_CONF``), which kind-ready writes as it writes /etc/containers/containers.conf for a user.
One cluster serves the module (about 3 minutes here with the node image in podman's store); it needs root
and podman (Debian's 4.3: `.ci/run` installs it), skips without them, and fails in CI (``CI=true``).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Iterator

import pytest
from conftest import cannot_run

from cluster import binaries, imageref
from cluster.backends import kind
from cluster.waiting import wait_until

pytestmark = [pytest.mark.cluster, pytest.mark.kind]
#: The cluster's name: KIND_CLUSTER_NAME when set (one per checkout), else one of its own.
CLUSTER = os.environ.get("KIND_CLUSTER_NAME", "").strip() or "ckslab-podman"
NODE = f"{CLUSTER}-control-plane"
LABS = ("certificates-api", "signing-config")


class Podman:
    """The cluster's project root, and the environment its commands run in (podman's settings, no engine)."""

    def __init__(self, root: Path, conf: Path, client: str) -> None:
        self.root, self.client = root, client
        self.env = {k: v for k, v in os.environ.items() if k not in ("CKSLAB_ENGINE", "CKSLAB_USER", "DOCKER_HOST")}
        self.env.update(CKSLAB_ROOT=str(root), CONTAINERS_CONF=str(conf), KIND_CLUSTER_NAME=CLUSTER)

    def ckslab(self, *args: str, timeout: float = 900, engine: bool = False) -> subprocess.CompletedProcess[str]:
        """``ckslab ARGS`` in the cluster's root; with ``engine``, podman forced as a user forces it."""
        env = {**self.env, **({"CKSLAB_ENGINE": "podman"} if engine else {})}
        done = subprocess.run([sys.executable, "-m", "ckslab", *args], capture_output=True, text=True, env=env,
                              timeout=timeout, check=False, stdin=subprocess.DEVNULL)
        assert "Traceback" not in done.stdout + done.stderr, done.stdout + done.stderr
        return done

    def podman(self, *args: str) -> str:
        return subprocess.run([self.client, *args], capture_output=True, text=True, timeout=120, check=True,
                              env=self.env).stdout

    def kind_clusters(self) -> list[str]:
        listed = subprocess.run([str(binaries.cached().kind), "get", "clusters"], capture_output=True, text=True,
                                env={**self.env, "KIND_EXPERIMENTAL_PROVIDER": "podman"}, timeout=60, check=False)
        return listed.stdout.split()


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory, binaries_built: None) -> Iterator[Podman]:
    client = shutil.which("podman")
    if client is None or os.geteuid() != 0:
        cannot_run("kind on podman needs root and podman (`apt-get install podman`; .ci/run installs it)")
    assert client is not None
    root = tmp_path_factory.mktemp("kind-podman")
    conf = root / "containers.conf"
    conf.write_text("")  # podman refuses a CONTAINERS_CONF that does not exist; kind-ready fills an empty one
    lab = Podman(root, conf, client)
    binaries.ensure("auto", lambda _m: None, names=("kind", "kubectl"))
    if CLUSTER in lab.kind_clusters():  # a learner's: never touch it
        cannot_run(f"a kind cluster {CLUSTER!r} runs on podman already (`KIND_CLUSTER_NAME={CLUSTER} make down`)")
    started = time.monotonic()
    ready = lab.ckslab("kind-ready", engine=True, timeout=1800)
    if ready.returncode != 0:
        pytest.fail(f"make kind-ready with podman failed:\n{ready.stdout}\n{ready.stderr}", pytrace=False)
    readied = time.monotonic()
    up = lab.ckslab("up", "--backend", "kind", engine=True, timeout=1800)
    if up.returncode != 0:
        lab.ckslab("down", timeout=300)
        pytest.fail(f"make up BACKEND=kind on podman failed:\n{up.stdout}\n{up.stderr}", pytrace=False)
    print(f"\nkind on podman: kind-ready {readied - started:.0f}s, up {time.monotonic() - readied:.0f}s")
    yield lab
    lab.ckslab("down", timeout=300)


def test_up_on_podman_gives_a_ready_node_and_records_podman(cluster: Podman) -> None:
    details = json.loads((cluster.root / ".lab" / "state.json").read_text())["details"]
    assert details["engine"] == "podman" and Path(details["engine_command"]).name == "podman", details
    assert imageref.has_registry(details["image"].partition("@")[0]), details  # what podman was given
    assert kind.node_status(cluster.root / ".lab" / "kubeconfig") == {NODE: True}
    assert cluster.podman("inspect", "-f", "{{.State.Running}}", NODE).strip() == "true"
    status = cluster.ckslab("status")  # no CKSLAB_ENGINE: the recorded engine
    assert status.returncode == 0, status.stdout + status.stderr
    shown = cluster.ckslab("controlplane", "show", "controller-manager")
    assert shown.stdout.startswith(f"# /etc/kubernetes/manifests/kube-controller-manager.yaml in the node container "
                                   f"{NODE}"), shown.stdout + shown.stderr


def _grade(lab: str, cluster: Podman, tmp_path: Path) -> dict[str, Any]:
    report = tmp_path / f"{lab}.json"
    cluster.ckslab("grade", lab, "--json", str(report))
    assert report.is_file()
    return json.loads(report.read_text())  # type: ignore[no-any-return]


@pytest.mark.parametrize("lab", LABS)
def test_a_lab_solved_graded_and_reset_on_podman(cluster: Podman, lab: str, tmp_path: Path) -> None:
    """signing-config edits the static pod's manifest in the node (through podman), the kubelet restarts it."""
    started = cluster.ckslab("start", lab)
    assert started.returncode == 0, started.stdout + started.stderr
    solved = cluster.ckslab("solve", lab, "--yes")
    assert solved.returncode == 0, solved.stdout + solved.stderr
    report = _grade(lab, cluster, tmp_path)
    assert report["score"] == report["max_score"] and report["passed"], report
    reset = cluster.ckslab("reset", lab)
    assert reset.returncode == 0, reset.stdout + reset.stderr
    if lab == "signing-config":  # the manifest given back, and what the kubelet runs from it (a grade: 15 s more)
        manifest = cluster.podman("exec", NODE, "cat", "/etc/kubernetes/manifests/kube-controller-manager.yaml")
        assert "--cluster-signing-duration" not in manifest

        def runs_the_original() -> bool:  # reset waits for the pod; its process may start a moment later
            flags = cluster.ckslab("controlplane", "flags", "controller-manager").stdout
            return "--cluster-signing-cert-file=/etc/kubernetes/pki/ca.crt" in flags and \
                "--cluster-signing-duration" not in flags

        wait_until(runs_the_original, 60, interval=2, what="the controller manager to run its original flags")
        return
    again = _grade(lab, cluster, tmp_path)
    assert [s["id"] for s in again["steps"] if not s["passed"]] == [s["id"] for s in again["steps"]], again


def test_down_leaves_no_podman_container_network_or_volume(cluster: Podman) -> None:
    mounts = json.loads(cluster.podman("inspect", "-f", "{{json .Mounts}}", NODE))
    volumes = [m["Name"] for m in mounts if m["Type"] == "volume"]
    assert volumes  # kind keeps the node's /var on a volume
    down = cluster.ckslab("down", timeout=300)  # no CKSLAB_ENGINE: the recorded engine
    assert down.returncode == 0, down.stderr
    assert CLUSTER not in cluster.kind_clusters()
    names = cluster.podman("ps", "-a", "--format", "{{.Names}}").split()
    assert not [n for n in names if n.startswith(CLUSTER + "-")], names
    left = cluster.podman("volume", "ls", "-q").split()
    assert not set(volumes) & set(left), left
    networks = cluster.podman("network", "ls", "--format", "{{.Name}}").split()
    others = cluster.podman("ps", "-aq", "--filter", f"network={kind.KIND_NETWORK}").split()
    assert (kind.KIND_NETWORK in networks) == bool(others), networks  # kept only for another cluster on podman
    assert not (cluster.root / ".lab" / "kubeconfig").exists()
    assert cluster.ckslab("down").returncode == 0  # twice is fine
