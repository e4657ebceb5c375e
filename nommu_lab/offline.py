"""Everything served locally: the Voila template that fetches nothing from the network.

Voila's stock "lab" template links Font Awesome from a CDN, so an offline
classroom gets console errors and a slow first paint. The package ships a
template, ``nommu-lab`` (``nommu_lab/share/jupyter/voila/templates/``), that
is the stock one minus external links; Voila's own bundle already holds the
styles. ``nommu-lab present`` uses it, and the ``voila.py`` files next to the
notebooks make a plain ``voila notebooks/presenter.ipynb`` use it too.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

TEMPLATE = "nommu-lab"
#: JupyterLab extensions Voila must not load: Notebook 7's lab extension (installed
#: with the ``notebook`` package) fails to start outside JupyterLab, a console error
#: on every page
EXTENSION_DENYLIST = ("@jupyter-notebook/lab-extension",)
#: the Jupyter data folder inside the package that holds the template
SHARE = Path(__file__).resolve().parent / "share" / "jupyter"


def jupyter_path_with_template(current: str | None) -> str:
    """``JUPYTER_PATH`` with the package's data folder first (Voila finds templates there)."""
    parts = [str(SHARE), *[p for p in (current or "").split(os.pathsep) if p and p != str(SHARE)]]
    return os.pathsep.join(parts)


def configure_voila(c: Any) -> None:
    """Make a Voila started with this config use the offline template and load only
    extensions that work in it (call from voila.py)."""
    os.environ["JUPYTER_PATH"] = jupyter_path_with_template(os.environ.get("JUPYTER_PATH"))
    c.VoilaConfiguration.template = TEMPLATE
    c.VoilaConfiguration.extension_denylist = list(EXTENSION_DENYLIST)


def voila_options() -> list[str]:
    """The same settings as command-line options (for ``nommu-lab present``)."""
    return [f"--template={TEMPLATE}",
            *(f"--VoilaConfiguration.extension_denylist={x}" for x in EXTENSION_DENYLIST)]
