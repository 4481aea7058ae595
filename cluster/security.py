"""``ckslab doctor``'s security checks of a running control plane, each finding with its fix.

A lab that teaches certificates must not run a control plane anyone on the machine can take
over: etcd answering clients without a certificate bypasses authentication and RBAC (every
Secret readable, every object writable); a private key readable by others lets them act as the
component it belongs to; a CA key readable by others lets them sign a certificate for any user,
``system:masters`` included. Anonymous requests are checked against what kubeadm sets: it leaves
the API server's ``--anonymous-auth`` at its default (true, so health probes work, see
``cmd/kubeadm/app/phases/controlplane/manifests.go``), and RBAC lets ``system:anonymous`` and
``system:unauthenticated`` reach only ``system:public-info-viewer`` (``/healthz``, ``/livez``,
``/readyz``, ``/version``).
"""

from __future__ import annotations

import os
import shlex
import ssl
import urllib.error
import urllib.request
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from kubernetes import client

from cluster import csr
from cluster.preflight import Finding

#: The RBAC subjects an unauthenticated request has.
ANONYMOUS_SUBJECTS = frozenset({"system:anonymous", "system:unauthenticated"})
#: The only ClusterRoleBinding of a kubeadm cluster (v1.37.0) naming one of them.
KUBEADM_ANONYMOUS_BINDINGS = frozenset({"system:public-info-viewer"})


def _answers(url: str, context: ssl.SSLContext | None) -> bool:
    """True when ``url`` answers HTTP at all (any status): the request got past TLS."""
    try:
        with urllib.request.urlopen(url, context=context, timeout=5):  # noqa: S310 - loopback
            return True
    except urllib.error.HTTPError:
        return True
    except (urllib.error.URLError, OSError, ssl.SSLError):
        return False


def etcd_requires_client_certificates(client_url: str, etcd_manifest: Path) -> Finding:
    """Ask etcd's ``/health`` without a client certificate: it must refuse the TLS handshake."""
    check = "etcd client certificates"
    url = client_url.rstrip("/") + "/health"
    context = ssl._create_unverified_context() if url.startswith("https://") else None  # noqa: S323
    if not _answers(url, context):
        return Finding(check, True, f"{client_url} refuses a client without a certificate")
    return Finding(
        check, False,
        f"etcd at {client_url} answers a client without a certificate: any process on this machine "
        "can read every Secret and write any object, bypassing authentication and RBAC",
        f"In {etcd_manifest} serve https with --cert-file/--key-file and set --client-cert-auth=true and "
        "--trusted-ca-file=<pki>/etcd/ca.crt (as kubeadm), then `ckslab controlplane restart etcd`; "
        "or `make down && make up` for a fresh control plane.")


def _owner_only(path: Path, uid: int) -> str | None:
    """What is wrong with ``path``'s mode and owner (None: 0600 or stricter, owned by ``uid``)."""
    st = path.stat()
    problems = []
    if st.st_mode & 0o077:
        problems.append(f"mode {st.st_mode & 0o777:04o}")
    if st.st_uid != uid:
        problems.append(f"owner uid {st.st_uid}")
    return ", ".join(problems) or None


def private_files(paths: list[Path], uid: int | None = None) -> Finding:
    """Every private key (and kubeconfig, which embeds one) is 0600 and owned by ``uid``."""
    uid = os.getuid() if uid is None else uid
    bad = {p: why for p in paths if p.exists() and (why := _owner_only(p, uid))}
    check = "private keys 0600"
    if not bad:
        return Finding(check, True, f"{len(paths)} key files and kubeconfigs: 0600, owned by uid {uid}")
    quoted = " ".join(shlex.quote(str(p)) for p in bad)
    return Finding(
        check, False,
        "readable by others: " + "; ".join(f"{p} ({why})" for p, why in bad.items())
        + ": whoever reads a key can act as the component it belongs to",
        f"chmod 600 {quoted} && chown {uid} {quoted}")


