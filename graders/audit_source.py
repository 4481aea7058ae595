"""Where the API server's audit log of the graded cluster is, read where the API server writes it.

The path is never assumed: it is the ``--audit-log-path`` of the kube-apiserver that runs, read
through the cluster's control-plane node (``Node.audit_log``: the running process's command line,
then the log and its rotated files, on the node). A cluster ckslab did not start (``existing``, or
no state file) has no node ckslab can reach, so there is no log.

Read only. ``read_trail`` never fails: when no log can be read it says why (``Unavailable``),
and the graders fall back to what a certificate's age says.
"""

from __future__ import annotations

from pathlib import Path

from cluster import backends
from cluster.backends.node import ComponentNotRunning, NodeError, NodeUnreachable
from cluster.errors import CkslabError
from cluster.paths import LabPaths
from graders import audit
from graders.audit import Unavailable

NOT_STARTED_BY_CKSLAB = "ckslab cannot read the audit log of a cluster it did not start (the existing backend)"


def read_trail(root: Path) -> audit.Trail | Unavailable:
    """The CSR trail of the cluster recorded under the project root ``root``, or why there is none."""
    lab = LabPaths(root)
    try:
        node = backends.node_of(lab)
    except NodeUnreachable:
        return Unavailable(NOT_STARTED_BY_CKSLAB)
    except NodeError:  # no cluster recorded
        return Unavailable(NOT_STARTED_BY_CKSLAB)
    except CkslabError as err:
        return Unavailable(f"the lab state cannot be read ({err.message.rstrip('.')})")
    try:
        log = node.audit_log()
    except ComponentNotRunning:
        return Unavailable("the API server is not running")
    except CkslabError as err:
        return Unavailable(err.message.rstrip("."))
    return audit.parse(log.lines, log.where)
