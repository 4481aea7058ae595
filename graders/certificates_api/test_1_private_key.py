"""Step private-key: jane.key is a usable private key for jane, kept private."""

from __future__ import annotations

import pytest

from graders import files
from graders.certificates_api.lab import LabFiles
from graders.expect import expect

pytestmark = pytest.mark.step("private-key")


def test_key_file_exists(lab: LabFiles) -> None:
    files.read_bytes(lab.key, lab.make_key)


def test_key_file_holds_a_private_key(lab: LabFiles) -> None:
    files.read_pem(lab.key, files.Kind.PRIVATE_KEY, lab.make_key)


def test_key_is_not_encrypted(lab: LabFiles) -> None:
    files.load_private_key(lab.key, lab.make_key)


def test_key_is_strong_enough(lab: LabFiles) -> None:
    weakness = files.key_weakness(files.load_private_key(lab.key, lab.make_key), lab.key.name)
    expect(weakness is None, str(weakness), lab.make_key)


def test_key_is_readable_by_its_owner_only(lab: LabFiles) -> None:
    files.read_bytes(lab.key, lab.make_key)
    mode = files.group_or_other_access(lab.key)
    expect(mode is None,
           f"{lab.key.name} has mode {mode or 0:04o}, so others may read it; a private key must be 0600.",
           f"chmod 600 {lab.key.name}")
