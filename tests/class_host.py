"""Helpers of the hosted-class test: a Python learners can run, logins over HTTP, commands as a learner."""

from __future__ import annotations

import csv
import subprocess
import sys
import sysconfig
import time
from dataclasses import dataclass, field
from pathlib import Path

import requests

from ckslab.classhost import layout, learnerenv


def open_to_all(path: Path) -> bool:
    """Every folder above ``path`` (links followed) lets other users through."""
    return all(p.stat().st_mode & 0o001 for p in Path(path).resolve().parents)


def learner_python(base: Path) -> str:
    """This environment's Python when learners can run it; else a venv of Debian's Python that imports it.

    ckslab's own environment may hang off a Python under /root (pyenv), which no learner may enter.
    A venv of /usr/bin/python3 (the same minor version) with a .pth that adds this environment's
    site-packages, and its ``etc/`` and ``share/`` (JupyterLab's assets, the server extensions'
    switches), runs the same ckslab, JupyterHub and JupyterLab as any user. ``class up`` itself
    refuses an environment learners cannot run, with one line (tested in test_classhost.py).
    """
    if open_to_all(Path(sys.executable)):
        return sys.executable
    system = Path("/usr/bin/python3")
    version = subprocess.run([str(system), "-c", "import sys; print(sys.version_info[:2])"],
                             capture_output=True, text=True, check=True).stdout.strip()
    if version != str(tuple(sys.version_info[:2])):
        raise RuntimeError(f"{system} is Python {version}, this environment {sys.version_info[:2]}")
    venv = base / "venv"
    subprocess.run([str(system), "-m", "venv", "--without-pip", str(venv)], check=True)
    purelib = Path(sysconfig.get_paths(vars={"base": str(venv), "platbase": str(venv)})["purelib"])
    here = sysconfig.get_paths()["purelib"]
    (purelib / "ckslab-instructor.pth").write_text(f"import site; site.addsitedir({here!r})\n")
    # JupyterLab's assets and the server extensions' switches live under the environment's prefix.
    for data in ("etc", "share"):
        if (Path(sys.prefix) / data).is_dir():
            (venv / data).symlink_to(Path(sys.prefix) / data)
    script = venv / "bin" / "ckslab"
    script.write_text(f"#!{venv}/bin/python\nimport sys\nfrom ckslab.cli import main\nsys.exit(main())\n")
    script.chmod(0o755)
    return str(venv / "bin" / "python")


@dataclass
class Class:
    """A class of three up on this machine, for one test module."""

    base: Path
    python: str
    names: list[str]
    port: int
    env: dict[str, str]
    passwords: dict[str, str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    @property
    def where(self) -> layout.ClassPaths:
        return layout.ClassPaths(self.base / "class")

    def ckslab(self, *args: str, timeout: float = 300, **env: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([self.python, "-m", "ckslab", *args], env={**self.env, **env}, capture_output=True,
                              text=True, timeout=timeout, check=False)

    def read_passwords(self) -> None:
        with open(self.where.credentials) as fh:
            self.passwords = {r["name"]: r["password"] for r in csv.DictReader(fh)}

    def login(self, name: str) -> requests.Session:
        """Log in through the hub's login form, as a browser does."""
        session = requests.Session()
        session.get(self.url + "hub/login", timeout=30)
        answer = session.post(self.url + "hub/login", allow_redirects=False, timeout=30, data={
            "username": name, "password": self.passwords[name], "_xsrf": session.cookies.get("_xsrf")})
        assert answer.status_code == 302, f"login of {name} refused: HTTP {answer.status_code}"
        return session

    def open_lab(self, session: requests.Session, name: str, timeout: float = 240) -> float:
        """Ask for the learner's server and wait until JupyterLab answers; the seconds it took."""
        started = time.monotonic()
        session.get(self.url + "hub/spawn", timeout=60)
        deadline = started + timeout
        while time.monotonic() < deadline:
            page = session.get(self.url + f"user/{name}/lab", timeout=30)
            if page.status_code == 200 and f"/user/{name}/lab" in page.url and "JupyterLab" in page.text:
                return time.monotonic() - started
            time.sleep(1)
        raise AssertionError(f"{name}'s JupyterLab did not open within {timeout:.0f}s; hub log: "
                             f"{self.where.hub_log.read_text()[-2000:]}")

    def as_learner(self, name: str, *command: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        """``command`` run as the learner's Unix user (runuser), in their environment."""
        env = learnerenv.environment(self.where, layout.learner_home(name))
        env["PATH"] = f"{Path(self.python).parent}:{env['PATH']}"
        return subprocess.run(["runuser", "-u", name, "--", "env", "-i",
                               *[f"{k}={v}" for k, v in env.items()], *command],
                              capture_output=True, text=True, timeout=timeout, check=False,
                              cwd=str(layout.learner_home(name).home))


def processes_of(uid: int) -> list[str]:
    """Command lines of the live processes of ``uid``."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if entry.stat().st_uid == uid:
                    found.append((entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace"))
            except OSError:
                continue
    return [c for c in found if c]


