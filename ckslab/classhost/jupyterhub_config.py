"""JupyterHub's configuration for a ckslab class (``jupyterhub -f`` this file; traitlets only).

It reads what ``ckslab class up`` decided (``hub/settings.json`` of ``$CKSLAB_CLASS_DIR``): where
the hub listens, its TLS certificate, the learners, the proxy's binary and the ports.
"""
# ruff: noqa
# mypy: ignore-errors

from ckslab.classhost import layout

where = layout.class_paths()
s = layout.read_settings(where)
c = get_config()  # noqa: F821  (JupyterHub's config loader provides it)

c.JupyterHub.ip = s["ip"]
c.JupyterHub.port = s["port"]
if s.get("ssl_cert"):
    c.JupyterHub.ssl_cert = s["ssl_cert"]
    c.JupyterHub.ssl_key = s["ssl_key"]
c.JupyterHub.hub_ip = "127.0.0.1"
c.JupyterHub.hub_port = s["hub_port"]
c.JupyterHub.db_url = f"sqlite:///{where.hub / 'jupyterhub.sqlite'}"
c.JupyterHub.cookie_secret_file = str(where.hub / "jupyterhub_cookie_secret")
c.JupyterHub.pid_file = str(where.hub / "jupyterhub.pid")
# The hub may restart (a crash, `ckslab class up` again): learners' servers and clusters keep running
# and are found again from the database; `ckslab class down` stops them through the REST API.
c.JupyterHub.cleanup_servers = False

c.ConfigurableHTTPProxy.command = [s["proxy"]]
c.ConfigurableHTTPProxy.api_url = f"http://127.0.0.1:{s['proxy_api_port']}"
c.ConfigurableHTTPProxy.auth_token = s["proxy_token"]
c.ConfigurableHTTPProxy.pid_file = str(where.hub / "jupyterhub-proxy.pid")

c.JupyterHub.authenticator_class = "ckslab.classhost.spawner.RosterAuthenticator"
c.Authenticator.allowed_users = set(s["learners"])
c.Authenticator.admin_users = {layout.INSTRUCTOR}

c.JupyterHub.spawner_class = "ckslab.classhost.spawner.ClassSpawner"
c.Spawner.cmd = [s["python"], "-m", "jupyterhub.singleuser"]
# Control planes start one at a time (spawner.STARTS) and the hub's start_timeout counts that queue: a class
# logging in together waits behind every other learner's plane (4 s each idle, up to ~40 s on a loaded
# 2-core server; `ckslab bench`'s class of 30 had the hub give up on 16 learners at a flat 240 s).
c.Spawner.start_timeout = 240 + 40 * max(len(s["learners"]) - 1, 0)
c.Spawner.http_timeout = 120
c.Spawner.default_url = "/lab"


c.JupyterHub.default_url = layout.landing

READ = "custom:ckslab-scoreboard:read"
c.JupyterHub.custom_scopes = {READ: {"description": "See every learner's grades on the class scoreboard."}}
c.JupyterHub.services = [
    {
        "name": layout.SCOREBOARD,
        "url": f"http://127.0.0.1:{s['scoreboard_port']}",
        "command": [s["python"], "-m", "ckslab.classhost.scoreboard"],
        "environment": {"CKSLAB_CLASS_DIR": str(where.base), "CKSLAB_SCOREBOARD_INTERVAL": str(s["interval"])},
        "oauth_no_confirm": True,
        "oauth_client_allowed_scopes": [READ],
    },
    # ckslab's own access to the REST API (`class status`, `class down`, `grade --class hub`).
    {"name": "ckslab-class", "api_token": s["api_token"]},
]
c.JupyterHub.load_roles = [
    {"name": "ckslab-instructor", "users": [layout.INSTRUCTOR],
     "scopes": [READ, f"access:services!service={layout.SCOREBOARD}"]},
    {"name": "ckslab-scoreboard", "services": [layout.SCOREBOARD], "scopes": ["list:users", "read:users"]},
    {"name": "ckslab-class", "services": ["ckslab-class"],
     "scopes": ["list:users", "read:users", "admin:servers", "admin:users"]},
]
