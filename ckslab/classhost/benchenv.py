"""What hosting ``ckslab bench``'s class needs here: root, the tools, the binaries, the memory, a Python learners run."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

from ckslab.classhost import benchfigures
from cluster import binaries
from cluster.errors import CkslabError


def cannot_run(learners: int) -> str:
    """Why a class cannot be hosted here now ('' when it can)."""
    if os.geteuid() != 0:
        return "hosting a class needs root (a Unix user per learner): run `sudo make bench`"
    for tool in ("runuser", "useradd", "userdel"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed"
    gone = binaries.missing()
    if gone:
        return f"Kubernetes binaries missing ({', '.join(gone)}): run `make binaries`"
    with open("/proc/meminfo") as fh:
        available = next(int(line.split()[1]) for line in fh if line.startswith("MemAvailable:")) / 1024
    return benchfigures.room_for(learners, available)


def _open_to_all(path: Path) -> bool:
    return all(p.stat().st_mode & 0o001 for p in Path(path).resolve().parents)


def runnable_python(base: Path) -> str:
    """This environment's Python when learners can run it; else a venv of /usr/bin/python3 importing it.

    The same as tests/class_host.py's ``learner_python``: ckslab's environment may hang off a Python
    under /root (pyenv), which no learner may enter; a venv of the system Python of the same minor
    version, with a .pth adding this environment's site-packages and its ``etc/`` and ``share/``
    (JupyterLab's assets), runs the same ckslab, JupyterHub and JupyterLab as any user.
    """
    if _open_to_all(Path(sys.executable)):
        return sys.executable
    system = Path("/usr/bin/python3")
    version = subprocess.run([str(system), "-c", "import sys; print(sys.version_info[:2])"],
                             capture_output=True, text=True, check=False).stdout.strip()
    if version != str(tuple(sys.version_info[:2])):
        raise CkslabError(f"learners cannot run {sys.executable} (a folder above it is closed to them) and "
                          f"{system} is Python {version or 'missing'}, not {sys.version_info[:2]}.",
                          "Make ckslab's environment from a Python every user can run (make setup PYTHON=...).")
    venv = base / "venv"
    subprocess.run([str(system), "-m", "venv", "--without-pip", str(venv)], check=True, capture_output=True)
    purelib = Path(sysconfig.get_paths(vars={"base": str(venv), "platbase": str(venv)})["purelib"])
    (purelib / "ckslab-bench.pth").write_text(f"import site; site.addsitedir({sysconfig.get_paths()['purelib']!r})\n")
    for data in ("etc", "share"):
        if (Path(sys.prefix) / data).is_dir():
            (venv / data).symlink_to(Path(sys.prefix) / data)
    return str(venv / "bin" / "python")
