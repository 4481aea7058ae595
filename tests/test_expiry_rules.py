"""The signer's validity rule the expiry-rotation graders use, without a cluster.

The rule (kube-controller-manager's signing policy, checked on the v1.37 cluster by the lab's
cluster tests): notBefore is backdated 5 minutes; under 8 hours notAfter is now + requested, so
the validity is requested + 5 minutes; from 8 hours on it is exactly the requested duration; and
never more than --cluster-signing-duration.
"""

from __future__ import annotations

import datetime as dt

import pytest

from graders.expiry_rotation.lab import issued_validity, spoken

H = dt.timedelta(hours=1)


@pytest.mark.parametrize("requested, expected", [
    (600, dt.timedelta(minutes=15)),
    (3600, dt.timedelta(minutes=65)),
    (86400, dt.timedelta(days=1)),
    (8 * 3600, 8 * H),
    (None, dt.timedelta(days=365)),
    (2 * 365 * 86400, dt.timedelta(days=365)),
])
def test_issued_validity(requested: int | None, expected: dt.timedelta) -> None:
    assert issued_validity(requested) == expected


def test_issued_validity_is_capped_by_a_shorter_signing_duration() -> None:
    assert issued_validity(86400, signing_duration=12 * H) == 12 * H
    assert issued_validity(None, signing_duration=720 * H) == 720 * H


@pytest.mark.parametrize("span, words", [
    (dt.timedelta(minutes=15), "15 minutes"),
    (dt.timedelta(days=1), "1 day"),
    (dt.timedelta(days=1, minutes=5), "1 day and 5 minutes"),
    (dt.timedelta(days=365), "365 days"),
    (dt.timedelta(hours=2, minutes=1, seconds=3), "2 hours, 1 minute and 3 seconds"),
    (dt.timedelta(0), "0 seconds"),
])
def test_spoken(span: dt.timedelta, words: str) -> None:
    assert spoken(span) == words
