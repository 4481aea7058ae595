"""Each learner's own copy of a lab notebook, kept in their workspace.

The tracked notebooks in ``notebooks/`` are the lab's source: JupyterLab never opens them, so its
autosave never writes outputs or a learner's edits into the checkout (and ``git pull`` never
conflicts with a learner's work). A learner works in ``workspace/<lab>/<notebook>.ipynb``, copied
when the lab starts. The copy records which tracked version it came from (``metadata.ckslab``);
when the tracked notebook changes, the learner is offered the new one and their copy moves to
``workspace/.backup/``, never deleted. The cells keep their nbformat ids, so the kernel can tell
a cell's place in the lab (``labs/kernel.py``) in the copy as in the original.
"""

from __future__ import annotations

import hashlib
import json
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


def copy_for(lab: catalog.Lab, workspace: Path) -> NotebookCopy:
    """Where the learner's copy of ``lab``'s notebook lives in ``workspace``."""
    tracked = tracked_notebook(lab)
    return NotebookCopy(lab.id, tracked, workspace / tracked.name)


def write_copy(copy: NotebookCopy) -> None:
    """Copy the tracked notebook to the learner's workspace, recording which version it is."""
    raw = copy.tracked.read_bytes()
    doc = json.loads(raw)
    doc.setdefault("metadata", {})[METADATA_KEY] = {
        "lab": copy.lab_id,
        "source": f"notebooks/{copy.tracked.name}",
        "source_sha256": hashlib.sha256(raw).hexdigest(),
    }
    copy.path.parent.mkdir(parents=True, exist_ok=True)
    tmp = copy.path.with_name(f".{copy.path.name}.tmp")
    # nbformat's own layout (indent 1, keys sorted), as JupyterLab saves it.
    tmp.write_text(json.dumps(doc, indent=1, sort_keys=True, ensure_ascii=False) + "\n", encoding="utf-8")
    tmp.replace(copy.path)


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
