"""``ckslab grade LAB``: run a lab's graders against the learner's files and the cluster.

The graders run in a pytest process of their own, so nothing the learner runs in a notebook
kernel can change them. This module checks that grading is possible at all (a known lab, a
cluster that answers), runs that process with the score plugin, and prints its JSON report as a
table. Exit codes: 0 every step passes, 1 some step fails, 2 cannot grade.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from cluster.errors import CkslabError
from graders.files import shown
from labs import catalog, engine

GRADERS_DIR = Path(__file__).resolve().parent
#: Seconds for the cluster's first answer: it is local, so anything slower means it is down.
CLUSTER_TIMEOUT = 5.0
#: Seconds for a whole grading run (a few dozen reads of local files and of the API).
GRADING_TIMEOUT = 300.0

out = Console(highlight=False)


class CannotGrade(CkslabError):
    """Grading is impossible right now (no cluster, graders that do not run)."""

    exit_code = 2


def add_parser(subparsers: Any) -> None:
    """Register ``grade`` on the ``ckslab`` command line."""
    s = subparsers.add_parser("grade", help="grade a lab: which steps pass, with hints for the others")
    s.add_argument("lab", help=f"the lab to grade ({', '.join(catalog.known())})")
    s.add_argument("--json", metavar="FILE", help="also write the score report to FILE as JSON")
    s.add_argument("--junit", metavar="FILE", help="also write a JUnit XML report to FILE")
    s.add_argument("--step", metavar="ID", help="grade only the step ID")
    s.add_argument("--user", metavar="NAME", help="the learner's user (default: the lab's, e.g. jane)")
    s.add_argument("--class", dest="class_roster", metavar="ROSTER.csv|hub",
                   help="grade every learner of a roster (name,kubeconfig,workspace) in parallel; `hub`: the class `ckslab class up` hosts here")
    s.add_argument("--out", metavar="DIR", default="class-report",
                   help="with --class: where the CSV, the HTML scoreboard and each learner's reports go")
    s.set_defaults(func=run)
    from graders import audit_cli

    audit_cli.add_parser(subparsers)


def run(args: argparse.Namespace) -> int:
    """Grade ``args.lab``; print the table; 0 when every step passes, else 1."""
    if args.class_roster:
        from graders import classroom

        return classroom.run(args)
    run_ = engine.prepare(args.lab, args.user)
    lab = run_.lab
    if args.step:
        lab.step(args.step)
    engine.require_backend(run_)
    check_cluster(run_.kubeconfig)
    report = grade(lab, run_.user, run_.workspace, run_.kubeconfig,
                   step=args.step, junit=Path(args.junit).resolve() if args.junit else None)
    if not args.step:
        engine.record(run_, {"score": report["score"], "max_score": report["max_score"],
                             "graded": time.strftime("%Y-%m-%d %H:%M")})
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(report, indent=2) + "\n")
    show(report)
    return 0 if report["passed"] else 1


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
        from cluster import paths, tls_probe

        problem = tls_probe.refused(kubeconfig, paths.lab_paths(), shown_as=shown(kubeconfig),
                                    status=getattr(err, "status", None))
        if problem is not None:
            raise CannotGrade(f"the cluster cannot be graded: {problem.message}", problem.fix) from err
        detail = " ".join(str(err).split())[:160]
        raise CannotGrade(f"the cluster does not answer ({detail}), so it cannot be graded.",
                          "Run `make up` (or `ckslab status` to see what is down), then grade again.") from err
    check_admin(kubeconfig)


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


def pytest_args(lab: catalog.Lab, report_file: Path, step: str | None, junit: Path | None,
                exam_input: Path | None = None) -> list[str]:
    """The pytest command line that grades ``lab`` and writes its report to ``report_file``.

    With ``exam_input`` (graders.exam.inputs), ``lab`` is an exam task (``Task.as_lab``) and its
    graders are ``graders/exam/<task>/``.
    """
    graders = GRADERS_DIR / ("exam" if exam_input else "") / lab.id.replace("-", "_")
    if not graders.is_dir():
        raise CannotGrade(f"the lab {lab.id} has no graders ({graders} is missing).",
                          "Reinstall ckslab: make setup")
    args = [str(graders), "-c", str(GRADERS_DIR / "pytest.ini"), "--rootdir", str(GRADERS_DIR),
            "-p", "graders.plugin", "-p", "no:cacheprovider",
            *(["--ckslab-exam-task", str(exam_input)] if exam_input else ["--ckslab-lab", lab.id]),
            "--ckslab-json", str(report_file), "-q", "--no-header", "-o", "console_output_style=classic"]
    if step:
        args += ["--ckslab-step", step]
    if junit:
        args += ["--junitxml", str(junit)]
    return args


def grading_env(user: str, workspace: Path, kubeconfig: Path) -> dict[str, str]:
    """The graders' environment: their inputs, and no pytest settings of the caller's."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    return env | {"CKSLAB_WORKSPACE": str(workspace.resolve()), "KUBECONFIG": str(kubeconfig.resolve()),
                  "CKSLAB_USER": user, "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1",
                  # nothing written next to the graders (no __pycache__), whoever owns them
                  "PYTHONDONTWRITEBYTECODE": "1"}


