"""Networks for colliderflow campaigns, usable from a notebook with torch alone.

Imports neither `pipeline` nor `slurm`. Model families and their registry by name arrive with
the model issues (MLPF GNN-LSH and kernel transformer, the jet foundation model, the SUEP
autoencoder).
"""
