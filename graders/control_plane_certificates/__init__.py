"""Graders of the control-plane-certificates lab: one module per step, run by `ckslab grade`."""
