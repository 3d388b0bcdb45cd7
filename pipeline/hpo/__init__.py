"""Hyperparameter search for the `hpo` stage kind (pipeline/stages/hpo.py): search spaces over
the training parameters, searchers and schedulers, trials, results, and the search's progress."""
