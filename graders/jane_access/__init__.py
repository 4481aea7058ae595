"""Graders of the jane-access lab: RBAC for a user who already authenticates with a certificate."""
