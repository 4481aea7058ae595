"""Read-only looks at RBAC for the leak-response step, through the official Kubernetes client.

Kubernetes authorizes names, not certificates: the only way to disarm a leaked certificate before
it expires is to leave its user name (and groups) bound to nothing. These helpers find the
bindings that still name a user, and ask the authorizer what the user may do (a
SubjectAccessReview, answered without being stored).
"""

from __future__ import annotations

from dataclasses import dataclass

from kubernetes import client

from graders.kube import REQUEST_TIMEOUT

#: Every authenticated request carries this group; a binding to it would also grant the leaked user.
AUTHENTICATED = "system:authenticated"


@dataclass(frozen=True)
class Binding:
    """A RoleBinding (``namespace`` set) or ClusterRoleBinding, and the role it grants."""

    name: str
    namespace: str
    role: str

    def __str__(self) -> str:
        if self.namespace:
            return f"the RoleBinding {self.name} in {self.namespace} (to {self.role})"
        return f"the ClusterRoleBinding {self.name} (to {self.role})"


def _names(subjects: list[client.RbacV1Subject] | None, user: str) -> bool:
    return any(s.kind == "User" and s.name == user for s in subjects or [])


def bindings_of_user(admin: client.ApiClient, user: str) -> list[Binding]:
    """Every ClusterRoleBinding and RoleBinding with the User ``user`` among its subjects."""
    rbac = client.RbacAuthorizationV1Api(admin)
    found: list[Binding] = []
    bindings: list[client.V1ClusterRoleBinding | client.V1RoleBinding] = [
        *rbac.list_cluster_role_binding(_request_timeout=REQUEST_TIMEOUT).items,
        *rbac.list_role_binding_for_all_namespaces(_request_timeout=REQUEST_TIMEOUT).items]
    for binding in bindings:
        if _names(binding.subjects, user):
            meta = binding.metadata
            found.append(Binding(str(meta.name) if meta else "", str(meta.namespace or "") if meta else "",
                                 f"{binding.role_ref.kind} {binding.role_ref.name}"))
    return found


def allowed(admin: client.ApiClient, user: str, verb: str, resource: str, namespace: str = "") -> tuple[bool, str]:
    """Whether ``user`` (authenticated, no other group) may ``verb`` ``resource``, and the authorizer's reason."""
    review = client.AuthorizationV1Api(admin).create_subject_access_review(
        client.V1SubjectAccessReview(
            api_version="authorization.k8s.io/v1", kind="SubjectAccessReview",
            spec=client.V1SubjectAccessReviewSpec(
                user=user, groups=[AUTHENTICATED],
                resource_attributes=client.V1ResourceAttributes(
                    verb=verb, resource=resource, namespace=namespace or None))),
        _request_timeout=REQUEST_TIMEOUT)
    status = review.status
    return bool(status and status.allowed), str(status.reason or "") if status else ""


def list_pods_status(api: client.ApiClient) -> int:
    """The HTTP status of listing pods in every namespace with ``api``'s credentials."""
    try:
        client.CoreV1Api(api).list_pod_for_all_namespaces(limit=1, _request_timeout=REQUEST_TIMEOUT)
    except client.ApiException as err:
        return int(err.status)
    return 200
