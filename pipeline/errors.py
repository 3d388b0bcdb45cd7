"""Errors the CLI turns into exit codes (no traceback for the user's mistakes)."""

from __future__ import annotations


class UserError(Exception):
    """Invalid input: the CLI prints the message and exits 2."""

    exit_code = 2


class SpecError(UserError):
    """A workflow or site file (or an override) failed validation at one field path."""

    def __init__(self, source: str, field: str, message: str) -> None:
        self.source = source
        self.field = field
        self.message = message
        where = f"{source}: {field}" if field else source
        super().__init__(f"{where}: {message}")


class SchedulerDown(UserError):
    """The scheduler cannot be reached (slurmctld down): a failure, not invalid input, so exit 1."""

    exit_code = 1


class SubmissionRefused(UserError):
    """The scheduler refused a job (a bad account, partition or option): exit 1, its message."""

    exit_code = 1


class CampaignBusy(Exception):
    """Another controller holds the campaign lock: the CLI exits 3."""

    exit_code = 3
