"""The labs' practice tests without a cluster: the sets, their drawing and rendering, answer comparison.

The cluster's side (setup, answers read live, right and wrong) is tests/test_practice_cluster.py.
"""

from __future__ import annotations

import datetime as dt
import random
import re
from pathlib import Path

import pytest

from cluster.errors import CkslabError, UsageError
from exam import bank
from graders import practice as answers
from labs import catalog, practice_set
from labs.practice import Practice
from labs.results import PracticeQuestion, PracticeVerdict

#: Names the labs' walkthroughs use: a practice question never asks about them.
WALKTHROUGH = {"jane", "alice", "bob", "carol", "dave", "erin", "mallory", "reviewer", "development", "developers"}


def test_every_lab_has_a_practice_test_of_3_to_5_questions_whose_sources_exist() -> None:
    assert practice_set.known() == sorted(lab.id for lab in catalog.all_labs())
    for lab in practice_set.known():
        questions = practice_set.load(lab).questions
        assert 3 <= len(questions) <= 5, lab
        for q in questions:
            assert q.source in answers.SOURCES, (lab, q.id, q.source)
            assert q.docs.startswith("https://kubernetes.io/docs/"), (lab, q.id)


@pytest.mark.parametrize("lab", practice_set.known())
def test_a_seed_draws_the_same_names_again_and_other_seeds_draw_others(lab: str) -> None:
    pset = practice_set.load(lab)
    assert pset.draw(42) == pset.draw(42)
    if pset.values:
        assert len({tuple(sorted(map(str, pset.draw(s).values.items()))) for s in range(8)}) > 1


@pytest.mark.parametrize("lab", practice_set.known())
def test_drawn_texts_are_rendered_and_name_nothing_of_the_walkthrough(lab: str) -> None:
    for seed in range(20):
        drawn = practice_set.load(lab).draw(seed)
        for q in drawn.questions:
            texts = [q.text, q.explanation, drawn.setup, *(v for _k, v in q.args)]
            assert not any("{{" in t for t in texts), (lab, q.id)
            words = set(re.findall(r"[a-z]+", " ".join(texts[:2] + texts[3:])))
            assert not words & WALKTHROUGH, (lab, q.id, words & WALKTHROUGH)


def test_the_practice_sets_draw_through_the_exam_banks_drawing() -> None:
    pset = practice_set.load("csr-review")
    again = bank.draw_values(pset.values, random.Random(7), set(), {"lab": "csr-review", "label": practice_set.LABEL})
    assert pset.draw(7).values == again
    # one drawing: an exam task drawn with the same rng and names taken gives what Task.draw gives
    task = bank.load("csr-review")
    assert task.draw(random.Random(3), set(), "cks-a") == bank.draw_values(task.values, random.Random(3), set(),
                                                                            {"context": "cks-a"})


def test_setup_scripts_start_with_the_shared_prelude_that_deletes_the_last_attempts_objects() -> None:
    drawn = practice_set.load("certificates-api").draw(1)
    assert drawn.setup.startswith(practice_set.PRELUDE.read_text())
    assert f"-l {practice_set.LABEL}" in drawn.setup
    assert practice_set.load("control-plane-certificates").draw(1).setup == ""  # nothing to make


@pytest.mark.parametrize(("shape", "given", "expected", "same"), [
    ("number", "3", "3", True), ("number", " 3 ", "3", True), ("number", "'3'", "3", True),
    ("number", "3.0", "3", False), ("number", "three", "3", False), ("number", "", "0", False),
    ("word", "Elif", "elif", True), ("word", " system:kube-scheduler ", "system:kube-scheduler", True),
    ("word", "elif ", "oskar", False),
    ("words", "Approved, Issued", "Approved,Issued", True), ("words", "issued approved", "Approved,Issued", True),
    ("words", "Approved", "Approved,Issued", False), ("words", "Billing,FRONTEND", "billing, frontend", True),
    ("flags", "--cluster-signing-key-file --cluster-signing-cert-file",
     "--cluster-signing-cert-file, --cluster-signing-key-file", True),
    ("flags", "cluster-signing-cert-file=/etc/kubernetes/pki/ca.crt, cluster-signing-key-file",
     "--cluster-signing-cert-file, --cluster-signing-key-file", True),
    ("flags", "--cluster-signing-cert-file", "--cluster-signing-cert-file, --cluster-signing-key-file", False),
    ("yesno", "Yes", "yes", True), ("yesno", "y", "yes", True), ("yesno", "no", "yes", False),
    ("yesno", "maybe", "no", False),
    ("date", "2027-12-05", "2027-12-05", True), ("date", "notAfter=Dec  5 23:50:00 2027 GMT", "2027-12-05", True),
    ("date", "2027-12-06", "2027-12-05", False), ("date", "2027-02-30", "2027-02-28", False),
])
def test_answers_compare_as_their_shape_says(shape: str, given: str, expected: str, same: bool) -> None:
    assert practice_set.same_answer(shape, given, expected) is same


