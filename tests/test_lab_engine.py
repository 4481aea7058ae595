"""The lab engine on the real local control plane: start, solve, grade, reset, hint, list, class.

Every test works as its own user (objects and files are named after it), so tests sharing the
session's cluster never touch each other's CSRs.
"""

from __future__ import annotations

import base64
import csv
import json
import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

from cluster.backends.local import LocalBackend

pytestmark = pytest.mark.cluster
LAB = "certificates-api"
NOTEBOOK = "01-certificates-api.ipynb"


def ckslab(root: Path, *args: str, stdin: str | None = None, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CKSLAB_ROOT": str(root)}
    env.pop("CKSLAB_USER", None)
    return subprocess.run([sys.executable, "-m", "ckslab", *args], capture_output=True, text=True, env=env,
                          input=stdin, timeout=timeout, check=False)


@pytest.fixture
def root(local_cluster: LocalBackend) -> Path:
    return local_cluster.lab.root


@pytest.fixture
def user() -> str:
    return f"eng-{secrets.token_hex(3)}"


def report(root: Path, user: str, tmp_path: Path) -> dict:
    out = tmp_path / f"{user}-{secrets.token_hex(2)}.json"
    ckslab(root, "grade", LAB, "--user", user, "--json", str(out))
    return json.loads(out.read_text())


def test_solve_then_reset_returns_the_lab_to_its_start_keeping_the_files(root: Path, user: str, tmp_path: Path) -> None:
    solved = ckslab(root, "solve", LAB, "--user", user, "--yes")
    assert solved.returncode == 0, solved.stderr
    assert report(root, user, tmp_path)["score"] == 100
    workspace = root / "workspace" / f"{LAB}-{user}"
    key = (workspace / f"{user}.key").read_bytes()
    notebook = workspace / NOTEBOOK
    folder = workspace.stat().st_ino

    reset = ckslab(root, "reset", LAB, "--user", user)
    assert reset.returncode == 0, reset.stderr
    said = reset.stdout + reset.stderr
    assert said.count("Your files are in") == 1 and said.count(".backup") == 1, said  # one backup message
    assert "the newest 10 backups are kept" in said
    after = report(root, user, tmp_path)
    assert after["score"] == 0 and not any(s["passed"] for s in after["steps"])
    backups = list((root / "workspace" / ".backup").glob(f"{LAB}-{user}-*"))
    assert len(backups) == 1 and (backups[0] / f"{user}.key").read_bytes() == key
    assert (backups[0] / NOTEBOOK).read_bytes() == notebook.read_bytes()  # a copy: the open notebook stays
    # The same folder (a kernel or a terminal working in it keeps a valid directory), with only the notebook.
    assert workspace.stat().st_ino == folder and [p.name for p in workspace.iterdir()] == [NOTEBOOK]

    again = ckslab(root, "reset", LAB, "--user", user)  # twice: nothing more to keep, still fine
    assert again.returncode == 0 and "no files to keep" in again.stdout
    assert len(list((root / "workspace" / ".backup").glob(f"{LAB}-{user}-*"))) == 1


def test_start_prepares_the_workspace_and_says_what_next(root: Path, user: str) -> None:
    started = ckslab(root, "start", LAB, "--user", user)
    assert started.returncode == 0, started.stderr
    assert (root / "workspace" / f"{LAB}-{user}").is_dir()
    copy = root / "workspace" / f"{LAB}-{user}" / NOTEBOOK  # the learner's own notebook
    assert json.loads(copy.read_text())["metadata"]["ckslab"]["source"] == f"notebooks/{NOTEBOOK}"
    assert f"Notebook:  {copy}" in started.stdout
    assert f"openssl genrsa -out {user}.key 2048" in started.stdout
    assert "make grade LAB=certificates-api" in started.stdout
    unknown = ckslab(root, "start", "no-such-lab")
    assert unknown.returncode == 2 and "unknown lab 'no-such-lab'" in unknown.stderr


def test_reset_of_a_never_started_lab_is_harmless(root: Path, user: str) -> None:
    result = ckslab(root, "reset", LAB, "--user", user)
    assert result.returncode == 0, result.stderr
    assert (root / "workspace" / f"{LAB}-{user}").is_dir()


def test_reset_from_a_step_keeps_the_earlier_steps(root: Path, user: str, tmp_path: Path) -> None:
    assert ckslab(root, "solve", LAB, "--user", user, "--yes").returncode == 0
    result = ckslab(root, "reset", LAB, "--user", user, "--step", "certificate")
    assert result.returncode == 0, result.stderr
    # The CSR is this run's (csr-object was kept), not one "from an earlier run" to delete.
    assert "earlier run" not in result.stdout + result.stderr, result.stdout + result.stderr
    # Only the reset steps' files moved, and it says which: the key and the request stay.
    said = " ".join(result.stdout.split())
    assert f"Their files (ca.crt, {user}.crt, {user}.kubeconfig) are in " in said and "the earlier steps' stay in the workspace" in said, said
    passed = {s["id"]: s["passed"] for s in report(root, user, tmp_path)["steps"]}
    assert passed == {"private-key": True, "csr-file": True, "csr-object": True, "approved": True,
                      "certificate": False, "access": False}
    refused = ckslab(root, "reset", LAB, "--user", user, "--step", "approved")
    assert refused.returncode == 2
    assert "a reset cannot start at the step approved" in refused.stderr \
        and f"ckslab reset {LAB} --step csr-object --user {user}." in refused.stderr, refused.stderr


def test_hint_names_the_first_step_not_done(root: Path, user: str) -> None:
    hint = ckslab(root, "hint", LAB, "--user", user)
    assert hint.returncode == 0
    assert hint.stdout.startswith("private-key") and f"openssl genrsa -out {user}.key 2048" in hint.stdout
    named = ckslab(root, "hint", LAB, "approved", "--user", user)
    assert f"kubectl certificate approve {user}" in named.stdout


def test_hint_answers_the_mistake_made_not_the_first_command(root: Path, user: str) -> None:
    """The lesson's v1beta1 manifest: `kubectl apply` refused it, so "kubectl apply -f" is no hint."""
    assert ckslab(root, "start", LAB, "--user", user).returncode == 0
    workspace = root / "workspace" / f"{LAB}-{user}"
    subprocess.run(f"openssl genrsa -out {user}.key 2048 && openssl req -new -key {user}.key -subj /CN={user} "
                   f"-out {user}.csr", shell=True, cwd=workspace, check=True, capture_output=True)
    request = base64.b64encode((workspace / f"{user}.csr").read_bytes()).decode()
    (workspace / f"{user}-csr.yaml").write_text(
        f"apiVersion: certificates.k8s.io/v1beta1\nkind: CertificateSigningRequest\nmetadata:\n  name: {user}\n"
        f"spec:\n  usages: [digital signature, key encipherment, client auth]\n  request: {request}\n")
    hint = ckslab(root, "hint", LAB, "--user", user)
    assert hint.returncode == 0, hint.stderr
    lines = hint.stdout.splitlines()
    assert lines[0].startswith("csr-object"), hint.stdout
    assert "v1beta1, which is not served since Kubernetes 1.22" in lines[1], hint.stdout
    assert lines[2].startswith("hint: Set apiVersion: certificates.k8s.io/v1 and spec.signerName: "
                               "kubernetes.io/kube-apiserver-client"), hint.stdout


def test_hint_answers_what_the_graders_found_not_only_the_steps_generic_hint(root: Path, user: str) -> None:
    """A key that exists but others may read: the fix is chmod, not the step's `openssl genrsa`."""
    workspace = root / "workspace" / f"{LAB}-{user}"
    workspace.mkdir(parents=True)
    key = workspace / f"{user}.key"
    assert subprocess.run(["openssl", "genrsa", "-out", str(key), "2048"], capture_output=True).returncode == 0
    key.chmod(0o644)
    hint = ckslab(root, "hint", LAB, "--user", user)
    assert hint.returncode == 0, hint.stderr
    assert hint.stdout.startswith("private-key"), hint.stdout
    assert "so others may read it" in hint.stdout and f"hint: chmod 600 {user}.key" in hint.stdout, hint.stdout
    assert "openssl genrsa" not in hint.stdout


def test_solve_asks_first(root: Path, user: str) -> None:
    refused = ckslab(root, "solve", LAB, "--user", user)  # no terminal, no --yes
    assert refused.returncode == 2 and "--yes" in refused.stderr
    assert not (root / "workspace" / f"{LAB}-{user}" / f"{user}.key").exists()


def test_list_shows_progress(root: Path, user: str, tmp_path: Path) -> None:
    listed = ckslab(root, "list")
    assert listed.returncode == 0 and LAB in listed.stdout and "100" in listed.stdout


def test_class_grading_reports_every_learner_even_an_unreachable_one(root: Path, local_cluster: LocalBackend,
                                                                     tmp_path: Path) -> None:
    good, wrong, away = (f"cls-{secrets.token_hex(2)}-{n}" for n in ("good", "wrong", "away"))
    for learner in (good, wrong):
        assert ckslab(root, "solve", LAB, "--user", learner, "--yes").returncode == 0
    crt = root / "workspace" / f"{LAB}-{wrong}" / f"{wrong}.crt"
    subprocess.run(["openssl", "req", "-x509", "-key", str(crt.with_suffix(".key")), "-subj", f"/CN={wrong}",
                    "-days", "1", "-out", str(crt)], check=True, capture_output=True)  # self-signed instead
    unreachable = tmp_path / "away.kubeconfig"
    unreachable.write_text(local_cluster.kubeconfig().read_text().replace(
        local_cluster.status().server, "https://127.0.0.1:1"))  # type: ignore[union-attr]
    roster = tmp_path / "roster.csv"
    roster.write_text(f"name,kubeconfig,workspace\n{good},,\n{wrong},,\n{away},away.kubeconfig,\n")
    out = tmp_path / "report"
    result = ckslab(root, "grade", LAB, "--class", str(roster), "--out", str(out))
    assert result.returncode == 1, result.stdout + result.stderr  # one learner could not be graded
    rows = {r["name"]: r for r in csv.DictReader((out / "class.csv").read_text().splitlines())}
    assert rows[good]["score"] == "100" and rows[good]["passed"] == "true"
    assert rows[wrong]["certificate"] == "fail" and rows[wrong]["private-key"] == "pass"
    assert int(rows[wrong]["score"]) <= 80 and rows[wrong]["passed"] == "false"
    assert rows[away]["status"].startswith("not graded: the cluster does not answer")
    html = (out / "scoreboard.html").read_text()
    assert good in html and "not graded" in html and html.startswith("<!DOCTYPE html>")
    for learner in (good, wrong):
        assert json.loads((out / "learners" / f"{learner}.json").read_text())["lab"] == LAB
        assert (out / "learners" / f"{learner}.junit.xml").read_text().startswith("<?xml")
    assert not (out / "learners" / f"{away}.json").exists()


def test_reset_keeps_the_newest_backups_only(root: Path, user: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CKSLAB_KEEP_BACKUPS", "2")
    workspace = root / "workspace" / f"{LAB}-{user}"
    for attempt in range(3):
        assert ckslab(root, "start", LAB, "--user", user).returncode == 0
        (workspace / "attempt.txt").write_text(str(attempt))
        assert ckslab(root, "reset", LAB, "--user", user).returncode == 0
    backups = sorted((root / "workspace" / ".backup").glob(f"{LAB}-{user}-*"))
    assert [(b / "attempt.txt").read_text() for b in backups] == ["1", "2"]


def test_a_newer_tracked_notebook_is_offered_and_the_learners_copy_kept(root: Path, user: str) -> None:
    assert ckslab(root, "start", LAB, "--user", user).returncode == 0
    copy = root / "workspace" / f"{LAB}-{user}" / NOTEBOOK
    doc = json.loads(copy.read_text())
    doc["metadata"]["ckslab"]["source_sha256"] = "0" * 64  # as if the lab's notebook changed since
    doc["cells"][1]["source"] = "# my own notes"
    copy.write_text(json.dumps(doc))
    offered = ckslab(root, "start", LAB, "--user", user)
    assert f"ckslab notebook {LAB} --update" in offered.stderr, offered.stderr
    updated = ckslab(root, "notebook", LAB, "--user", user, "--update")
    assert updated.returncode == 0, updated.stderr
    kept = list((root / "workspace" / ".backup").glob(f"{LAB}-{user}-*/{NOTEBOOK}"))
    assert len(kept) == 1 and "# my own notes" in kept[0].read_text()
    assert "# my own notes" not in copy.read_text()
    assert "up to date" in ckslab(root, "notebook", LAB, "--user", user).stdout
