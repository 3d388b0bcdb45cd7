"""How a site's jobs start on its compute nodes: the interpreter and launch wrapper (a container),
the devices a job sees, and the variables that must be set when submitting.

Site files are site-authored, yet their words still reach bash quoted: only `$NAME` / `${NAME}`
expand (on the compute node, where the container path or project variable lives); no command
substitution, globbing or word splitting. Workflow values never get here.
"""

from __future__ import annotations

import os
import re
import shlex

from slurm.launch_env import HOSTNAME_SUFFIX_ENV

from .env_paths import unset_variables
from .errors import SpecError
from .site import SiteProfile

_REFERENCE = re.compile(r"\$(?:\{([A-Za-z_][A-Za-z0-9_]*)\}|([A-Za-z_][A-Za-z0-9_]*))")


def node_word(word: str) -> str:
    """One shell word: literal parts quoted, each $NAME as "${NAME}" (expanded, never split)."""
    parts, last = [], 0
    for match in _REFERENCE.finditer(word):
        if match.start() > last:
            parts.append(shlex.quote(word[last : match.start()]))
        parts.append(f'"${{{match.group(1) or match.group(2)}}}"')
        last = match.end()
    if last < len(word) or not parts:
        parts.append(shlex.quote(word[last:]))
    return "".join(parts)


def python_command(site: SiteProfile) -> str | None:
    """The launch wrapper and the job's Python as one shell fragment; None: the submitting Python."""
    if site.python is None and not site.launcher:
        return None
    import sys

    words = [*site.launcher, site.python or sys.executable]
    return " ".join(node_word(word) for word in words)


def visible_devices_setup(site: SiteProfile, gpus_per_node: int) -> list[str]:
    """Name the job's devices in the site's variable, unless Slurm already did (its GPU binding)."""
    if not site.visible_devices_env or gpus_per_node <= 0:
        return []
    name = site.visible_devices_env
    devices = ",".join(str(i) for i in range(gpus_per_node))
    return [f'export {name}="${{{name}:-{devices}}}"']


def job_env(site: SiteProfile, environ: dict[str, str] | None = None) -> dict[str, str]:
    """What the job's own code reads from its environment: site facts, and the required
    variables with the values they had when submitting (the launcher expands them on the node)."""
    environ = os.environ if environ is None else environ
    env = {name: environ[name] for name in site.required_env if environ.get(name)}
    if site.distributed.hostname_suffix:
        env[HOSTNAME_SUFFIX_ENV] = site.distributed.hostname_suffix
    return env


def check_required_env(site: SiteProfile, environ: dict[str, str] | None = None) -> None:
    environ = os.environ if environ is None else environ
    for name, hint in site.required_env.items():
        if not environ.get(name):
            raise SpecError(f"site {site.name}", f"required_env.{name}", f"${name} is not set: {hint}")


def account(site: SiteProfile, value: str | None) -> str | None:
    """The account, its $VARIABLE read from this environment (an error naming it when unset)."""
    if value is None or not value.startswith("$"):
        return value
    missing = unset_variables(value)
    if missing:
        raise SpecError(f"site {site.name}", "slurm.account", f"{value!r} uses ${missing[0]}, which is not set")
    return os.path.expandvars(value)
