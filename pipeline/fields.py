"""Constrained field types shared by the workflow and site specs.

Values that end up in an sbatch script are restricted to what Slurm accepts, so a
value such as ``gpu; touch pwned`` is refused at validation (exit 2) instead of
reaching a shell. Environment values are free text: they are exported with shell
quoting by the job template.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, StringConstraints

from .timelimit import time_to_minutes

CampaignName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z][A-Za-z0-9_.-]{0,63}$")]
StageName = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,39}$")]
# Slurm partition / account / QOS names.
SlurmName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.+-]{1,64}$")]
# Slurm feature expressions: names joined by & | , with [ ] ( ) * and counts.
SlurmConstraint = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.+\-&|,\[\]()*:!]{1,256}$")]
# An account, or one $VARIABLE naming it (expanded when submitting; unset is an error).
SlurmAccount = Annotated[str, StringConstraints(pattern=r"^([A-Za-z0-9_.+-]{1,64}|\$\{?[A-Za-z_][A-Za-z0-9_]*\}?)$")]
MemSize = Annotated[str, StringConstraints(pattern=r"^[1-9][0-9]*[KMGT]?B?$")]
EnvName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")]
SbatchFlag = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9-]*$")]


def _no_control_chars(value: str) -> str:
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in value):
        raise ValueError("must not contain newlines or control characters")
    return value


def _valid_time(value: str) -> str:
    time_to_minutes(value)
    return value


SafeText = Annotated[str, AfterValidator(_no_control_chars)]
TimeLimit = Annotated[str, AfterValidator(_valid_time)]
