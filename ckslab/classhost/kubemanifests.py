"""The objects ``ckslab class up --kubernetes`` creates: JupyterHub with KubeSpawner, as Zero to JupyterHub lays it out.

Pure (dicts in, dicts out). One namespace holds a ``hub`` Deployment (JupyterHub with
``jupyterhub_config_kube.py`` and the scoreboard service, its ServiceAccount allowed to manage pods
and PVCs there and nothing else), a ``proxy`` Deployment (configurable-http-proxy) with its
``proxy-public`` and ``proxy-api`` Services, and the ``hub`` Secret (password hashes, tokens,
settings). Every pod runs the learner image as uid 1000 with no privileges and no service account
token; KubeSpawner makes the learners' pods and their PVCs (``claim-<name>``) itself.
"""

from __future__ import annotations

import json
from typing import Any

from ckslab.classhost import image

NAMESPACE = "ckslab-class"
#: Labels KubeSpawner puts on every learner's pod (kubespawner/objects.py) and the ones we add.
LEARNER_SELECTOR = "component=singleuser-server"
PART_OF = {"app.kubernetes.io/part-of": "ckslab-class"}
HUB_PORT = 8081
SCOREBOARD_PORT = 8090
PROXY_PORT = 8000
PROXY_API_PORT = 8001
#: Where the hub's Secret is mounted: CKSLAB_CLASS_DIR's ``hub/`` (layout.ClassPaths), read-only.
CLASS_DIR = "/srv/class"

Manifest = dict[str, Any]

RESTRICTED = {"runAsNonRoot": True, "runAsUser": image.UID, "runAsGroup": image.UID,
              "allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]},
              "seccompProfile": {"type": "RuntimeDefault"}}


def _meta(name: str, namespace: str, **labels: str) -> dict[str, Any]:
    return {"name": name, "namespace": namespace, "labels": {**PART_OF, **labels}}


def secret(namespace: str, files: dict[str, str]) -> Manifest:
    """The hub's Secret: ``passwords.json``, ``settings.json`` (tokens, learners, image)."""
    return {"apiVersion": "v1", "kind": "Secret", "metadata": _meta("hub", namespace), "type": "Opaque",
            "stringData": files}


def hub_rbac(namespace: str) -> list[Manifest]:
    """KubeSpawner's rights (Z2JH's hub Role), and exec for grading learners in their pods."""
    rules = [
        {"apiGroups": [""], "resources": ["pods", "persistentvolumeclaims", "services", "secrets"],
         "verbs": ["get", "watch", "list", "create", "delete", "patch"]},
        {"apiGroups": [""], "resources": ["events"], "verbs": ["get", "watch", "list"]},
        {"apiGroups": [""], "resources": ["pods/exec"], "verbs": ["create", "get"]},
    ]
    return [
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": _meta("hub", namespace)},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": _meta("hub", namespace),
         "rules": rules},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding", "metadata": _meta("hub", namespace),
         "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "hub"},
         "subjects": [{"kind": "ServiceAccount", "name": "hub", "namespace": namespace}]},
    ]


def _deployment(name: str, namespace: str, container: dict[str, Any], volumes: list[Any],
                service_account: str | None) -> Manifest:
    spec: dict[str, Any] = {"containers": [container], "volumes": volumes,
                            "securityContext": {"fsGroup": image.UID},
                            "automountServiceAccountToken": service_account is not None}
    if service_account:
        spec["serviceAccountName"] = service_account
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": _meta(name, namespace, component=name),
            "spec": {"replicas": 1, "strategy": {"type": "Recreate"},
                     "selector": {"matchLabels": {"component": name, **PART_OF}},
                     "template": {"metadata": {"labels": {"component": name, **PART_OF}}, "spec": spec}}}


