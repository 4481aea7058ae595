"""The graded cluster's control-plane node, for graders: ``Backend.node()`` with a grader's failure.

Graders never ask which backend runs the cluster: they read files, command lines, start times and
the audit log through the :class:`~cluster.backends.node.Node` of the cluster recorded under the
project root (``.lab/state.json``), and name the commands a learner types with ``node.typed``.
"""

from __future__ import annotations

from pathlib import Path

from cluster import backends
from cluster.backends.node import Node, NodeUnreachable
from cluster.errors import CkslabError
from cluster.paths import LabPaths
from graders.expect import fail

UNREACHABLE = "Run `ckslab status`; `make up` restarts what is down."


def node_at(root: Path) -> Node:
    """The control-plane node of the cluster whose project root is ``root``; a StepFailure saying why not.

    A cluster ckslab did not create (``existing``): "This lab cannot be done on ...", with its fix.
    """
    try:
        return backends.node_of(LabPaths(root))
    except NodeUnreachable as err:
        fail(f"This lab cannot be done here: {err.message}", err.hint)
    except CkslabError as err:
        fail(f"could not check: {err.message}", err.hint or UNREACHABLE)
