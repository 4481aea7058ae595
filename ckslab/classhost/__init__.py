"""A class hosted on one server: JupyterHub, a Unix user, a JupyterLab and a control plane per learner.

``ckslab class up ROSTER.csv`` configures JupyterHub through its own ``jupyterhub_config.py``
(``hubconfig.py`` here) with a spawner subclass (``spawner.py``) that brings each learner's local
control plane up with their server; the instructor's scoreboard is a JupyterHub service
(``scoreboard.py``) behind the hub's OAuth. ckslab writes no hub of its own.
"""
