"""The kind node's control plane as its kubelet runs it: what ``make status`` shows on kind.

kubeadm runs etcd, the API server, the controller manager and the scheduler as static pods: the
kubelet reads ``/etc/kubernetes/manifests/`` and asks containerd for their containers. This module
reads the same facts inside the node container, so the table says what the node runs even when the
API server does not answer (as ``crictl ps -a`` does on a node, not ``kubectl get pods``):

- each component's newest container in ``crictl ps -a -o json``: its state and restart count;
- its health from the ``livenessProbe`` of its manifest (host, named port, path, scheme: the probe
  the kubelet itself runs), asked with ``curl`` in the node;
- the kubelet's own state (``systemctl is-active kubelet``) and its ``/healthz`` (port 10248).

The parsing is pure; :func:`read` does two ``exec`` calls into the node.
"""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass
from typing import Any

import yaml

from cluster import controlplane
from cluster.backends.base import ComponentStatus
from cluster.backends.node import Node, NodeError

MANIFESTS = "/etc/kubernetes/manifests"
#: The kubelet's health endpoint (its ``healthzPort``, 10248 by default, on 127.0.0.1).
KUBELET_HEALTHZ = "http://127.0.0.1:10248/healthz"
#: Seconds curl gets per probe (the kubelet's own probes of kubeadm's pods time out after 15 s).
PROBE_TIMEOUT = 3
_SEPARATOR = "--- ckslab-status ---"


@dataclass(frozen=True)
class Container:
    """A component's newest container, as ``crictl ps -a`` lists it."""

    id: str
    state: str
    restarts: int
    created: int


def newest_containers(crictl_json: str) -> dict[str, Container]:
    """The newest kube-system container of each control-plane component in ``crictl ps -a -o json``."""
    found: dict[str, Container] = {}
    for item in json.loads(crictl_json).get("containers", []):
        labels = item.get("labels", {})
        name = labels.get("io.kubernetes.container.name", item.get("metadata", {}).get("name", ""))
        if name not in controlplane.COMPONENTS or labels.get("io.kubernetes.pod.namespace", "kube-system") != "kube-system":
            continue
        restarts = item.get("annotations", {}).get("io.kubernetes.container.restartCount",
                                                   item.get("metadata", {}).get("attempt", 0))
        container = Container(str(item["id"]), str(item.get("state", "")), int(restarts), int(item.get("createdAt", 0)))
        if name not in found or container.created > found[name].created:
            found[name] = container
    return found


def liveness_url(manifest: dict[str, Any]) -> str:
    """The URL of the pod's first container's ``livenessProbe.httpGet`` (a named port resolved); "" if none."""
    try:
        container = manifest["spec"]["containers"][0]
        probe = container["livenessProbe"]["httpGet"]
    except (KeyError, IndexError, TypeError):
        return ""
    port = probe.get("port", "")
    if isinstance(port, str) and not port.isdigit():
        named = {p.get("name"): p.get("containerPort") for p in container.get("ports", []) if isinstance(p, dict)}
        port = named.get(port, "")
    if not port:
        return ""
    scheme = str(probe.get("scheme", "HTTP")).lower()
    return f"{scheme}://{probe.get('host') or '127.0.0.1'}:{port}{probe.get('path', '/')}"


@dataclass(frozen=True)
class Manifests:
    """The static pods of the manifests folder by component, and the files that run nothing (path: why)."""

    pods: dict[str, dict[str, Any]]
    broken: dict[str, str]


def manifests(text: str) -> Manifests:
    """The folder's files as :func:`read` prints them (``<separator> <path>`` then the file), read as the kubelet does.

    A file that does not parse as a Pod runs nothing (the kubelet logs it and goes on); it is kept by
    path with the reason, so the component it was meant for is not reported as moved out.
    """
    pods: dict[str, dict[str, Any]] = {}
    broken: dict[str, str] = {}
    for chunk in text.split(_SEPARATOR)[1:]:
        path, _, body = chunk.partition("\n")
        path = path.strip()
        try:
            doc = yaml.safe_load(body)
        except yaml.YAMLError as err:
            broken[path] = f"not YAML ({' '.join(str(err).split())[:120]})"
            continue
        if not isinstance(doc, dict) or doc.get("kind") != "Pod":
            broken[path] = "not a Pod"
            continue
        name = str((doc.get("metadata") or {}).get("name", ""))
        if name in controlplane.COMPONENTS:
            pods[name] = doc
    return Manifests(pods, broken)


