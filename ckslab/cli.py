"""The ``ckslab`` command: the front door the Makefile calls.

Every command prints one actionable line on error (never a traceback) and exits non-zero:
1 for a failure, 2 for a usage error; a reader that closes stdout early (``| head``) ends it quietly
with 141, as SIGPIPE would. Progress goes to stderr, results to stdout.
"""

from __future__ import annotations

import argparse
import errno
import os
import select
import shlex
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Sequence

from rich.console import Console
from rich.table import Table
from rich.text import Text

from ckslab import jupyter as jupyter_cli
from ckslab.classhost import cli as class_cli
from ckslab import node_cli
from cluster import backends, binaries, controlplane, paths
from cluster.backends.base import Backend
from cluster.backends.local import LocalBackend
from cluster.errors import CkslabError, UsageError
from cluster.versions import KIND_NODE_IMAGE, KUBERNETES_VERSION
from exam import cli as exam_cli
from graders import cli as grade_cli
from labs import cli as labs_cli

if TYPE_CHECKING:
    from cluster import preflight

out = Console(highlight=False)
err = Console(stderr=True, highlight=False)


def _progress() -> Callable[[str], None]:
    started = time.monotonic()

    def say(message: str) -> None:
        err.print(f"[dim]{time.monotonic() - started:6.1f}s[/dim]  {message}", soft_wrap=True)

    return say


def cmd_binaries(args: argparse.Namespace) -> int:
    found = binaries.ensure(args.source, _progress())
    for name in binaries.ALL_BINARIES:
        out.print(f"{name:<24} {found.path(name)}")
    return 0


def cmd_up(args: argparse.Namespace) -> int:
    lab = paths.lab_paths()
    say = _progress()
    running = backends.running(lab)
    wanted = (args.backend or "auto").strip().lower()
    if running is not None and wanted not in ("auto", running.name):
        raise CkslabError(f"a {running.name} cluster is already up; BACKEND={wanted} would be a second one.",
                          f"Run `make down` first, then `make up BACKEND={wanted}`.")
    backend, why = (running, f"{running.name}: already recorded in {lab.state_file}") if running \
        else backends.select(wanted, lab)
    say(f"backend {why}")
    binaries.ensure("auto", say, names=backend.needs)
    available = backend.available()
    if not available.ok:
        raise CkslabError(f"the {backend.name} backend cannot run here: {available.reason}.")
    result = backend.up(say)
    if result.already_running:
        out.print(f"The {result.backend} cluster is already up and healthy; nothing changed.")
    else:
        verb = "recovered" if result.recovered else "is up"
        out.print(f"\n[bold green]The {result.backend} cluster {verb}[/bold green] in {result.seconds:.1f}s.")
    summary = Table.grid(padding=(0, 2))
    summary.add_row("backend", result.backend)
    summary.add_row("Kubernetes", result.version)
    summary.add_row("API server", result.server)
    summary.add_row("kubeconfig", str(result.kubeconfig))
    out.print(summary)
    out.print("\nNext:\n"
              '  eval "$(.venv/bin/ckslab env)"   # kubectl and ckslab in your shell\n'
              "  kubectl get csr\n"
              "  ckslab controlplane show controller-manager   # the CSR signer's flags")
    return 0


def cmd_down(args: argparse.Namespace) -> int:
    lab = paths.lab_paths()
    try:
        backend = backends.running(lab) or LocalBackend(lab)
    except CkslabError:
        backend = LocalBackend(lab)  # a damaged state file: the local backend repairs it
    if backend.down(_progress()):
        out.print(f"The {backend.name} cluster is down; nothing of it is left running.")
    else:
        out.print("No cluster was up; nothing to do.")
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    backend = backends.running(paths.lab_paths())
    status = backend.status() if backend else None
    if status is None:
        out.print("No cluster is up. Run `make up`.")
        return 3
    table = Table(title=f"{status.backend} cluster, Kubernetes {status.version}, {status.server}")
    for column in ("component", "running", "healthy", "detail"):
        table.add_column(column)
    for c in status.components:
        table.add_row(c.name, "yes" if c.running else "[red]no[/red]",
                      "yes" if c.healthy else "[red]no[/red]", c.detail)
    out.print(table)
    if not status.healthy:
        down = [c for c in status.components if not c.healthy]
        if all("(moved out?)" in c.detail for c in down):  # the kubelet's rule: nothing for `make up` to do
            out.print(f"{', '.join(c.name for c in down)}: stopped because {'its' if len(down) == 1 else 'their'} "
                      "manifest left the manifests folder; put it back and it starts again (its row says when).")
        else:
            out.print("Some components are down: run `make up` to restart them.")
        return 1
    return 0


