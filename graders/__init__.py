"""Graders: plain pytest tests per lab (one package each), the score plugin and `ckslab grade`."""
