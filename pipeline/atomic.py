"""Atomic file writes for the campaign engine. They live in `slurm.atomic`, which the scheduler
side (local job states, Ray-on-Slurm, adopted jobs) uses too; `pipeline` may import `slurm`, not
the other way round."""

from slurm.atomic import append_line, atomic_path, atomic_write_json, atomic_write_text, read_json

__all__ = ["append_line", "atomic_path", "atomic_write_json", "atomic_write_text", "read_json"]
