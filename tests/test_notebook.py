"""The lab notebooks and what runs inside their kernels.

Without a cluster: how the notebooks are stored, the learner's copies, how a check shows itself,
and the kernel hooks (``%%bash``, skipping after a failed check or before setup, a lost working
directory) on a real IPython kernel driven by nbclient. On the real local control plane: lab 1
run top to bottom in the learner's copy.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from IPython.core.inputtransformer2 import TransformerManager
from nbclient import NotebookClient

from cluster.backends.local import LocalBackend
from cluster.paths import checkout
from labs import catalog, engine, learner_copy, practice_set, resets
from labs.cells import NotebookCells
from labs.results import ERROR_COLOUR, FAIL_COLOUR, PASS_COLOUR, Report
from notebook_run import outputs_text, run_learner_copy

NOTEBOOKS = sorted((checkout() / "notebooks").glob("*.ipynb"))
STARTUP = checkout() / "labs" / "startup.py"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebooks_are_stored_without_outputs(path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert not cell.outputs and cell.execution_count is None, cell.source[:60]
    assert "ckslab" not in nb.metadata, "a learner's copy was committed as the tracked notebook"


@pytest.mark.parametrize("lab", catalog.all_labs(), ids=lambda lab: lab.id)
def test_every_notebook_sets_up_first_and_ends_with_the_whole_lab_grade_then_its_practice_test(lab: catalog.Lab) -> None:
    nb = nbformat.read(checkout() / lab.notebook, as_version=4)
    code = [c.source.strip() for c in nb.cells if c.cell_type == "code"]
    assert code[0].endswith(f'lab.setup("{lab.id}");'), code[0]
    assert sum("lab.grade(" in c for c in code) == 1
    grade = code.index(f'lab.grade("{lab.id}");')
    practice = [f'practice = lab.practice("{lab.id}")']
    for n in range(1, len(practice_set.load(lab.id).questions) + 1):
        practice += [f"practice.ask({n})", f"%%bash\n# your commands for question {n}", f'practice.answer({n}, "");']
    assert code[grade + 1:] == practice
    assert nb.cells[-1].source.strip() == practice[-1]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_no_cell_claims_a_result_the_cluster_did_not_give(path: Path) -> None:
    # `cmd || echo "(forbidden, as expected)"` says "forbidden" whatever made cmd fail (a broken
    # kubeconfig included): let the API server's own answer show instead.
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert not re.search(r"\|\|\s*echo\s+[\"'][^\"']*as expected", cell.source), cell.source


# --- how a check shows itself ------------------------------------------------------------------

REPORT = {"lab": "certificates-api", "score": 20, "max_score": 40, "passed": False, "steps": [
    {"id": "csr-file", "title": "jane.csr: CN=jane", "passed": True, "points": 20, "max_points": 20,
     "message": "jane.csr is a PEM request.", "hint": "openssl req -new -key jane.key -subj \"/CN=jane\""},
    {"id": "csr-object", "title": "CSR <jane>", "passed": False, "points": 0, "max_points": 20,
     "message": "jane-csr.yaml asks for usages: [server auth] <b>", "hint": "kubectl apply -f jane-csr.yaml"}]}


def _contrast(hex_colour: str) -> float:
    """WCAG 2 contrast of white text on ``hex_colour``."""
    def linear(c: float) -> float:
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4
    r, g, b = (linear(int(hex_colour[i:i + 2], 16) / 255) for i in (1, 3, 5))
    return 1.05 / (0.2126 * r + 0.7152 * g + 0.0722 * b + 0.05)


def test_a_grade_reads_as_plain_text_outside_a_browser() -> None:
    text = str(Report.from_json(REPORT, whole=True))
    assert text.splitlines() == [
        "ckslab grade certificates-api",
        "[PASS] csr-file (20/20): jane.csr is a PEM request.",
        "[FAIL] csr-object (0/20): jane-csr.yaml asks for usages: [server auth] <b>",
        "       hint: kubectl apply -f jane-csr.yaml",
        "Score: 20/40, 1 of 2 steps still fail.",
    ]


def test_a_grade_in_html_is_escaped_has_no_table_and_hints_only_what_fails() -> None:
    html = Report.from_json(REPORT, whole=True)._repr_html_()
    assert "<table" not in html  # blocks that reflow at any width
    assert "[server auth] &lt;b&gt;" in html and "<b>" not in html and "CSR &lt;jane&gt;" in html
    assert html.count("ckslab-hint") == 1 and "kubectl apply -f jane-csr.yaml" in html
    assert "openssl req" not in html  # the passing step's hint is not shown
    assert "Score: 20/40" in html
    single = Report.from_json({**REPORT, "steps": REPORT["steps"][1:]}, whole=False)._repr_html_()
    assert "Score" not in single and "csr-object" in single


def test_verdict_colours_have_accessible_contrast() -> None:
    for colour in (PASS_COLOUR, FAIL_COLOUR, ERROR_COLOUR):
        assert _contrast(colour) >= 4.5, colour  # WCAG AA for normal text


# --- the learner's copy ------------------------------------------------------------------------

def test_the_learner_copy_records_its_source_and_a_newer_tracked_notebook_is_offered(tmp_path: Path) -> None:
    tracked = tmp_path / "notebooks" / "01-x.ipynb"
    tracked.parent.mkdir()
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("print(1)")])
    nbformat.write(nb, tracked)
    copy = learner_copy.NotebookCopy("x", tracked, tmp_path / "workspace" / "x" / "01-x.ipynb")
    assert learner_copy.ensure(copy) and not learner_copy.ensure(copy)
    made = nbformat.read(copy.path, as_version=4)
    assert made.cells[0].id == nb.cells[0].id  # the kernel places cells by id, in copy and original alike
    assert made.metadata.ckslab == {"lab": "x", "source": "notebooks/01-x.ipynb",
                                    "source_sha256": learner_copy.digest(tracked)}
    assert not copy.newer_available()

    made.cells[0].source = "print('my edit')"
    nbformat.write(made, copy.path)
    nb.cells.append(nbformat.v4.new_markdown_cell("new in the lab"))
    nbformat.write(nb, tracked)
    assert copy.newer_available()
    kept = learner_copy.replace_with_newer(copy, tmp_path / "workspace" / ".backup" / "x-1")
    assert "my edit" in kept.read_text()
    assert len(nbformat.read(copy.path, as_version=4).cells) == 2 and not copy.newer_available()


def test_the_learner_copy_carries_what_the_kernel_reports_so_jupyterlab_does_not_mark_it_modified(
        tmp_path: Path) -> None:
    # JupyterLab writes the kernel's kernelspec and kernel_info_reply's language_info into the notebook
    # when the kernel starts; a copy that says less opens with the unsaved mark (the browser side of
    # this is tests/test_jupyter.py's chromium test).
    from jupyter_client.kernelspec import KernelSpecManager

    tracked = checkout() / "notebooks" / "01-certificates-api.ipynb"
    copy = learner_copy.NotebookCopy("certificates-api", tracked, tmp_path / "01-certificates-api.ipynb")
    learner_copy.write_copy(copy)
    made = nbformat.read(copy.path, as_version=4)
    spec = KernelSpecManager().get_kernel_spec("python3")
    assert made.metadata.kernelspec == {"display_name": spec.display_name, "language": spec.language,
                                        "name": "python3"}
    reported = nbformat.v4.new_notebook()  # nbclient records the kernel's kernel_info_reply, as JupyterLab does
    NotebookClient(reported, timeout=60, kernel_name="python3").execute()
    assert made.metadata.language_info == reported.metadata.language_info

    # A copy made before (or by another Python) is brought up to the kernel once, then left alone.
    made.metadata.language_info = {"name": "python"}
    nbformat.write(made, copy.path)
    assert learner_copy.match_kernel(copy)
    assert nbformat.read(copy.path, as_version=4).metadata.language_info == reported.metadata.language_info
    before = copy.path.stat().st_mtime_ns
    assert not learner_copy.match_kernel(copy) and copy.path.stat().st_mtime_ns == before


@pytest.mark.parametrize("lab", [lab for lab in catalog.all_labs() if lab.names_user()], ids=lambda lab: lab.id)
def test_a_learner_with_a_name_of_their_own_gets_a_copy_whose_commands_name_their_objects(
        lab: catalog.Lab, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CKSLAB_ROOT", str(tmp_path))
    # A hosted class's learner works as themselves (CKSLAB_USER=alice): the graders look for alice.key
    # and the CSR alice, so the notebook's commands must make those, not the lesson's jane.key.
    run = engine.prepare(lab.id, "alice")
    engine.ensure_notebook(run, lambda _m: None)
    made = nbformat.read(run.notebook.path, as_version=4)
    code = "\n".join(c.source for c in made.cells if c.cell_type == "code")
    for lab_id in catalog.known():  # `jane-access` is a lab's id, not jane's
        code = code.replace(lab_id, "")
    assert not re.search(rf"(?<![\w-]){lab.user}(?![\w])", code), "the lesson's user is left in a command"
    if lab.id == "certificates-api":  # the others name theirs with $CKSLAB_USER or in setup.sh
        assert "openssl genrsa -out alice.key" in code and "kubectl certificate approve alice" in code
    if lab.id == "jane-access":
        assert "-n development-alice --as alice" in code
    assert f'lab.setup("{lab.id}")' in made.cells[2].source and "your files and objects after you, `alice`" in made.cells[1].source
    for cell in made.cells:  # still Python
        if cell.cell_type == "code" and not cell.source.startswith("%%"):
            compile(TransformerManager().transform_cell(cell.source), cell.id, "exec")
    own = engine.prepare(lab.id, lab.user).notebook
    assert own.renames == () and own.path.parent != run.notebook.path.parent


def test_backups_are_pruned_to_the_newest_n(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CKSLAB_ROOT", str(tmp_path))
    run = engine.prepare("certificates-api", "alice")
    names = ["certificates-api-alice-20260101-000000", "certificates-api-alice-20260101-000000-2",
             "certificates-api-alice-20260102-000000", "certificates-api-20260103-000000",  # another learner's
             "certificates-api-alice-20260103-000000"]
    for name in names:
        (run.backups / name).mkdir(parents=True)
    monkeypatch.setenv("CKSLAB_KEEP_BACKUPS", "2")
    deleted = engine.prune_backups(run)
    assert [p.name for p in deleted] == names[:2]
    assert sorted(p.name for p in run.backups.iterdir()) == sorted(names[2:])
    monkeypatch.setenv("CKSLAB_KEEP_BACKUPS", "0")  # keeps every one
    assert engine.prune_backups(run) == []
    monkeypatch.setenv("CKSLAB_KEEP_BACKUPS", "many")
    with pytest.raises(engine.UsageError, match="CKSLAB_KEEP_BACKUPS='many' is not a number"):
        engine.prune_backups(run)


# --- inside the kernel -------------------------------------------------------------------------

FAKE_LAB = '''from pathlib import Path
from types import SimpleNamespace
from labs import kernel
RESULTS = {}
def _setup(lab_id):
    kernel.attach(lab_id, WORKSPACE, Path.cwd() / "lab.ipynb")
def _check(lab_id, step):
    kernel.record_check(lab_id, step, "CertificateSigningRequest jane", RESULTS.get(step, False))
    print("checked", step, RESULTS.get(step, False))
lab = SimpleNamespace(setup=_setup, check=_check, grade=lambda lab_id: print("graded", lab_id))
'''


def _lab_notebook(folder: Path, workspace: Path, *sources: str) -> nbformat.NotebookNode:
    """A lab notebook (metadata.ckslab) in ``folder``/lab.ipynb: a setup cell, then ``sources``."""
    setup = FAKE_LAB + f"WORKSPACE = Path({str(workspace)!r})\n" + 'lab.setup("certificates-api")'
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("# a lab"),
                                         nbformat.v4.new_code_cell(setup),
                                         *(nbformat.v4.new_code_cell(s) for s in sources)])
    nb.metadata["ckslab"] = {"lab": "certificates-api"}
    folder.mkdir(parents=True, exist_ok=True)
    workspace.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, folder / "lab.ipynb")
    return nb


def _run(client: NotebookClient, nb: nbformat.NotebookNode, index: int) -> str:
    cell = nb.cells[index]
    client.execute_cell(cell, index)
    return outputs_text(nbformat.v4.new_notebook(cells=[cell]))


def test_bash_cells_cannot_read_stdin_show_stderr_in_order_and_raise_no_traceback(tmp_path: Path) -> None:
    nb = _lab_notebook(tmp_path, tmp_path, (
        "%%bash\n"
        "read -r answer; echo \"answer:[$answer]\"\n"  # kubectl's Username prompt reads stdin the same way
        "echo first; echo 'verify OK' >&2; echo third\n"
        "false"))
    client = NotebookClient(nb, timeout=60, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}})
    client.execute()  # raises on an error output
    bash = nb.cells[2].outputs
    assert [o.output_type for o in bash] == ["stream"] * len(bash) and {o.name for o in bash} == {"stdout"}
    assert "".join(o.text for o in bash) == "answer:[]\nfirst\nverify OK\nthird\n"


def test_a_bash_cell_with_options_is_ipythons_own(tmp_path: Path) -> None:
    nb = _lab_notebook(tmp_path, tmp_path, "%%bash --out captured\necho kept", "print(captured.strip())")
    NotebookClient(nb, timeout=60, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    assert outputs_text(nbformat.v4.new_notebook(cells=nb.cells[2:])) == "kept\n"


def test_a_kubectl_prompt_in_a_bash_cell_ends_at_once_and_is_explained(tmp_path: Path) -> None:
    # What kubectl does with a kubeconfig whose user has no credentials (client-go prompts on stdin).
    fake = tmp_path / "bin" / "kubectl"
    fake.parent.mkdir()
    fake.write_text('#!/bin/sh\nprintf "Please enter Username: "\nread -r name || { echo "error: EOF"; exit 1; }\n'
                    'echo "logged in as $name"\n')
    fake.chmod(0o755)
    nb = _lab_notebook(tmp_path, tmp_path, f"%%bash\nexport PATH={fake.parent}:$PATH\nkubectl get pods\n"
                                           "auth can-i list pods\necho next")
    NotebookClient(nb, timeout=60, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    shown = outputs_text(nbformat.v4.new_notebook(cells=[nb.cells[2]]))
    assert shown.startswith("Please enter Username: error: EOF\n"), shown
    assert "logged in as" not in shown  # the rest of the cell was not read as an answer
    assert shown.endswith("next\n(kubectl asked for a user name because the kubeconfig it used has no credentials "
                          "for its user, for example an empty certificate; a notebook cell cannot answer, so it "
                          "stopped.)\n"), shown


def test_after_a_failed_check_later_cells_say_so_and_do_not_run_until_it_passes(tmp_path: Path) -> None:
    nb = _lab_notebook(tmp_path, tmp_path,
                       'lab.check("certificates-api", "csr-object")',
                       'print("the approval ran")',
                       '%%bash\necho "bash ran"',
                       'lab.grade("certificates-api")',
                       'print("the practice test ran")',
                       '%%bash\necho "its bash cell ran"')
    client = NotebookClient(nb, timeout=60, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}})
    with client.setup_kernel():
        _run(client, nb, 1)
        assert _run(client, nb, 2) == "checked csr-object False\n"
        for index in (3, 4):
            skipped = _run(client, nb, index)
            assert skipped.startswith("Not run: the check of step csr-object (CertificateSigningRequest jane) "
                                      "failed above."), skipped
            assert "ran" not in skipped and [o.output_type for o in nb.cells[index].outputs] == ["display_data"]
        assert _run(client, nb, 5) == "graded certificates-api\n"  # the whole-lab grade always runs
        # The practice test after it too: its questions are on objects of their own.
        assert _run(client, nb, 6) == "the practice test ran\n"
        assert _run(client, nb, 7) == "its bash cell ran\n"
        assert _run(client, nb, 1) .strip() == ""  # cells before the check still run (to fix the step)
        # A cell of the learner's own (not in the saved notebook) always runs.
        nb.cells.append(nbformat.v4.new_code_cell('RESULTS["csr-object"] = True\nprint("fixed")'))
        assert _run(client, nb, len(nb.cells) - 1) == "fixed\n"
        assert _run(client, nb, 2) == "checked csr-object True\n"
        assert _run(client, nb, 3) == "the approval ran\n"
        assert _run(client, nb, 4) == "bash ran\n"


def test_a_cell_run_before_the_setup_cell_says_what_to_do(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # As `ckslab jupyter` starts kernels: labs/startup.py as PYTHONSTARTUP, the notebook's path in
    # JPY_SESSION_NAME (jupyter_server), the notebook's folder as the working directory.
    monkeypatch.setenv("PYTHONSTARTUP", str(STARTUP))
    monkeypatch.setenv("JPY_SESSION_NAME", "certificates-api/lab.ipynb")
    nb = _lab_notebook(tmp_path, tmp_path, '%%bash\necho "ran before setup"', 'lab.grade("certificates-api");')
    client = NotebookClient(nb, timeout=60, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}})
    with client.setup_kernel():
        for index in (2, 3):  # the whole-lab grade too: without the setup cell, `lab` is not even defined
            before = _run(client, nb, index)
            assert before.startswith('Not run: run the setup cell first, the first code cell of this notebook '
                                     '(lab.setup("certificates-api")).'), before
            assert "NameError" not in before and [o.output_type for o in nb.cells[index].outputs] == ["display_data"]
        _run(client, nb, 1)
        assert _run(client, nb, 2) == "ran before setup\n"
        assert _run(client, nb, 3) == "graded certificates-api\n"


def test_a_kernel_whose_folder_was_deleted_works_in_the_workspace_again(tmp_path: Path) -> None:
    workspace = tmp_path / "workspace" / "certificates-api"
    nb = _lab_notebook(tmp_path / "nb", workspace, "import os\nos.chdir(WORKSPACE)",
                       "import shutil\nshutil.rmtree(WORKSPACE)", "print(os.getcwd())")
    client = NotebookClient(nb, timeout=60, kernel_name="python3",
                            resources={"metadata": {"path": str(tmp_path / "nb")}})
    client.execute()
    shown = outputs_text(nbformat.v4.new_notebook(cells=[nb.cells[4]]))
    assert shown == (f"This kernel's folder had been moved or deleted: it works in {workspace} again "
                     f"(files moved by a reset are in workspace/.backup/).\n{workspace}\n")
    assert workspace.is_dir()


# --- on the real cluster -----------------------------------------------------------------------

@pytest.mark.cluster
def test_certificates_api_notebook_runs_in_the_learner_copy_and_earns_full_marks(
    local_cluster: LocalBackend, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("CKSLAB_ROOT", str(local_cluster.lab.root))
    monkeypatch.delenv("CKSLAB_USER", raising=False)
    tracked = {p: p.read_bytes() for p in NOTEBOOKS}
    path, _nb, outputs = run_learner_copy("certificates-api")
    assert path == local_cluster.lab.root / "workspace" / "certificates-api" / "01-certificates-api.ipynb"
    assert "[FAIL]" not in outputs and "Not run" not in outputs
    assert "[PASS] access (20/20)" in outputs and "Score: 100/100, every step passes." in outputs
    assert "may jane list pods? no" in outputs
    # The practice test after the grade is set up, and its unanswered questions stop nothing.
    assert "Practice test of this lab: 4 questions" in outputs and "Question 4 of 4:" in outputs
    assert "Question 4 is not answered yet" in outputs
    assert {p: p.read_bytes() for p in NOTEBOOKS} == tracked
    report_file = tmp_path / "report.json"
    result = subprocess.run([sys.executable, "-m", "ckslab", "grade", "certificates-api", "--json", str(report_file)],
                            capture_output=True, text=True, env=os.environ.copy(), timeout=300, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads(report_file.read_text())
    assert report["score"] == report["max_score"] == 100 and report["passed"] is True
    workspace = local_cluster.lab.root / "workspace" / "certificates-api"
    assert oct((workspace / "jane.key").stat().st_mode & 0o777) == "0o600"


@pytest.mark.parametrize("lab", catalog.all_labs(), ids=lambda lab: lab.id)
def test_every_step_a_reset_can_undo_has_cells_to_redo_it_from(lab: catalog.Lab) -> None:
    # A reset from any step undoes that step and every later one; each must be redone from a cell the
    # message names: the first code cell after the check of the step before it, up to its own check.
    cells = NotebookCells(checkout() / lab.notebook)
    cells.find(None, "")  # read it
    # The setup cells: lab.setup, and the `ckslab start LAB` cell most notebooks run next (a reset runs it itself).
    previous = next(c.index for c in cells.cells if c.source.strip().endswith(f'lab.setup("{lab.id}");'))
    started = [c.index for c in cells.cells if c.source.startswith(f"%%bash\nckslab start {lab.id}")]
    previous = max([previous, *started])
    for step in lab.steps:
        check = cells.check_cell(lab.id, step.id)
        assert check is not None, f"{lab.notebook} has no lab.check cell for {step.id}"
        first = cells.first_cell_of(lab.id, step.id)
        assert first is not None and previous < first.index <= check.index, (step.id, previous, first, check.index)
        said = resets.redo(resets.ResetStep(step.id, step.title, "2026-12-06 03:15:55", f"ckslab reset {lab.id}"),
                           lab.id, cells)
        # "the first under" its heading only when no code cell comes before it there (lab 1's setup cell does).
        earlier = [c.index for c in cells.cells if c.heading_index == first.heading_index and c.index < first.index]
        assert f"Re-run its cells from cell {first.index + 1} of {Path(lab.notebook).name}, " \
               f"{'' if earlier else 'the first '}under “{first.heading}”, which begins `" in said \
               and first.heading, said
        previous = check.index


def test_after_a_reset_of_a_middle_step_the_later_cells_name_that_step_and_the_cell_to_redo_it_from(
    local_cluster: LocalBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A learner finished lab 1, then ran `ckslab reset certificates-api --step csr-object` in a terminal
    # and came back to a later cell (in a new kernel, or one whose checks all passed: the same here).
    monkeypatch.setenv("CKSLAB_ROOT", str(local_cluster.lab.root))
    monkeypatch.delenv("CKSLAB_USER", raising=False)

    def ckslab(*args: str) -> str:
        done = subprocess.run([sys.executable, "-m", "ckslab", *args], capture_output=True, text=True,
                              env=os.environ.copy(), timeout=300, check=False)
        assert "Traceback" not in done.stdout + done.stderr, done.stdout + done.stderr
        return done.stdout

    ckslab("solve", "certificates-api", "--yes")
    reset = ckslab("reset", "certificates-api", "--step", "csr-object")
    run = engine.prepare("certificates-api")
    engine.ensure_notebook(run, lambda _m: None)
    nb = nbformat.read(run.notebook.path, as_version=4)
    index = {c.source.strip(): i for i, c in enumerate(nb.cells)}
    first = index[next(s for s in index if s.startswith("%%bash\ncat > jane-csr.yaml"))]
    redo = (f"from cell {first + 1} of 01-certificates-api.ipynb, the first under “Step 3 — the "
            "CertificateSigningRequest object”, which begins `cat > jane-csr.yaml <<EOF`")
    assert f"Next: re-run the cells of step csr-object {redo}; the steps after it (approved, certificate, access)" \
        in " ".join(reset.split())
    assert " ".join(reset.split()).endswith("In a terminal: ckslab hint certificates-api"), reset  # no Makefile there
    # The hint names the reset as what deleted the CSR (the audit log says kubernetes-admin), and says to write
    # jane-csr.yaml again (the reset moved it to .backup/) before applying it.
    hinted = " ".join(ckslab("hint", "certificates-api").split())
    assert "`ckslab reset certificates-api --step csr-object` deleted it at " in hinted and "jane-csr.yaml does " \
        "not exist in " in hinted and "hint: Write the CertificateSigningRequest for jane to jane-csr.yaml, then " \
        "kubectl apply -f jane-csr.yaml" in hinted, hinted
    report = local_cluster.lab.root / "after-reset.json"
    ckslab("grade", "certificates-api", "--json", str(report))
    approved = {s["id"]: s for s in json.loads(report.read_text())["steps"]}["approved"]
    assert approved["hint"] == ("Write the CertificateSigningRequest for jane to jane-csr.yaml (step csr-object), "
                                "then kubectl apply -f jane-csr.yaml && kubectl certificate approve jane"), approved
    client = NotebookClient(nb, timeout=120, kernel_name="python3",
                            resources={"metadata": {"path": str(run.workspace)}})

    def cell(i: int) -> str:
        nb.cells[i].outputs = []
        client.execute_cell(nb.cells[i], i)
        return " ".join(outputs_text(nbformat.v4.new_notebook(cells=[nb.cells[i]])).split())

    with client.setup_kernel():
        cell(index['from labs import notebook as lab\n\nlab.setup("certificates-api");'])
        for later in ('lab.check("certificates-api", "approved");', 'lab.check("certificates-api", "access");',
                      next(s for s in index if s.startswith("%%bash\nkubectl get csr jane -o jsonpath='{.status.certificate}'"))):
            said = cell(index[later])
            assert said.startswith("Not run: step csr-object was reset at ") and \
                "(`ckslab reset certificates-api --step csr-object`)" in said and f"Re-run its cells {redo}." in said, said
            assert "NotFound" not in said and "nothing is approved" not in said
        said = cell(index['lab.check("certificates-api", "csr-object");'])  # its own check says why, then fails
        assert said.startswith("Step csr-object was reset at ") and f"{redo}." in said and "[FAIL] csr-object" in said
        said = cell(index['lab.check("certificates-api", "approved");'])  # now the failed check speaks for it
        assert said.startswith("Not run: the check of step csr-object"), said
        for i in range(first, index['lab.check("certificates-api", "csr-object");'] + 1):  # redone, in order
            if nb.cells[i].cell_type == "code":
                said = cell(i)
                assert "Not run" not in said and "[FAIL]" not in said, said
    graded = " ".join(ckslab("grade", "certificates-api").split())
    assert "Step approved was reset at " in graded and "csr-object was reset" not in graded, graded
    assert "The steps after it (certificate, access) were reset too" in graded, graded


def test_the_validity_cell_of_signing_config_says_what_to_do_when_the_certificate_is_missing(tmp_path: Path) -> None:
    """Run before the cell that saves the certificate, it printed openssl's errors and "valid for 0h"."""
    nb = nbformat.read(checkout() / "notebooks" / "04-signing-config.ipynb", as_version=4)
    [cell] = [c for c in nb.cells if c.cell_type == "code" and 'echo "valid for' in c.source]
    script = cell.source.split("\n", 1)[1]  # without %%bash
    ran = subprocess.run(["bash", "-c", script], cwd=tmp_path, capture_output=True, text=True, timeout=30,
                         env={**os.environ, "CKSLAB_USER": "jane"}, stdin=subprocess.DEVNULL)
    said = ran.stdout + ran.stderr
    assert ran.returncode != 0 and "valid for" not in said, said
    assert said == "There is no jane-short.crt yet: run the cell above first (it saves the new certificate).\n"


