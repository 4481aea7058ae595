"""JupyterHub's configuration in the hub pod of ``ckslab class up --kubernetes`` (traitlets only).

It reads ``hub/settings.json`` and ``hub/passwords.json`` of ``$CKSLAB_CLASS_DIR`` (the hub Secret,
mounted read-only). KubeSpawner makes one pod a learner from the learner image: its command
(``podlearner start``) brings their own local control plane up as plain processes, then starts
JupyterLab; their home is a PVC (``claim-<name>``) of the cluster's default StorageClass, kept when
the pod stops. The pod runs as uid 1000 with every capability dropped, no privilege escalation and
no service account token. Only a one-shot init container runs as root, with CHOWN and FOWNER alone,
to give the learner their volume (hostPath-backed volumes, such as kind's, ignore fsGroup).
"""
# ruff: noqa
# mypy: ignore-errors

import os

from ckslab.classhost import image, kubemanifests, layout

where = layout.class_paths()
s = layout.read_settings(where)
c = get_config()  # noqa: F821  (JupyterHub's config loader provides it)
namespace = os.environ.get("POD_NAMESPACE", s["namespace"])

c.JupyterHub.ip = "0.0.0.0"
# As Z2JH: bind on every address of the pod, and let learners' pods call the hub by its Service.
c.JupyterHub.hub_bind_url = f"http://0.0.0.0:{kubemanifests.HUB_PORT}"
c.JupyterHub.hub_connect_ip = f"hub.{namespace}.svc"
c.JupyterHub.db_url = f"sqlite:///{where.base / 'jupyterhub.sqlite'}"
c.JupyterHub.cookie_secret = bytes.fromhex(s["cookie_secret"])
c.JupyterHub.cleanup_servers = False
c.ConfigurableHTTPProxy.should_start = False
c.ConfigurableHTTPProxy.api_url = f"http://proxy-api.{namespace}.svc:{kubemanifests.PROXY_API_PORT}"

c.JupyterHub.authenticator_class = "ckslab.classhost.spawner.RosterAuthenticator"
c.Authenticator.allowed_users = set(s["learners"])
c.Authenticator.admin_users = {layout.INSTRUCTOR}
c.JupyterHub.default_url = layout.landing  # the instructor lands on the scoreboard

c.JupyterHub.spawner_class = "ckslab.classhost.kubespawn.ClassKubeSpawner"
c.KubeSpawner.namespace = namespace
c.KubeSpawner.image = s["image"]
c.KubeSpawner.image_pull_policy = "IfNotPresent"
c.KubeSpawner.cmd = [f"{image.VENV}/bin/python", "-m", "ckslab.classhost.podlearner", "start"]
c.KubeSpawner.default_url = "/lab"
c.KubeSpawner.uid = image.UID
c.KubeSpawner.gid = image.UID
c.KubeSpawner.fs_gid = image.UID
c.KubeSpawner.privileged = False
c.KubeSpawner.allow_privilege_escalation = False
c.KubeSpawner.container_security_context = {"capabilities": {"drop": ["ALL"]}, "runAsNonRoot": True,
                                            "seccompProfile": {"type": "RuntimeDefault"}}
c.KubeSpawner.automount_service_account_token = False
c.KubeSpawner.environment = {
    "CKSLAB_CACHE": image.CACHE,
    "CKSLAB_ROOT": f"{image.HOME}/ckslab",
    "CKSLAB_USER": "{username}",
    "KUBECONFIG": f"{image.HOME}/ckslab/.lab/kubeconfig",
    "HOME": image.HOME,
    "SHELL": "/bin/bash",
}
# A local control plane is about 530 MB; JupyterLab and a kernel about 200 MB more.
c.KubeSpawner.cpu_guarantee = float(s.get("cpu_guarantee", 0.05))
c.KubeSpawner.mem_guarantee = s.get("mem_guarantee", "512M")
c.KubeSpawner.mem_limit = s.get("mem_limit", "2G")
c.KubeSpawner.extra_labels = dict(kubemanifests.PART_OF)
# The control plane comes up before JupyterLab listens: about 4 s alone, up to a minute when a
# class starts together on a small node.
# Three planes starting at once on a 2-core node under a load average of 60 took longer than 240 s.
c.KubeSpawner.start_timeout = 600
c.KubeSpawner.http_timeout = 600

c.KubeSpawner.storage_pvc_ensure = True
c.KubeSpawner.pvc_name_template = "claim-{username}"
c.KubeSpawner.storage_capacity = s.get("storage", "2Gi")
c.KubeSpawner.storage_access_modes = ["ReadWriteOnce"]
c.KubeSpawner.storage_extra_labels = dict(kubemanifests.PART_OF)
if s.get("storage_class"):
    c.KubeSpawner.storage_class = s["storage_class"]
c.KubeSpawner.volumes = [{"name": "home", "persistentVolumeClaim": {"claimName": "{pvc_name}"}}]
c.KubeSpawner.volume_mounts = [{"name": "home", "mountPath": image.HOME}]
c.KubeSpawner.init_containers = [{
    "name": "home-owner", "image": s["image"], "imagePullPolicy": "IfNotPresent",
    "command": ["sh", "-c", f"chown {image.UID}:{image.UID} {image.HOME} && chmod 0700 {image.HOME}"],
    "securityContext": {"runAsUser": 0, "runAsNonRoot": False, "allowPrivilegeEscalation": False,
                        "capabilities": {"drop": ["ALL"], "add": ["CHOWN", "FOWNER"]}},
    "volumeMounts": [{"name": "home", "mountPath": image.HOME}],
}]

READ = "custom:ckslab-scoreboard:read"
c.JupyterHub.custom_scopes = {READ: {"description": "See every learner's grades on the class scoreboard."}}
c.JupyterHub.services = [
    {
        "name": layout.SCOREBOARD,
        "url": f"http://hub.{namespace}.svc:{kubemanifests.SCOREBOARD_PORT}",
        "command": [f"{image.VENV}/bin/python", "-m", "ckslab.classhost.scoreboard"],
        "environment": {"CKSLAB_CLASS_DIR": str(where.base), "CKSLAB_SCOREBOARD_INTERVAL": str(s["interval"]),
                        "CKSLAB_SCOREBOARD_BIND": "0.0.0.0", "CKSLAB_CLASS_NAMESPACE": namespace,
                        # A service gets only JupyterHub's env_keep: kubectl's in-cluster config needs these.
                        **{k: os.environ[k] for k in ("KUBERNETES_SERVICE_HOST", "KUBERNETES_SERVICE_PORT")
                           if k in os.environ}},
        "oauth_no_confirm": True,
        "oauth_client_allowed_scopes": [READ],
    },
    {"name": "ckslab-class", "api_token": s["api_token"]},
]
c.JupyterHub.load_roles = [
    {"name": "ckslab-instructor", "users": [layout.INSTRUCTOR],
     "scopes": [READ, f"access:services!service={layout.SCOREBOARD}"]},
    {"name": "ckslab-scoreboard", "services": [layout.SCOREBOARD], "scopes": ["list:users", "read:users"]},
    {"name": "ckslab-class", "services": ["ckslab-class"],
     "scopes": ["list:users", "read:users", "admin:servers", "admin:users"]},
]
