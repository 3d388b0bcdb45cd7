"""One process of a local job: unpickle the job's payload and call it (with the array index).

On SIGTERM (cancel, time limit) the payload's checkpoint() runs first, as Submitit does on Slurm.
"""

from __future__ import annotations

import os
import pickle
import signal
import sys


def main() -> int:
    with open(sys.argv[1], "rb") as handle:
        spec = pickle.load(handle)  # written by our own LocalScheduler.submit
    request = spec["request"]
    position = int(sys.argv[2])
    args = () if request.array_indices is None else (request.array_indices[position],)
    payload = request.payload

    def on_sigterm(signum: int, frame: object) -> None:
        if int(os.environ.get("RANK", "0")) == 0 and hasattr(payload, "checkpoint"):
            payload.checkpoint(*args)
        os._exit(143)

    signal.signal(signal.SIGTERM, on_sigterm)
    payload(*args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
