"""A learner's environment: what their control plane, JupyterLab and every kernel and terminal see.

Shared by the spawner (running as root, before it drops to the learner) and the grading (as
the learner), so both point at the same ``CKSLAB_ROOT``, binaries and lab user.
"""

from __future__ import annotations

import sys
from pathlib import Path

from ckslab import jupyter
from ckslab.classhost.layout import ClassPaths, LearnerHome
from cluster.versions import ETCD_VERSION, KUBERNETES_VERSION

#: The ckslab environment every learner runs (the instructor's, readable by all).
VENV_BIN = Path(sys.executable).parent


def environment(where: ClassPaths, home: LearnerHome) -> dict[str, str]:
    """The variables a learner's processes get (on top of HOME, USER, SHELL)."""
    kube_bin = where.cache / KUBERNETES_VERSION / "bin"
    return {
        "CKSLAB_ROOT": str(home.root),
        "CKSLAB_CACHE": str(where.cache),
        "CKSLAB_USER": home.name,  # their objects and workspace are named after them, as on a shared cluster
        "KUBECONFIG": str(home.lab.kubeconfig),
        # ckslab's `make` first, as in `ckslab jupyter`: what the notebooks and ckslab's messages say to type
        # (`make grade LAB=...`) runs the project's Makefile from their workspace, which has none.
        "PATH": f"{jupyter.SHELL_BIN}:{kube_bin}:{VENV_BIN}:/usr/local/bin:/usr/bin:/bin",
        "PYTHONSTARTUP": str(jupyter.KERNEL_STARTUP),
        "HOME": str(home.home),
        "USER": home.name,
        "LOGNAME": home.name,
    }


def singleuser_args(home: LearnerHome) -> list[str]:
    """``jupyterhub-singleuser``'s options: JupyterLab on the learner's workspace, offline, ckslab's defaults."""
    return [
        f"--ServerApp.root_dir={home.lab.workspace}",
        f"--LabApp.app_settings_dir={jupyter.APP_SETTINGS_DIR}",
        f"--FileCheckpoints.checkpoint_dir={home.lab.lab / 'jupyter-checkpoints'}",
        "--ServerApp.terminals_enabled=True",
        "--ServerApp.terminado_settings=shell_command=/bin/bash",
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
        "--LabApp.news_url=None",
    ]


#: Binaries a learner's control plane runs, and where they are in the cache (relative).
SHARED_BINARIES = {
    f"{KUBERNETES_VERSION}/bin": ("kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubectl", "kubeadm"),
    f"etcd-{ETCD_VERSION}/bin": ("etcd",),
}
