"""Step duration-flag: the running controller manager signs for the duration the lab asks for.

Judged on the flags it runs with, not on its manifest: an edited manifest does nothing until the
component restarts (the kubelet restarts a static pod; ``ckslab controlplane restart`` here).
"""

from __future__ import annotations

import pytest

from cluster.controlplane import CONTROLLER_MANAGER
from graders.expect import fail
from graders.signing_config import flags
from graders.signing_config.controller import ControllerManager
from graders.signing_config.lab import MANIFEST_DIR, TARGET, TARGET_TEXT, SigningLab

pytestmark = pytest.mark.step("duration-flag")


def test_running_controller_manager_has_the_new_duration(lab: SigningLab, cm: ControllerManager) -> None:
    running, manifest = cm.running, cm.manifest
    if running.duration == TARGET:
        return
    now = running.describe_duration()
    if cm.duplicates:
        others = " and ".join(cm.duplicates)
        fail(f"The running controller manager ({cm.where}) runs with {now}, not your edited manifest: {others} "
             f"also defines the static pod {CONTROLLER_MANAGER}, and the kubelet runs only one pod of a name.",
             f"Move {others} out of {MANIFEST_DIR}/ (keep backups outside it, e.g. in /root); the kubelet "
             "then runs the edited manifest")
    if manifest.duration == TARGET:
        fail(f"The manifest says {flags.SIGNING_DURATION}={manifest.duration_text} but the running controller "
             f"manager ({cm.where}) still runs with {now}: restart it.", lab.restart(cm.node))
    change = lab.change_duration(cm.node)
    if running.duration_text is None:
        fail(f"The running controller manager has no {flags.SIGNING_DURATION} flag, so it signs for the default "
             f"{flags.show_duration(flags.DEFAULT_DURATION)}; the lab asks for "
             f"{flags.SIGNING_DURATION}={TARGET_TEXT}.", change)
    fail(f"The running controller manager signs for {now}; the lab asks for "
         f"{flags.SIGNING_DURATION}={TARGET_TEXT}.", change)
