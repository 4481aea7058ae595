"""What a learner sees on a first run and in a terminal: no noise that is not about their lab.

Each test runs the real command in a subprocess (pip building ckslab, make, the ckslab CLI) and
reads its output, as a learner would.
"""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def test_installing_ckslab_as_make_setup_does_prints_nothing(tmp_path: Path) -> None:
    """`make setup` runs `pip install --quiet -e .`: setuptools must not warn on a first `make`.

    It warned "Package would be ignored" for each data folder (ckslab/jupyterlab/settings,
    cluster/audit) and "Editable installation... be careful with folders" for its import hook.
    """
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    done = subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"), "install", "--quiet",
         "--no-deps", "--disable-pip-version-check", "-e", str(ROOT)],
        capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout + done.stderr == ""
    # The editable install imports the checkout's packages (without their dependencies: no import).
    found = subprocess.run(
        [str(venv / "bin" / "python"), "-c", "import importlib.util as u; "
         "print(*(u.find_spec(p).origin for p in ('ckslab', 'cluster', 'labs', 'graders')))"],
        capture_output=True, text=True, timeout=60, check=True, cwd=tmp_path)
    assert found.stdout.split() == [str(ROOT / p / "__init__.py") for p in ("ckslab", "cluster", "labs", "graders")]


