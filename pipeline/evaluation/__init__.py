"""Evaluation: the rule-based baseline particle flow, candidates from every source, physics
metrics (particles, jets, missing pT) and the campaign report."""