def test_an_unknown_lab_or_question_is_one_clear_line() -> None:
    with pytest.raises(UsageError, match="has no practice test") as err:
        practice_set.load("nope")
    assert "Labs with one: certificates-api" in err.value.hint
    drawn = practice_set.load("certificates-api").draw(1)
    with pytest.raises(UsageError, match="no question 9"):
        drawn.question(9)
    assert drawn.question("2") is drawn.questions[1] and drawn.question("groups") is drawn.questions[2]


def test_a_damaged_practice_yaml_says_which_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "practice.yaml").write_text("lab: x\nquestions: []\n")
    monkeypatch.setattr(practice_set, "LABS_DIR", tmp_path)
    with pytest.raises(CkslabError, match=r"practice.yaml is not a valid practice test \(questions must be 3 to 5"):
        practice_set.load("x")


def test_a_question_and_a_verdict_show_as_text_and_escaped_html() -> None:
    q = PracticeQuestion(2, 4, "Which groups does <b>x</b> ask for?")
    assert repr(q) == "Question 2 of 4: Which groups does <b>x</b> ask for?"
    assert "&lt;b&gt;x&lt;/b&gt;" in q._repr_html_()
    wrong = PracticeVerdict(2, "q", "a<b", "billing", False, "Decode it:\n  openssl req", "https://kubernetes.io/docs/x")
    assert repr(wrong) == ("[WRONG] Question 2: you answered 'a<b'; the cluster says 'billing'.\n"
                           "Decode it: openssl req\nDocs: https://kubernetes.io/docs/x")
    assert "a&lt;b" in wrong._repr_html_() and ">Wrong</b>" in wrong._repr_html_()
    assert repr(PracticeVerdict(1, "q", "3", "3", True, "e")).startswith("[RIGHT] Question 1")


def test_unset_practice_and_unanswered_questions_say_so_and_never_raise(capsys: pytest.CaptureFixture[str]) -> None:
    unset = Practice("csr-review", None, Path(), Path(), "no cluster is up")
    unset.ask(1)
    assert unset.answer(1, "3") is None
    assert capsys.readouterr().out.count("The practice test is not set up: no cluster is up") == 2
    drawn = Practice("certificates-api", practice_set.load("certificates-api").draw(1), Path("/nowhere"), Path())
    assert drawn.answer(1, "   ") is None
    assert "Question 1 is not answered yet" in capsys.readouterr().out
    drawn.ask(7)
    assert "no question 7" in capsys.readouterr().out


def test_the_condition_column_is_kubectls() -> None:
    from kubernetes import client

    def csr(conditions: list[tuple[str, str]], cert: str | None) -> client.V1CertificateSigningRequest:
        return client.V1CertificateSigningRequest(spec=client.V1CertificateSigningRequestSpec(request="", signer_name="s"),
                                                  status=client.V1CertificateSigningRequestStatus(
            certificate=cert, conditions=[client.V1CertificateSigningRequestCondition(type=t, status=s)
                                          for t, s in conditions]))

    assert answers.condition_of(csr([], None)) == "Pending"
    assert answers.condition_of(csr([("Approved", "True")], "UEVN")) == "Approved,Issued"
    assert answers.condition_of(csr([("Approved", "True"), ("Failed", "True")], None)) == "Approved,Failed"
    assert answers.condition_of(csr([("Denied", "True")], None)) == "Denied"


def test_dates_of_both_forms_mean_the_same_day() -> None:
    assert practice_set.normalized("date", "notAfter=Jan  1 00:00:00 2030 GMT") == dt.date(2030, 1, 1)