def cmd_env(args: argparse.Namespace) -> int:
    lab = paths.lab_paths()
    bin_dir = paths.kubernetes_bin_dir()
    print(f"export KUBECONFIG={shlex.quote(str(lab.kubeconfig))}")
    # The pinned kubectl first, then this ckslab (what `up` and `start` tell the learner to type),
    # then the make that runs the project's Makefile from a lab's workspace (`make grade LAB=...`).
    here = Path(sys.executable).parent
    print(f'export PATH={shlex.quote(str(bin_dir))}:{shlex.quote(str(here))}:'
          f'{shlex.quote(str(jupyter_cli.SHELL_BIN))}:"$PATH"')
    if not lab.kubeconfig.exists():
        err.print(f"# note: no cluster is up yet ({lab.kubeconfig} does not exist): run `make up`.")
    return 0


def _backend_for_controlplane() -> Backend:
    backend = backends.running(paths.lab_paths())
    if backend is None:
        raise CkslabError("no cluster is up.", "Run `make up` first.")
    return backend


def cmd_controlplane(args: argparse.Namespace) -> int:
    backend = _backend_for_controlplane()
    if args.action == "ca":
        sys.stdout.write(backend.ca_certificate().decode())
        return 0
    component = controlplane.ALIASES.get(args.component or "")
    if component is None:
        raise UsageError(f"unknown component {args.component!r}." if args.component else "which component?",
                         f"Use one of: {', '.join(sorted(set(controlplane.ALIASES)))}.")
    if args.action == "show":
        sys.stdout.write(backend.show_component(component))
        if isinstance(backend, LocalBackend):  # on stderr: stdout stays the manifest, for scripts
            err.print(backend.following_note(component), soft_wrap=True, markup=False)
        return 0
    node = backend.node()  # NodeUnreachable (with its fix) where the control plane is not ckslab's
    if args.action == "flags":
        sys.stdout.write("\n".join(node.running_command(component)) + "\n")
        return 0
    backend.restart(component, _progress())
    out.print(f"{component} restarted from its manifest.")
    if component == controlplane.CONTROLLER_MANAGER and not controlplane.signs_csrs(node.running_command(component)):
        out.print("Note: its --controllers turn the CSR signer (csrsigning) off: approved CSRs stay unsigned "
                  "until it runs again.", soft_wrap=True)
    return 0


def cmd_doctor(args: argparse.Namespace) -> int:
    from cluster import docker, preflight

    lab = paths.lab_paths()
    findings: list[preflight.Finding] = []
    backend = backends.running(lab)
    needed = backend.needs if backend else binaries.CLUSTER_BINARIES
    gone = binaries.missing(needed)
    findings.append(preflight.Finding("binaries", not gone, f"missing: {', '.join(gone)}" if gone else
                                      f"{', '.join(needed)} ({KUBERNETES_VERSION}) in the cache", "Run `make binaries`."))
    found = docker.check()
    findings.append(preflight.Finding("Docker for kind", True, ("usable: " if found.usable else "not usable (the "
                                      "local backend needs none): ") + found.reason))
    status = backend.status() if backend else None
    if backend is None or status is None:
        findings.append(preflight.Finding("cluster", False, "no cluster is up", "Run `make up`."))
    else:
        findings.append(preflight.Finding("cluster", status.healthy, f"{status.backend}, {status.server}: "
                                          + ", ".join(f"{c.name} {'ok' if c.healthy else 'DOWN'}"
                                                      for c in status.components), "Run `make up`."))
        # A kubeconfig that does not trust the API server fails every check below for that one reason.
        distrust = _kubeconfig_distrust(lab)
        findings += [distrust] if distrust else []
        if status.healthy and not distrust and not binaries.missing(("kubectl",)):
            findings.append(preflight.version_skew(binaries.cached().kubectl, lab.kubeconfig))
        if status.healthy and not distrust:
            findings.append(preflight.signs_client_certificates(lab.kubeconfig, backend.ca_certificate()))
            findings.append(preflight.certificate_expiry(lab.kubeconfig))
        if status.healthy and not distrust:
            findings += backend.security_findings()
    show_findings(findings, out)
    return 0 if all(f.ok for f in findings) else 1