def test_the_wheel_ships_every_data_file_without_a_warning(tmp_path: Path) -> None:
    """A wheel has every data file, and building it warns about none of their folders."""
    done = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--disable-pip-version-check", "-w", str(tmp_path), str(ROOT)],
        capture_output=True, text=True, timeout=300, check=False)
    said = done.stdout + done.stderr
    assert done.returncode == 0, said
    assert "Warning" not in said and "would be ignored" not in said, said
    wheel = next(tmp_path.glob("ckslab-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    for data in ("ckslab/jupyterlab/settings/overrides.json", "cluster/audit/audit-policy.yaml",
                 "graders/pytest.ini", "labs/certificates-api/lab.yaml", "labs/certificates-api/setup.sh",
                 "labs/certificates-api/practice.yaml", "labs/practice_setup.sh"):
        assert data in names, f"{data} is missing from the wheel: {sorted(names)}"


# --- make: what the Makefile adds to a command's own output -------------------------------------

def _make(*args: str, env: dict[str, str] | None = None, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    """``make`` as a learner's shell runs it: under `make test` this process inherits the outer make's
    MAKELEVEL and MAKEFLAGS, which a learner's terminal has not (JupyterLab's drop them: tested above),
    and with which make prints "Entering directory"."""
    clean = {k: v for k, v in os.environ.items() if k not in ("MAKELEVEL", "MAKEFLAGS", "MFLAGS")}
    return subprocess.run(["make", *args], capture_output=True, text=True, timeout=120, check=False, cwd=cwd,
                          env={**clean, **(env or {})})


def _fake_ckslab(tmp_path: Path, code: int) -> Path:
    """A stand-in for `.venv/bin/ckslab` that prints its arguments and exits with ``code``."""
    fake = tmp_path / f"ckslab-{code}"
    fake.write_text(f'#!/bin/sh\necho "ckslab $*"\nexit {code}\n')
    fake.chmod(0o755)
    return fake


def test_make_grade_ends_a_failing_grade_without_makes_error(tmp_path: Path) -> None:
    """A failing step is the grade's result: `make grade` prints only the grade, and succeeds.

    `ckslab grade` keeps its exit codes for scripts (0 pass, 1 a step fails, 2 cannot grade); a
    grade that could not run (2) stays an error of the make target.
    """
    for code, make_code in ((0, 0), (1, 0)):
        done = _make("grade", "LAB=csr-review", f"CKSLAB={_fake_ckslab(tmp_path, code)}")
        assert (done.returncode, done.stdout, done.stderr) == (make_code, "ckslab grade csr-review\n", "")
    failed = _make("grade", "LAB=csr-review", f"CKSLAB={_fake_ckslab(tmp_path, 2)}")
    assert failed.returncode != 0 and failed.stdout == "ckslab grade csr-review\n"


def test_jupyterlab_terminals_do_not_inherit_makes_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    from ckslab import jupyter

    for name, value in (("MAKELEVEL", "1"), ("MAKEFLAGS", "w -- LAB=x"), ("MFLAGS", "-w")):
        monkeypatch.setenv(name, value)
    _argv, env = jupyter.command(None, None)
    assert not {"MAKELEVEL", "MAKEFLAGS", "MFLAGS"} & set(env)
    assert env["PATH"].split(os.pathsep)[0] == str(jupyter.SHELL_BIN)


def test_the_make_of_jupyterlab_terminals_runs_the_projects_makefile_from_a_workspace(tmp_path: Path) -> None:
    """`make grade LAB=...` typed in workspace/<lab>/ (no Makefile there) runs the project's target."""
    from ckslab import jupyter

    workspace = tmp_path / "workspace" / "csr-review"
    workspace.mkdir(parents=True)
    path = {"PATH": f"{jupyter.SHELL_BIN}{os.pathsep}{os.environ['PATH']}"}
    fake = _fake_ckslab(tmp_path, 1)
    done = _make("grade", "LAB=csr-review", f"CKSLAB={fake}", env=path, cwd=workspace)
    assert (done.returncode, done.stdout, done.stderr) == (0, "ckslab grade csr-review\n", "")
    # A folder with a Makefile of its own, or -f, gets the system's make, unchanged.
    (tmp_path / "Makefile").write_text("grade:\n\t@echo own makefile\n")
    assert _make("grade", env=path, cwd=tmp_path).stdout == "own makefile\n"
    assert _make("-f", str(tmp_path / "Makefile"), "grade", env=path, cwd=workspace).stdout == "own makefile\n"


# --- the CLI ----------------------------------------------------------------------------------------

def test_doctor_prints_each_fix_in_full_when_the_output_is_not_a_terminal(tmp_path: Path) -> None:
    """A fix is a command to copy; at rich's 80 columns (not a terminal) a table column cut it."""
    fix = "chmod 600 " + " ".join(f"/a/long/path/to/.lab/local/etc/kubernetes/pki/key-{n}.key" for n in range(3))
    script = ("from rich.console import Console; from ckslab import cli; from cluster.preflight import Finding; "
              f"cli.show_findings([Finding('private keys 0600', False, 'keys readable by others', {fix!r})], "
              "Console(highlight=False))")
    env = {k: v for k, v in os.environ.items() if k != "COLUMNS"}
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True,
                          env=env)
    assert f"     fix: {fix}\n" in done.stdout, done.stdout
    assert "…" not in done.stdout


def test_start_says_for_whom_only_in_a_lab_about_a_user(lab_root: Path, monkeypatch: pytest.MonkeyPatch,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    from ckslab import cli
    from labs import catalog, engine

    assert [lab.id for lab in catalog.all_labs() if not lab.names_user()] == [
        "control-plane-certificates", "node-certificates"]
    monkeypatch.setattr(engine, "start", lambda run, say, again=False: None)  # the cluster part is tested elsewhere
    monkeypatch.setenv("COLUMNS", "200")
    monkeypatch.delenv("CKSLAB_USER", raising=False)
    assert cli.main(["start", "control-plane-certificates"]) == 0
    said = capsys.readouterr().out
    assert "is ready.\n" in said and "jane" not in said, said
    assert "make jupyter LAB=control-plane-certificates" in said
    assert cli.main(["start", "certificates-api"]) == 0
    assert "is ready for jane.\n" in capsys.readouterr().out


def test_after_ckslab_env_make_grade_works_in_the_labs_workspace(tmp_path: Path) -> None:
    """`make lab` says "Work in: workspace/<lab>/ ... Check: make grade LAB=<lab>": both hold after the eval."""
    exports = subprocess.run([sys.executable, "-m", "ckslab", "env"], capture_output=True, text=True, timeout=60,
                             check=True, env={**os.environ, "CKSLAB_ROOT": str(tmp_path)}).stdout
    workspace = tmp_path / "workspace" / "csr-review"
    workspace.mkdir(parents=True)
    fake = _fake_ckslab(tmp_path, 1)
    shell = subprocess.run(["bash", "-c", f"{exports}\nmake grade LAB=csr-review CKSLAB={fake}"], cwd=workspace,
                           capture_output=True, text=True, timeout=60, check=False,
                           env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "CKSLAB_ROOT": str(tmp_path)})
    assert (shell.returncode, shell.stdout, shell.stderr) == (0, "ckslab grade csr-review\n", "")
