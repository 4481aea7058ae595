"""Run a lab notebook as a learner does: in their own copy, in their workspace, on a real kernel.

Shared by the notebook tests of every lab. The copy is made the way ``ckslab start`` and
``ckslab jupyter`` make it, executed top to bottom by nbclient with the workspace as the kernel's
working directory (where JupyterLab starts the kernel of a notebook), and saved back with its
outputs, as JupyterLab's autosave would.
"""

from __future__ import annotations

from pathlib import Path

import nbformat
from nbclient import NotebookClient

from labs import engine


def outputs_text(nb: nbformat.NotebookNode) -> str:
    """Everything the code cells showed as text: streams, the plain text of displays, errors."""
    parts: list[str] = []
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        for out in cell.outputs:
            if out.output_type == "stream":
                parts.append(out.text)
            elif out.output_type in ("display_data", "execute_result"):
                parts.append(str(out.get("data", {}).get("text/plain", "")) + "\n")
            elif out.output_type == "error":
                parts.append(f"{out.ename}: {out.evalue}\n" + "\n".join(out.traceback))
    return "".join(parts)


def run_learner_copy(lab_id: str, timeout: int = 180) -> tuple[Path, nbformat.NotebookNode, str]:
    """Make (or reuse) the learner's copy of ``lab_id``'s notebook and run it; (path, notebook, outputs).

    Needs ``CKSLAB_ROOT`` set to the project root of a running cluster.
    """
    run = engine.prepare(lab_id)
    run.workspace.mkdir(parents=True, exist_ok=True)
    engine.ensure_notebook(run, lambda _message: None)
    path = run.notebook.path
    nb = nbformat.read(path, as_version=4)
    NotebookClient(nb, timeout=timeout, kernel_name="python3",
                   resources={"metadata": {"path": str(run.workspace)}}).execute()
    nbformat.write(nb, path)
    return path, nb, outputs_text(nb)
