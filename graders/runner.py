"""Grading as a library: run a lab's graders on one learner's work and return its Report.

The graders run in a pytest process of their own (``grade``), so nothing the learner runs in a
notebook kernel can change them; class grading runs them in a forked process per learner
(``grade_here``). Either way the runner writes one :class:`~graders.context.GradingContext` to a
file, names it in ``CKSLAB_GRADING_CONTEXT``, and reads back the JSON report the score plugin wrote
(``graders/plugin.py``). ``check_cluster`` says, before grading, when grading is impossible (no
cluster, one that does not answer, an admin kubeconfig switched to a learner's context): a
:class:`CannotGrade`, exit code 2 on the command line. The command lines are ``graders/cli.py``
(``ckslab grade``), ``labs/cli.py`` (``ckslab hint``) and ``labs/notebook.py`` (``lab.check``).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Sequence

from cluster import paths, state
from cluster.errors import CkslabError
from graders.context import ENV, GradingContext
from graders.files import shown
from graders.report import Report
from labs import catalog

GRADERS_DIR = Path(__file__).resolve().parent
#: Seconds for the cluster's first answer: it is local, so anything slower means it is down.
CLUSTER_TIMEOUT = 5.0
#: Seconds for a whole grading run (a few dozen reads of local files and of the API).
GRADING_TIMEOUT = 300.0


class CannotGrade(CkslabError):
    """Grading is impossible right now (no cluster, graders that do not run)."""

    exit_code = 2


def context_for(lab: catalog.Lab, user: str, workspace: Path, kubeconfig: Path, root: Path,
                values: dict[str, str] | None = None) -> GradingContext:
    """The context of grading ``lab`` for ``user``; the backend is the one ``root``'s state records."""
    try:
        current = state.read(paths.LabPaths(root).state_file)
    except CkslabError:
        current = None
    return GradingContext(lab.id, user, workspace.resolve(), root.resolve(), kubeconfig.resolve(),
                          current.backend if current is not None else "", values or {})


def check_cluster(kubeconfig: Path) -> None:
    """Fail with exit code 2 unless the cluster of ``kubeconfig`` answers within seconds."""
    if not kubeconfig.is_file():
        raise CannotGrade(f"no cluster is up ({shown(kubeconfig)} does not exist), so the lab cannot be graded.",
                          "Run `make up`, then grade again.")
    from kubernetes import client  # the client is slow to import; `ckslab --help` does not need it

    from graders import kube

    try:
        api = kube.client_for(kubeconfig)
        client.VersionApi(api).get_code(_request_timeout=CLUSTER_TIMEOUT)
    except Exception as err:  # whatever the reason, the remedy is the same, unless TLS says why
        from cluster import tls_probe

        problem = tls_probe.refused(kubeconfig, paths.lab_paths(), shown_as=shown(kubeconfig),
                                    status=getattr(err, "status", None))
        if problem is not None:
            raise CannotGrade(f"the cluster cannot be graded: {problem.message}", problem.fix) from err
        moved = _another_server(kubeconfig)
        if moved is not None:
            raise CannotGrade(*moved) from err
        stopped = _moved_out(kubeconfig)
        if stopped:
            raise CannotGrade(f"the cluster does not answer: {stopped}, so it cannot be graded.",
                              "Put the manifest back; the component starts again within seconds.") from err
        detail = _short(" ".join(str(err).split()), 160)
        raise CannotGrade(f"the cluster does not answer ({detail}), so it cannot be graded.",
                          "Run `make up` (or `ckslab status` to see what is down), then grade again.") from err
    check_admin(kubeconfig)


def _another_server(kubeconfig: Path) -> tuple[str, str] | None:
    """When ``kubeconfig`` names another API server address than the one ``up`` recorded for this
    project's cluster (a copy of the node's admin.conf or super-admin.conf names the node's own
    address, which this machine may not reach): what to say and what to do; else None."""
    import yaml

    try:
        doc = yaml.safe_load(kubeconfig.read_text())
        contexts = {c["name"]: c["context"] for c in doc.get("contexts") or []}
        cluster_name = contexts[doc["current-context"]]["cluster"]
        server = next(c["cluster"]["server"] for c in doc["clusters"] if c["name"] == cluster_name)
        current = state.read(paths.lab_paths().state_file)
    except Exception:  # an unreadable kubeconfig or state: the generic message stands
        return None
    if current is None or not current.server or server == current.server \
            or kubeconfig.resolve() != paths.lab_paths().kubeconfig.resolve():
        return None
    return (f"{shown(kubeconfig)} names the API server {server}, which does not answer here; this cluster's "
            f"API server is {current.server} (the address `make up` wrote). A kubeconfig copied from the node "
            "(admin.conf, super-admin.conf) names the node's own address, so it cannot be graded.",
            f"Keep the address and copy only the credentials, or put it back: kubectl config set-cluster "
            f"{cluster_name} --server {current.server} --kubeconfig {shown(kubeconfig)}")


