"""The --kubernetes class without a cluster: its manifests, the image's recipe and pins (fast)."""

from __future__ import annotations

import os
import tomllib
from pathlib import Path

import pytest

from ckslab.classhost import image, kubemanifests
from conftest import cannot_run
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


def test_a_class_on_kubernetes_is_not_taken_over_by_one_on_this_server(tmp_path: Path,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    from ckslab.classhost import layout, roster, service
    from cluster.errors import CkslabError

    if os.geteuid() != 0:
        cannot_run("service.up asks for root first")
    monkeypatch.setenv("CKSLAB_CLASS_DIR", str(tmp_path / "class"))
    where = layout.class_paths()
    layout.write_state(where, layout.ClassState("port-forward", "", 0, 0, ["ada"], False,
                                                {"kubernetes": True, "namespace": "ckslab-class"}))
    (tmp_path / "roster.csv").write_text("name\nada\n")
    with pytest.raises(CkslabError, match="already up on Kubernetes"):
        service.up(roster.read(tmp_path / "roster.csv"), "127.0.0.1", 8000, None, lambda _m: None)
