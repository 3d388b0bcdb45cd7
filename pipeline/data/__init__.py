"""Staged training data: ROOT -> normalised, sharded element tensors with a manifest, and the
PyTorch dataset, padding collate and size-bucketed distributed sampler that read them."""
