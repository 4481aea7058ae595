"""``ckslab node``: the cluster's control-plane node for lab scripts and learners, on every backend.

The same commands work whether the node is kind's container (``docker``/``podman exec``) or the
local plane (this machine, kubeadm's tree under ``.lab/local``): setup and solution scripts use them
instead of branching on the backend. Paths are the node's own (``/etc/kubernetes/...``).
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from typing import Any

from cluster import backends, controlplane, paths
from cluster.backends.node import Node
from cluster.errors import UsageError


def add_parser(sub: Any) -> None:
    """Register ``node`` and its actions on the ``ckslab`` command line."""
    s = sub.add_parser("node", help="the control-plane node: run a command, read or write a file, a component's "
                                    "flags (kind's container or the local plane, alike)")
    actions = s.add_subparsers(dest="action", metavar="ACTION", required=True)
    a = actions.add_parser("exec", help="run a command on the node (stdin is passed on with -i)")
    a.add_argument("-i", "--stdin", action="store_true", help="pass this command's standard input to it")
    a.add_argument("argv", nargs=argparse.REMAINDER, help="the command and its arguments (after --)")
    a.set_defaults(func=cmd_exec)
    a = actions.add_parser("cat", help="print a file of the node (/etc/kubernetes/...)")
    a.add_argument("path", nargs="+")
    a.set_defaults(func=cmd_cat)
    a = actions.add_parser("rm", help="remove a file of the node (nothing when it is missing)")
    a.add_argument("path")
    a.set_defaults(func=cmd_rm)
    a = actions.add_parser("info", help="the node's name, and whether a kubelet runs it (static pods)")
    a.set_defaults(func=cmd_info)
    a = actions.add_parser("write", help="replace a file of the node with standard input, at once")
    a.add_argument("path")
    a.set_defaults(func=cmd_write)
    a = actions.add_parser("flags", help="the command line a component runs with now, one item a line")
    a.add_argument("component", help="etcd, apiserver, controller-manager or scheduler")
    a.set_defaults(func=cmd_flags)
    a = actions.add_parser("started", help="when a component's running process started (UTC, ISO 8601)")
    a.add_argument("component")
    a.set_defaults(func=cmd_started)
    a = actions.add_parser("kubeadm", help="run kubeadm on the node's /etc/kubernetes (--rootfs on local)")
    a.add_argument("args", nargs=argparse.REMAINDER)
    a.set_defaults(func=cmd_kubeadm)
    a = actions.add_parser("path", help="where a node path is for commands typed here (local: under .lab/local)")
    a.add_argument("path")
    a.set_defaults(func=cmd_path)


def current_node() -> Node:
    """The node of this checkout's cluster; CkslabError (no cluster, unreachable) with its fix."""
    return backends.node_of(paths.lab_paths())


def _component(name: str) -> str:
    component = controlplane.ALIASES.get(name)
    if component is None:
        raise UsageError(f"unknown component {name!r}.", f"Use one of: {', '.join(sorted(set(controlplane.ALIASES)))}.")
    return component


def _passthrough(done: Any) -> int:
    sys.stdout.buffer.write(done.stdout)
    sys.stdout.flush()
    sys.stderr.buffer.write(done.stderr)
    return int(done.returncode)


def cmd_exec(args: argparse.Namespace) -> int:
    argv = args.argv[1:] if args.argv[:1] == ["--"] else args.argv
    if not argv:
        raise UsageError("no command to run on the node.", "For example: ckslab node exec -- crictl ps")
    data = sys.stdin.buffer.read() if args.stdin else None
    return _passthrough(current_node().exec(*argv, stdin=data, timeout=600))


def cmd_cat(args: argparse.Namespace) -> int:
    node = current_node()
    for path in args.path:
        sys.stdout.buffer.write(node.read_file(path))
    return 0


def cmd_write(args: argparse.Namespace) -> int:
    current_node().write_file(args.path, sys.stdin.buffer.read())
    return 0


def cmd_rm(args: argparse.Namespace) -> int:
    current_node().remove_file(args.path)
    return 0


def cmd_info(args: argparse.Namespace) -> int:
    node = current_node()
    sys.stdout.write(f"name: {node.name}\nkubelet: {'yes' if node.runs_kubelet else 'no'}\n")
    return 0


def cmd_flags(args: argparse.Namespace) -> int:
    sys.stdout.write("\n".join(current_node().running_command(_component(args.component))) + "\n")
    return 0


def cmd_started(args: argparse.Namespace) -> int:
    started = current_node().started_at(_component(args.component))
    sys.stdout.write(started.astimezone(dt.timezone.utc).isoformat() + "\n")
    return 0


def cmd_kubeadm(args: argparse.Namespace) -> int:
    argv = args.args[1:] if args.args[:1] == ["--"] else args.args
    return _passthrough(current_node().kubeadm(*argv))


def cmd_path(args: argparse.Namespace) -> int:
    sys.stdout.write(current_node().path(args.path) + "\n")
    return 0
