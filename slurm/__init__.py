"""Turning a stage + site into jobs: Submitit on Slurm, a local scheduler, launch environments,
Ray-on-Slurm and the development Slurm cluster. Knows nothing of models or physics."""
