"""Dataset families: one plug-in unit per kind of data (particle flow, SUEP images, jets, and
the families of installed packages). `registry.py` holds the registry and explains the unit;
`base.py` the parameters every family shares; `protocol.py` what a family's implementation
provides; each built-in family is a sub-package registered by one line in `catalog.py`."""

from . import catalog  # noqa: E402,F401,I001  (registers the built-in families; imports no torch)
from .registry import (
    DEFAULT,
    PARAM_ROLES,
    Family,
    FamilyPlugin,
    UnknownFamily,
    family_names,
    get_family,
    load_plugins,
    manifest_family,
    owner_of_field,
    params_model,
    register_family,
)

__all__ = [
    "DEFAULT",
    "PARAM_ROLES",
    "Family",
    "FamilyPlugin",
    "UnknownFamily",
    "family_names",
    "get_family",
    "load_plugins",
    "manifest_family",
    "owner_of_field",
    "params_model",
    "register_family",
]
