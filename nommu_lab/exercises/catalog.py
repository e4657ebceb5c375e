"""Every exercise the project ships: importing this module registers them.

A new exercise is one module next to this one (a subclass of
``framework.Exercise``) plus one import line here, and a notebook in
``solutions/`` (see docs/authoring-exercises.md).
"""

from . import (
    anonymous_mappings,
    fix_the_mapping,
    map_uninitialized,
    mremap_rules,
    private_file_mappings,
    read_the_maps,
    shared_mappings,
    shm_one_address,
)

__all__ = [
    "anonymous_mappings",
    "fix_the_mapping",
    "map_uninitialized",
    "mremap_rules",
    "private_file_mappings",
    "read_the_maps",
    "shared_mappings",
    "shm_one_address",
]
