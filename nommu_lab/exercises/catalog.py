"""Every exercise the project ships: importing this module registers them.

A new exercise is one module next to this one (a subclass of
``framework.Exercise``) plus one import line here, and a notebook in
``solutions/`` (see docs/authoring-exercises.md).
"""

from . import fix_the_mapping, read_the_maps, shm_one_address

__all__ = ["fix_the_mapping", "read_the_maps", "shm_one_address"]

# trimming, processes, futexes, drivers, the flash hazard
from . import flash_hazard, futex_handshake, processes_and_exec, trim_setting, write_a_driver

__all__ += ["flash_hazard", "futex_handshake", "processes_and_exec", "trim_setting", "write_a_driver"]
