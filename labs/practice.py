"""The practice test at the end of a lab notebook: ``practice = lab.practice("csr-review")``.

``lab.practice(lab_id)`` draws a new attempt of the lab's practice set (``labs.practice_set``: new
names, from a seed), runs its setup script with the admin kubeconfig in a private folder under
``.lab/practice/`` (the requesters' keys never reach the workspace) and lists the questions.
``practice.ask(n)`` shows question n; ``practice.answer(n, "...")`` reads the answer from the live
cluster at that moment (``graders.practice``, the graders' own readers), says right or wrong, what
the cluster says, and the explanation. An empty answer is "not answered yet", so a notebook
run top to bottom never fails on a question. Nothing here raises: a learner sees a verdict or one
line saying why there is none.
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
import tempfile
from pathlib import Path

from cluster import paths
from cluster.errors import CkslabError
from graders import practice as answers
from graders.expect import StepFailure
from labs import engine, kernel, practice_set
from labs.practice_set import Drawn
from labs.results import FAIL_COLOUR, PASS_COLOUR, Notice, PracticeQuestion, PracticeVerdict

#: Seconds a practice set's setup may take (it creates a few keys and CSRs, and waits for signing).
SETUP_TIMEOUT = 120
SEED_MAX = 2**31 - 1


class Practice:
    """One attempt at a lab's practice test, in this kernel."""

    def __init__(self, lab_id: str, drawn: Drawn | None, kubeconfig: Path, root: Path, problem: str = "") -> None:
        self.lab_id, self.drawn, self.kubeconfig, self.root = lab_id, drawn, kubeconfig, root
        #: Why the practice test was not set up ("" when it was): every later call says it.
        self.problem = problem
        #: question number -> whether its last answer was right.
        self.results: dict[int, bool] = {}

    def __repr__(self) -> str:
        if self.drawn is None:
            return f"The practice test of {self.lab_id} is not set up: {self.problem}"
        return f"The practice test of {self.lab_id}: {len(self.drawn.questions)} questions (seed {self.drawn.seed})."

    def _ready(self) -> Drawn | None:
        if self.drawn is None:
            kernel.show(Notice(f"The practice test is not set up: {self.problem}", FAIL_COLOUR))
        return self.drawn

    def ask(self, number: int) -> None:
        """Show question ``number``."""
        drawn = self._ready()
        if drawn is None:
            return
        try:
            question = drawn.question(number)
        except CkslabError as err:
            kernel.show(Notice(str(err), FAIL_COLOUR))
            return
        kernel.show(PracticeQuestion(drawn.number_of(question), len(drawn.questions), question.text))

    def answer(self, number: int, given: str) -> bool | None:
        """Check ``given`` against the cluster now and show the verdict and explanation; None if not answered."""
        drawn = self._ready()
        if drawn is None:
            return None
        try:
            question = drawn.question(number)
        except CkslabError as err:
            kernel.show(Notice(str(err), FAIL_COLOUR))
            return None
        n = drawn.number_of(question)
        if not str(given).strip():
            kernel.show(Notice(f"Question {n} is not answered yet: write your answer between the quotes of "
                               f'practice.answer({n}, "...") and run the cell again.'))
            return None
        try:
            expected = answers.answer(answers.Cluster(self.kubeconfig, self.root), question.source, dict(question.args))
        except StepFailure as err:
            kernel.show(Notice(f"Question {n} cannot be checked: {err.message} {err.hint}".strip(), FAIL_COLOUR))
            return None
        except Exception as err:  # the cluster is down, the kubeconfig gone: one line, no traceback
            kernel.show(Notice(f"Question {n} cannot be checked: the cluster did not answer "
                               f"({' '.join(str(err).split())[:160]}). Run `ckslab status` in a terminal.", FAIL_COLOUR))
            return None
        right = practice_set.same_answer(question.shape, str(given), expected)
        self.results[n] = right
        kernel.show(PracticeVerdict(n, question.text, str(given).strip(), expected, right, question.explanation,
                                    question.docs))
        return right


def start(lab_id: str, seed: int | None = None) -> Practice:
    """A new attempt at ``lab_id``'s practice test, set up on the lab's cluster (see the module docstring)."""
    try:
        run = engine.prepare(lab_id)
        drawn = practice_set.load(lab_id).draw(seed if seed is not None else random.SystemRandom().randrange(SEED_MAX))
    except CkslabError as err:
        kernel.show(Notice(str(err), FAIL_COLOUR))
        return Practice(lab_id, None, Path(), Path(), str(err))
    problem = run_setup(drawn, run.kubeconfig, run.root)
    if problem:
        kernel.show(Notice(f"The practice test could not be set up: {problem}", FAIL_COLOUR))
        return Practice(lab_id, None, run.kubeconfig, run.root, problem)
    kernel.show(Notice(f"Practice test of this lab: {len(drawn.questions)} questions on objects just made in your "
                       f"cluster, with new names (seed {drawn.seed}). Find each answer with kubectl and openssl; each "
                       "is checked against the cluster when you answer.", PASS_COLOUR))
    return Practice(lab_id, drawn, run.kubeconfig, run.root)


def run_setup(drawn: Drawn, kubeconfig: Path, root: Path) -> str:
    """Run ``drawn``'s setup script in a private folder; "" when it succeeded, else its last line."""
    if not drawn.setup.strip():
        return ""
    if not kubeconfig.is_file():
        return "no cluster is up: run `make up` in a terminal, then this cell again."
    private = paths.LabPaths(root).lab / "practice"
    private.mkdir(parents=True, exist_ok=True)
    os.chmod(private, 0o700)
    env = {**os.environ, "KUBECONFIG": str(kubeconfig),
           "PATH": os.pathsep.join([str(paths.kubernetes_bin_dir()), str(Path(sys.executable).parent),
                                    os.environ.get("PATH", "")])}
    with tempfile.TemporaryDirectory(prefix=f"{drawn.lab}-", dir=private) as cwd:
        try:
            done = subprocess.run(["bash", "-s"], input=drawn.setup, cwd=cwd, env=env, capture_output=True,
                                  text=True, timeout=SETUP_TIMEOUT, check=False)
        except subprocess.TimeoutExpired:
            return f"its setup took over {SETUP_TIMEOUT}s; run `ckslab status` in a terminal."
    if done.returncode == 0:
        return ""
    lines = (done.stdout + done.stderr).strip().splitlines()
    return lines[-1] if lines else f"its setup ended with status {done.returncode}"
