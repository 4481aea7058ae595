"""Each learner's own copy of a lab notebook, kept in their workspace.

The tracked notebooks in ``notebooks/`` are the lab's source: JupyterLab never opens them, so its
autosave never writes outputs or a learner's edits into the checkout (and ``git pull`` never
conflicts with a learner's work). A learner works in ``workspace/<lab>/<notebook>.ipynb``, copied
when the lab starts. The copy records which tracked version it came from (``metadata.ckslab``);
when the tracked notebook changes, the learner is offered the new one and their copy moves to
``workspace/.backup/``, never deleted. The cells keep their nbformat ids, so the kernel can tell
a cell's place in the lab (``labs/kernel.py``) in the copy as in the original.

The copy also carries the ``kernelspec`` and ``language_info`` that the pinned ipykernel reports:
JupyterLab writes the kernel's own into the notebook when the kernel starts, and a notebook that
said less (the tracked ones say ``{"name": "python"}``) would open already marked as modified.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cluster import paths
from cluster.errors import CkslabError
from labs import catalog

#: The key of the notebook metadata that says where a learner's copy came from.
METADATA_KEY = "ckslab"


@dataclass(frozen=True)
class NotebookCopy:
    """A learner's notebook and the tracked notebook it was copied from."""

    lab_id: str
    tracked: Path
    path: Path
    #: The lesson's names and the learner's (``catalog.Lab.renames``): a learner other than the lab's own
    #: user gets a copy whose commands name their files and objects, as the graders expect.
    renames: tuple[tuple[str, str], ...] = ()

    @property
    def exists(self) -> bool:
        return self.path.is_file()

    def source_digest(self) -> str:
        """The SHA-256 (hex) of the tracked notebook the copy was made from; "" when unknown."""
        try:
            meta = _read(self.path).get("metadata", {}).get(METADATA_KEY, {})
        except CkslabError:
            return ""
        return str(meta.get("source_sha256", "")) if isinstance(meta, dict) else ""

    def newer_available(self) -> bool:
        """True when the tracked notebook changed since the copy was made."""
        return self.exists and self.source_digest() != digest(self.tracked)


def digest(path: Path) -> str:
    """SHA-256 (hex) of a file's bytes."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _read(path: Path) -> dict[str, Any]:
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise CkslabError(f"{path} is not a readable notebook ({err}).",
                          "Move it away; `ckslab start` then makes a new copy.") from err
    if not isinstance(doc, dict):
        raise CkslabError(f"{path} is not a notebook.", "Move it away; `ckslab start` then makes a new copy.")
    return doc


def tracked_notebook(lab: catalog.Lab) -> Path:
    """The lab's notebook in the checkout (``notebooks/NN-<lab>.ipynb``)."""
    return paths.checkout() / lab.notebook


def copy_for(lab: catalog.Lab, workspace: Path, user: str | None = None) -> NotebookCopy:
    """Where the learner's copy of ``lab``'s notebook lives in ``workspace``; for ``user``'s names."""
    tracked = tracked_notebook(lab)
    renames = catalog.load(lab.id).renames(user) if user else {}
    return NotebookCopy(lab.id, tracked, workspace / tracked.name, tuple(renames.items()))


#: Markdown's code spans and fenced blocks: the names in them are commands and objects, the prose is the story.
_MARKDOWN_CODE = re.compile(r"```.*?```|`[^`\n]+`", re.S)


def personal(cell: dict[str, Any], renames: dict[str, str]) -> None:
    """Rename ``renames``' names in a cell (in place): everywhere in code, in code spans in markdown.

    A name is replaced where it stands alone: ``jane``, ``jane.key``, ``CN=jane``, ``jane-csr.yaml``
    (the user's name may be followed by ``-``), never ``jane_key`` nor a lab's id (``jane-access``); a
    suffixed name such as ``development`` only when no ``-`` follows (``development-<user>`` stays).
    """
    user = next(iter(renames))  # the user's own name is the first entry (catalog.Lab.renames)
    renames = {**{lab_id: lab_id for lab_id in catalog.known()}, **renames}  # `jane-access` is a lab's id
    alternatives = sorted(renames, key=len, reverse=True)
    pattern = re.compile(r"(?<![\w-])(" + "|".join(map(re.escape, alternatives)) + r")(?![\w])")

    def swap(text: str) -> str:
        return pattern.sub(lambda m: renames[m[1]] if m[1] == user or not text.startswith("-", m.end())
                           else m[1], text)

    source = "".join(cell.get("source", ""))
    if cell.get("cell_type") == "code":
        cell["source"] = swap(source)
    elif cell.get("cell_type") == "markdown":
        cell["source"] = _MARKDOWN_CODE.sub(lambda m: swap(m[0]), source)


