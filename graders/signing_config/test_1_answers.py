"""Step answers: signing.yaml records the CSR signer's configuration, as the controller manager runs it.

cert_file, key_file and controllers are compared with the running controller manager; duration
with its configuration before the learner's change (the change is the next step).
"""

from __future__ import annotations

import os
from typing import Any

import pytest
import yaml

from graders import files
from graders.expect import expect, fail
from graders.signing_config import flags
from graders.signing_config.controller import ControllerManager
from graders.signing_config.flags import SigningConfig
from graders.signing_config.lab import TARGET, SigningLab

pytestmark = pytest.mark.step("answers")

KEYS = ("cert_file", "key_file", "controllers", "duration")


def _answers(lab: SigningLab) -> dict[str, Any]:
    hint = f"Write signing.yaml with the keys {', '.join(KEYS)}; the flags: {lab.show_flags}"
    text = files.read_bytes(lab.answers, hint).decode("utf-8", errors="replace")
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        fail(f"signing.yaml is not valid YAML ({getattr(err, 'problem', None) or 'syntax error'}{where}).", hint)
    if not isinstance(doc, dict):
        fail(f"signing.yaml must be a mapping with the keys {', '.join(KEYS)}.", hint)
    missing = [k for k in KEYS if k not in doc]
    expect(not missing, f"signing.yaml has no {', '.join(missing)}; it needs {', '.join(KEYS)}.", hint)
    return doc


def _same_path(answer: object, actual: str | None) -> bool:
    return isinstance(answer, str) and actual is not None and os.path.normpath(answer) == os.path.normpath(actual)


def test_answers_file_has_every_key(lab: SigningLab) -> None:
    _answers(lab)


def test_cert_file(lab: SigningLab, cm: ControllerManager) -> None:
    answer, actual = _answers(lab).get("cert_file"), cm.running.cert_file
    if _same_path(answer, actual):
        return
    if _same_path(answer, cm.running.key_file):
        fail(f"signing.yaml's cert_file is the CA's private key ({answer}); cert_file is the CA certificate "
             f"({flags.SIGNING_CERT}).", lab.show_flags)
    fail(f"signing.yaml's cert_file is {answer!r}; the running controller manager signs with the CA "
         f"certificate {actual} ({flags.SIGNING_CERT}).", lab.show_flags)


def test_key_file(lab: SigningLab, cm: ControllerManager) -> None:
    answer, actual = _answers(lab).get("key_file"), cm.running.key_file
    if _same_path(answer, actual):
        return
    if _same_path(answer, cm.running.cert_file):
        fail(f"signing.yaml's key_file is the CA certificate ({answer}); key_file is the CA's private key "
             f"({flags.SIGNING_KEY}).", lab.show_flags)
    fail(f"signing.yaml's key_file is {answer!r}; the running controller manager signs with the key "
         f"{actual} ({flags.SIGNING_KEY}).", lab.show_flags)


def test_controllers(lab: SigningLab, cm: ControllerManager) -> None:
    answer = _answers(lab).get("controllers")
    items = [str(a).strip() for a in answer] if isinstance(answer, list) else str(answer).split(",")
    items = [i.strip() for i in items if i.strip()]
    enabled = cm.running.enabled_csr_controllers()
    expected = flags.short_names(enabled)
    hint = f"controllers: [{', '.join(flags.CSR_CONTROLLERS[n] for n in enabled)}]"
    flag = ",".join(cm.running.controllers)
    if "*" in items:
        fail(f"signing.yaml's controllers lists '*', the flag's value ({flags.CONTROLLERS}={flag}); list the "
             f"CSR controllers that '*' turns on here: {expected}.", hint)
    named = [flags.canonical_controller(i) for i in items]
    others = [i for i, n in zip(items, named) if n not in flags.CSR_CONTROLLERS]
    expect(not others, f"signing.yaml's controllers lists {', '.join(others)}, which are not CSR controllers; "
                       f"list only those the controller manager runs for CSRs: {expected}.", hint)
    missing = [n for n in enabled if n not in named]
    extra = [n for n in named if n not in enabled]
    expect(not missing, f"signing.yaml's controllers misses {flags.short_names(missing)}: with "
                        f"{flags.CONTROLLERS}={flag} the controller manager runs {expected}.", hint)
    expect(not extra, f"signing.yaml's controllers lists {flags.short_names(extra)}, which "
                      f"{flags.CONTROLLERS}={flag} does not run.", hint)


def test_duration(lab: SigningLab, original: SigningConfig) -> None:
    answer = _answers(lab).get("duration")
    before = original.duration
    shown = original.describe_duration()
    hint = f"duration: {original.duration_text or '8760h'}"
    given = flags.parse_duration(str(answer)) if answer is not None else None
    if given is None:
        fail(f"signing.yaml's duration {answer!r} is not a duration the controller manager reads (Go syntax: "
             f"720h, 8760h0m0s; no days).", hint)
    if given == before:
        return
    if given == TARGET:
        fail(f"signing.yaml's duration is {answer}, the duration you are asked to set; record the one in force "
             f"before your change: {shown}.", hint)
    fail(f"signing.yaml's duration is {answer}; before your change the controller manager signed for {shown}.",
         hint)

