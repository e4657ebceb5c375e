# JupyterHub for a class on one machine: every student gets their own
# JupyterLab, opened at the nommu-lab start notebook, with a private copy of
# the tutorial and the exercises in ~/nommu-lab.
#
#   .venv/bin/jupyterhub -f deploy/jupyterhub_config.py
#
# Two ways to log in (NOMMU_LAB_HUB_AUTH), both with no extra package:
#
# * "pam" (the default, for a lab machine whose students have Unix accounts):
#   students log in with their own account and password; each server runs as
#   that user, in their home folder, so students cannot read each other's
#   work. The hub must run as root. Only members of the Unix group
#   NOMMU_LAB_HUB_GROUP (default "students") and the admins may log in.
# * "shared" (a workshop or a trial, and the project's own test): any user
#   name, one password for everybody (NOMMU_LAB_HUB_PASSWORD, 8+ characters).
#   Every server runs as the Unix user who started the hub, each in its own
#   folder under the state folder: convenient, but students share one Unix
#   account, so a determined student can read the others' files. Do not use
#   it for graded work on a shared machine.
#
# Other settings (environment variables):
#   NOMMU_LAB_HUB_IP / _PORT   where the hub listens (default 0.0.0.0:8000)
#   NOMMU_LAB_HUB_STATE        the hub's database, cookie secret and (shared
#                              mode) the students' folders (default
#                              /var/lib/nommu-lab-hub)
#   NOMMU_LAB_HUB_INTERNAL_PORTS  "HUB,API": the hub's own and the proxy's API ports
#                              (default 8081 and PORT+1), to run two hubs at once
#   NOMMU_LAB_HUB_ADMINS       comma-separated admin users (default: instructor)
#   NOMMU_LAB_CHP              the configurable-http-proxy command (default: the
#                              copy scripts/ensure-system-packages installs in .venv/chp, else PATH)
# See docs/instructor-guide.md.

import os
import pwd
import shutil
import sys
from pathlib import Path

c = get_config()  # noqa: F821 (JupyterHub provides it)

PROJECT = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent  # the Python that runs the hub (and nommu-lab)
AUTH = os.environ.get("NOMMU_LAB_HUB_AUTH", "pam")
STATE = Path(os.environ.get("NOMMU_LAB_HUB_STATE", "/var/lib/nommu-lab-hub"))
STATE.mkdir(parents=True, exist_ok=True)
ADMINS = {u for u in os.environ.get("NOMMU_LAB_HUB_ADMINS", "instructor").split(",") if u}

c.JupyterHub.ip = os.environ.get("NOMMU_LAB_HUB_IP", "0.0.0.0")
c.JupyterHub.port = int(os.environ.get("NOMMU_LAB_HUB_PORT", "8000"))
if os.environ.get("NOMMU_LAB_HUB_INTERNAL_PORTS"):  # "HUB,PROXY_API": two hubs on one machine
    hub_port, api_port = map(int, os.environ["NOMMU_LAB_HUB_INTERNAL_PORTS"].split(","))
    c.JupyterHub.hub_port = hub_port
    c.ConfigurableHTTPProxy.api_url = f"http://127.0.0.1:{api_port}"
c.JupyterHub.cookie_secret_file = str(STATE / "jupyterhub_cookie_secret")
c.JupyterHub.db_url = f"sqlite:///{STATE / 'jupyterhub.sqlite'}"
c.ConfigurableHTTPProxy.pid_file = str(STATE / "jupyterhub-proxy.pid")
_chp = PROJECT / ".venv" / "chp" / "node_modules" / ".bin" / "configurable-http-proxy"
c.ConfigurableHTTPProxy.command = [os.environ.get("NOMMU_LAB_CHP")
                                   or (str(_chp) if _chp.exists() else "configurable-http-proxy")]
c.Authenticator.admin_users = ADMINS
SERVER_ARGS: list[str] = []

if AUTH == "pam":
    c.JupyterHub.authenticator_class = "pam"
    c.JupyterHub.spawner_class = "localprocess"  # one process per student, as that student
    c.PAMAuthenticator.allowed_groups = {os.environ.get("NOMMU_LAB_HUB_GROUP", "students")}
elif AUTH == "shared":
    c.JupyterHub.authenticator_class = "shared-password"
    c.SharedPasswordAuthenticator.user_password = os.environ["NOMMU_LAB_HUB_PASSWORD"]
    c.Authenticator.allow_all = True
    c.JupyterHub.spawner_class = "simple"  # every server as the hub's own Unix user
    c.SimpleLocalProcessSpawner.home_dir_template = str(STATE / "home" / "{username}")
    if os.geteuid() == 0:  # a container or a lab PC run as root: Jupyter asks to be told
        SERVER_ARGS.append("--allow-root")
else:
    raise SystemExit(f"NOMMU_LAB_HUB_AUTH must be 'pam' or 'shared', not {AUTH!r}")

# each student's server: the same Python environment as the hub, JupyterLab at the start notebook
c.Spawner.cmd = [str(VENV_BIN / "jupyterhub-singleuser")]
c.Spawner.default_url = "/lab/tree/nommu-lab/notebooks/00-start-here.ipynb"
c.Spawner.environment = {"PATH": f"{VENV_BIN}:/usr/local/bin:/usr/bin:/bin"}
c.Spawner.args = [*SERVER_ARGS, "--LabApp.news_url=None",
                  "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"]
c.Spawner.http_timeout = 60
c.Spawner.start_timeout = 120


def copy_course(spawner) -> None:
    """Give a student their own copy of the tutorial and the exercises, once.

    A copy that exists is never overwritten: a student's work survives a
    restart. Release new exercises by copying them into ~/nommu-lab/exercises.
    """
    name = spawner.user.name
    home = Path(spawner.home_dir) if AUTH == "shared" else Path(pwd.getpwnam(name).pw_dir)
    dest = home / "nommu-lab"
    for folder in ("notebooks", "exercises"):
        if (PROJECT / folder).is_dir() and not (dest / folder).exists():
            shutil.copytree(PROJECT / folder, dest / folder)
    if AUTH == "pam" and os.geteuid() == 0:  # hand the copy to the student
        uid, gid = pwd.getpwnam(name).pw_uid, pwd.getpwnam(name).pw_gid
        for path in [dest, *dest.rglob("*")]:
            os.chown(path, uid, gid)


c.Spawner.pre_spawn_hook = copy_course
