"""The real Linux flag values: ``from nommu_lab.constants import *``."""

from .kernel.constants import *
from .kernel.constants import __all__  # noqa: F401