def test_the_expiry_cell_of_expiry_rotation_says_what_to_do_when_the_certificate_is_missing(tmp_path: Path) -> None:
    """Run before `ckslab start expiry-rotation`, it printed openssl's errors and then "expired"."""
    nb = nbformat.read(checkout() / "notebooks" / "05-expiry-rotation.ipynb", as_version=4)
    [cell] = [c for c in nb.cells if c.cell_type == "code" and 'echo "expired"' in c.source]
    script = cell.source.split("\n", 1)[1]  # without %%bash
    ran = subprocess.run(["bash", "-c", script], cwd=tmp_path, capture_output=True, text=True, timeout=30,
                         env={**os.environ, "CKSLAB_USER": "jane"}, stdin=subprocess.DEVNULL)
    said = ran.stdout + ran.stderr
    assert ran.returncode != 0 and "expired" not in said, said
    assert said == "There is no jane.crt yet: run the cell above first (ckslab start expiry-rotation makes it).\n"


def test_a_cell_whose_helper_is_missing_says_which_cell_writes_it(tmp_path: Path) -> None:
    """Notebook 06's later cells `source .kubeadm.sh`: without it they say what to run, not 'No such file'."""
    lab_id = "control-plane-certificates"
    assert ".kubeadm.sh" in catalog.load(lab_id).helpers
    setup = (FAKE_LAB + f"WORKSPACE = Path({str(tmp_path)!r})\n" + f'lab.setup("{lab_id}")')
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell(setup),
        nbformat.v4.new_markdown_cell("## Where kubeadm's files are\n\nThe next cell writes a helper."),
        nbformat.v4.new_code_cell("%%bash\necho 'where=node' > .kubeadm.sh"),
        nbformat.v4.new_markdown_cell("## 1. Check"),
        nbformat.v4.new_code_cell("%%bash\nsource .kubeadm.sh\necho \"kubeadm runs on the $where\"")])
    nb.metadata["ckslab"] = {"lab": lab_id}
    nbformat.write(nb, tmp_path / "lab.ipynb")
    client = NotebookClient(nb, timeout=60, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}})
    with client.setup_kernel():
        _run(client, nb, 0)
        skipped = _run(client, nb, 4)
        assert skipped.strip() == (f"Not run: this cell needs .kubeadm.sh, which the cell under “Where kubeadm's files "
                                   f"are” writes, and {tmp_path / '.kubeadm.sh'} is missing. Run that cell, then "
                                   "this one."), skipped
        assert "No such file" not in skipped
        _run(client, nb, 2)
        assert _run(client, nb, 4) == "kubeadm runs on the node\n"


def test_reset_keeps_the_notebooks_helpers_in_the_workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A helper such as .kubeadm.sh is the notebook's, not the learner's work: it stays, with a copy in the backup."""
    monkeypatch.setenv("CKSLAB_ROOT", str(tmp_path))
    run = engine.prepare("control-plane-certificates")
    run.workspace.mkdir(parents=True)
    (run.workspace / ".kubeadm.sh").write_text("node=\n")
    (run.workspace / "expiration.yaml").write_text("apiserver_expires: 2026-12-10\n")
    backup = tmp_path / "backup"
    engine._move_contents(run, backup)
    assert sorted(p.name for p in run.workspace.iterdir()) == [".kubeadm.sh"]
    assert sorted(p.name for p in backup.iterdir()) == [".kubeadm.sh", "expiration.yaml"]
