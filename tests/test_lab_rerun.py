"""Every lab's start is safe to run twice: a finished lab started again keeps its full marks, and says so.

A learner runs a notebook's `ckslab start` cell again, or types `ckslab start LAB` once more, after the
work is done. Before, control-plane-certificates re-issued its 5-day certificates (100 became 25),
signing-config put the original controller manager back and csr-review submitted every request again,
without a word. Here each lab that works through the API only is solved, started again and graded on
the session's cluster (as a user of its own); control-plane-certificates and signing-config, which
change the control plane, do the same on their modules' clusters (tests/test_lab_control_plane_certificates.py,
tests/test_lab_signing_config.py), node-certificates on kind (tests/test_kind.py).
"""

from __future__ import annotations

import secrets

import pytest
from lab_learner import LabLearner

from cluster.backends.local import LocalBackend
from labs import catalog

pytestmark = pytest.mark.cluster

#: What each lab's second start says it kept (a NOTE line of its setup.sh, shown by `ckslab start`).
KEPT = {
    "certificates-api": "from an earlier run is still in the cluster (Approved)",
    "csr-review": "Kept from an earlier start, with your decisions: ",
    "jane-access": "from an earlier run is kept: it already authenticates as ",
    "expiry-rotation": "from an earlier run is kept (the original certificate of this lab, even expired)",
}
#: Where each of the other labs' second start is tested.
ELSEWHERE = {"control-plane-certificates": "tests/test_lab_control_plane_certificates.py",
             "signing-config": "tests/test_lab_signing_config.py", "node-certificates": "tests/test_kind.py"}


def test_every_lab_is_started_twice_somewhere() -> None:
    assert sorted([*KEPT, *ELSEWHERE]) == catalog.known()


@pytest.mark.parametrize("lab", sorted(KEPT))
def test_a_finished_lab_started_again_keeps_its_full_marks_and_says_so(local_cluster: LocalBackend, lab: str) -> None:
    learner = LabLearner(local_cluster.lab.root, f"rerun-{secrets.token_hex(3)}", lab)
    learner.solve()  # starts the lab, then its reference solution: full marks (tested in each lab's module)
    again = learner.ckslab("start", lab)
    assert again.returncode == 0, again.stdout + again.stderr
    assert KEPT[lab] in " ".join(again.stderr.split()), again.stderr
    assert learner.failing() == {}, again.stderr