def _moved_out(kubeconfig: Path) -> str:
    """Why this project's API server is down when its manifest left the manifests folder (the exam's way to
    stop a static pod; the local backend follows it like a kubelet); "" otherwise."""
    from cluster import backends

    try:
        if kubeconfig.resolve() != paths.lab_paths().kubeconfig.resolve():
            return ""
        backend = backends.running(paths.lab_paths())
        status = backend.status() if backend is not None else None
    except CkslabError:
        return ""
    down = [c for c in (status.components if status else []) if not c.healthy and "(moved out?)" in c.detail]
    return "; ".join(f"{c.name} is {c.detail}" for c in down)


def _short(text: str, limit: int) -> str:
    """``text`` cut at a word before ``limit`` characters, with an ellipsis when cut."""
    return text if len(text) <= limit else text[:limit].rsplit(" ", 1)[0] + " ..."


def check_admin(kubeconfig: Path) -> None:
    """Fail with exit code 2 when ``kubeconfig``'s current context may not read CSRs.

    The usual cause: the Kubernetes docs' ``kubectl config set-context jane ... && kubectl config
    use-context jane`` typed in a shell whose $KUBECONFIG is the lab's admin kubeconfig. The
    graders (and every kubectl of that shell) then act as the learner's new user.
    """
    from graders import kube

    if kube.may_read_csrs(kube.client_for(kubeconfig)):
        return
    current, user, others = kube.contexts(kubeconfig)
    admin = next((name for name in others if kube.may_read_csrs(kube.client_for(kubeconfig, name))), None)
    back = (f"kubectl config use-context {admin} --kubeconfig {shown(kubeconfig)}" if admin else
            f"kubectl config use-context <the admin's context> --kubeconfig {shown(kubeconfig)}")
    raise CannotGrade(f"the admin kubeconfig {shown(kubeconfig)} now acts as the user {user!r} (its current "
                      f"context is {current!r}), who may not read CertificateSigningRequests, so the lab "
                      "cannot be graded.",
                      f"Switch it back: {back}; keep {user}'s credentials in a file of their own "
                      f"(--kubeconfig {user}.kubeconfig).")


def pytest_args(lab_id: str, report_file: Path, step: str | None, junit: Path | None,
                exam_input: Path | None = None, exam_tasks: Sequence[str] = ()) -> list[str]:
    """The pytest command line that grades the lab ``lab_id`` and writes its report to ``report_file``.

    With ``exam_input`` (graders.exam.inputs), ``lab_id`` is an exam task's and its graders are
    ``graders/exam/<task>/``, scored as the task's checks; with ``exam_tasks`` too, the graders of
    each of those tasks (the input names them all), in one process.
    """
    folders = [GRADERS_DIR / ("exam" if exam_input else "") / i.replace("-", "_") for i in exam_tasks or [lab_id]]
    for graders in folders:
        if not graders.is_dir():
            raise CannotGrade(f"the lab {graders.name.replace('_', '-')} has no graders ({graders} is missing).",
                              "Reinstall ckslab: make setup")
    args = [*map(str, folders), "-c", str(GRADERS_DIR / "pytest.ini"), "--rootdir", str(GRADERS_DIR),
            "-p", "graders.plugin", "-p", "no:cacheprovider",
            *(["--ckslab-exam-task", str(exam_input)] if exam_input else ["--ckslab-lab", lab_id]),
            "--ckslab-json", str(report_file), "-q", "--no-header", "-o", "console_output_style=classic"]
    if step:
        args += ["--ckslab-step", step]
    if junit:
        args += ["--junitxml", str(junit)]
    return args


def grading_env(context_file: Path) -> dict[str, str]:
    """The grading process's environment: the context file, and no pytest settings of the caller's."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    return env | {ENV: str(context_file), "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1",
                  # nothing written next to the graders (no __pycache__), whoever owns them
                  "PYTHONDONTWRITEBYTECODE": "1"}


def read_report(report_file: Path, code: int | str, output: str, *, whole: bool = True) -> Report:
    """The report the plugin wrote; CannotGrade with the end of pytest's output when there is none."""
    if not report_file.is_file():
        tail = "\n".join(output.strip().splitlines()[-15:])
        raise CannotGrade(f"the graders did not produce a report (pytest exit code {code}):\n{tail}",
                          "This is a ckslab bug: please report it with this output.")
    try:
        return Report.from_json(json.loads(report_file.read_text()), whole=whole)
    except ValueError as err:
        raise CannotGrade(f"the graders' report {report_file} cannot be read ({err}).",
                          "This is a ckslab bug: please report it.") from err