def ca_keys_owner_only(ca_keys: list[Path], uid: int | None = None) -> Finding:
    """A CA key must be readable by its owner only: it signs certificates for anyone."""
    uid = os.getuid() if uid is None else uid
    check = "CA keys owner-only"
    missing = [p for p in ca_keys if not p.exists()]
    bad = {p: why for p in ca_keys if p.exists() and (why := _owner_only(p, uid))}
    if not bad and not missing:
        return Finding(check, True, ", ".join(p.name if p.parent.name == "pki" else f"{p.parent.name}/{p.name}"
                                              for p in ca_keys) + ": owner only")
    if missing and not bad:
        return Finding(check, False, "missing: " + ", ".join(map(str, missing)), "Run `make up` to make them.")
    quoted = " ".join(shlex.quote(str(p)) for p in bad)
    return Finding(
        check, False,
        "; ".join(f"{p} ({why})" for p, why in bad.items())
        + ": whoever reads a CA key can sign a certificate for any user, system:masters included",
        f"chmod 600 {quoted} && chown {uid} {quoted}")


def anonymous_as_kubeadm(server: str, ca_file: Path, admin_kubeconfig: Path, apiserver_command: list[str],
                         manifest: Path) -> Finding:
    """Anonymous requests: on (kubeadm's default), and allowed no more than kubeadm allows."""
    from kubernetes import client
    check = "anonymous auth"
    flags = dict(a[2:].split("=", 1) for a in apiserver_command[1:] if a.startswith("--") and "=" in a)
    if flags.get("anonymous-auth", "true").lower() == "false":
        return Finding(check, False, "the API server runs with --anonymous-auth=false, which kubeadm does not "
                       "set: anonymous health probes (/livez, /readyz) are refused",
                       f"Remove --anonymous-auth=false from {manifest}, then "
                       "`ckslab controlplane restart kube-apiserver`.")
    extra: list[tuple[str, str]] = []  # (what, the kubectl command that deletes it)
    with csr.api_client(admin_kubeconfig) as api:
        rbac = client.RbacAuthorizationV1Api(api)
        for crb in rbac.list_cluster_role_binding().items:
            name = crb.metadata.name if crb.metadata else ""
            if _names_anonymous(crb.subjects) and name not in KUBEADM_ANONYMOUS_BINDINGS:
                extra.append((f"ClusterRoleBinding {name}", f"kubectl delete clusterrolebinding {name}"))
        for rb in rbac.list_role_binding_for_all_namespaces().items:
            ns, name = (rb.metadata.namespace, rb.metadata.name) if rb.metadata else ("", "")
            if _names_anonymous(rb.subjects):
                extra.append((f"RoleBinding {ns}/{name}", f"kubectl delete rolebinding -n {ns} {name}"))
    context = ssl.create_default_context(cafile=str(ca_file))
    url = f"{server}/api/v1/namespaces/kube-system/secrets"
    try:
        with urllib.request.urlopen(url, context=context, timeout=5):  # noqa: S310 - loopback
            reads_secrets = True
    except urllib.error.HTTPError as err:
        reads_secrets = err.code not in (401, 403)
    except (urllib.error.URLError, OSError, ssl.SSLError):
        reads_secrets = False
    if not extra and not reads_secrets:
        return Finding(check, True, "on, as kubeadm leaves it; RBAC lets anonymous requests reach only "
                       "system:public-info-viewer (an anonymous read of Secrets is refused)")
    detail = ("anonymous requests are granted more than kubeadm grants"
              + (": " + ", ".join(w for w, _ in extra) + " names system:anonymous or system:unauthenticated"
                 if extra else "")
              + ("; an anonymous request read the kube-system Secrets" if reads_secrets else ""))
    fix = " && ".join(f for _, f in extra) if extra else (
        f"Check --authorization-mode in {manifest} (kubeadm: Node,RBAC), then "
        "`ckslab controlplane restart kube-apiserver`.")
    return Finding(check, False, detail, fix)


def _names_anonymous(subjects: list[client.RbacV1Subject] | None) -> bool:
    return any(s.name in ANONYMOUS_SUBJECTS for s in subjects or [])