def kernel_metadata() -> dict[str, Any]:
    """The notebook metadata JupyterLab writes when this environment's ``python3`` kernel starts.

    ``{"kernelspec": {"display_name", "language", "name"}, "language_info": {...}}``: the
    kernelspec as JupyterLab records it (the kernel's name, its spec's display name and language)
    and the ``language_info`` of ipykernel's ``kernel_info_reply`` (name, the running Python's
    version, mimetype, file extension, CodeMirror mode, nbconvert exporter, Pygments lexer), both
    read from the pinned ipykernel. JupyterLab runs the kernel with this same Python
    (``ckslab jupyter`` starts it with ``sys.executable``).
    """
    from ipykernel import kernelspec
    from ipykernel.ipkernel import IPythonKernel

    spec = kernelspec.get_kernel_dict()
    return {"kernelspec": {"display_name": spec["display_name"], "language": spec["language"],
                           "name": kernelspec.KERNEL_NAME},
            "language_info": json.loads(json.dumps(IPythonKernel.language_info))}


def _write(path: Path, doc: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    # nbformat's own layout (indent 1, keys sorted), as JupyterLab saves it.
    tmp.write_text(json.dumps(doc, indent=1, sort_keys=True, ensure_ascii=False) + "\n", encoding="utf-8")
    tmp.replace(path)


def write_copy(copy: NotebookCopy) -> None:
    """Copy the tracked notebook to the learner's workspace, recording which version it is."""
    raw = copy.tracked.read_bytes()
    doc = json.loads(raw)
    renames = dict(copy.renames)
    if renames:
        for cell in doc.get("cells", []):
            personal(cell, renames)
        user, theirs = next(iter(renames.items()))
        doc["cells"].insert(1, {"cell_type": "markdown", "id": "ckslab-your-names", "metadata": {}, "source": (
            f"*Your copy of this lab: its commands name your files and objects after you, `{theirs}`, where the "
            f"lesson says `{user}`. The checks and the grade look for yours.*")})
    metadata = doc.setdefault("metadata", {})
    metadata.update(kernel_metadata())
    metadata[METADATA_KEY] = {
        "lab": copy.lab_id,
        "source": f"notebooks/{copy.tracked.name}",
        "source_sha256": hashlib.sha256(raw).hexdigest(),
    }
    _write(copy.path, doc)


def match_kernel(copy: NotebookCopy) -> bool:
    """Give an existing copy the kernel metadata of :func:`kernel_metadata`; True when it changed.

    For copies made before the copy carried it, or by another Python: JupyterLab would otherwise
    mark them modified on opening. Only call it while no JupyterLab has the copy open (a file
    changed under an open notebook makes its next save ask "File Changed").
    """
    if not copy.exists:
        return False
    doc = _read(copy.path)
    metadata = doc.setdefault("metadata", {})
    wanted = kernel_metadata()
    if not isinstance(metadata, dict) or all(metadata.get(k) == v for k, v in wanted.items()):
        return False
    metadata.update(wanted)
    _write(copy.path, doc)
    return True


def ensure(copy: NotebookCopy) -> bool:
    """Make the learner's copy unless it exists; True when it was made now."""
    if copy.exists:
        return False
    write_copy(copy)
    return True


def replace_with_newer(copy: NotebookCopy, backup_folder: Path) -> Path:
    """Move the learner's copy into ``backup_folder`` and copy the tracked notebook in its place."""
    backup_folder.mkdir(parents=True, exist_ok=True)
    kept = backup_folder / copy.path.name
    if copy.exists:
        shutil.move(str(copy.path), str(kept))
    write_copy(copy)
    return kept
