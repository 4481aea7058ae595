"""Step new-key: jane-new.key is a new private key, strong, private, and not the original one."""

from __future__ import annotations

import pytest
from cryptography import x509

from cluster import pki
from graders import files
from graders.expect import expect
from graders.expiry_rotation.lab import LabFiles

pytestmark = pytest.mark.step("new-key")


def test_new_key_file_exists(lab: LabFiles) -> None:
    files.read_bytes(lab.new_key, lab.make_key)


def test_new_key_is_an_unencrypted_private_key(lab: LabFiles) -> None:
    files.load_private_key(lab.new_key, lab.make_key)


def test_new_key_is_strong_enough(lab: LabFiles) -> None:
    weakness = files.key_weakness(files.load_private_key(lab.new_key, lab.make_key), lab.new_key.name)
    expect(weakness is None, str(weakness), lab.make_key)


def test_new_key_is_not_the_original_key(lab: LabFiles, original: x509.Certificate) -> None:
    key = files.load_private_key(lab.new_key, lab.make_key)
    expect(not pki.same_public_key(original.public_key(), key.public_key()),
           f"{lab.new_key.name} is the original key, {lab.key.name} (a copy, or the same key in another "
           "format): a renewal with it keeps whatever exposure the old key had; generate a new one.",
           lab.make_key)


def test_new_key_is_readable_by_its_owner_only(lab: LabFiles) -> None:
    files.read_bytes(lab.new_key, lab.make_key)
    mode = files.group_or_other_access(lab.new_key)
    expect(mode is None,
           f"{lab.new_key.name} has mode {mode or 0:04o}, so others may read it; a private key must be 0600.",
           f"chmod 600 {lab.new_key.name}")
