"""Every lab's practice test on the one real local control plane of the session.

For each lab: the practice set is set up with a seed, every question is answered with what an
independent reading of the cluster gives (kubectl, openssl, the controller manager's command line
from ``ps``: never ``graders.practice``) and must be right, in the loose forms a learner types
(spaces, case, ``--``); then one question is answered wrong and must say wrong, with the cluster's
answer and the explanation.
"""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
from pathlib import Path
from typing import Callable, Iterator
from urllib.parse import urlparse

import pytest

from cluster import paths
from cluster.backends.local import LocalBackend
from labs import practice, practice_set
from labs.practice_set import Question

pytestmark = pytest.mark.cluster
SEED = 1205


@pytest.fixture(scope="module")
def root(local_cluster: LocalBackend) -> Iterator[Path]:
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("CKSLAB_ROOT", str(local_cluster.lab.root))
        mp.delenv("CKSLAB_USER", raising=False)
        yield local_cluster.lab.root


def kubectl(root: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "KUBECONFIG": str(root / ".lab" / "kubeconfig")}
    return subprocess.run([str(paths.kubernetes_bin_dir() / "kubectl"), *args], capture_output=True, text=True,
                          env=env, timeout=60, check=check)


def jsonpath(root: Path, csr: str, path: str) -> str:
    return kubectl(root, "get", "csr", csr, "-o", f"jsonpath={{{path}}}").stdout


def openssl(args: list[str], data: bytes) -> str:
    return subprocess.run(["openssl", *args], input=data, capture_output=True, check=True, timeout=30).stdout.decode()


def subject(root: Path, csr: str) -> str:
    return openssl(["req", "-noout", "-subject"], base64.b64decode(jsonpath(root, csr, ".spec.request")))


def controller_manager_args(root: Path) -> list[str]:
    """The local controller manager's command line, from ps (the one whose kubeconfig is under ``root``)."""
    lines = subprocess.run(["ps", "-ww", "-eo", "args"], capture_output=True, text=True, check=True).stdout.splitlines()
    mine = [line for line in lines if "kube-controller-manager" in line and str(root) in line
            and not line.startswith("ps ")]
    assert mine, "no controller manager of the test cluster in ps"
    return mine[0].split()


def flag(args: list[str], name: str) -> str | None:
    return next((a.split("=", 1)[1] for a in args if a.startswith(name + "=")), None)


def served(root: Path, option: str) -> str:
    url = urlparse(re.search(r"server: (\S+)", (root / ".lab" / "kubeconfig").read_text())[1])  # type: ignore[index]
    pem = subprocess.run(["openssl", "s_client", "-connect", f"{url.hostname}:{url.port}"], input=b"",
                         capture_output=True, timeout=30).stdout
    return openssl(["x509", "-noout", option], pem)


