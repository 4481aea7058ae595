"""Graders of the node-certificates lab: one module per step, run by `ckslab grade node-certificates`."""
