"""Step role: the Role developer in development (for jane) allows exactly the six verbs on pods."""

from __future__ import annotations

import pytest
from kubernetes import client

from graders.expect import expect
from graders.jane_access import access, rules
from graders.jane_access.lab import ROLE, LabNames

pytestmark = pytest.mark.step("role")


def test_role_exists(role: client.V1Role) -> None:
    assert access.name_of(role) == ROLE


def test_role_has_no_wildcards(role: client.V1Role, lab: LabNames) -> None:
    found = rules.wildcards(access.rules_of(role))
    expect(not found, f"The Role {ROLE} uses '*' in the {', '.join(found)}: a wildcard grants "
                      "everything, including what does not exist yet; list the verbs and resources asked.",
           lab.fix_role)


def test_role_allows_everything_asked(role: client.V1Role, lab: LabNames) -> None:
    role_rules = access.rules_of(role)
    lacking = rules.missing(role_rules, lab.role_grants)
    limited = any(r.resource_names for r in role_rules)
    expect(not lacking, f"The Role {ROLE} does not allow {rules.describe(lacking)} on every pod"
                        + (" (a rule limited to resourceNames allows only the pods it names)" if limited else "")
                        + "; it must allow get, list, watch, create, update and delete on pods.", lab.fix_role)


def test_role_allows_nothing_more(role: client.V1Role, lab: LabNames) -> None:
    beyond = rules.extra(access.rules_of(role), lab.role_grants)
    expect(not beyond, f"The Role {ROLE} also allows {rules.describe(beyond)}; least privilege: only get, "
                       "list, watch, create, update and delete on pods.", lab.fix_role)