def independent(root: Path, q: Question) -> str:
    """The answer to ``q`` read without graders.practice, typed as a learner might."""
    args = dict(q.args)
    csr = args.get("csr", "")
    if q.source == "pending-count":
        rows = kubectl(root, "get", "csr", "--no-headers").stdout.splitlines()
        return f" {sum(1 for r in rows if r.split()[-1] == 'Pending')} "
    if q.source == "condition":
        return kubectl(root, "get", "csr", csr, "--no-headers").stdout.split()[-1].replace(",", ", ").upper()
    if q.source == "groups":
        return " ".join(re.findall(r"O\s*=\s*([^,\n]+)", subject(root, csr)))
    if q.source == "user":
        return re.search(r"CN\s*=\s*([^,\n]+)", subject(root, csr))[1].upper()  # type: ignore[index]
    if q.source == "ip-addresses":
        text = openssl(["req", "-noout", "-text"], base64.b64decode(jsonpath(root, csr, ".spec.request")))
        return ",".join(re.findall(r"IP Address:([\d.]+)", text))
    if q.source in ("requestor", "signer", "expiration-seconds"):
        field = {"requestor": ".spec.username", "signer": ".spec.signerName",
                 "expiration-seconds": ".spec.expirationSeconds"}[q.source]
        return jsonpath(root, csr, field)
    if q.source == "usages":
        return ", ".join(reversed(json.loads(jsonpath(root, csr, ".spec.usages"))))
    if q.source == "not-after":
        pem = base64.b64decode(jsonpath(root, csr, ".status.certificate"))
        return openssl(["x509", "-noout", "-enddate"], pem).strip()  # notAfter=Dec  7 23:50:00 2026 GMT
    if q.source == "can-i":
        cn, *orgs = re.findall(r"(?:CN|O)\s*=\s*([^,\n]+)", subject(root, csr))
        answered = kubectl(root, "auth", "can-i", args["verb"], args["resource"], "-n", args["namespace"],
                           "--as", cn, *(f"--as-group={o}" for o in orgs), check=False).stdout.strip()
        return answered.capitalize()
    if q.source == "min-expiration-seconds":
        def accepted(seconds: int) -> bool:
            spec = {"apiVersion": "certificates.k8s.io/v1", "kind": "CertificateSigningRequest",
                    "metadata": {"name": "practice-test-probe"},
                    "spec": {"request": jsonpath(root, kubectl(root, "get", "csr", "-o", "name").stdout.split()[0]
                                                 .split("/")[1], ".spec.request"),
                             "signerName": "kubernetes.io/kube-apiserver-client", "usages": ["client auth"],
                             "expirationSeconds": seconds}}
            done = subprocess.run([str(paths.kubernetes_bin_dir() / "kubectl"), "create", "--dry-run=server", "-f", "-"],
                                  input=json.dumps(spec), capture_output=True, text=True, timeout=60, check=False,
                                  env={**os.environ, "KUBECONFIG": str(root / ".lab" / "kubeconfig")})
            return done.returncode == 0
        assert accepted(600) and not accepted(599)
        return "600"
    cm = controller_manager_args(root)
    if q.source == "signing-flags":
        return " ".join(a.split("=")[0] for a in cm if re.match(r"--cluster-signing-(cert|key)-file=", a))
    if q.source == "signing-file":
        return flag(cm, "--cluster-signing-key-file" if args["file"] == "key" else "--cluster-signing-cert-file") or ""
    if q.source == "signing-hours":
        duration = flag(cm, "--cluster-signing-duration") or "8760h"
        return str(int(re.match(r"(\d+)h", duration)[1]))  # type: ignore[index]
    if q.source == "apiserver-not-after":
        return served(root, "-enddate")
    if q.source == "apiserver-issuer":
        return re.search(r"CN\s*=\s*([^,\n]+)", served(root, "-issuer"))[1]  # type: ignore[index]
    raise AssertionError(f"no independent reading for {q.source}")


WRONG: dict[str, Callable[[str], str]] = {
    "number": lambda right: str(int(right.strip()) + 1),
    "date": lambda _right: "1999-01-01",
    "yesno": lambda right: "no" if right.strip().lower() == "yes" else "yes",
}


@pytest.mark.parametrize("lab_id", practice_set.known())
def test_every_question_is_right_with_the_clusters_answer_and_wrong_otherwise(
        root: Path, lab_id: str, capsys: pytest.CaptureFixture[str]) -> None:
    attempt = practice.start(lab_id, SEED)
    shown = capsys.readouterr().out
    assert attempt.drawn is not None, shown
    for n, q in enumerate(attempt.drawn.questions, 1):
        given = independent(root, q)
        assert attempt.answer(n, given) is True, f"{lab_id} question {n} ({q.source}) {given!r}: " + capsys.readouterr().out
        assert f"[RIGHT] Question {n}" in capsys.readouterr().out
    last = attempt.drawn.questions[-1]
    wrong = WRONG.get(last.shape, lambda _right: "certainly-not-this")(independent(root, last))
    n = len(attempt.drawn.questions)
    assert attempt.answer(n, wrong) is False
    out = capsys.readouterr().out
    assert f"[WRONG] Question {n}: you answered {wrong!r}; the cluster says" in out, out
    assert " ".join(last.explanation.split()) in out
    assert attempt.answer(n, "  ") is None and "is not answered yet" in capsys.readouterr().out
