"""``ckslab class up|status|grade|down`` on a Kubernetes cluster: JupyterHub with KubeSpawner.

``up`` checks the cluster answers (one line when not), builds or reuses the learner image
(``image.py``), loads it into a kind cluster (``kind load docker-image``; another cluster must
pull it from a registry you push it to, see the README), applies ``kubemanifests`` with
``kubectl apply`` and waits for the hub. The instructor's side keeps ``state.json``, the
credentials and the tokens in the class folder as on one server. ``grade`` runs
``podlearner grade`` in every learner's running pod with ``kubectl exec`` (so graders read the
learner's own files and cluster, inside their pod) and writes ``grades.json`` as on one server; the
hub pod's scoreboard runs the same (``python -m ckslab.classhost.kubeclass grade``). ``down``
deletes the hub, the proxy and every learner's pod; the learners' PVCs stay unless
``--delete-data``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from ckslab.classhost import grading, image, kubemanifests, layout
from ckslab.classhost.layout import ClassPaths, ClassState
from cluster import paths
from cluster.errors import CkslabError

#: Seconds the hub's Deployment gets to be ready (its pod starts from a loaded image).
HUB_TIMEOUT = 180.0
#: Seconds ``down`` waits for the learners' pods to be gone.
DOWN_TIMEOUT = 120.0


@dataclass(frozen=True)
class Target:
    """The cluster a class runs on: kubectl's kubeconfig and context, and the namespace."""

    kubeconfig: str | None
    namespace: str = kubemanifests.NAMESPACE
    context: str | None = None

    def kubectl(self, *args: str, stdin: str | None = None, timeout: float = 60,
                check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run kubectl on this target; CkslabError with its first error line when ``check`` and it fails."""
        base = [kubectl_binary()]
        if self.kubeconfig:
            base += ["--kubeconfig", self.kubeconfig]
        if self.context:
            base += ["--context", self.context]
        try:
            done = subprocess.run([*base, *args], input=stdin, capture_output=True, text=True, timeout=timeout,
                                  check=False, stdin=None if stdin is not None else subprocess.DEVNULL)
        except subprocess.TimeoutExpired as err:
            raise CkslabError(f"`kubectl {' '.join(args[:3])}` did not answer within {timeout:.0f}s.") from err
        if check and done.returncode != 0:
            raise CkslabError(f"`kubectl {' '.join(args[:3])}` failed: {_first_error(done.stderr)}.")
        return done


def _first_error(stderr: str) -> str:
    lines = [line for line in stderr.strip().splitlines() if line.strip()]
    return (lines[-1] if lines else "no output")[:300]


def kubectl_binary() -> str:
    """The pinned kubectl of ckslab's cache, else the one on PATH (the image puts the cache's there)."""
    cached = paths.kubernetes_bin_dir() / "kubectl"
    found = str(cached) if cached.is_file() else shutil.which("kubectl")
    if found is None:
        raise CkslabError("kubectl is needed for --kubernetes and was not found.", "Run `make binaries`, or install kubectl.")
    return found


def check_reachable(target: Target) -> None:
    """One line when the cluster does not answer (no kubeconfig, a stopped cluster, no rights)."""
    if target.kubeconfig and not Path(target.kubeconfig).is_file():
        raise CkslabError(f"--kubeconfig {target.kubeconfig} does not exist.", "Give the kubeconfig of your cluster.")
    done = target.kubectl("version", "-o", "json", "--request-timeout=10s", timeout=30, check=False)
    if done.returncode != 0 or '"serverVersion"' not in done.stdout:
        raise CkslabError(f"--kubernetes: no cluster answers with {target.kubeconfig or 'the current kubeconfig'} "
                          f"({_first_error(done.stderr)}).",
                          "Start one (e.g. `make up BACKEND=kind`) or give --kubeconfig of a reachable cluster.")


def kind_cluster(target: Target) -> str | None:
    """The kind cluster the current context names (``kind-<name>``), else None."""
    context = target.context or target.kubectl("config", "current-context", check=False).stdout.strip()
    return context[len("kind-"):] if context.startswith("kind-") else None


def load_image(reference: str, cluster: str, progress: Any) -> None:
    """``kind load docker-image`` into ``cluster``; one line when it cannot."""
    kind = paths.kind_bin_dir() / "kind"
    binary = str(kind) if kind.is_file() else shutil.which("kind")
    if binary is None:
        raise CkslabError("kind is not installed, so the learner image cannot be loaded into the kind cluster.",
                          "Run `make binaries` (it fetches kind) and try again.")
    progress(f"loading {reference} into the kind cluster {cluster} (kind load docker-image)")
    done = subprocess.run([binary, "load", "docker-image", reference, "--name", cluster], capture_output=True,
                          text=True, check=False, timeout=900, stdin=subprocess.DEVNULL)
    if done.returncode != 0:
        raise CkslabError(f"the learner image {reference} could not be loaded into kind cluster {cluster}: "
                          f"{_first_error(done.stderr)}.", "Check `kind get clusters` and Docker, then try again.")


def up(where: ClassPaths, learners: list[str], passwords: dict[str, str], target: Target,
       progress: Any) -> ClassState:
    """Deploy the class on ``target`` (see the module docstring); the state written to ``state.json``."""
    from ckslab.classhost import accounts  # the hashes; no Unix account is made on this path

    check_reachable(target)
    built = image.ensure(progress)
    cluster = kind_cluster(target)
    if cluster is not None:
        load_image(built.reference, cluster, progress)
    else:
        progress(f"not a kind cluster: its nodes must be able to pull {built.reference} (push it to your registry)")
    old: dict[str, Any] = layout.read_settings(where) if where.settings.exists() else {}
    tokens = {key: str(old.get(key) or os.urandom(32).hex()) for key in ("api_token", "proxy_token", "cookie_secret")}
    settings = {**json.loads(kubemanifests.settings(learners, built.reference, target.namespace, tokens)),
                "interval": 60, "kubernetes": True}
    paths.write_private(where.settings, json.dumps(settings, indent=2).encode())
    hashed = {n: accounts.hash_password(p) for n, p in passwords.items()}
    files = {"settings.json": json.dumps(settings), "passwords.json": json.dumps(hashed), **tokens}
    objects = kubemanifests.all_objects(target.namespace, built.reference, files)
    existed = target.kubectl("-n", target.namespace, "get", "deployment/hub", check=False).returncode == 0
    progress(f"applying JupyterHub (hub, proxy, KubeSpawner) in namespace {target.namespace}")
    target.kubectl("apply", "-f", "-", stdin=yaml.safe_dump_all(objects), timeout=120)
    if existed:  # a changed Secret is read at the hub's start only
        target.kubectl("-n", target.namespace, "rollout", "restart", "deployment/hub", "deployment/proxy")
    done = target.kubectl("-n", target.namespace, "rollout", "status", "deployment/hub",
                          f"--timeout={int(HUB_TIMEOUT)}s", timeout=HUB_TIMEOUT + 30, check=False)
    if done.returncode != 0:
        raise CkslabError(f"the hub did not become ready within {HUB_TIMEOUT:.0f}s ({_first_error(done.stderr)}).",
                          f"See `kubectl -n {target.namespace} logs deployment/hub`.")
    target.kubectl("-n", target.namespace, "rollout", "status", "deployment/proxy", "--timeout=120s", timeout=150)
    url = f"kubectl -n {target.namespace} port-forward svc/proxy-public 8000:80, then http://127.0.0.1:8000/"
    return ClassState(url, "", 0, 0, learners, False,
                      {"kubernetes": True, "namespace": target.namespace, "kubeconfig": target.kubeconfig,
                       "context": target.context or target.kubectl("config", "current-context").stdout.strip(),
                       "image": built.reference, "image_how": built.how})


def target_of(state: ClassState) -> Target:
    return Target(state.details.get("kubeconfig"), state.details["namespace"], state.details.get("context"))


def learner_pods(target: Target) -> dict[str, dict[str, Any]]:
    """The learners' pods by learner name (KubeSpawner's ``hub.jupyter.org/username`` annotation)."""
    listed = target.kubectl("-n", target.namespace, "get", "pods", "-l", kubemanifests.LEARNER_SELECTOR, "-o", "json")
    pods = {}
    for pod in json.loads(listed.stdout)["items"]:
        name = pod["metadata"].get("annotations", {}).get("hub.jupyter.org/username")
        if name:
            pods[name] = pod
    return pods


def _ready(pod: dict[str, Any]) -> bool:
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in pod.get("status", {}).get("conditions", []))


def in_pod(target: Target, pod: dict[str, Any], action: str, timeout: float = 300) -> dict[str, Any]:
    """``podlearner ACTION`` in a learner's pod (as the learner); its JSON line."""
    done = target.kubectl("-n", target.namespace, "exec", pod["metadata"]["name"], "-c", "notebook", "--",
                          f"{image.VENV}/bin/python", "-m", "ckslab.classhost.podlearner", action,
                          timeout=timeout, check=False)
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        raise CkslabError(f"podlearner {action} failed: {_first_error(done.stderr or done.stdout)}")
    data: dict[str, Any] = json.loads(lines[-1])
    return data


