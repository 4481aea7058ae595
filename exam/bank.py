"""The mock exam's task bank, read from ``exam/tasks/<id>/task.yaml``. Pure code (PyYAML only).

An exam task is a lab step turned inside out: the same data-first definition as ``lab.yaml``
(statement, weight, context, checks and their points), but its names and numbers are drawn per
attempt with ``random.Random(seed)`` so that no two attempts ask the same thing. Texts are
templates with ``{{name}}`` placeholders (never ``$name``: the setup and solution are bash, where
``$`` is the shell's). ``setup.sh`` and ``solution.sh`` beside the task are rendered the same way
and fed to bash on stdin, never written to the learner's workspace.

Values (``values:`` in task.yaml, drawn in the order written), one key each:
``pick: [a, b]`` one of the list; ``name: people|groups|teams|namespaces|roles|robots|tokens|suffixes``
a word of that list, never one another task of the attempt already took; ``number: [lo, hi, step]``;
``text: "{{user}}-csr"`` a template of the values drawn before it; ``join: [a, b]`` the values a and
b drawn before it, sorted and joined with ", " (a list that gives no order away); ``map: {a: x, b: y}``
with ``of: flag``: the entry for the value ``flag`` drawn before it (what a picked value implies, so a
text says only what applies to this attempt).

``contexts: [own]`` asks for a cluster of the task's own (a task that breaks its cluster);
``node: true`` says the task is done on the context's control-plane node (``ckslab exam ssh``).
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Mapping

import yaml

from cluster.errors import CkslabError, UsageError
from labs.catalog import Lab, Step

TASKS_DIR = Path(__file__).resolve().parent / "tasks"
PLACEHOLDER = re.compile(r"\{\{\s*([a-z_][a-z0-9_]*)\s*\}\}")
#: The words names are drawn from: none is a name the labs' walkthroughs use (jane, development...).
WORDS: dict[str, tuple[str, ...]] = {
    "people": ("amara", "bruno", "chen", "dmitri", "elif", "farah", "goran", "hana", "ivo", "jonas",
               "kaito", "lena", "mateo", "nadia", "oskar", "priya", "quinn", "rafael", "sana", "tomas"),
    "groups": ("billing", "data-eng", "frontend", "ml-ops", "payments", "platform", "search", "sre",
               "storage", "web"),
    "teams": ("atlas", "borealis", "cobalt", "delta", "ember", "falcon", "granite", "harbor"),
    "namespaces": ("apps", "backend", "batch", "edge", "finance", "ingest", "portal", "reports"),
    "roles": ("csr-approver", "cert-reviewer", "signer-admin", "pki-operator", "issuer-approver"),
    "robots": ("backup-agent", "ci-runner", "deploy-bot", "log-shipper", "metrics-scraper", "report-job",
               "sync-worker", "audit-reader", "cost-exporter", "dns-updater"),
    #: Bootstrap token ids ([a-z0-9]{6}, as kubeadm token create makes) and kubelets' CSR name suffixes.
    "tokens": ("07401b", "3kq9zd", "8fj2mc", "a1x5pw", "h6t3ne", "k9v2rb", "p4m8ws", "u2c7yg"),
    "suffixes": ("2xkq9", "7hm4t", "b8rzp", "c3wv6", "f9dn2", "j5tq8", "k4ps7", "m6yx3", "q2lg9", "t8jc5"),
}


#: What a task may need (``needs:``): ``kubelet``, a real kubelet on a node (kind), not the local plane's.
NEEDS = {"kubelet"}


#: Said in a node task's statement that does not say itself how to enter the node.
NODE_LINE = "Enter the control-plane node with: ckslab exam ssh {{context}}   (all paths below are on the node)\n"


class TemplateError(CkslabError):
    """A template names a value the task does not draw."""


def render(template: str, values: Mapping[str, object]) -> str:
    """``template`` with every ``{{name}}`` replaced by ``values[name]``; TemplateError if one is missing."""
    def one(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in values:
            raise TemplateError(f"the template names {{{{{name}}}}}, which is not among the drawn values "
                                f"({', '.join(values)}).")
        return str(values[name])

    return PLACEHOLDER.sub(one, template)


@dataclass(frozen=True)
class Check:
    """One graded fact of a task: its grader test carries ``@pytest.mark.step(name)``."""

    name: str
    title: str
    points: int
    #: The check passes where nothing of the task exists (it checks that some access is absent), so
    #: passing it in a context where the task was never set up is no sign of work done there.
    absence: bool = False


@dataclass(frozen=True)
class Task:
    """A task of the bank, its texts still templates (see ``render``)."""

    id: str
    title: str
    weight: int
    statement: str
    explanation: str
    docs: str
    lab: str
    checks: tuple[Check, ...]
    values: tuple[tuple[str, dict[str, Any]], ...]
    #: The contexts the task may be set in (empty: any of the exam's shared ones; ``("own",)``: a
    #: cluster no other task of the attempt uses, see ``exam.attempt.OWN``).
    contexts: tuple[str, ...] = ()
    #: Whether the task is done on the context's control-plane node (``ckslab exam ssh CONTEXT``).
    node: bool = False
    #: What its cluster must have beyond a control plane: ``kubelet`` (a real one: kind's node).
    needs: tuple[str, ...] = ()

    @property
    def folder(self) -> Path:
        return TASKS_DIR / self.id

    @property
    def max_score(self) -> int:
        return sum(c.points for c in self.checks)

    def script(self, name: str, values: Mapping[str, object]) -> str:
        """``setup.sh`` or ``solution.sh`` of the task, rendered with ``values``."""
        return render((self.folder / name).read_text(), values)

    def draw(self, rng: random.Random, taken: set[str], context: str) -> dict[str, object]:
        """The values of one attempt, drawn from ``rng``; names already in ``taken`` are avoided (and added)."""
        return draw_values(self.values, rng, taken, {"context": context})

    def as_lab(self) -> Lab:
        """The task as a Lab whose steps are its checks: what the score plugin grades."""
        steps = tuple(Step(id=c.name, title=c.title, points=c.points, hint="", success="Done.")
                      for c in self.checks)
        return Lab(id=self.id, title=self.title, summary="", notebook="", user="", workspace="exam",
                   steps=steps)

    def rendered(self, values: Mapping[str, object]) -> Task:
        """This task with its statement, explanation and check titles filled in with ``values``."""
        statement = self.statement
        if self.node and "ckslab exam ssh" not in statement:  # the node to enter, where the statement says none
            head, sep, rest = statement.partition("\n")
            line = NODE_LINE if head.startswith("Use context:") else ""
            statement = head + sep + line + rest if line else NODE_LINE + statement
        return replace(self, title=render(self.title, values), statement=render(statement, values),
                       explanation=render(self.explanation, values),
                       checks=tuple(replace(c, title=render(c.title, values)) for c in self.checks))


Values = tuple[tuple[str, dict[str, Any]], ...]


def draw_values(values: Values, rng: random.Random, taken: set[str],
                given: Mapping[str, object] | None = None) -> dict[str, object]:
    """``values`` drawn from ``rng`` in the order written, after the ``given`` ones (a template may name them).

    Names already in ``taken`` are avoided (and the drawn ones added): the exam's tasks and a lab's
    practice questions both draw through here, so the same seed gives the same values everywhere.
    """
    drawn: dict[str, object] = dict(given or {})
    for name, spec in values:
        if "pick" in spec:
            drawn[name] = rng.choice(list(spec["pick"]))
        elif "name" in spec:
            free = [w for w in WORDS[spec["name"]] if w not in taken]
            word = rng.choice(free or list(WORDS[spec["name"]]))
            taken.add(word)
            drawn[name] = word
        elif "number" in spec:
            lo, hi, step = (int(x) for x in spec["number"])
            drawn[name] = rng.randrange(lo, hi + 1, step)
        elif "join" in spec:
            drawn[name] = ", ".join(sorted(str(drawn[v]) for v in spec["join"]))
        elif "map" in spec:
            drawn[name] = {str(k): v for k, v in dict(spec["map"]).items()}[str(drawn[str(spec["of"])])]
        else:
            drawn[name] = render(str(spec["text"]), drawn)
    return drawn


def parse_values(doc: Any) -> Values:
    """The ``values:`` mapping of a task.yaml or practice.yaml; ValueError naming a bad one."""
    values = tuple((str(k), dict(v)) for k, v in (doc or {}).items())
    for name, spec in values:
        kinds = [k for k in ("pick", "name", "number", "text", "join", "map") if k in spec]
        if len(kinds) != 1:
            raise ValueError(f"the value {name} must have exactly one of pick, name, number, text, join, map")
        if "map" in spec and not ("of" in spec and isinstance(spec["map"], dict)):
            raise ValueError(f"the value {name}: map needs a mapping and `of: VALUE`, the value it maps")
        if "name" in spec and spec["name"] not in WORDS:
            raise ValueError(f"the value {name} draws from {spec['name']!r}; known: {', '.join(WORDS)}")
    return values


def known() -> list[str]:
    """The ids of the tasks that have a ``task.yaml``, sorted."""
    return sorted(p.parent.name for p in TASKS_DIR.glob("*/task.yaml"))


def load(task_id: str) -> Task:
    """The task ``task_id``; a UsageError naming the known tasks when there is none."""
    path = TASKS_DIR / task_id / "task.yaml"
    if "/" in task_id or task_id.startswith(".") or not path.is_file():
        raise UsageError(f"unknown exam task {task_id!r}.", f"Known tasks: {', '.join(known()) or 'none'}.")
    try:
        return _parse(yaml.safe_load(path.read_text()), task_id)
    except (yaml.YAMLError, KeyError, TypeError, ValueError) as err:
        raise CkslabError(f"{path} is not a valid exam task ({err}).",
                          "Restore it from the ckslab checkout.") from err


def all_tasks() -> list[Task]:
    return [load(t) for t in known()]


def _parse(doc: Any, task_id: str) -> Task:
    if not isinstance(doc, dict):
        raise TypeError("the file must be a mapping")
    if doc["id"] != task_id:
        raise ValueError(f"its id is {doc['id']!r}, not its folder's name {task_id!r}")
    checks = tuple(Check(str(c["name"]), str(c["title"]), int(c["points"]), bool(c.get("absence", False)))
                   for c in doc["checks"])
    names = [c.name for c in checks]
    if not checks or len(set(names)) != len(names) or any(c.points <= 0 for c in checks):
        raise ValueError("checks must be a non-empty list with distinct names and positive points")
    if sum(c.points for c in checks) != int(doc["weight"]):
        raise ValueError(f"the checks' points add up to {sum(c.points for c in checks)}, not the weight {doc['weight']}")
    values = parse_values(doc.get("values"))
    if "own" in doc.get("contexts", []) and list(doc["contexts"]) != ["own"]:
        raise ValueError("contexts: [own] (a cluster of the task's own) cannot be listed with other contexts")
    needs = tuple(str(n) for n in doc.get("needs") or [])
    if not set(needs) <= NEEDS:
        raise ValueError(f"needs may name {', '.join(sorted(NEEDS))}, not {', '.join(sorted(set(needs) - NEEDS))}")
    if not str(doc["docs"]).startswith("https://kubernetes.io/docs/"):
        raise ValueError("docs must be a page of https://kubernetes.io/docs/")
    return Task(id=task_id, title=str(doc["title"]), weight=int(doc["weight"]), statement=str(doc["statement"]),
                explanation=str(doc["explanation"]), docs=str(doc["docs"]), lab=str(doc["lab"]),
                checks=checks, values=values, contexts=tuple(str(c) for c in doc.get("contexts", [])),
                node=bool(doc.get("node", False)), needs=needs)
