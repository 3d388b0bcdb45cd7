"""The built-in families, one registration each (importing this module imports no torch)."""

from .jets import params as jets
from .particle_flow import params as particle_flow
from .registry import FamilyPlugin, register_family
from .suep_images import params as suep_images

register_family(
    particle_flow.NAME,
    FamilyPlugin(
        description="e+e- events through the CLIC-like detector: tracks + clusters or hits with per-element targets",
        implementation="pipeline.families.particle_flow.family:ParticleFlowFamily",
        generate_params=particle_flow.ParticleFlowGenerate,
        stage_params=particle_flow.ParticleFlowStageData,
        evaluate_params=particle_flow.ParticleFlowEvaluate,
        tasks=("particle_flow",),
    ),
)
register_family(
    suep_images.NAME,
    FamilyPlugin(
        description="pp events (QCD, SUEP points) as sparse 3-channel eta-phi detector images",
        implementation="pipeline.families.suep_images.family:SuepImagesFamily",
        generate_params=suep_images.SuepGenerate,
        stage_params=suep_images.SuepStageData,
        evaluate_params=suep_images.SuepEvaluate,
        tasks=("anomaly_detection",),
    ),
)
register_family(
    jets.NAME,
    FamilyPlugin(
        description="boosted jets with their constituents, generated or from JetClass ROOT files",
        implementation="pipeline.families.jets.family:JetsFamily",
        generate_params=jets.JetsGenerate,
        stage_params=jets.JetsStageData,
        evaluate_params=jets.JetsEvaluate,
        tasks=("jet_classification",),
        check_inputs="pipeline.families.jets.data:check_inputs",
    ),
)
