"""Run as the learner (by the spawner): bring their control plane up, or stop it keeping its data.

``python -m ckslab.classhost.learner up`` starts (or restarts from its manifests) the local
cluster under ``$CKSLAB_ROOT`` and makes the learner's notebook copies; ``stop`` stops its
processes and keeps data, PKI and manifests, so the next ``up`` (their next login) brings the
same cluster back. Prints one line; exit code 0 on success.
"""

from __future__ import annotations

import sys

from ckslab import jupyter
from cluster import paths
from cluster.backends.local import LocalBackend
from cluster.errors import CkslabError


def main(argv: list[str]) -> int:
    backend = LocalBackend(paths.lab_paths())
    try:
        if argv[:1] == ["up"]:
            result = backend.up(lambda _message: None)
            jupyter.match_kernel(jupyter.prepare_notebooks(None, lambda _message: None))  # before their server starts
            how = "already up" if result.already_running else "recovered" if result.recovered else "up"
            print(f"control plane {how} at {result.server} in {result.seconds:.1f}s", flush=True)
        elif argv[:1] == ["stop"]:
            stopped = backend.stop(lambda _message: None)
            print("control plane stopped (data kept)" if stopped else "no control plane was running", flush=True)
        else:
            print("usage: python -m ckslab.classhost.learner up|stop", file=sys.stderr)
            return 2
    except CkslabError as err:
        print(str(err).splitlines()[0], flush=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
