"""What RBAC rules grant, as (API group, resource, verb) triples. Pure code.

A Role is judged by what it allows, not by how it is written: ``kubectl create role`` writes one
rule, a hand-written manifest may split it in several, and both are right. Wildcards (``*``) and
rules limited to ``resourceNames`` are reported as they are, never expanded.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

WILDCARD = "*"
#: (API group, resource, verb); the core API group is "".
Grant = tuple[str, str, str]


@dataclass(frozen=True)
class Rule:
    """One PolicyRule of a Role (resource rules only: a Role cannot hold non-resource URLs)."""

    api_groups: tuple[str, ...]
    resources: tuple[str, ...]
    verbs: tuple[str, ...]
    resource_names: tuple[str, ...] = ()

    def allows(self, grant: Grant) -> bool:
        """True when this rule allows ``grant`` on every object (not only some names)."""
        group, resource, verb = grant
        return (not self.resource_names and _matches(self.api_groups, group)
                and _matches(self.resources, resource) and _matches(self.verbs, verb))

    def grants(self) -> set[Grant]:
        return {(g, r, v) for g in self.api_groups for r in self.resources for v in self.verbs}


def _matches(values: tuple[str, ...], wanted: str) -> bool:
    return WILDCARD in values or wanted in values


def wildcards(rules: Iterable[Rule]) -> list[str]:
    """The fields of ``rules`` that hold ``*``, described: ["verbs of rule 1"]."""
    found = []
    for n, rule in enumerate(rules, start=1):
        for field, values in (("apiGroups", rule.api_groups), ("resources", rule.resources),
                              ("verbs", rule.verbs)):
            if WILDCARD in values:
                found.append(f"{field} of rule {n}")
    return found


def missing(rules: Iterable[Rule], wanted: Iterable[Grant]) -> list[Grant]:
    """What ``rules`` do not allow of ``wanted``, sorted."""
    rules = list(rules)
    return sorted(g for g in wanted if not any(r.allows(g) for r in rules))


def extra(rules: Iterable[Rule], wanted: Iterable[Grant]) -> list[Grant]:
    """What ``rules`` grant beyond ``wanted``, sorted."""
    wanted = set(wanted)
    return sorted({g for r in rules for g in r.grants() if g not in wanted})


def describe(grants: Iterable[Grant]) -> str:
    """``[("", "pods", "patch"), ("apps", "deployments", "get")]`` -> "patch pods, get deployments.apps"."""
    return ", ".join(f"{verb} {resource}{'.' + group if group else ''}" for group, resource, verb in grants)
