"""A lab's practice test, read from ``labs/<id>/practice.yaml``. Pure code (PyYAML only).

The lesson ends by sending the learner to a practice test: short questions whose answers are in
their own cluster (how many CSRs are pending, which groups a request asks for, which flags give
the signer its CA). A practice set is the exam's task model turned into questions: values drawn per
attempt with ``exam.bank.draw_values`` (so no name of the walkthrough comes back, and a seed gives
the same names again), texts rendered with ``exam.bank.render``, a ``setup:`` script (bash, rendered
the same way) that creates the objects the questions ask about, and for each question the
``answer:`` source, which ``graders.practice`` computes from the live cluster when the learner
answers. Nothing here holds an answer.

A question's ``shape`` says how a learner's text is compared with the cluster's answer
(``same_answer``): a number, a word (case and spaces do not matter), a set of words (any order,
commas or spaces), flags (with or without ``--`` and a value), yes/no, or a date (ISO, or as
``openssl x509 -enddate`` prints it).
"""

from __future__ import annotations

import datetime as dt
import random
import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Mapping

import yaml

from cluster.errors import CkslabError, UsageError
from exam import bank

LABS_DIR = Path(__file__).resolve().parent
SHAPES = ("number", "word", "words", "flags", "yesno", "date")
#: The label setup scripts put on every object they make: the next setup deletes them all.
LABEL = "ckslab.dev/practice"
#: The shell functions every setup may use (submit, approve, deny, label), put before it.
PRELUDE = LABS_DIR / "practice_setup.sh"


@dataclass(frozen=True)
class Question:
    """One question; its texts and the arguments of its answer's source are templates until rendered."""

    id: str
    text: str
    #: How the cluster's answer is computed: a kind of ``graders.practice`` and its arguments.
    source: str
    args: tuple[tuple[str, str], ...]
    shape: str
    explanation: str
    docs: str = ""

    def rendered(self, values: Mapping[str, object]) -> Question:
        return replace(self, text=bank.render(self.text, values), explanation=bank.render(self.explanation, values),
                       args=tuple((k, bank.render(v, values)) for k, v in self.args))


@dataclass(frozen=True)
class PracticeSet:
    """The practice test of one lab, its texts still templates."""

    lab: str
    setup: str
    values: bank.Values
    questions: tuple[Question, ...]

    def draw(self, seed: int) -> Drawn:
        """The attempt of ``seed``: its values, the rendered setup script and questions."""
        values = bank.draw_values(self.values, random.Random(seed), set(), {"lab": self.lab, "label": LABEL})
        setup = PRELUDE.read_text() + bank.render(self.setup, values) if self.setup.strip() else ""
        return Drawn(self.lab, seed, values, setup,
                     tuple(q.rendered(values) for q in self.questions))


@dataclass(frozen=True)
class Drawn:
    """One attempt at a practice set: what the learner is asked, with this attempt's names."""

    lab: str
    seed: int
    values: dict[str, object]
    setup: str
    questions: tuple[Question, ...]

    def question(self, number: object) -> Question:
        """Question ``number`` (1-based, or its id); a UsageError naming the valid numbers."""
        for i, q in enumerate(self.questions, 1):
            if str(number).strip() in (str(i), q.id):
                return q
        raise UsageError(f"this practice test has no question {number!r}.",
                         f"Its questions are 1 to {len(self.questions)}.")

    def number_of(self, question: Question) -> int:
        return self.questions.index(question) + 1


def path_of(lab_id: str) -> Path:
    return LABS_DIR / lab_id / "practice.yaml"


def known() -> list[str]:
    """The labs that have a practice test, sorted."""
    return sorted(p.parent.name for p in LABS_DIR.glob("*/practice.yaml"))


def load(lab_id: str) -> PracticeSet:
    """The practice set of ``lab_id``; a UsageError naming the labs that have one when it has none."""
    path = path_of(lab_id)
    if "/" in lab_id or lab_id.startswith(".") or not path.is_file():
        raise UsageError(f"the lab {lab_id!r} has no practice test.", f"Labs with one: {', '.join(known()) or 'none'}.")
    try:
        return _parse(yaml.safe_load(path.read_text()), lab_id)
    except (yaml.YAMLError, KeyError, TypeError, ValueError) as err:
        raise CkslabError(f"{path} is not a valid practice test ({err}).", "Restore it from the ckslab checkout.") from err


def _parse(doc: Any, lab_id: str) -> PracticeSet:
    if not isinstance(doc, dict):
        raise TypeError("the file must be a mapping")
    if doc["lab"] != lab_id:
        raise ValueError(f"its lab is {doc['lab']!r}, not its folder's name {lab_id!r}")
    questions = []
    for q in doc["questions"]:
        answer = dict(q["answer"])
        source = str(answer.pop("source"))
        shape = str(q.get("shape", "word"))
        if shape not in SHAPES:
            raise ValueError(f"question {q['id']}: shape {shape!r} is not one of {', '.join(SHAPES)}")
        questions.append(Question(str(q["id"]), str(q["text"]), source,
                                  tuple((str(k), str(v)) for k, v in answer.items()), shape,
                                  str(q["explanation"]), str(q.get("docs", ""))))
    ids = [q.id for q in questions]
    if not 3 <= len(questions) <= 5 or len(set(ids)) != len(ids):
        raise ValueError("questions must be 3 to 5, with distinct ids")
    return PracticeSet(lab_id, str(doc.get("setup") or ""), bank.parse_values(doc.get("values")), tuple(questions))


# --- comparing a learner's answer with the cluster's -----------------------------------------

_SEPARATORS = re.compile(r"[,\s]+")
_MONTHS = {m: i for i, m in enumerate(("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct",
                                        "nov", "dec"), 1)}
_OPENSSL_DATE = re.compile(r"([a-z]{3})\s+(\d{1,2})\s+[\d:]+\s+(\d{4})")
_ISO_DATE = re.compile(r"(\d{4})-(\d{2})-(\d{2})")


def normalized(shape: str, text: str) -> object:
    """``text`` as the comparable value of ``shape``; None when it cannot be one (never raises)."""
    words = text.strip().strip("\"'").strip().casefold()
    if shape == "number":
        return int(words) if re.fullmatch(r"[+-]?\d+", words) else None
    if shape == "word":
        return words or None
    if shape == "words":
        return frozenset(w for w in _SEPARATORS.split(words) if w) or None
    if shape == "flags":
        return frozenset(w.lstrip("-").split("=", 1)[0] for w in _SEPARATORS.split(words) if w.strip("-")) or None
    if shape == "yesno":
        return {"yes": True, "y": True, "true": True, "no": False, "n": False, "false": False}.get(words)
    if shape == "date":
        return _date(words)
    raise ValueError(f"unknown shape {shape!r}")


def same_answer(shape: str, given: str, expected: str) -> bool:
    """Whether the learner's ``given`` text means the cluster's ``expected`` answer."""
    mine = normalized(shape, given)
    return mine is not None and mine == normalized(shape, expected)


def _date(text: str) -> dt.date | None:
    iso = _ISO_DATE.search(text)
    if iso:
        try:
            return dt.date(int(iso[1]), int(iso[2]), int(iso[3]))
        except ValueError:
            return None
    found = _OPENSSL_DATE.search(text)
    if found and found[1] in _MONTHS:
        try:
            return dt.date(int(found[3]), _MONTHS[found[1]], int(found[2]))
        except ValueError:
            return None
    return None