def _kubeconfig_distrust(lab: paths.LabPaths) -> preflight.Finding | None:
    """A finding when the kubeconfig's CA does not verify the API server's certificate, or the API
    server refuses the kubeconfig's client certificate, saying why (cluster/tls_probe.py)."""
    from cluster import preflight, tls_probe

    problem = tls_probe.refused(lab.kubeconfig, lab)
    if problem is None:
        return None
    check = "kubeconfig's certificate" if problem.kind.startswith("client") else "API server certificate"
    return preflight.Finding(check, False, problem.message, problem.fix)


def show_findings(findings: list[preflight.Finding], console: Console) -> None:
    """Each finding on a line of its own (ok or NO, the check, its detail), a failing one's fix below it.

    Lines, not a table: a table cuts or folds a cell at the console's width (80 when the output is
    not a terminal: a notebook cell, a pipe, a CI log), and a fix is a command to copy whole. Each
    line is printed unwrapped; the terminal wraps it.
    """
    console.print(Text("ckslab doctor", style="bold"))
    width = max((len(f.check) for f in findings), default=0)
    for f in findings:
        verdict = Text(" ok " if f.ok else " NO ", style="green" if f.ok else "bold red")
        console.print(Text.assemble(verdict, f" {f.check:<{width}}  {f.detail}"), soft_wrap=True)
        if not f.ok and f.fix:
            console.print(Text(f"{'':>5}fix: {f.fix}"), soft_wrap=True)


def cmd_node_image(args: argparse.Namespace) -> int:
    from cluster.backends import kind
    from cluster.nodeimage import build as nodeimage

    image = nodeimage.ensure(_progress(), kind.engine()[1])
    how = {"present": "already in the engine", "loaded": f"loaded from the cache in {image.seconds:.0f}s",
           "built": f"built in {image.seconds / 60:.0f} min"}[image.how]
    out.print(f"node image {image.reference} (recipe {image.recipe}) {how}; "
              f"use it with `make up BACKEND=kind` (chosen when {KIND_NODE_IMAGE.split('@')[0]} cannot be pulled) "
              f"or KIND_NODE_IMAGE={image.reference}")
    return 0


def cmd_kind_ready(args: argparse.Namespace) -> int:
    from cluster import engine

    ready = engine.kind_ready(_progress())
    if ready.changed:
        out.print("kind-ready changed this machine:")
        for change in ready.changes:
            out.print(f"  - {change}", soft_wrap=True)
    else:
        out.print(f"kind-ready changed nothing; it checked: {engine.CHECKS}", soft_wrap=True)
    out.print(f"Container engine ready for kind ({ready.check.provider}): {ready.check.reason}.", soft_wrap=True)
    from cluster.backends import kind

    image, local, why = kind.choose_image(_progress())
    chosen = local and not os.environ.get("KIND_NODE_IMAGE")  # else: the image the user named
    where = "built here from the same release: the official one cannot be pulled" if chosen else why
    out.print(f"Node image for kind: {image.split('@')[0]} ({where}). Next: make up BACKEND=kind", soft_wrap=True)
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    from ckslab import bench

    return bench.main(args.json, args.csrs, out, _progress(), args.learners, args.exam_tasks, args.hosted_learners)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="ckslab", description=__doc__.splitlines()[0] if __doc__ else None)
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    s = sub.add_parser("binaries", help="obtain the pinned Kubernetes and etcd binaries")
    s.add_argument("--from", dest="source", default="auto", choices=("auto", "build", "download"),
                   help="auto: download the official release (checksum-verified), else build with Go (default)")
    s.set_defaults(func=cmd_binaries)
    s = sub.add_parser("up", help="start the lab's cluster")
    s.add_argument("--backend", default=os.environ.get("BACKEND", "auto"),
                   help=f"one of {', '.join(backends.CHOICES)} (default: $BACKEND or auto)")
    s.set_defaults(func=cmd_up)
    sub.add_parser("down", help="stop and remove the cluster (safe to run twice)").set_defaults(func=cmd_down)
    sub.add_parser("status", help="health of each control-plane component").set_defaults(func=cmd_status)
    sub.add_parser("env", help='shell exports: eval "$(ckslab env)"').set_defaults(func=cmd_env)
    sub.add_parser("doctor", help="check binaries, Docker, the cluster, versions and CSR signing").set_defaults(
        func=cmd_doctor)
    s = sub.add_parser("controlplane", help="look at the control plane's configuration")
    s.add_argument("action", choices=("show", "flags", "ca", "restart"),
                   help="show: its manifest; flags: the command its process runs with now; ca: the cluster CA; "
                        "restart: apply its manifest")
    s.add_argument("component", nargs="?", help="etcd, apiserver or controller-manager")
    s.set_defaults(func=cmd_controlplane)
    sub.add_parser("node-image", help="build (or load from the cache) the kind node image of the pinned release"
                   ).set_defaults(func=cmd_node_image)
    sub.add_parser("kind-ready", help="make this machine able to run kind (checks first; says what it changes)"
                   ).set_defaults(func=cmd_kind_ready)
    s = sub.add_parser("bench", help="measure up time, CSR signing latency and memory")
    s.add_argument("--json", default=str(paths.lab_paths().lab / "bench.json"), help="where to write the JSON")
    s.add_argument("--csrs", type=int, default=20, help="CSRs to time (default 20)")
    s.add_argument("--learners", type=int, default=30, help="class size to grade (default 30; 0 skips it)")
    s.add_argument("--hosted-learners", type=int, default=10,
                   help="learners of a class hosted here (class up, their logins, the scoreboard; needs root): "
                        "default 10; 0 skips it")
    s.add_argument("--exam-tasks", type=int, default=15,
                   help="tasks of the mock exam to start and grade (default 15, or all the bank has; 0 skips it)")
    s.set_defaults(func=cmd_bench)
    node_cli.add_parser(sub)
    grade_cli.add_parser(sub)
    labs_cli.add_parser(sub)
    jupyter_cli.add_parser(sub)
    exam_cli.add_parser(sub)
    class_cli.add_parser(sub)
    return p


