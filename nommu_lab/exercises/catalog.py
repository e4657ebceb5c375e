"""Every exercise the project ships: importing this module registers them.

A new exercise is one module next to this one (a subclass of
``framework.Exercise``) plus one import line here, and a notebook in
``solutions/`` (see docs/authoring-exercises.md).
"""

from . import (
    anonymous_mappings,
    fix_the_mapping,
    flash_hazard,
    futex_handshake,
    map_uninitialized,
    mremap_rules,
    private_file_mappings,
    processes_and_exec,
    read_the_maps,
    shared_mappings,
    shm_one_address,
    trim_setting,
    write_a_driver,
)

__all__ = [
    "anonymous_mappings",
    "fix_the_mapping",
    "flash_hazard",
    "futex_handshake",
    "map_uninitialized",
    "mremap_rules",
    "private_file_mappings",
    "processes_and_exec",
    "read_the_maps",
    "shared_mappings",
    "shm_one_address",
    "trim_setting",
    "write_a_driver",
]
