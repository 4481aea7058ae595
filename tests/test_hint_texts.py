"""Hints are run as they are written: no hint is a command with placeholders in it.

A learner who copies ``printf 'ca_expires: YYYY-MM-DD' > cas.yaml`` from a hint gets a file whose
answer is the placeholder (seen in a fresh learner's try of notebook 06). Hints that show a file's
shape say it in words, or give a command that computes the values.
"""

from __future__ import annotations

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
#: A shell command writing text that holds a placeholder: YYYY-MM-DD, a lone N, <name>, ... .
PLACEHOLDER_IN_COMMAND = re.compile(r"(printf|echo|cat)\s[^\n]*?(YYYY|\bN\\n|: N\b|<[a-z_-]+>)")


def _hint_sources() -> dict[str, str]:
    found = {str(p.relative_to(ROOT)): p.read_text() for p in (ROOT / "graders").rglob("*.py")}
    for lab in (ROOT / "labs").glob("*/lab.yaml"):
        doc = yaml.safe_load(lab.read_text())
        found[str(lab.relative_to(ROOT))] = "\n".join(str(s.get("hint", "")) for s in doc.get("steps", []))
    return found


def test_no_hint_is_a_command_with_placeholders() -> None:
    offending = {name: m.group(0)[:80] for name, text in _hint_sources().items()
                 for m in [PLACEHOLDER_IN_COMMAND.search(text)] if m}
    assert not offending, offending


def test_the_check_can_see_a_placeholder_command() -> None:
    assert PLACEHOLDER_IN_COMMAND.search("printf 'ca: YYYY-MM-DD\\n' > cas.yaml")
    assert PLACEHOLDER_IN_COMMAND.search("printf 'minimum_expiration_seconds: N\\n' > expiry.yaml")
    assert not PLACEHOLDER_IN_COMMAND.search("printf '%s\\n' \"$(date +%F)\" > when.txt")
