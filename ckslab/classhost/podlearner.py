"""Run inside a learner's pod (the KubeSpawner path): start their control plane, then their JupyterLab.

``python -m ckslab.classhost.podlearner start [ARGS...]`` is the pod's command (KubeSpawner's
``cmd``): it brings the learner's local control plane up under ``$CKSLAB_ROOT`` on their volume (a
new cluster, or the one their volume already holds, recovered), then becomes
``jupyterhub-singleuser`` with ckslab's JupyterLab options. ``grade`` prints the learner's grade as
one JSON line (``grading.Grade``) and ``status`` their control plane and current lab; the
instructor's ``ckslab class grade`` and ``class status`` run them with ``kubectl exec``. Everything
runs as the pod's unprivileged user: the plane's processes listen on the pod's 127.0.0.1 only, with
a PKI made in the pod, so no other pod reaches them with its own credentials.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

from ckslab.classhost import grading, learner, learnerenv
from ckslab.classhost.layout import LearnerHome


def home() -> LearnerHome:
    """The pod's learner: ``$JUPYTERHUB_USER`` (or ``$CKSLAB_USER``) with ``$HOME`` as their home."""
    name = os.environ.get("JUPYTERHUB_USER") or os.environ.get("CKSLAB_USER") or "learner"
    return LearnerHome(name, os.getuid(), os.getgid(), Path(os.environ.get("HOME", "/home/learner")))


def start(args: list[str]) -> int:
    """Bring the control plane up, then exec ``jupyterhub-singleuser`` (never returns on success)."""
    me = home()
    os.environ.setdefault("CKSLAB_ROOT", str(me.root))
    os.environ.setdefault("KUBECONFIG", str(me.lab.kubeconfig))
    me.root.mkdir(parents=True, exist_ok=True)
    if learner.main(["up"]) != 0:
        return 1
    singleuser = shutil.which("jupyterhub-singleuser")
    if singleuser is None:
        print("jupyterhub-singleuser is not installed in this image", flush=True)
        return 1
    os.execv(singleuser, [singleuser, *args, *learnerenv.singleuser_args(me)])
    return 1  # pragma: no cover  (execv does not return)


def main(argv: list[str]) -> int:
    if argv[:1] == ["start"]:
        return start(argv[1:])
    me = home()
    if argv[:1] == ["grade"]:
        # Grading points stdout and stderr at /dev/null (graders.classroom.grade_one): keep ours.
        with os.fdopen(os.dup(1), "w") as out:
            row = grading.grade_home(me)
            out.write(json.dumps(row) + "\n")
        return 0
    if argv[:1] == ["status"]:
        print(json.dumps({"cluster": grading.control_plane(me), "lab": grading.current_lab(me)}), flush=True)
        return 0
    print("usage: python -m ckslab.classhost.podlearner start [ARGS...]|grade|status", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
