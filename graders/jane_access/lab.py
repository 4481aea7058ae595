"""The jane-access lab's names and the commands its hints suggest, for one user.

Every name derives from the user by one rule, the same in ``labs/jane-access/setup.sh`` and
``solution.sh`` (``{suffix}`` in lab.yaml): the lab's own user (jane) gets the lesson's names, the
namespace ``development`` and the group ``developers``; any other user ``development-<user>`` and
``developers-<user>``, so learners can share a cluster. The Role and RoleBindings are namespaced,
so their names are fixed. Pure code (the lab definition is data).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from graders.jane_access.rules import Grant
from labs import catalog

ROLE, BINDING = "developer", "developer-binding"
READER, READER_BINDING = "configmap-reader", "configmap-reader-binding"
#: What the Role developer must allow, exactly: these verbs on pods (core API group).
POD_VERBS = ("get", "list", "watch", "create", "update", "delete")
#: What the Role configmap-reader must allow, exactly.
CONFIGMAP_VERBS = ("get", "list", "watch")
#: ClusterRoles that must never be bound to the user or the group.
POWERFUL_ROLES = ("cluster-admin", "admin", "edit")


@dataclass(frozen=True)
class LabNames:
    """Where this user's lab lives, and what the hints tell them to type."""

    workspace: Path
    user: str

    @property
    def suffix(self) -> str:
        return catalog.load("jane-access").suffix(self.user)

    @property
    def namespace(self) -> str:
        return f"development{self.suffix}"

    @property
    def group(self) -> str:
        return f"developers{self.suffix}"

    @property
    def kubeconfig(self) -> Path:
        return self.workspace / f"{self.user}.kubeconfig"

    @property
    def role_grants(self) -> frozenset[Grant]:
        return frozenset(("", "pods", verb) for verb in POD_VERBS)

    @property
    def reader_grants(self) -> frozenset[Grant]:
        return frozenset(("", "configmaps", verb) for verb in CONFIGMAP_VERBS)

    # --- hints ------------------------------------------------------------------------------

    @property
    def start(self) -> str:
        return "ckslab start jane-access" + ("" if self.user == "jane" else f" --user {self.user}")

    @property
    def create_role(self) -> str:
        return (f"kubectl create role {ROLE} --verb={','.join(POD_VERBS)} --resource=pods "
                f"-n {self.namespace}")

    @property
    def fix_role(self) -> str:
        return f"kubectl delete role {ROLE} -n {self.namespace} && {self.create_role}"

    @property
    def create_binding(self) -> str:
        return f"kubectl create rolebinding {BINDING} --role={ROLE} --user={self.user} -n {self.namespace}"

    @property
    def fix_binding(self) -> str:
        return f"kubectl delete rolebinding {BINDING} -n {self.namespace} && {self.create_binding}"

    @property
    def create_reader(self) -> str:
        return (f"kubectl create role {READER} --verb={','.join(CONFIGMAP_VERBS)} --resource=configmaps "
                f"-n {self.namespace}")

    @property
    def create_reader_binding(self) -> str:
        return (f"kubectl create rolebinding {READER_BINDING} --role={READER} --group={self.group} "
                f"-n {self.namespace}")

    @property
    def fix_reader_binding(self) -> str:
        return f"kubectl delete rolebinding {READER_BINDING} -n {self.namespace} && {self.create_reader_binding}"

    @property
    def can_i(self) -> str:
        return f"kubectl auth can-i --list -n {self.namespace} --as {self.user} --as-group {self.group}"

    @property
    def find_bindings(self) -> str:
        return f"kubectl get rolebindings,clusterrolebindings -A -o wide | grep -w -e {self.user} -e {self.group}"
