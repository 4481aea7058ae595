"""A lab that names its backends (``backends:`` in lab.yaml) refuses the others, in one line. No cluster.

The node-certificates lab needs a kubelet that ckslab can reconfigure (kind); on the local backend,
which runs no kubelet, `start`, `reset`, `solve`, `grade`, `hint` and the notebook's setup cell each say so
and name BACKEND=kind, before anything changes.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from notebook_run import outputs_text

from cluster import state
from cluster.paths import checkout
from labs import catalog, engine, notebook

LAB = "node-certificates"


def _cluster(root: Path, backend: str) -> None:
    """A recorded cluster of ``backend`` (its state and a kubeconfig file) that nothing serves."""
    (root / ".lab").mkdir(parents=True, exist_ok=True)
    state.write(root / ".lab" / "state.json",
                state.ClusterState(backend, "v1.37.0", "https://127.0.0.1:1", {}))
    (root / ".lab" / "kubeconfig").write_text("apiVersion: v1\nkind: Config\n")


def ckslab(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CKSLAB_ROOT": str(root)}
    env.pop("CKSLAB_USER", None)
    return subprocess.run([sys.executable, "-m", "ckslab", *args], capture_output=True, text=True, env=env,
                          timeout=120, check=False, stdin=subprocess.DEVNULL)


def test_the_lab_declares_kind_only() -> None:
    lab = catalog.load(LAB)
    assert lab.backends == ("kind",)
    assert lab.runs_on("kind") and not lab.runs_on("local") and not lab.runs_on("existing")
    assert catalog.load("csr-review").backends == () and catalog.load("csr-review").runs_on("local")


def test_an_unknown_backend_in_lab_yaml_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "x"
    folder.mkdir()
    (folder / "lab.yaml").write_text("id: x\ntitle: X\nnotebook: n\nuser: u\nworkspace: x\nbackends: [kinds]\n"
                                     "steps: [{id: a, title: A, points: 1, hint: h}]\n")
    monkeypatch.setattr(catalog, "LABS_DIR", tmp_path)
    with pytest.raises(Exception, match="backends lists kinds; known: kind, local, existing"):
        catalog.load("x")


@pytest.mark.parametrize("command", [("start", LAB), ("reset", LAB), ("solve", LAB, "--yes"), ("grade", LAB),
                                     ("hint", LAB), ("notebook", LAB)])
def test_every_command_on_the_local_backend_refuses_in_one_line_naming_kind(lab_root: Path,
                                                                           command: tuple[str, ...]) -> None:
    _cluster(lab_root, "local")
    done = ckslab(lab_root, *command)
    assert done.returncode == 2, done.stdout + done.stderr
    said = (done.stdout + done.stderr).strip()
    assert "Traceback" not in said
    lines = [line for line in said.splitlines() if LAB in line or "BACKEND" in line]
    assert len(said.splitlines()) == 1 or len(lines) == 1, said
    assert "needs BACKEND=kind" in said and "this cluster is local" in said and "make up BACKEND=kind" in said
    assert not (lab_root / "workspace" / LAB).exists()  # nothing was made


def test_the_existing_backend_is_refused_too(lab_root: Path) -> None:
    _cluster(lab_root, "existing")
    done = ckslab(lab_root, "start", LAB)
    assert done.returncode == 2 and "this cluster is existing" in done.stderr


def test_other_labs_still_start_their_engine_checks_on_local(lab_root: Path) -> None:
    _cluster(lab_root, "local")
    engine.require_backend(engine.prepare("csr-review"))  # no refusal


def test_the_notebook_setup_cell_says_so_and_sets_nothing_up(lab_root: Path, capsys: pytest.CaptureFixture[str],
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    _cluster(lab_root, "local")
    monkeypatch.chdir(lab_root)
    shown: list[object] = []
    monkeypatch.setattr(notebook.kernel, "show", shown.append)
    assert notebook.setup(LAB) is None
    assert len(shown) == 1 and "needs BACKEND=kind" in str(shown[0])
    assert Path.cwd() == lab_root and "lab:" not in capsys.readouterr().out


def test_in_jupyterlab_the_cells_after_a_refused_setup_say_why_not_run_the_setup_cell(
        lab_root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The learner ran the setup cell on a local cluster: the next cells repeat its reason, not "run the setup cell"."""
    _cluster(lab_root, "local")
    # As `ckslab jupyter` starts a kernel: labs/startup.py, the notebook's path in JPY_SESSION_NAME.
    monkeypatch.setenv("CKSLAB_ROOT", str(lab_root))
    monkeypatch.setenv("PYTHONSTARTUP", str(checkout() / "labs" / "startup.py"))
    monkeypatch.setenv("JPY_SESSION_NAME", "node-certificates/lab.ipynb")
    monkeypatch.delenv("CKSLAB_USER", raising=False)
    folder = lab_root / "nb"
    folder.mkdir()
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell('from labs import notebook as lab\n'
                                                                   'lab.setup("node-certificates");'),
                                         nbformat.v4.new_code_cell('%%bash\necho "ran after a refused setup"')])
    nb.metadata["ckslab"] = {"lab": LAB}
    nbformat.write(nb, folder / "lab.ipynb")
    NotebookClient(nb, timeout=60, kernel_name="python3", resources={"metadata": {"path": str(folder)}}).execute()
    setup, after = (outputs_text(nbformat.v4.new_notebook(cells=[c])) for c in nb.cells)
    assert "needs BACKEND=kind" in setup, setup
    assert after.startswith(f"Not run: the lab {LAB} needs BACKEND=kind"), after
    assert "make up BACKEND=kind" in after and "run the setup cell first" not in after and "ran after" not in after


