"""The labs ckslab knows, read from ``labs/<id>/lab.yaml``. Pure code (PyYAML only).

A lab's definition lives in data, not in the graders: its steps, their order, titles, points and
hints. The graders (``graders/``) attach their tests to these step ids, the score report follows
this order, and the CLI refuses a lab id that has no ``lab.yaml``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import yaml

from cluster.errors import CkslabError, UsageError

LABS_DIR = Path(__file__).resolve().parent
#: Replaced by the lab's user in every text of a lab (titles, hints, messages, object names).
USER_PLACEHOLDER = "{user}"
#: Replaced by "" for the lab's own user and by "-<user>" for any other, so the lab's own user
#: gets the names the lesson uses ("development") and other learners sharing the cluster get
#: their own ("development-alice").
SUFFIX_PLACEHOLDER = "{suffix}"
#: The backends a lab.yaml may name in ``backends:`` (cluster/backends/).
BACKENDS = ("kind", "local", "existing")


@dataclass(frozen=True)
class ObjectRef:
    """A Kubernetes object a lab step owns (``kubectl delete KIND/NAME [-n NAMESPACE]``)."""

    kind: str
    name: str
    namespace: str = ""


@dataclass(frozen=True)
class Step:
    """One graded step: all of its tests must pass to earn ``points``."""

    id: str
    title: str
    points: int
    hint: str
    #: The short message of a passing step.
    success: str = "Done."
    #: What the learner makes in this step: reset deletes the objects and backs up the files.
    objects: tuple[ObjectRef, ...] = ()
    files: tuple[str, ...] = ()
    #: False when the step cannot be undone on its own (an approval cannot be withdrawn).
    resettable: bool = True
    reset_note: str = ""


@dataclass(frozen=True)
class Lab:
    """A lab: its notebook, its user, its workspace folder and its ordered steps."""

    id: str
    title: str
    summary: str
    notebook: str
    user: str
    workspace: str
    steps: tuple[Step, ...]
    #: The backends the lab can be done on (``backends:`` in lab.yaml); empty: every backend.
    backends: tuple[str, ...] = ()
    #: Why the lab needs those backends (``requires:`` in lab.yaml), for the refusal elsewhere.
    requires: str = ""
    #: Files the lab's notebook writes for its own later cells (``helpers:`` in lab.yaml, e.g. .kubeadm.sh):
    #: not the learner's work, so ``reset`` leaves them in the workspace.
    helpers: tuple[str, ...] = ()

    def runs_on(self, backend: str) -> bool:
        """Whether the lab can be done on a cluster of ``backend`` (kind, local, existing)."""
        return not self.backends or backend in self.backends

    @property
    def max_score(self) -> int:
        return sum(step.points for step in self.steps)

    def step(self, step_id: str) -> Step:
        """The step ``step_id``; a UsageError naming the lab's steps when there is none."""
        for step in self.steps:
            if step.id == step_id:
                return step
        raise UsageError(f"the lab {self.id} has no step {step_id!r}.",
                         f"Use one of: {', '.join(s.id for s in self.steps)}.")

    def suffix(self, user: str) -> str:
        """"" for the lab's own user, "-<user>" for another (the value of ``{suffix}``)."""
        return "" if user == self.user else f"-{user}"

    def for_user(self, user: str) -> Lab:
        """This lab with ``{user}`` and ``{suffix}`` filled in for ``user`` in its texts."""
        suffix = self.suffix(user)

        def fill(text: str) -> str:
            return text.replace(USER_PLACEHOLDER, user).replace(SUFFIX_PLACEHOLDER, suffix)

        steps = tuple(replace(s, title=fill(s.title), hint=fill(s.hint), success=fill(s.success),
                              reset_note=fill(s.reset_note), files=tuple(fill(f) for f in s.files),
                              objects=tuple(replace(o, name=fill(o.name), namespace=fill(o.namespace))
                                            for o in s.objects))
                      for s in self.steps)
        return replace(self, user=user, title=fill(self.title), summary=fill(self.summary),
                       steps=steps)

    def renames(self, user: str) -> dict[str, str]:
        """The names the lesson uses (for the lab's own user) and ``user``'s instead: the user itself,
        and every file, object and namespace named with ``{user}`` or ``{suffix}``. Empty for the
        lab's own user and for a lab that names no user (call it on the lab as loaded, not filled)."""
        if user == self.user or not self.names_user():
            return {}
        own, theirs = self.for_user(self.user), self.for_user(user)
        found = {self.user: user}
        for a, b in zip(own.steps, theirs.steps):
            pairs = [*zip(a.files, b.files), *((x.name, y.name) for x, y in zip(a.objects, b.objects)),
                     *((x.namespace, y.namespace) for x, y in zip(a.objects, b.objects))]
            found.update((x, y) for x, y in pairs if x != y)
        return found

    def names_user(self) -> bool:
        """Whether the lab's texts name its user (``{user}`` in lab.yaml): jane's labs do; the
        control plane's and the node's, done as the cluster's admin, do not."""
        texts = [self.title, self.summary]
        for s in self.steps:
            texts += [s.title, s.hint, s.success, s.reset_note, *s.files, *(o.name for o in s.objects),
                      *(o.namespace for o in s.objects)]
        return any(USER_PLACEHOLDER in t or SUFFIX_PLACEHOLDER in t for t in texts)


