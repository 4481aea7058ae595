"""Run by every kernel that ``ckslab jupyter`` starts (``PYTHONSTARTUP``): the lab's hooks, early.

IPython runs the file named by ``PYTHONSTARTUP`` when a kernel starts
(``InteractiveShellApp.exec_PYTHONSTARTUP``, on by default). Installing the hooks of
``labs/kernel.py`` here, before any cell, is what lets a cell run before the setup cell say so.
The notebook is the one the server started this kernel for: jupyter_server puts its path in
``JPY_SESSION_NAME`` and starts the kernel in the notebook's folder. Only a lab notebook (one
with ``metadata.ckslab``) is affected; a plain ``python`` in a terminal is not.
"""

import os as _os


def _ckslab_install() -> None:
    from pathlib import Path

    try:
        from IPython import get_ipython
    except ImportError:
        return
    name = _os.environ.get("JPY_SESSION_NAME", "")
    if get_ipython() is None or not name.endswith(".ipynb"):
        return
    from labs import kernel

    notebook = Path(name) if Path(name).is_absolute() else Path.cwd() / Path(name).name
    kernel.install(notebook)


_ckslab_install()
del _ckslab_install, _os
