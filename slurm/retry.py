"""Slurm client calls that survive a busy controller: transient failures (socket time-outs,
"Resource temporarily unavailable", "temporarily unable to accept job", a controller that cannot
be contacted for a moment) are retried with exponential backoff and full jitter, bounded in
attempts and in total time; any other failure (a bad account, an invalid option) is raised at
once with Slurm's own message.

The caller makes a retried call idempotent: before sbatch is tried again, the queue is searched
for the job's token (its comment), because a submission whose reply was lost may have been
queued anyway (slurm_scheduler.py).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

T = TypeVar("T")

TRANSIENT_MARKERS = (
    "socket timed out",
    "resource temporarily unavailable",
    "temporarily unable to accept job",
    "unable to contact slurm controller",
    "slurm_receive_msg",
    "connection timed out",
    "communication connection failure",
    "try again",
    "eagain",
)


def is_transient(message: str) -> bool:
    text = message.lower()
    return any(marker in text for marker in TRANSIENT_MARKERS)


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 6  # tries in all, the first included
    initial_s: float = 1.0  # the first wait's ceiling; doubled after every failure
    max_s: float = 30.0  # no wait is longer
    budget_s: float = 120.0  # no try starts after this much time since the first

    def delays(self, rng: random.Random) -> list[float]:
        """Full-jitter exponential backoff: a uniform wait in [0, min(max, initial * 2^k)]."""
        return [rng.uniform(0, min(self.max_s, self.initial_s * 2**k)) for k in range(self.attempts - 1)]


class TransientFailure(RuntimeError):
    """Raised by a call that failed in a way worth retrying (its message is Slurm's)."""


def with_retries(
    call: Callable[[], T],
    what: str,
    policy: RetryPolicy,
    before_retry: Callable[[], T | None] | None = None,
    log: Callable[[str], None] | None = None,
    sleep: Callable[[float], None] = time.sleep,
    rng: random.Random | None = None,
) -> T:
    """`call()`, retried on TransientFailure. `before_retry()` runs before each new try and may
    return the result instead (the job was queued after all). The last failure is re-raised
    with the number of tries."""
    rng = rng or random.Random()
    started = time.monotonic()
    delays = policy.delays(rng)
    for attempt in range(policy.attempts):
        try:
            return call()
        except TransientFailure as exc:
            elapsed = time.monotonic() - started
            if attempt >= len(delays) or elapsed + delays[attempt] > policy.budget_s:
                raise TransientFailure(f"{what}: {exc} (gave up after {attempt + 1} tries, {elapsed:.0f} s)") from None
            if log:
                log(f"{what}: {exc}; retrying in {delays[attempt]:.1f} s (try {attempt + 2} of {policy.attempts})")
            sleep(delays[attempt])
            if before_retry is not None:
                found = before_retry()
                if found is not None:
                    return found
    raise AssertionError("unreachable")  # the loop returns or raises
