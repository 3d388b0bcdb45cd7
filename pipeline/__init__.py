"""colliderflow campaign engine: specs, DAG, campaign store, controller, CLI and stage kinds."""

__version__ = "0.1.0"