#: The exit status of a command whose reader closed its stdout (``| head``): 128 + SIGPIPE, as a program
#: the signal ends gets.
PIPE_CLOSED = 141


def _stdout_closed() -> bool:
    """Whether stdout is a pipe whose reader went away (poll says POLLERR on its write end, Linux and macOS)."""
    try:
        polled = select.poll()
        polled.register(sys.stdout.fileno(), select.POLLOUT)
        return any(events & select.POLLERR for _fd, events in polled.poll(0))
    except (OSError, ValueError, AttributeError):  # no real stdout (a test's capture), no poll
        return False


def _broken_pipe(error: BrokenPipeError) -> int:
    """A pipe closed under us. stdout's reader gone (``ckslab ... | head``): stop quietly, as a program
    SIGPIPE ends does (Python ignores SIGPIPE and raises instead), with stdout pointed at /dev/null so the
    interpreter's last flush does not print "Exception ignored ... BrokenPipeError" either
    (docs.python.org/3/library/signal.html, "Note on SIGPIPE"). Another pipe (a program ckslab fed): one line."""
    if not _stdout_closed():
        err.print(f"[red]ckslab: error:[/red] a program ckslab was writing to closed its input ({error}).",
                  soft_wrap=True)
        return 1
    os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return PIPE_CLOSED


def main(argv: Sequence[str] | None = None) -> int:
    """Run one ``ckslab`` command (``argv``: its arguments, default sys.argv); its exit status."""
    # rich's consoles (every module's) end the process with status 1 on a closed stdout; have them raise
    # instead, so that one handler here treats it the same wherever it happens (rich: "implement this
    # method ... to change the behavior").
    rich_handler = Console.on_broken_pipe
    setattr(Console, "on_broken_pipe", _raise_broken_pipe)
    try:
        code = _main(argv)
        sys.stdout.flush()  # what print() left in the buffer: its closed pipe raises here, not at exit
        return code
    except BrokenPipeError as error:  # once for every command: ckslab ... | head
        return _broken_pipe(error)
    finally:
        setattr(Console, "on_broken_pipe", rich_handler)


def _raise_broken_pipe(_console: Console) -> None:
    raise BrokenPipeError(errno.EPIPE, "stdout was closed")


def _main(argv: Sequence[str] | None) -> int:
    args = parser().parse_args(argv)
    if not getattr(args, "func", None):
        parser().print_help()
        return 2
    try:
        return int(args.func(args))
    except CkslabError as e:
        err.print(f"[red]ckslab: error:[/red] {e}", soft_wrap=True)
        return e.exit_code
    except KeyboardInterrupt:
        err.print("ckslab: interrupted")
        return 130