def _crictl_logs(node: Node, container: Container) -> str:
    return node.typed(f"crictl logs --tail 20 {container.id[:13]}")


def component_row(node: Node, name: str, container: Container | None, folder: Manifests,
                  url: str, answer: str) -> ComponentStatus:
    """One row of the table from what the node showed (``answer``: curl's HTTP code, "" when not asked)."""
    running = container is not None and container.state == "CONTAINER_RUNNING"
    if name not in folder.pods:
        broken = next((f"its manifest {path} runs nothing: {why}; fix it and the kubelet starts it again"
                       for path, why in folder.broken.items() if path.rsplit("/", 1)[-1].split(".")[0] == name), "")
        why = broken or (f"no manifest in {MANIFESTS} names the pod {name} (moved out?); put it back and the "
                         "kubelet starts it again within about 20 s")
        return ComponentStatus(name, running, False, ("still running, stopping: " if running else "not running: ") + why)
    if container is None:
        return ComponentStatus(name, False, False, "no container yet: see "
                                                   f"`{node.typed(f'crictl ps -a --name {name}')}`")
    restarts = f", {container.restarts} restart{'s' if container.restarts != 1 else ''}"
    if not running:
        state = container.state.removeprefix("CONTAINER_").lower()
        return ComponentStatus(name, False, False, f"container {container.id[:13]} {state}{restarts}: see "
                                                   f"`{_crictl_logs(node, container)}`")
    healthy = answer == "200"
    health = (f"{url} ok" if healthy else f"{url} answers {answer}" if answer not in ("", "000")
              else f"{url} does not answer" if url else "no livenessProbe to ask")
    return ComponentStatus(name, True, healthy, f"container {container.id[:13]}{restarts}, {health}")


def read(node: Node) -> list[ComponentStatus]:
    """The kubelet and the four static pods of the node, with their true state; NodeError when unreachable."""
    listing = node.exec("sh", "-c", "echo \"kubelet: $(systemctl is-active kubelet)\"; crictl ps -a -o json; "
                        f"for f in {MANIFESTS}/*; do [ -f \"$f\" ] && echo '{_SEPARATOR}' \"$f\" && cat \"$f\"; done; true")
    text = listing.stdout.decode(errors="replace")
    state, _, rest = text.partition("\n")
    crictl, separator, files = rest.partition(_SEPARATOR)
    try:
        containers = newest_containers(crictl)
    except (ValueError, TypeError, KeyError, AttributeError) as err:
        raise NodeError(f"crictl in the node {node.name} gave no container list ({' '.join(str(err).split())[:120]}).",
                        f"See `{node.typed('crictl ps -a')}`.") from err
    folder = manifests(separator + files)
    urls = {name: liveness_url(pod) for name, pod in folder.pods.items()}
    asked = [("kubelet", KUBELET_HEALTHZ), *((n, u) for n, u in urls.items() if u)]
    # curl prints 000 when nothing answers: one line per URL, in order.
    probe = "; ".join(f"curl -sk -m {PROBE_TIMEOUT} -o /dev/null -w '%{{http_code}}\\n' {shlex.quote(u)}"
                      for _n, u in asked)
    codes = node.exec("sh", "-c", probe, timeout=PROBE_TIMEOUT * len(asked) + 30).stdout.decode(errors="replace").split()
    answers = {n: (codes[i] if i < len(codes) else "") for i, (n, _u) in enumerate(asked)}
    active = state.removeprefix("kubelet:").strip()
    kubelet = ComponentStatus("kubelet", active == "active", active == "active" and answers["kubelet"] == "200",
                              f"systemd unit {active or 'unknown'}, {KUBELET_HEALTHZ} "
                              + ("ok" if answers["kubelet"] == "200" else "does not answer"))
    return [kubelet, *(component_row(node, name, containers.get(name), folder, urls.get(name, ""),
                                     answers.get(name, "")) for name in controlplane.COMPONENTS)]
