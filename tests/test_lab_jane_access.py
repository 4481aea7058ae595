"""The jane-access lab on the real local control plane: solve, grade, each mistake, reset, notebook.

Every test works as its own user, so its namespace (development-<user>: only jane, the lab's own user, gets plain development), group and CSR are its
own; cluster-wide objects a test makes are named after the user and deleted afterwards.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from pathlib import Path
from typing import Iterator

import pytest
from lab_learner import LabLearner
from notebook_run import run_learner_copy

from cluster.backends.local import LocalBackend

pytestmark = pytest.mark.cluster
LAB = "jane-access"


class Learner(LabLearner):
    """A learner of the jane-access lab: its namespace and group carry the user."""

    def __init__(self, root: Path, user: str) -> None:
        super().__init__(root, user, LAB)

    @property
    def namespace(self) -> str:
        return f"development-{self.user}"

    @property
    def group(self) -> str:
        return f"developers-{self.user}"

    def in_namespace(self, *args: str) -> None:
        self.kubectl(*args, "-n", self.namespace)


@pytest.fixture
def learner(local_cluster: LocalBackend) -> Iterator[Learner]:
    one = Learner(local_cluster.lab.root, f"ja-{secrets.token_hex(3)}")
    yield one
    one.kubectl("delete", "namespace", one.namespace, "--ignore-not-found", "--wait=false", check=False)
    one.kubectl("delete", "csr", f"{one.user}-developer", "--ignore-not-found", check=False)
    for name in (f"{one.user}-developer", f"{one.user}-admin"):
        one.kubectl("delete", "clusterrolebinding,clusterrole", name, "--ignore-not-found", check=False)


def fresh_messages(u: Learner) -> dict[str, str]:
    ns = u.namespace
    return {
        "role": f"There is no Role developer in {ns}.",
        "rolebinding": f"There is no RoleBinding developer-binding in {ns}.",
        "group-binding": f"There is no Role configmap-reader in {ns}.",
        "own-credentials": f"With {u.user}.kubeconfig, listing pods in {ns} answers 403: {u.user} is not "
                           f"allowed yet (step role: there is no Role developer in {ns}).",
        "least-privilege": f"{u.user} may not even list pods in {ns} yet (step role: there is no Role developer in "
                           f"{ns}), so there is nothing to judge: least privilege is graded once the access the "
                           "lab asks for works.",
    }


def test_a_fresh_lab_fails_every_step_with_its_own_message(learner: Learner) -> None:
    learner.start()
    assert learner.failing() == fresh_messages(learner)
    forbidden = learner.kubectl("get", "pods", "--kubeconfig", f"{learner.user}.kubeconfig", check=False)
    assert forbidden.returncode != 0 and "Forbidden" in forbidden.stderr


def test_solution_earns_full_marks_and_reset_returns_to_the_start(learner: Learner) -> None:
    learner.solve()
    assert learner.failing() == {}
    learner.solve()  # twice: the solution starts again from setup's state
    assert learner.failing() == {}
    refused = learner.ckslab("reset", LAB, "--step", "group-binding")
    assert refused.returncode == 2 and "--step role" in refused.stderr
    reset = learner.ckslab("reset", LAB)
    assert reset.returncode == 0, reset.stderr
    assert learner.failing() == fresh_messages(learner)
    assert (learner.workspace / f"{learner.user}.kubeconfig").is_file()  # setup made it again


# --- role --------------------------------------------------------------------------------------

def test_role_with_wildcard_verbs(learner: Learner) -> None:
    learner.solve()
    learner.in_namespace("delete", "role", "developer")
    learner.in_namespace("create", "role", "developer", "--verb=*", "--resource=pods")
    failing = learner.failing()
    assert failing["role"] == ("The Role developer uses '*' in the verbs of rule 1: a wildcard grants everything, "
                               "including what does not exist yet; list the verbs and resources asked.")
    assert failing["least-privilege"].startswith(
        f"RBAC allows {learner.user} (in the group {learner.group}) to patch pods in the namespace "
        f"{learner.namespace} (RBAC: allowed by RoleBinding \"developer-binding/{learner.namespace}\" of Role "
        f"\"developer\" to User \"{learner.user}\")")
    assert set(failing) == {"role", "least-privilege"}


def test_role_with_wildcard_resources(learner: Learner) -> None:
    learner.solve()
    learner.in_namespace("delete", "role", "developer")
    learner.in_namespace("create", "role", "developer", "--verb=get,list,watch,create,update,delete", "--resource=*")
    failing = learner.failing()
    assert failing["role"].startswith("The Role developer uses '*' in the resources of rule 1")
    assert failing["least-privilege"].startswith(f"RBAC allows {learner.user} (in the group {learner.group}) to "
                                                 f"get secrets in the namespace {learner.namespace}")


def test_role_missing_a_verb_and_role_with_more(learner: Learner) -> None:
    learner.solve()
    learner.in_namespace("delete", "role", "developer")
    learner.in_namespace("create", "role", "developer", "--verb=get,list,watch,create,update", "--resource=pods")
    assert learner.failing() == {"role": "The Role developer does not allow delete pods on every pod; it must "
                                         "allow get, list, watch, create, update and delete on pods.",
                                 "rolebinding": f"RBAC does not allow the user {learner.user} to delete pods in "
                                                f"{learner.namespace}, although developer-binding exists: the Role "
                                                "developer does not allow it (see the step role)."}
    learner.in_namespace("delete", "role", "developer")
    learner.in_namespace("create", "role", "developer", "--verb=get,list,watch,create,update,delete",
                         "--resource=pods,secrets")
    failing = learner.failing()
    assert failing["role"] == ("The Role developer also allows create secrets, delete secrets, get secrets, "
                               "list secrets, update secrets, watch secrets; least privilege: only get, list, "
                               "watch, create, update and delete on pods.")
    assert "to get secrets in the namespace" in failing["least-privilege"]


# --- rolebinding -------------------------------------------------------------------------------

def test_binding_to_a_user_name_in_the_wrong_case(learner: Learner) -> None:
    learner.solve()
    learner.in_namespace("delete", "rolebinding", "developer-binding")
    wrong = learner.user.capitalize()
    learner.in_namespace("create", "rolebinding", "developer-binding", "--role=developer", f"--user={wrong}")
    steps = learner.steps()
    failing = {i: s["message"] for i, s in steps.items() if not s["passed"]}
    assert failing["rolebinding"] == (f"developer-binding binds the User {wrong!r}, not {learner.user!r}: user "
                                      "names are case-sensitive and must be the certificate's CN exactly.")
    assert set(failing) == {"rolebinding", "own-credentials", "least-privilege"}
    # The later steps name the cause, and their hint replaces the binding (a create alone: "already exists").
    fix = (f"kubectl delete rolebinding developer-binding -n {learner.namespace} && kubectl create rolebinding "
           f"developer-binding --role=developer --user={learner.user} -n {learner.namespace}")
    assert failing["own-credentials"].endswith(f"(step rolebinding: developer-binding binds User '{wrong}' to the "
                                               f"Role developer, not the User {learner.user} to the Role developer).")
    assert steps["own-credentials"]["hint"] == steps["least-privilege"]["hint"] == steps["rolebinding"]["hint"] == fix
    learner.bash(fix)  # followed as given
    assert learner.failing() == {}


def test_binding_to_a_service_account(learner: Learner) -> None:
    learner.solve()
    learner.in_namespace("delete", "rolebinding", "developer-binding")
    learner.in_namespace("create", "rolebinding", "developer-binding", "--role=developer",
                         f"--serviceaccount={learner.namespace}:{learner.user}")
    assert learner.failing()["rolebinding"] == (
        f"developer-binding binds the ServiceAccount {learner.namespace}/{learner.user}, not the User "
        f"{learner.user}: a certificate's CN is a User; ServiceAccounts are for pods (--user, not "
        "--serviceaccount).")


def test_binding_with_another_name(learner: Learner) -> None:
    learner.solve()
    learner.in_namespace("delete", "rolebinding", "developer-binding")
    learner.in_namespace("create", "rolebinding", "jane-binding", "--role=developer", f"--user={learner.user}")
    failing = learner.failing()
    assert failing == {"rolebinding": f"There is no RoleBinding developer-binding in {learner.namespace}; the "
                                      f"RoleBinding jane-binding binds User '{learner.user}' to Role developer, "
                                      "but the lab asks for the name developer-binding."}


def test_cluster_role_binding_instead_of_a_role_binding(learner: Learner) -> None:
    learner.solve()
    learner.in_namespace("delete", "rolebinding", "developer-binding")
    name = f"{learner.user}-developer"
    learner.kubectl("create", "clusterrole", name, "--verb=get,list,watch,create,update,delete", "--resource=pods")
    learner.kubectl("create", "clusterrolebinding", name, f"--clusterrole={name}", f"--user={learner.user}")
    failing = learner.failing()
    assert failing["rolebinding"] == (
        f"There is no RoleBinding developer-binding in {learner.namespace}, but the ClusterRoleBinding {name} "
        f"binds the User {learner.user}: a ClusterRoleBinding grants in every namespace; the lab asks for a "
        "RoleBinding in its namespace.")
    assert failing["own-credentials"].startswith(f"With {learner.user}.kubeconfig, {learner.user} can list pods "
                                                 "in the namespace default (answer 200, not 403 Forbidden)")
    assert failing["least-privilege"] == (
        f"The ClusterRoleBinding {name} binds the User {learner.user} to the ClusterRole {name} in every "
        f"namespace; {learner.user} needs no cluster-wide right.")


# --- group-binding -----------------------------------------------------------------------------

def test_group_binding_to_the_user_instead_of_the_group(learner: Learner) -> None:
    learner.solve()
    learner.in_namespace("delete", "rolebinding", "configmap-reader-binding")
    learner.in_namespace("create", "rolebinding", "configmap-reader-binding", "--role=configmap-reader",
                         f"--user={learner.user}")
    assert learner.failing() == {"group-binding": (
        f"configmap-reader-binding binds the User {learner.user}, not the Group {learner.group}: this step "
        f"grants through the group that the O of {learner.user}'s certificate puts her in (--group).")}


def test_group_binding_to_a_group_the_certificate_does_not_name(learner: Learner) -> None:
    learner.solve()
    learner.in_namespace("delete", "rolebinding", "configmap-reader-binding")
    learner.in_namespace("create", "rolebinding", "configmap-reader-binding", "--role=configmap-reader",
                         "--group=developers")
    failing = learner.failing()
    assert failing["group-binding"] == (f"configmap-reader-binding binds the Group developers, but {learner.user}'s "
                                        f"certificate puts her in the group {learner.group} (its O field).")
    assert failing["own-credentials"] == (f"With {learner.user}.kubeconfig, listing configmaps in "
                                          f"{learner.namespace} answers 403: the group {learner.group} is not "
                                          "allowed yet (step group-binding: configmap-reader-binding binds Group "
                                          "'developers' to the Role configmap-reader).")


def test_reader_role_that_may_also_write(learner: Learner) -> None:
    learner.solve()
    learner.in_namespace("delete", "role", "configmap-reader")
    learner.in_namespace("create", "role", "configmap-reader", "--verb=get,list,watch,update",
                         "--resource=configmaps")
    assert learner.failing() == {"group-binding": "The Role configmap-reader also allows update configmaps; least "
                                                  "privilege: only get, list and watch on configmaps."}


# --- own-credentials and least-privilege -------------------------------------------------------

def test_kubeconfig_gone(learner: Learner) -> None:
    learner.solve()
    (learner.workspace / f"{learner.user}.kubeconfig").unlink()
    assert learner.failing() == {"own-credentials": (
        f"{learner.user}.kubeconfig is missing from the workspace; `ckslab start jane-access --user "
        f"{learner.user}` makes it again.")}
    learner.start()  # setup makes it again
    assert learner.failing() == {}


def test_cluster_admin_for_the_user(learner: Learner) -> None:
    learner.solve()
    name = f"{learner.user}-admin"
    learner.kubectl("create", "clusterrolebinding", name, "--clusterrole=cluster-admin", f"--user={learner.user}")
    failing = learner.failing()
    assert failing["least-privilege"] == (
        f"The ClusterRoleBinding {name} binds the User {learner.user} to the ClusterRole cluster-admin in every "
        f"namespace; {learner.user} needs no cluster-wide right.")
    assert set(failing) == {"own-credentials", "least-privilege"}


def test_admin_in_the_namespace_for_the_group(learner: Learner) -> None:
    learner.solve()
    learner.in_namespace("create", "rolebinding", "team-admin", "--clusterrole=admin", f"--group={learner.group}")
    assert learner.failing() == {"least-privilege": (
        f"The RoleBinding team-admin in {learner.namespace} binds the Group {learner.group} to the ClusterRole "
        "admin, far more than the lab asks for.")}


def test_secrets_through_another_role(learner: Learner) -> None:
    learner.solve()
    learner.in_namespace("create", "role", "secret-reader", "--verb=get", "--resource=secrets")
    learner.in_namespace("create", "rolebinding", "secret-reader", "--role=secret-reader", f"--user={learner.user}")
    assert learner.failing() == {"least-privilege": (
        f"RBAC allows {learner.user} (in the group {learner.group}) to get secrets in the namespace "
        f"{learner.namespace} (RBAC: allowed by RoleBinding \"secret-reader/{learner.namespace}\" of Role "
        f"\"secret-reader\" to User \"{learner.user}\"); least privilege: only pods and, read-only, configmaps "
        f"in {learner.namespace}.")}


# --- the notebook ------------------------------------------------------------------------------

def test_notebook_runs_twice_and_earns_full_marks(local_cluster: LocalBackend, monkeypatch: pytest.MonkeyPatch,
                                                  tmp_path: Path) -> None:
    monkeypatch.setenv("CKSLAB_ROOT", str(local_cluster.lab.root))
    monkeypatch.delenv("CKSLAB_USER", raising=False)
    for _ in range(2):  # idempotent: a learner may run it again
        _path, _nb, outputs = run_learner_copy(LAB)
        assert "[FAIL]" not in outputs and "[PASS] least-privilege (25/25)" in outputs
        assert "Score: 100/100, every step passes." in outputs
    jane = Learner(local_cluster.lab.root, "jane")
    report = jane.root / "report-jane.json"
    done = subprocess.run([sys.executable, "-m", "ckslab", "grade", LAB, "--json", str(report)], capture_output=True,
                          text=True, env=os.environ.copy(), timeout=300, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert json.loads(report.read_text())["score"] == 100