def grade(where: ClassPaths, target: Target, learners: list[str]) -> list[grading.Grade]:
    """Grade every learner whose pod is ready, in their pod; write the grades as on one server."""
    started = time.monotonic()
    pods = learner_pods(target)
    rows: list[grading.Grade] = []
    for name in learners:
        pod = pods.get(name)
        row = grading.Grade(name=name, lab=None, score=None, max_score=None, passed=None, steps={},
                            control_plane="no server", error="", seconds=0.0)
        if pod is None or not _ready(pod):
            row["error"] = "no server running"
        else:
            try:
                row = grading.Grade(**in_pod(target, pod, "grade"))  # type: ignore[typeddict-item]
            except CkslabError as err:
                row["error"] = err.message
        rows.append(row)
    grading.record(where, rows, started)
    return rows


def status(where: ClassPaths, state: ClassState) -> tuple[bool, list[dict[str, Any]]]:
    """(hub ready, one dict a learner as ``cli.rows`` gives on one server)."""
    target = target_of(state)
    hub = target.kubectl("-n", target.namespace, "get", "deployment", "hub", "-o", "json", check=False)
    hub_up = hub.returncode == 0 and json.loads(hub.stdout).get("status", {}).get("readyReplicas", 0) >= 1
    pods = learner_pods(target) if hub.returncode == 0 else {}
    grades = {g["name"]: g for g in grading.last(where)["learners"]}
    found = []
    for name in state.learners:
        pod, g = pods.get(name), grades.get(name, {})
        cluster, lab = "no server", None
        if pod is not None and _ready(pod):
            try:
                seen = in_pod(target, pod, "status", timeout=60)
                cluster, lab = seen["cluster"], seen["lab"]
            except CkslabError as err:
                cluster = err.message
        found.append({"name": name, "logged_in": pod is not None, "cluster": cluster, "lab": lab,
                      "score": g.get("score"), "max_score": g.get("max_score"),
                      "graded_at": grading.last(where)["graded_at"], "pod": pod["metadata"]["name"] if pod else None})
    return hub_up, found


