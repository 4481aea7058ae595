"""The --kubernetes class without a cluster: its manifests, the image's recipe and pins (fast)."""

from __future__ import annotations

import tomllib

import pytest

from ckslab.classhost import image, kubemanifests
from cluster import paths


def _objects() -> list[dict]:  # type: ignore[type-arg]
    return kubemanifests.all_objects("ns", "ckslab/learner:x", {"proxy_token": "t"})


def test_every_pod_of_the_hub_and_proxy_runs_unprivileged() -> None:
    deployments = [o for o in _objects() if o["kind"] == "Deployment"]
    assert {d["metadata"]["name"] for d in deployments} == {"hub", "proxy"}
    for d in deployments:
        spec = d["spec"]["template"]["spec"]
        for container in spec["containers"]:
            ctx = container["securityContext"]
            assert ctx["runAsNonRoot"] and ctx["runAsUser"] == image.UID and not ctx["allowPrivilegeEscalation"]
            assert ctx["capabilities"] == {"drop": ["ALL"]}
    proxy = next(d for d in deployments if d["metadata"]["name"] == "proxy")
    assert proxy["spec"]["template"]["spec"]["automountServiceAccountToken"] is False


def test_the_hub_may_manage_pods_only_in_its_namespace() -> None:
    kinds = {o["kind"] for o in _objects()}
    assert "ClusterRole" not in kinds and "ClusterRoleBinding" not in kinds
    role = next(o for o in _objects() if o["kind"] == "Role")
    assert role["metadata"]["namespace"] == "ns"
    resources = {r for rule in role["rules"] for r in rule["resources"]}
    assert {"pods", "persistentvolumeclaims", "pods/exec"} <= resources and "nodes" not in resources


def test_kubespawner_is_pinned_once() -> None:
    project = tomllib.loads((paths.checkout() / "pyproject.toml").read_text())["project"]
    assert project["optional-dependencies"]["class-kubernetes"] == [image.KUBESPAWNER]
    assert image.KUBESPAWNER in image._dependencies()


def test_the_base_recipe_follows_what_goes_in(monkeypatch: pytest.MonkeyPatch) -> None:
    before = image.base_recipe()
    assert before == image.base_recipe()
    monkeypatch.setattr(image, "PACKAGES", (*image.PACKAGES, "strace"))
    assert image.base_recipe() != before


def test_the_source_layer_holds_the_new_modules_and_no_tests() -> None:
    names = {str(p.relative_to(paths.checkout())) for p in image.source_files()}
    assert "ckslab/classhost/podlearner.py" in names and "ckslab/classhost/jupyterhub_config_kube.py" in names
    assert not any(n.startswith("tests/") for n in names)
