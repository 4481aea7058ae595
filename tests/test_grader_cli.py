"""`ckslab grade` when it cannot grade (exit 2, one actionable message), and its table."""

from __future__ import annotations

import base64
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from rich.console import Console

from cluster import kubeconfig, pki
from cluster.backends.local import LocalBackend
from graders import cli
from graders.report import Report


def grade(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    import os

    return subprocess.run([sys.executable, "-m", "ckslab", "grade", *args], capture_output=True, text=True,
                          env={**os.environ, "CKSLAB_ROOT": str(root)}, timeout=120, check=False)


def test_unknown_lab(lab_root: Path) -> None:
    result = grade(lab_root, "nope")
    assert result.returncode == 2
    assert "unknown lab 'nope'" in result.stderr and "certificates-api" in result.stderr
    assert "Traceback" not in result.stderr


def test_unknown_step(lab_root: Path) -> None:
    result = grade(lab_root, "certificates-api", "--step", "nope")
    assert result.returncode == 2
    assert "has no step 'nope'" in result.stderr and "private-key, csr-file" in result.stderr


def test_no_cluster_up(lab_root: Path) -> None:
    result = grade(lab_root, "certificates-api")
    assert result.returncode == 2
    assert "no cluster is up" in result.stderr and "make up" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_cluster_that_does_not_answer(lab_root: Path) -> None:
    ca = pki.CertificateAuthority.create()
    admin = pki.LeafRequest("kubernetes-admin", ("system:masters",))
    config = kubeconfig.build(server="https://127.0.0.1:1", ca_pem=pki.cert_pem(ca.cert), user="admin",
                              client_cert_pem=pki.cert_pem(ca.issue(admin)), client_key_pem=pki.key_pem(admin.key))
    (lab_root / ".lab").mkdir()
    (lab_root / ".lab" / "kubeconfig").write_bytes(kubeconfig.dump(config))
    result = grade(lab_root, "certificates-api", "--json", str(lab_root / "report.json"))
    assert result.returncode == 2
    assert "the cluster does not answer" in result.stderr and "make up" in result.stderr
    assert "Traceback" not in result.stderr and not (lab_root / "report.json").exists()


def test_table_shows_messages_verbatim() -> None:
    console = Console(record=True, width=200)
    cli.out, saved = console, cli.out
    try:
        cli.show(Report.from_json({"lab": "certificates-api", "score": 10, "max_score": 30, "passed": False, "steps": [
            {"id": "private-key", "title": "t", "passed": True, "points": 10, "max_points": 10,
             "message": "fine.", "hint": ""},
            {"id": "csr-object", "title": "t", "passed": False, "points": 0, "max_points": 20,
             "message": "jane-csr.yaml has no spec.usages; use usages: [client auth].", "hint": "[bold]x"},
        ]}))
    finally:
        cli.out = saved
    text = console.export_text()
    assert "usages: [client auth]." in text and "[bold]x" in text
    assert "Score: 10/30, 1 of 2 steps still fail." in text  # the notebook's words (Report.summary)


@pytest.mark.cluster
def test_an_admin_kubeconfig_switched_to_the_learners_context(lab_root: Path, local_cluster: LocalBackend) -> None:
    """The Kubernetes docs' `kubectl config use-context jane`, typed with $KUBECONFIG the lab's."""
    pki_dir = local_cluster.layout.pki
    ca = pki.CertificateAuthority.load((pki_dir / "ca.crt").read_bytes(), (pki_dir / "ca.key").read_bytes())
    jane = pki.LeafRequest("jane")
    admin = yaml.safe_load(local_cluster.kubeconfig().read_text())
    admin_context = admin["current-context"]
    admin["users"].append({"name": "jane", "user": {
        "client-certificate-data": base64.b64encode(pki.cert_pem(ca.issue(jane))).decode(),
        "client-key-data": base64.b64encode(pki.key_pem(jane.key)).decode()}})
    admin["contexts"].append({"name": "jane", "context": {"cluster": admin["clusters"][0]["name"], "user": "jane"}})
    admin["current-context"] = "jane"
    (lab_root / ".lab").mkdir()
    (lab_root / ".lab" / "kubeconfig").write_text(yaml.safe_dump(admin))

    result = grade(lab_root, "certificates-api")
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr and "Forbidden" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "now acts as the user 'jane' (its current context is 'jane')" in result.stderr, result.stderr
    assert f"Switch it back: kubectl config use-context {admin_context} --kubeconfig" in result.stderr


def test_a_kubeconfig_copied_from_the_node_is_named_not_called_a_cluster_down(lab_root: Path) -> None:
    """kubeadm's docs copy admin.conf (or super-admin.conf) from the node: on kind it names the node's own
    address, which this machine cannot resolve, while `make up` wrote the published port."""
    import yaml

    from cluster import state
    from graders import runner

    lab = lab_root / ".lab"
    lab.mkdir()
    state.write(lab / "state.json", state.ClusterState("kind", "v1.37.0", "https://127.0.0.1:1", {}))
    (lab / "kubeconfig").write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "kubernetes-super-admin@kubernetes",
        "clusters": [{"name": "kubernetes", "cluster": {"server": "https://nosuch-control-plane.invalid:6443"}}],
        "contexts": [{"name": "kubernetes-super-admin@kubernetes",
                      "context": {"cluster": "kubernetes", "user": "kubernetes-super-admin"}}],
        "users": [{"name": "kubernetes-super-admin", "user": {"token": "x"}}]}))
    with pytest.raises(runner.CannotGrade) as raised:
        runner.check_cluster(lab / "kubeconfig")
    said = f"{raised.value.message} {raised.value.hint}"
    assert "names the API server https://nosuch-control-plane.invalid:6443" in said
    assert "https://127.0.0.1:1" in said and "make up` wrote" in said
    assert "kubectl config set-cluster kubernetes --server https://127.0.0.1:1" in said
    assert "does not answer (" not in said


def test_a_cluster_that_does_not_answer_is_said_without_a_word_cut_in_half(lab_root: Path) -> None:
    from graders import runner

    assert runner._short("one two three four", 9) == "one two ..."
    assert runner._short("short", 160) == "short"
