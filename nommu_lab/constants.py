"""The real Linux flag values: ``from nommu_lab.constants import *``."""

from .kernel.constants import *  # noqa: F403
from .kernel.constants import __all__  # noqa: F401
