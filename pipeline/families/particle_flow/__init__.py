"""The particle-flow family: e+e- events (Pythia 8) through the CLIC-like detector simulation,
staged as tracks + clusters (or hits) with per-element targets, learned by the `particle_flow`
task (MLPF), evaluated against the rule-based particle flow and the ideal association."""
