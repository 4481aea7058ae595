"""The setup of the exam's kubeadm-renew task, in one process: kubeadm's certificates near their end.

``python3 -m graders.exam.pki_setup kubeadm-renew ...`` (``$CKSLAB_ROOT`` is the context's cluster)
re-issues every certificate kubeadm manages, with kubeadm itself on the node (``Node.kubeadm``:
``kubeadm certs renew`` with a ClusterConfiguration whose certificateValidityPeriod is short, as the
control-plane-certificates lab's setup does), makes the admin's copy of admin.conf, and records the
serials off the node (graders.exam.pki_record). One process instead of a dozen ``ckslab node`` calls:
each costs a Python start (seconds on a loaded machine).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from cluster.errors import CkslabError
from graders.cluster_node import node_at
from graders.exam import pki_record
from graders.expect import StepFailure

#: Where the short-validity configuration is written on the node while kubeadm reads it.
CONFIG = "/etc/kubernetes/.ckslab-validity.yaml"


def _config(hours: int) -> bytes:
    return (f"apiVersion: kubeadm.k8s.io/v1beta4\nkind: ClusterConfiguration\nkubernetesVersion: v1.37.0\n"
            f"certificateValidityPeriod: {hours}h\n").encode()


def kubeadm_renew(root: Path, later_hours: int, soon_hours: int, soon: list[str], kubeconfig: str,
                  report: str) -> None:
    """Everything to expire in ``later_hours``, the ``soon`` ones in ``soon_hours``; the admin's copy at
    ``kubeconfig``; no ``report`` yet; the record. CkslabError naming the kubeadm run that failed."""
    node = node_at(root)
    try:
        for hours, names in ((later_hours, ["all"]), (soon_hours, soon)):
            node.write_file(CONFIG, _config(hours))
            for name in names:
                done = node.kubeadm("certs", "renew", name, "--config", CONFIG)
                if done.returncode != 0:
                    raise CkslabError(f"kubeadm certs renew {name} failed: "
                                      f"{done.stderr.decode(errors='replace').strip()[-300:]}")
    finally:
        node.remove_file(CONFIG)
    for path in (kubeconfig, report):
        node.exec("mkdir", "-p", str(Path(node.path(path)).parent))
    node.write_file(kubeconfig, node.read_file("/etc/kubernetes/admin.conf"))
    node.exec("chmod", "600", node.path(kubeconfig))
    node.remove_file(report)
    pki_record.write(root, "kubeadm-renew")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python3 -m graders.exam.pki_setup")
    sub = parser.add_subparsers(dest="action", required=True)
    renew = sub.add_parser("kubeadm-renew")
    renew.add_argument("--later-hours", type=int, required=True)
    renew.add_argument("--soon-hours", type=int, required=True)
    renew.add_argument("--soon", nargs="+", required=True, help="kubeadm's names of the certificates to expire first")
    renew.add_argument("--kubeconfig", required=True, help="the node path of the admin's copy of admin.conf")
    renew.add_argument("--report", required=True, help="the node path of the learner's report (removed)")
    args = parser.parse_args(argv)
    root = Path(os.environ.get("CKSLAB_ROOT", ".")).resolve()
    try:
        kubeadm_renew(root, args.later_hours, args.soon_hours, args.soon, args.kubeconfig, args.report)
    except (CkslabError, StepFailure, ValueError, OSError) as err:
        print(f"error: {getattr(err, 'message', err)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
