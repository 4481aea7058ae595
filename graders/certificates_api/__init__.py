"""Graders of the certificates-api lab: one module per step, run by `ckslab grade`."""