def hub(namespace: str, reference: str) -> Manifest:
    container = {
        "name": "hub", "image": reference, "imagePullPolicy": "IfNotPresent",
        "command": [f"{image.VENV}/bin/jupyterhub", "-f",
                    f"{image.SOURCE}/ckslab/classhost/jupyterhub_config_kube.py"],
        "workingDir": CLASS_DIR,
        "env": [{"name": "CKSLAB_CLASS_DIR", "value": CLASS_DIR},
                {"name": "POD_NAMESPACE", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
                {"name": "CONFIGPROXY_AUTH_TOKEN",
                 "valueFrom": {"secretKeyRef": {"name": "hub", "key": "proxy_token"}}}],
        "ports": [{"name": "http", "containerPort": HUB_PORT}, {"name": "scoreboard", "containerPort": SCOREBOARD_PORT}],
        "volumeMounts": [{"name": "class", "mountPath": CLASS_DIR}, {"name": "secret", "mountPath": f"{CLASS_DIR}/hub"}],
        "securityContext": RESTRICTED,
        # Generous: on a loaded 2-core node the hub answered /hub/health in 1.8 s, past the default
        # 1 s timeout, and a flapping probe takes the hub out of its Service (the proxy then 503s).
        "readinessProbe": {"httpGet": {"path": "/hub/health", "port": HUB_PORT}, "periodSeconds": 5,
                           "timeoutSeconds": 10, "failureThreshold": 6},
        "resources": {"requests": {"cpu": "50m", "memory": "256Mi"}},
    }
    volumes = [{"name": "class", "emptyDir": {}}, {"name": "secret", "secret": {"secretName": "hub"}}]
    return _deployment("hub", namespace, container, volumes, "hub")


def proxy(namespace: str, reference: str) -> Manifest:
    hub_url = f"http://hub:{HUB_PORT}"
    container = {
        "name": "chp", "image": reference, "imagePullPolicy": "IfNotPresent",
        "command": [image.CHP, "--ip=0.0.0.0", f"--port={PROXY_PORT}", "--api-ip=0.0.0.0",
                    f"--api-port={PROXY_API_PORT}", f"--default-target={hub_url}",
                    f"--error-target={hub_url}/hub/error"],
        "env": [{"name": "CONFIGPROXY_AUTH_TOKEN",
                 "valueFrom": {"secretKeyRef": {"name": "hub", "key": "proxy_token"}}}],
        "ports": [{"name": "http", "containerPort": PROXY_PORT}, {"name": "api", "containerPort": PROXY_API_PORT}],
        "securityContext": RESTRICTED,
        "resources": {"requests": {"cpu": "20m", "memory": "64Mi"}},
    }
    return _deployment("proxy", namespace, container, [], None)


def services(namespace: str) -> list[Manifest]:
    def service(name: str, component: str, ports: list[tuple[str, int, int]]) -> Manifest:
        return {"apiVersion": "v1", "kind": "Service", "metadata": _meta(name, namespace),
                "spec": {"selector": {"component": component, **PART_OF},
                         "ports": [{"name": n, "port": p, "targetPort": t} for n, p, t in ports]}}

    return [service("hub", "hub", [("http", HUB_PORT, HUB_PORT), ("scoreboard", SCOREBOARD_PORT, SCOREBOARD_PORT)]),
            service("proxy-api", "proxy", [("api", PROXY_API_PORT, PROXY_API_PORT)]),
            service("proxy-public", "proxy", [("http", 80, PROXY_PORT)])]


def all_objects(namespace: str, reference: str, secret_files: dict[str, str]) -> list[Manifest]:
    """Everything ``class up --kubernetes`` applies, in order (the namespace first)."""
    ns = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace, "labels": PART_OF}}
    return [ns, secret(namespace, secret_files), *hub_rbac(namespace), *services(namespace),
            proxy(namespace, reference), hub(namespace, reference)]


def settings(learners: list[str], reference: str, namespace: str, tokens: dict[str, str]) -> str:
    """``settings.json`` for the hub pod (what ``jupyterhub_config_kube.py`` reads)."""
    return json.dumps({"learners": learners, "image": reference, "namespace": namespace, **tokens}, indent=2)