def test_a_grade_that_cannot_run_says_why_without_terminal_colour_codes(lab_root: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """ipykernel exports FORCE_COLOR=1 to every process a kernel starts: rich's red would show as '[31m'."""
    _cluster(lab_root, "local")
    monkeypatch.setenv("FORCE_COLOR", "1")
    shown = notebook._grade(LAB, None)
    assert str(shown).startswith(f"Could not grade {LAB}: the lab {LAB} needs BACKEND=kind"), shown
    assert "\x1b" not in str(shown)


def _needs_node_access(lab: catalog.Lab) -> bool:
    """Whether a lab's setup reaches the control plane's files (kind node or .lab/local): ckslab node, ckslab controlplane, kubeadm."""
    setup = (catalog.LABS_DIR / lab.id / "setup.sh").read_text()
    return any(word in setup for word in ("ckslab node", "ckslab controlplane", "kubeadm", "CKSLAB_KIND_NODE", "$engine"))


def test_every_lab_whose_setup_needs_the_nodes_names_its_backends() -> None:
    """A setup that reaches the node's files cannot run on `existing`: lab.yaml must say so, so start refuses first."""
    needing = [lab.id for lab in catalog.all_labs() if _needs_node_access(lab)]
    assert {"control-plane-certificates", "signing-config", "node-certificates"} <= set(needing)
    assert [lab_id for lab_id in needing if catalog.load(lab_id).runs_on("existing")] == []


@pytest.mark.parametrize("lab", ["control-plane-certificates", "signing-config"])
@pytest.mark.parametrize("command", ["start", "reset", "solve"])
def test_a_lab_that_changes_the_control_plane_refuses_the_existing_backend_in_one_line(
        lab_root: Path, lab: str, command: str) -> None:
    """Not "cannot be done on the existing backend" and then "is ready for jane" with its first step."""
    _cluster(lab_root, "existing")
    done = ckslab(lab_root, command, lab, *(["--yes"] if command == "solve" else []))
    said = (done.stdout + done.stderr).strip()
    assert done.returncode == 2 and len(said.splitlines()) == 1, said
    assert said.startswith(f"ckslab: error: the lab {lab} needs BACKEND=kind or BACKEND=local (") , said
    assert "this cluster is existing" in said and "make up BACKEND=kind" in said and "is ready" not in said
    assert not (lab_root / "workspace" / lab).exists()  # nothing was made
