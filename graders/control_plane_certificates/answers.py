"""The learner's answer files (expiration.yaml, cas.yaml): YAML, dates as check-expiration shows them. Pure code."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import yaml

from graders import files
from graders.expect import fail

#: check-expiration's text table writes "Dec 05, 2026 10:51 UTC"; -o json "2026-12-05T10:51:12Z".
_TEXT_FORMATS = ("%b %d, %Y %H:%M UTC", "%b %d, %Y")


def mapping(path: Path, example: str) -> dict[str, Any]:
    """``path`` as a YAML mapping, or a StepFailure saying what is wrong with it."""
    data = files.read_bytes(path, example)
    try:
        doc = yaml.safe_load(data)
    except yaml.YAMLError as err:
        fail(f"{path.name} is not valid YAML ({' '.join(str(err).split())[:120]}).", example)
    if not isinstance(doc, dict):
        fail(f"{path.name} must be a YAML mapping.", example)
    return doc


def as_date(value: object) -> dt.date | None:
    """A date given as YAML's date, an ISO date or time, or check-expiration's text; None otherwise."""
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.timezone.utc).date() if value.tzinfo else value.date()
    if isinstance(value, dt.date):
        return value
    if not isinstance(value, str):
        return None
    text = value.strip()
    try:
        parsed = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
        return parsed.astimezone(dt.timezone.utc).date() if parsed.tzinfo else parsed.date()
    except ValueError:
        pass
    for form in _TEXT_FORMATS:
        try:
            return dt.datetime.strptime(text, form).date()
        except ValueError:
            continue
    return None


def date_answer(doc: dict[str, Any], key: str, name: str, example: str) -> dt.date:
    if key not in doc:
        fail(f"{name} has no key {key}.", example)
    found = as_date(doc[key])
    if found is None:
        fail(f"{key} in {name} is {doc[key]!r}, not a date; write it as YYYY-MM-DD (UTC).", example)
    return found
