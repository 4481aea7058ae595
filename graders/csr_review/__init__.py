"""Graders of the csr-review lab: one module per step, run by `ckslab grade csr-review`."""
