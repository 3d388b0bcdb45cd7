"""The built-in tasks (importing this module imports no torch)."""

from models.mlpf.loss_config import LossConfig

from . import register_task

register_task(
    "particle_flow",
    LossConfig,
    "pipeline.tasks.particle_flow:ParticleFlowTask",
    "MLPF: per-element particle classification and momentum regression on staged events",
)
