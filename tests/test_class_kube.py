"""A class of three on a kind cluster: JupyterHub with KubeSpawner, a pod and a control plane per learner.

One kind cluster (``ckslab-classkube``) and one class for the module: ``ckslab class up
--kubernetes`` builds (or reuses, from the cache) the learner image, loads it with ``kind load``
and deploys the hub and the proxy; three learners log in through the proxy as a browser does and
their pods start, each running its own local control plane as uid 1000; one solves a lab in their
pod and the instructor's scoreboard (in the hub pod, through the hub's OAuth) and ``class grade``
show it; ``class down`` leaves no learner pod and keeps their PVCs. Bad input (no reachable
cluster, an image that cannot be loaded) is one line each.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Iterator

import pytest
import requests

from ckslab.classhost import kubeclass, kubemanifests
from cluster import paths
from cluster.backends.kind import KindBackend
from cluster.errors import CkslabError
from conftest import cannot_run

pytestmark = [pytest.mark.cluster, pytest.mark.kind]
CLUSTER = "ckslab-classkube"
LAB = "certificates-api"
LEARNERS = ("ada", "bob", "cyd")
CKSLAB = [sys.executable, "-m", "ckslab"]


class KubeClass:
    def __init__(self, base: Path, env: dict[str, str]) -> None:
        self.base, self.env = base, env
        self.kubeconfig = base / "root" / ".lab" / "kubeconfig"
        self.url = ""
        self.passwords: dict[str, str] = {}
        self.forward: subprocess.Popen[bytes] | None = None

    def ckslab(self, *args: str, timeout: float = 900) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*CKSLAB, *args], env=self.env, capture_output=True, text=True, timeout=timeout,
                              check=False, stdin=subprocess.DEVNULL)

    def kubectl(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run([kubeclass.kubectl_binary(), "--kubeconfig", str(self.kubeconfig), "-n",
                               kubemanifests.NAMESPACE, *args], capture_output=True, text=True, timeout=timeout,
                              check=False, stdin=subprocess.DEVNULL)

    def get(self, session: requests.Session, path: str, **kwargs: object) -> requests.Response | None:
        """GET through the port-forward, started again when it died; None when the connection failed."""
        if self.forward is None or self.forward.poll() is not None:
            self.port_forward()
        try:
            return session.get(self.url + path, **kwargs)  # type: ignore[arg-type]
        except requests.RequestException:
            return None

    def port_forward(self) -> None:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        log = self.base / "port-forward.log"
        self.forward = subprocess.Popen(
            [kubeclass.kubectl_binary(), "--kubeconfig", str(self.kubeconfig), "-n", kubemanifests.NAMESPACE,
             "port-forward", "svc/proxy-public", f"{port}:80"], stdout=subprocess.DEVNULL,
            stderr=open(log, "ab"))  # noqa: SIM115
        self.url = f"http://127.0.0.1:{port}/"
        deadline = time.monotonic() + 120
        seen = "no answer"
        while time.monotonic() < deadline and self.forward.poll() is None:
            try:
                answer = requests.get(self.url + "hub/login", timeout=10)
                if answer.status_code == 200:
                    return
                seen = f"HTTP {answer.status_code}: {answer.text[:200]}"
            except requests.RequestException as err:
                seen = str(err)
            time.sleep(1)
        raise AssertionError(f"the proxy did not answer through kubectl port-forward ({seen}); port-forward: "
                             f"{log.read_text()[-500:]}; pods: {self.kubectl('get', 'pods').stdout}")

    def login(self, name: str) -> requests.Session:
        session = requests.Session()
        self.get(session, "hub/login", timeout=30)
        answer = session.post(self.url + "hub/login", allow_redirects=False, timeout=30, data={
            "username": name, "password": self.passwords[name], "_xsrf": session.cookies.get("_xsrf")})
        assert answer.status_code == 302, f"login of {name} refused: HTTP {answer.status_code}"
        return session

    def in_pod(self, name: str, command: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        return self.kubectl("exec", f"jupyter-{name}", "-c", "notebook", "--", "bash", "-c", command,
                            timeout=timeout)


def _cluster_env(base: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "CKSLAB_CLASS", "KUBECONFIG"))}
    env.update(KIND_CLUSTER_NAME=CLUSTER, CKSLAB_ROOT=str(base / "root"), CKSLAB_CLASS_DIR=str(base / "class"))
    return env


@pytest.fixture(scope="module")
def kclass() -> Iterator[KubeClass]:
    if os.geteuid() != 0:
        cannot_run("building the learner image needs root (mmdebstrap, docker)")
    found = KindBackend(paths.lab_paths()).available()
    if not found.ok:
        cannot_run(f"kind cannot run here: {found.reason} (`make kind-ready` prepares a machine like this one)")
    base = Path(tempfile.mkdtemp(prefix="ckslab-kube-", dir="/tmp"))
    (base / "roster.csv").write_text("name\n" + "\n".join(LEARNERS) + "\n")
    k = KubeClass(base, _cluster_env(base))
    started = time.monotonic()
    try:
        made = k.ckslab("up", "--backend", "kind")
        assert made.returncode == 0, made.stdout + made.stderr
        print(f"\nkind cluster up in {time.monotonic() - started:.0f}s", file=sys.stderr)
        up = k.ckslab("class", "up", str(base / "roster.csv"), "--kubernetes", "--kubeconfig", str(k.kubeconfig))
        assert up.returncode == 0, up.stdout[-2000:] + up.stderr[-2000:]
        print(up.stderr + up.stdout, file=sys.stderr)
        assert "The class is up on Kubernetes" in up.stdout, up.stdout
        with open(base / "class" / "credentials.csv") as fh:
            k.passwords = {row["name"]: row["password"] for row in csv.DictReader(fh)}
        k.port_forward()
        print(f"\nkind cluster and class up in {time.monotonic() - started:.0f}s", file=sys.stderr)
        yield k
    finally:
        if k.forward is not None:
            k.forward.terminate()
        # Deleting the kind cluster deletes the class with it (pods, PVCs and their hostPath data).
        k.ckslab("down", timeout=300)
        shutil.rmtree(base, ignore_errors=True)


def _ready(k: KubeClass, session: requests.Session, name: str) -> bool:
    page = k.get(session, f"user/{name}/lab", timeout=30)
    return page is not None and page.status_code == 200 and "JupyterLab" in page.text


def test_three_learners_each_get_a_pod_running_their_own_control_plane(kclass: KubeClass) -> None:
    started = time.monotonic()
    sessions = {name: kclass.login(name) for name in LEARNERS}
    waiting: set[str] = set()
    # One after another, as the one-server class starts planes: three starting at once on this
    # 2-core machine, loaded by other suites, took past JupyterHub's timeouts.
    for name, session in sessions.items():
        kclass.get(session, "hub/spawn", timeout=60)  # the hub starts the pod whether or not this answers
        deadline = time.monotonic() + 420
        while not _ready(kclass, session, name) and time.monotonic() < deadline:
            time.sleep(2)
        if not _ready(kclass, session, name):
            waiting.add(name)
            break
    assert not waiting, f"no JupyterLab for {sorted(waiting)}: " + kclass.kubectl("get", "pods").stdout + \
        kclass.kubectl("logs", "deployment/hub", "--tail=40").stdout
    print(f"\nthree learners' JupyterLab up in {time.monotonic() - started:.0f}s", file=sys.stderr)
    authorities = set()
    for name in LEARNERS:
        seen = kclass.in_pod(name, "id -u; kubectl get csr; kubectl auth whoami -o jsonpath='{.status.userInfo.username}';"
                                   " echo; kubectl config view --raw -o jsonpath="
                                   "'{.clusters[0].cluster.certificate-authority-data}'; echo;"
                                   " test -e /var/run/secrets/kubernetes.io/serviceaccount && echo SA-TOKEN || true")
        assert seen.returncode == 0, seen.stdout + seen.stderr
        lines = seen.stdout.splitlines()
        assert lines[0] == "1000", f"{name}'s pod runs as uid {lines[0]}, not the unprivileged learner"
        assert "kubernetes-admin" in seen.stdout, seen.stdout
        assert "SA-TOKEN" not in seen.stdout, f"{name}'s pod must not hold a token of the host cluster"
        authorities.add(lines[-1])
    assert len(authorities) == len(LEARNERS), "each learner's control plane must have its own CA"
    pvcs = kclass.kubectl("get", "pvc", "-o", "jsonpath={.items[*].metadata.name}").stdout.split()
    assert sorted(pvcs) == [f"claim-{n}" for n in LEARNERS], pvcs


def test_a_solved_lab_shows_on_the_scoreboard_and_in_class_grade(kclass: KubeClass) -> None:
    solved = kclass.in_pod("ada", f"ckslab solve {LAB} --yes")
    assert solved.returncode == 0, solved.stdout[-2000:] + solved.stderr[-2000:]
    instructor = kclass.login("instructor")
    board = instructor.get(kclass.url + "services/scoreboard/", timeout=60)
    assert board.status_code == 200 and "Class scoreboard" in board.text, board.text[-500:]
    graded = instructor.post(kclass.url + "services/scoreboard/grade", timeout=300,
                             data={"_xsrf": instructor.cookies.get("_xsrf", path="/services/scoreboard/")
                                   or instructor.cookies.get("_xsrf")})
    assert graded.status_code == 200, graded.text[-500:]
    rows = {g["name"]: g for g in instructor.get(kclass.url + "services/scoreboard/grades.json", timeout=30).json()["learners"]}
    assert rows["ada"]["lab"] == LAB and rows["ada"]["passed"] and rows["ada"]["score"] == rows["ada"]["max_score"], rows
    assert rows["bob"]["error"] == "no lab started yet" and rows["bob"]["control_plane"] == "up", rows["bob"]
    refused = kclass.login("bob").get(kclass.url + "services/scoreboard/grades.json", timeout=30)
    assert refused.status_code == 403, "a learner must not see the scoreboard"
    mine = kclass.ckslab("class", "grade", "--json", timeout=300)
    assert mine.returncode == 0, mine.stderr
    assert {g["name"]: g["score"] for g in json.loads(mine.stdout)}["ada"] == rows["ada"]["max_score"]
    status = json.loads(kclass.ckslab("class", "status", "--json", timeout=300).stdout)
    row = {r["name"]: r for r in status["learners"]}
    assert status["hub"] and row["ada"]["lab"] == LAB and row["ada"]["cluster"] == "up", row


def test_class_down_leaves_no_learner_pod_and_keeps_their_volumes(kclass: KubeClass) -> None:
    down = kclass.ckslab("class", "down", timeout=300)
    assert down.returncode == 0, down.stdout + down.stderr
    assert "no hub, proxy or learner pod is left" in down.stdout and "PVC" in down.stdout, down.stdout
    pods = kclass.kubectl("get", "pods", "-o", "jsonpath={.items[*].metadata.name}")
    assert pods.returncode == 0 and pods.stdout.split() == [], pods.stdout
    pvcs = kclass.kubectl("get", "pvc", "-o", "jsonpath={.items[*].metadata.name}").stdout.split()
    assert sorted(pvcs) == [f"claim-{n}" for n in LEARNERS], "down must keep the learners' work"
    again = kclass.ckslab("class", "down")
    assert again.returncode == 0 and "No class is up" in again.stdout


def test_kubernetes_without_a_reachable_cluster_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "roster.csv").write_text("name\nada\n")
    config = tmp_path / "kubeconfig"
    config.write_text("apiVersion: v1\nkind: Config\nclusters: [{name: c, cluster: {server: 'https://127.0.0.1:1'}}]\n"
                      "users: [{name: u, user: {}}]\ncontexts: [{name: x, context: {cluster: c, user: u}}]\n"
                      "current-context: x\n")
    env = {**_cluster_env(tmp_path), "CKSLAB_CLASS_DIR": str(tmp_path / "class")}
    for kubeconfig in (str(config), str(tmp_path / "absent")):
        done = subprocess.run([*CKSLAB, "class", "up", str(tmp_path / "roster.csv"), "--kubernetes", "--kubeconfig",
                               kubeconfig], env=env, capture_output=True, text=True, timeout=120, check=False)
        assert done.returncode != 0 and "Traceback" not in done.stderr, done.stderr
        assert "--kubeconfig" in done.stderr or "no cluster answers" in done.stderr, done.stderr
        assert len([line for line in done.stderr.splitlines() if line.startswith("ckslab: error")]) == 1, done.stderr


def test_an_image_kind_cannot_load_is_one_error() -> None:
    with pytest.raises(CkslabError) as raised:
        kubeclass.load_image("ckslab/learner:absent", "no-such-cluster-ckslab", lambda _m: None)
    assert "could not be loaded" in raised.value.message and "\n" not in raised.value.message