def read_report(report_file: Path, code: int | str, output: str) -> dict[str, Any]:
    if not report_file.is_file():
        tail = "\n".join(output.strip().splitlines()[-15:])
        raise CannotGrade(f"the graders did not produce a report (pytest exit code {code}):\n{tail}",
                          "This is a ckslab bug: please report it with this output.")
    report: dict[str, Any] = json.loads(report_file.read_text())
    return report


def grade(lab: catalog.Lab, user: str, workspace: Path, kubeconfig: Path, *,
          step: str | None = None, junit: Path | None = None, exam_input: Path | None = None) -> dict[str, Any]:
    """Run ``lab``'s graders in a pytest process of their own and return its JSON report.

    ``exam_input``: grade the exam task it describes (``lab`` is then ``Task.as_lab()``).
    """
    from graders.exam import inputs

    with tempfile.TemporaryDirectory(prefix="ckslab-grade-") as tmp:
        report_file = Path(tmp) / "report.json"
        command = [sys.executable, "-m", "pytest", *pytest_args(lab, report_file, step, junit, exam_input)]
        env = grading_env(user, workspace, kubeconfig)
        if exam_input:
            env[inputs.ENV] = str(exam_input)
        try:
            done = subprocess.run(command, env=env, capture_output=True,
                                  text=True, timeout=GRADING_TIMEOUT, check=False)
        except subprocess.TimeoutExpired as err:
            raise CannotGrade(f"grading took over {GRADING_TIMEOUT:.0f}s and was stopped.",
                              "Run `ckslab status`; `make up` restarts what is down.") from err
        return read_report(report_file, done.returncode, done.stdout + done.stderr)


def show(report: dict[str, Any]) -> None:
    """Print ``report`` as a table, then the score."""
    table = Table(title=f"ckslab grade {report['lab']}", show_lines=True)
    for column, style in (("step", "bold"), ("result", ""), ("points", ""), ("reason", ""), ("hint", "cyan")):
        table.add_column(column, style=style, overflow="fold")
    for s in report["steps"]:
        result = "[green]pass[/green]" if s["passed"] else "[red]fail[/red]"
        # Text(), not markup: messages quote YAML such as "usages: [client auth]".
        table.add_row(Text(s["id"]), result, f"{s['points']}/{s['max_points']}", Text(s["message"]),
                      Text(s["hint"]))
    out.print(table)
    verdict = "[green]every step passes[/green]" if report["passed"] else "some steps still fail"
    out.print(f"Score: [bold]{report['score']}/{report['max_score']}[/bold], {verdict}.")