#: The environment variable naming an exam task's input file (graders/exam/inputs.py).
EXAM_TASK_ENV = "CKSLAB_EXAM_TASK"


def grade(context: GradingContext, *, step: str | None = None, junit: Path | None = None,
          exam_input: Path | None = None) -> Report:
    """Run the context's lab's graders in a pytest process of their own; the Report (one step's with ``step``).

    ``exam_input``: grade the exam task that file describes (``context.lab`` is the task's id).
    """
    with tempfile.TemporaryDirectory(prefix="ckslab-grade-") as tmp:
        report_file, context_file = Path(tmp) / "report.json", Path(tmp) / "context.json"
        context.write(context_file)
        command = [sys.executable, "-m", "pytest", *pytest_args(context.lab, report_file, step, junit, exam_input)]
        env = grading_env(context_file)
        if exam_input:
            env[EXAM_TASK_ENV] = str(exam_input)
        try:
            done = subprocess.run(command, env=env, capture_output=True, text=True,
                                  timeout=GRADING_TIMEOUT, check=False, stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired as err:
            raise CannotGrade(f"grading took over {GRADING_TIMEOUT:.0f}s and was stopped.",
                              "Run `ckslab status`; `make up` restarts what is down.") from err
        return read_report(report_file, done.returncode, done.stdout + done.stderr, whole=step is None)


def preload() -> None:
    """Import what every grading needs, once, before forking graders (``grade_tasks_here``)."""
    import pytest  # noqa: F401
    from kubernetes import client  # noqa: F401

    from graders import conftest, plugin  # noqa: F401
    from graders.exam import conftest as exam_conftest, look  # noqa: F401


def grade_tasks_here(context: GradingContext, exam_input: Path, task_ids: Sequence[str], report_file: Path) -> None:
    """Grade the exam tasks ``task_ids`` (all named in ``exam_input``, graders.exam.inputs.write_all) against
    ``context``'s cluster, in this (forked) process, one pytest session for them all: the plugin writes
    ``{"reports": [...]}`` to ``report_file`` (``read_reports``). Stdout and stderr go to /dev/null."""
    import pytest

    context_file = report_file.with_name("context.json")
    context.write(context_file)
    for key in [k for k in os.environ if k.startswith("PYTEST_")]:
        del os.environ[key]
    os.environ.update({ENV: str(context_file), EXAM_TASK_ENV: str(exam_input), "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"})
    sys.dont_write_bytecode = True
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.dup2(devnull, 2)
    # One task's graders that do not load fail that task's checks only (graders.plugin.TaskRecorders).
    pytest.main([*pytest_args(context.lab, report_file, None, None, exam_input, task_ids), "--tb=no",
                 "--continue-on-collection-errors"])


def read_reports(report_file: Path) -> dict[str, Report]:
    """The reports ``grade_tasks_here`` had the plugin write, by task id; CannotGrade when there are none
    (a collection error in one task's graders fails them all: grade each alone then)."""
    try:
        return {r.lab: r for r in (Report.from_json(doc) for doc in json.loads(report_file.read_text())["reports"])}
    except (OSError, KeyError, TypeError, ValueError) as err:
        raise CannotGrade(f"the graders' report {report_file} cannot be read ({err}).",
                          "This is a ckslab bug: please report it.") from err


def grade_here(context: GradingContext, report_file: Path, junit: Path | None = None) -> Report:
    """Grade in this process (a forked class worker: it points stdout and stderr at /dev/null).

    Only ``CKSLAB_GRADING_CONTEXT`` and pytest's settings change in the environment; the graders
    read nothing else from it.
    """
    import pytest

    with tempfile.TemporaryDirectory(prefix="ckslab-grade-") as tmp:
        context_file = Path(tmp) / "context.json"
        context.write(context_file)
        for key in [k for k in os.environ if k.startswith("PYTEST_")]:
            del os.environ[key]
        os.environ.update({ENV: str(context_file), "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"})
        sys.dont_write_bytecode = True
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 1)
        os.dup2(devnull, 2)
        code = pytest.main(pytest_args(context.lab, report_file, None, junit))
        return read_report(report_file, int(code), "")
