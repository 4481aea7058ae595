"""Read-only looks at RBAC for the jane-access graders, through the official Kubernetes client.

Two kinds of questions: "what does RBAC allow this user and these groups?", a SubjectAccessReview
sent with the admin client (the question ``kubectl auth can-i --as`` asks, without impersonating), and
"what does the user's own certificate get?", real list calls and a SelfSubjectReview with the
user's kubeconfig. Reviews are answered without being stored; nothing here writes anything.
"""

from __future__ import annotations

from dataclasses import dataclass

from kubernetes import client

from graders.jane_access.lab import BINDING, READER, READER_BINDING, ROLE, LabNames
from graders.jane_access.rules import Rule
from graders.kube import REQUEST_TIMEOUT

RoleBinding = client.V1RoleBinding
ClusterRoleBinding = client.V1ClusterRoleBinding


@dataclass(frozen=True)
class Action:
    """A request to authorize: ``verb`` on ``resource`` (in ``namespace``, "" for cluster-wide)."""

    verb: str
    resource: str
    namespace: str = ""
    group: str = ""
    subresource: str = ""
    name: str = ""

    def __str__(self) -> str:
        what = self.resource + (f".{self.group}" if self.group else "")
        what += f"/{self.subresource}" if self.subresource else ""
        what += f" {self.name}" if self.name else ""
        where = f" in the namespace {self.namespace}" if self.namespace else " cluster-wide"
        return f"{self.verb} {what}{where}"


@dataclass(frozen=True)
class Decision:
    allowed: bool
    reason: str


def review(admin: client.ApiClient, user: str, groups: list[str], action: Action) -> Decision:
    """Whether RBAC allows ``user`` in ``groups`` to do ``action`` (a SubjectAccessReview)."""
    attributes = client.V1ResourceAttributes(
        verb=action.verb, resource=action.resource, namespace=action.namespace or None,
        group=action.group, subresource=action.subresource or None, name=action.name or None)
    answer = client.AuthorizationV1Api(admin).create_subject_access_review(
        client.V1SubjectAccessReview(
            api_version="authorization.k8s.io/v1", kind="SubjectAccessReview",
            spec=client.V1SubjectAccessReviewSpec(
            user=user, groups=groups, resource_attributes=attributes)),
        _request_timeout=REQUEST_TIMEOUT)
    status = answer.status
    return Decision(bool(status and status.allowed), str(status.reason or "") if status else "")


def identity(api: client.ApiClient) -> tuple[str, list[str]]:
    """The user name and groups the API server sees for ``api``'s credentials."""
    answer = client.AuthenticationV1Api(api).create_self_subject_review(
        client.V1SelfSubjectReview(api_version="authentication.k8s.io/v1", kind="SelfSubjectReview"),
        _request_timeout=REQUEST_TIMEOUT)
    info = answer.status.user_info if answer.status else None
    return (str(info.username or ""), list(info.groups or [])) if info else ("", [])


def get_status(api: client.ApiClient, path: str) -> int:
    """The HTTP status of a GET of ``path`` as ``api``'s user.

    A raw request: the typed CoreV1Api costs seconds of imports (pydantic models) in every grading
    process, and only the status matters here.
    """
    request = api.param_serialize("GET", path, auth_settings=["BearerToken"])
    return int(api.call_api(*request, _request_timeout=REQUEST_TIMEOUT).status)


def list_status(api: client.ApiClient, resource: str, namespace: str) -> int:
    """The HTTP status of listing ``resource`` (pods, configmaps...) in ``namespace`` as ``api``."""
    return get_status(api, f"/api/v1/namespaces/{namespace}/{resource}?limit=1")


def namespace_exists(admin: client.ApiClient, name: str) -> bool:
    status = get_status(admin, f"/api/v1/namespaces/{name}")
    if status not in (200, 404):
        raise RuntimeError(f"reading the namespace {name} answered HTTP {status}")
    return status == 200


def read_role(admin: client.ApiClient, namespace: str, name: str) -> client.V1Role | None:
    try:
        return client.RbacAuthorizationV1Api(admin).read_namespaced_role(
            name, namespace, _request_timeout=REQUEST_TIMEOUT)
    except client.ApiException as err:
        if err.status == 404:
            return None
        raise


def cluster_role_exists(admin: client.ApiClient, name: str) -> bool:
    try:
        client.RbacAuthorizationV1Api(admin).read_cluster_role(name, _request_timeout=REQUEST_TIMEOUT)
    except client.ApiException as err:
        if err.status == 404:
            return False
        raise
    return True


