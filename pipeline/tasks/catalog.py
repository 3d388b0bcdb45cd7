"""The built-in tasks (importing this module imports no torch)."""

from models.autoencoder.config import DiceLossConfig
from models.mlpf.loss_config import LossConfig
from models.pet.loss_config import JetClassificationConfig

from .registry import register_task

register_task(
    "particle_flow",
    LossConfig,
    "pipeline.families.particle_flow.task:ParticleFlowTask",
    "MLPF: per-element particle classification and momentum regression on staged events",
    report_summary="pipeline.evaluation.report:summary_lines",
)
register_task(
    "anomaly_detection",
    DiceLossConfig,
    "pipeline.families.suep_images.task:AnomalyDetectionTask",
    "an autoencoder reconstructs background detector images (inverse Dice loss); the score is 1/D",
    report_summary="pipeline.families.suep_images.report:summary_lines",
)
register_task(
    "jet_classification",
    JetClassificationConfig,
    "pipeline.families.jets.task:JetClassificationTask",
    "jets of the chosen classes (loss.classes): cross-entropy, plus the jet-feature regression when weighted",
    report_summary="pipeline.families.jets.report:summary_lines",
)
