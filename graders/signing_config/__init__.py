"""Graders of the signing-config lab: one module per step, run by `ckslab grade`."""