def known() -> list[str]:
    """The ids of the labs that have a ``lab.yaml``, sorted."""
    return sorted(p.parent.name for p in LABS_DIR.glob("*/lab.yaml"))


def load(lab_id: str) -> Lab:
    """The lab ``lab_id``; a UsageError naming the known labs when there is none."""
    path = LABS_DIR / lab_id / "lab.yaml"
    if "/" in lab_id or lab_id.startswith(".") or not path.is_file():
        raise UsageError(f"unknown lab {lab_id!r}.", f"Known labs: {', '.join(known()) or 'none'}.")
    try:
        return _parse(yaml.safe_load(path.read_text()), lab_id)
    except (yaml.YAMLError, KeyError, TypeError, ValueError) as err:
        raise CkslabError(f"{path} is not a valid lab definition ({err}).",
                          "Restore it from the ckslab checkout.") from err


def all_labs() -> list[Lab]:
    """Every known lab, by id."""
    return [load(lab_id) for lab_id in known()]


def _parse(doc: Any, lab_id: str) -> Lab:
    if not isinstance(doc, dict):
        raise TypeError("the file must be a mapping")
    if doc["id"] != lab_id:
        raise ValueError(f"its id is {doc['id']!r}, not its folder's name {lab_id!r}")
    steps = tuple(
        Step(id=str(s["id"]), title=str(s["title"]), points=int(s["points"]), hint=str(s["hint"]),
             success=str(s.get("success", "Done.")),
             objects=tuple(ObjectRef(str(o["kind"]), str(o["name"]), str(o.get("namespace", "")))
                           for o in s.get("owns", {}).get("objects", [])),
             files=tuple(str(f) for f in s.get("owns", {}).get("files", [])),
             resettable=bool(s.get("resettable", True)), reset_note=str(s.get("reset_note", "")))
        for s in doc["steps"]
    )
    backends = tuple(str(b) for b in doc.get("backends", []))
    unknown = [b for b in backends if b not in BACKENDS]
    if unknown:
        raise ValueError(f"backends lists {', '.join(unknown)}; known: {', '.join(BACKENDS)}")
    ids = [s.id for s in steps]
    if not steps or len(set(ids)) != len(ids):
        raise ValueError("steps must be a non-empty list with distinct ids")
    return Lab(id=lab_id, title=str(doc["title"]), summary=str(doc.get("summary", "")),
               notebook=str(doc["notebook"]), user=str(doc["user"]),
               workspace=str(doc["workspace"]), steps=steps, backends=backends,
               requires=str(doc.get("requires", "")),
               helpers=tuple(str(h) for h in doc.get("helpers", [])))
