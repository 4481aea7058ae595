"""How the signing-config graders read a kube-controller-manager command line, without a cluster."""

from __future__ import annotations

from graders.signing_config.flags import SigningConfig


def test_controllers_given_twice_add_up_as_pflag_string_slices_do() -> None:
    # Checked on the v1.37 binary: with these two flags /healthz?verbose lists no
    # certificatesigningrequest-signing-controller and approved CSRs stay unsigned.
    command = ("kube-controller-manager", "--controllers=*,-csrsigning", "--controllers=*,bootstrapsigner,tokencleaner")
    config = SigningConfig(command)
    assert config.controllers == ["*", "-csrsigning", "*", "bootstrapsigner", "tokencleaner"]
    assert config.enabled_csr_controllers() == ["certificatesigningrequest-approving-controller",
                                                "certificatesigningrequest-cleaner-controller"]


def test_controllers_default_and_single() -> None:
    assert SigningConfig(("kube-controller-manager",)).controllers == ["*"]
    assert len(SigningConfig(("kube-controller-manager", "--controllers", "*,-csrcleaner")).enabled_csr_controllers()) == 2
