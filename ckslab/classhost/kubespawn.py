"""KubeSpawner for a class (the ``--kubernetes`` path): a learner's pod; the instructor gets none.

All the pod's settings are KubeSpawner's own traitlets in ``jupyterhub_config_kube.py``; this
subclass only refuses a server to the instructor, as ``ClassSpawner`` does on one server.
"""

from __future__ import annotations

from typing import Any

from kubespawner import KubeSpawner
from tornado import web

from ckslab.classhost import layout


class ClassKubeSpawner(KubeSpawner):  # type: ignore[misc]
    """A learner's pod: their control plane and JupyterLab (``podlearner start``)."""

    async def start(self) -> Any:
        if self.user.name == layout.INSTRUCTOR:
            raise web.HTTPError(400, "The instructor has no server of their own: the scoreboard is at "
                                     f"/services/{layout.SCOREBOARD}/ and the learners at /hub/admin.")
        return await super().start()