def down(state: ClassState, delete_data: bool, progress: Any) -> list[str]:
    """Delete the hub, the proxy and every learner's pod (their PVCs too with ``delete_data``); who had a pod."""
    target = target_of(state)
    if target.kubectl("get", "namespace", target.namespace, check=False).returncode != 0:
        return []
    running = sorted(learner_pods(target))
    progress("deleting the hub and the proxy, then every learner's pod")
    # Foreground: the Deployments are gone only once their pods are (background deletion leaves the
    # hub's pod terminating after kubectl returns).
    target.kubectl("-n", target.namespace, "delete", "deployment,service", "-l", "app.kubernetes.io/part-of=ckslab-class",
                   "--ignore-not-found", "--cascade=foreground", "--wait=true", f"--timeout={int(DOWN_TIMEOUT)}s",
                   timeout=DOWN_TIMEOUT + 30)
    for selector in (kubemanifests.LEARNER_SELECTOR, "app.kubernetes.io/part-of=ckslab-class"):
        target.kubectl("-n", target.namespace, "delete", "pods", "-l", selector, "--ignore-not-found",
                       "--wait=true", f"--timeout={int(DOWN_TIMEOUT)}s", timeout=DOWN_TIMEOUT + 30)
    if delete_data:
        progress(f"deleting namespace {target.namespace} with every learner's PVC (--delete-data)")
        target.kubectl("delete", "namespace", target.namespace, "--wait=true", f"--timeout={int(DOWN_TIMEOUT)}s",
                       timeout=DOWN_TIMEOUT + 30)
    return running


def main(argv: list[str]) -> int:
    """In the hub pod (the scoreboard): ``grade`` the class through the in-cluster service account."""
    if argv[:1] != ["grade"]:
        print("usage: python -m ckslab.classhost.kubeclass grade", file=sys.stderr)
        return 2
    where = layout.class_paths()
    settings = layout.read_settings(where)
    grade(where, Target(None, os.environ.get("CKSLAB_CLASS_NAMESPACE", settings["namespace"])), settings["learners"])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
