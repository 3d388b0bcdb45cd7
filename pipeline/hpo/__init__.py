"""Hyperparameter search: search spaces over the training parameters (the `hpo` stage kind
arrives with its issue; this package holds what it is built on)."""