def rules_of(role: client.V1Role) -> list[Rule]:
    return [Rule(tuple(r.api_groups or ()), tuple(r.resources or ()), tuple(r.verbs or ()),
                 tuple(r.resource_names or ())) for r in role.rules or []]


def role_bindings(admin: client.ApiClient, namespace: str = "") -> list[RoleBinding]:
    """The RoleBindings of ``namespace`` (of every namespace when "")."""
    rbac = client.RbacAuthorizationV1Api(admin)
    if namespace:
        found = rbac.list_namespaced_role_binding(namespace, _request_timeout=REQUEST_TIMEOUT)
    else:
        found = rbac.list_role_binding_for_all_namespaces(_request_timeout=REQUEST_TIMEOUT)
    return list(found.items)


def cluster_role_bindings(admin: client.ApiClient) -> list[ClusterRoleBinding]:
    found = client.RbacAuthorizationV1Api(admin).list_cluster_role_binding(_request_timeout=REQUEST_TIMEOUT)
    return list(found.items)


def subjects(binding: RoleBinding | ClusterRoleBinding) -> list[tuple[str, str]]:
    """``binding``'s subjects as (kind, name); a ServiceAccount's name is namespace/name."""
    return [(s.kind, f"{s.namespace}/{s.name}" if s.kind == "ServiceAccount" and s.namespace else s.name)
            for s in binding.subjects or []]


def binds(binding: RoleBinding | ClusterRoleBinding, kind: str, name: str) -> bool:
    return (kind, name) in subjects(binding)


def show_subjects(binding: RoleBinding | ClusterRoleBinding) -> str:
    return ", ".join(f"{kind} {name!r}" for kind, name in subjects(binding)) or "no subject"


def named(bindings: list[RoleBinding], name: str) -> RoleBinding | None:
    return next((b for b in bindings if name_of(b) == name), None)



def name_of(obj: RoleBinding | ClusterRoleBinding | client.V1Role) -> str:
    return str(obj.metadata.name) if obj.metadata else ""


def namespace_of(obj: RoleBinding) -> str:
    return str(obj.metadata.namespace) if obj.metadata else ""


def why_denied(admin: client.ApiClient, lab: LabNames, in_namespace: list[RoleBinding]) -> tuple[str, str]:
    """(why, the command that fixes it) when RBAC does not yet let the user work with pods in the lab's namespace:
    the first of the steps role and rolebinding whose object is missing or binds another subject or role. A later
    step's hint that only created the binding failed with "already exists" when a wrong one was there."""
    if read_role(admin, lab.namespace, ROLE) is None:
        missing = named(in_namespace, BINDING) is None
        return (f"step role: there is no Role {ROLE} in {lab.namespace}",
                lab.create_role + (f" && {lab.create_binding}" if missing else ""))
    binding = named(in_namespace, BINDING)
    if binding is None:
        return f"step rolebinding: there is no RoleBinding {BINDING} in {lab.namespace}", lab.create_binding
    if (binding.role_ref.kind, binding.role_ref.name) != ("Role", ROLE) or not binds(binding, "User", lab.user):
        return (f"step rolebinding: {BINDING} binds {show_subjects(binding)} to the {binding.role_ref.kind} "
                f"{binding.role_ref.name}, not the User {lab.user} to the Role {ROLE}", lab.fix_binding)
    return f"step role: the Role {ROLE} does not allow it", lab.fix_role


def why_group_denied(admin: client.ApiClient, lab: LabNames, in_namespace: list[RoleBinding]) -> tuple[str, str]:
    """(why, the fix) when RBAC does not yet let the group read configmaps in the lab's namespace (the step
    group-binding): its Role or binding missing, or a binding of another subject or role."""
    binding = named(in_namespace, READER_BINDING)
    if read_role(admin, lab.namespace, READER) is None:
        return (f"step group-binding: there is no Role {READER} in {lab.namespace}",
                lab.create_reader + (f" && {lab.create_reader_binding}" if binding is None else ""))
    if binding is None:
        return f"step group-binding: there is no RoleBinding {READER_BINDING} in {lab.namespace}", lab.create_reader_binding
    return (f"step group-binding: {READER_BINDING} binds {show_subjects(binding)} to the {binding.role_ref.kind} "
            f"{binding.role_ref.name}", lab.fix_reader_binding)
