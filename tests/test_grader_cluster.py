"""`ckslab grade certificates-api` on the real control plane: full marks, a fresh start, a CSR
garbage-collected after an hour, and grading that changes nothing."""

from __future__ import annotations

import datetime as dt
import os
import re
from pathlib import Path

import pytest
from kubernetes import client

from cluster import csr
from grader_learner import Learner, learner  # noqa: F401  (learner is a fixture)
from labs import catalog

pytestmark = pytest.mark.cluster

LAB = catalog.load("certificates-api")


def snapshot(folder: Path) -> dict[str, tuple[bytes, int]]:
    return {p.name: (p.read_bytes(), os.stat(p).st_mode) for p in sorted(folder.iterdir())}


def resource_version(learner: Learner) -> str:
    api = csr.api_client(learner.root / ".lab" / "kubeconfig")
    meta = client.CertificatesV1Api(api).read_certificate_signing_request(learner.user).metadata
    assert meta is not None and meta.resource_version
    return str(meta.resource_version)


def test_the_lab_done_right_earns_full_marks_and_grading_changes_nothing(learner: Learner) -> None:
    learner.everything()
    assert learner.kubectl("auth", "whoami", "--kubeconfig", learner.path(".kubeconfig").name,
                           "-o", "jsonpath={.status.userInfo.username}").stdout == learner.user
    files_before = snapshot(learner.ws)
    version_before = resource_version(learner)

    junit = learner.root / "junit.xml"
    code, report, output = learner.grade("--junit", str(junit))

    assert code == 0, output
    assert report is not None and (report["score"], report["max_score"], report["passed"]) == (100, 100, True)
    assert junit.read_text().count("<testcase ") > len(LAB.steps)
    assert [s["id"] for s in report["steps"]] == [s.id for s in LAB.steps]
    assert all(s["passed"] and s["points"] == s["max_points"] and s["hint"] == "" for s in report["steps"])
    assert "Score: 100/100" in output
    assert snapshot(learner.ws) == files_before
    assert resource_version(learner) == version_before


def test_a_fresh_start_fails_every_step_with_its_own_message(learner: Learner) -> None:
    code, report, output = learner.grade()
    assert code == 1 and report is not None, output
    assert report["score"] == 0 and report["passed"] is False
    messages = {s["id"]: s["message"] for s in report["steps"]}
    u, folder = learner.user, f"workspace/certificates-api-{learner.user}"
    assert messages == {
        "private-key": f"{u}.key does not exist: there is no folder {folder} yet.",
        "csr-file": f"{u}.csr does not exist: there is no folder {folder} yet.",
        "csr-object": f"{u}-csr.yaml does not exist: there is no folder {folder} yet.",
        "approved": f"There is no CertificateSigningRequest named {u} in the cluster, so nothing is approved, and "
                    f"{u}-csr.yaml is not in the workspace (step csr-object).",
        "certificate": f"{u}.crt does not exist: there is no folder {folder} yet.",
        "access": f"{u}.kubeconfig does not exist: there is no folder {folder} yet.",
    }
    assert all(s["hint"] for s in report["steps"])
    learner.ws.mkdir(parents=True)  # the notebook made the folder: the files are still missing
    steps = learner.steps("--step", "private-key")
    assert list(steps) == ["private-key"]
    assert steps["private-key"]["message"] == f"{u}.key does not exist in {folder}."


def test_a_csr_garbage_collected_after_an_hour_is_credited(learner: Learner) -> None:
    learner.make_key()
    learner.make_csr()
    learner.write_manifest()
    learner.sign_offline(age=dt.timedelta(hours=2))  # as if issued 2 hours ago; the CSR is gone
    learner.write_kubeconfig()

    code, report, output = learner.grade()

    assert code == 0, output
    steps = {s["id"]: s for s in report["steps"]} if report else {}
    for step in ("csr-object", "approved", "certificate"):
        assert steps[step]["passed"], steps[step]
        # This learner's root does not lead to the audit log (as on an existing cluster): the age decides.
        assert re.fullmatch(re.escape(
            f"The CSR {learner.user} is gone: the controller manager deletes approved CSRs after 1 hour, "
            f"which is normal; {learner.user}.crt still chains to the cluster CA and matches "
            f"{learner.user}.key, so this step counts (evidence: the certificate's age, ") + r"11[5-9] minutes" + re.escape(
            ", as no audit log can tell: ckslab cannot read the audit log of a cluster it did not start (the existing "
            "backend))."), steps[step]["message"]), steps[step]["message"]


def test_a_recent_certificate_without_csr_was_signed_offline(learner: Learner) -> None:
    learner.make_key()
    learner.make_csr()
    learner.write_manifest()
    learner.sign_offline()
    steps = learner.steps()
    u = learner.user
    assert steps["csr-object"]["message"].startswith(
        f"There is no CertificateSigningRequest named {u} in the cluster. The API server would accept {u}-csr.yaml "
        "(server-side dry run): it was not applied, or the CSR was deleted since. ")
    assert steps["certificate"]["message"].startswith(
        f"{u}.crt was not issued through a CSR of this cluster (signed offline with the CA key?): "
        f"there is no CSR named {u}, the certificate is ")
    assert steps["private-key"]["passed"] and steps["csr-file"]["passed"]

