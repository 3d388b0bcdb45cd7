"""The stage kinds' parameter models, one module per kind: light (pydantic, no torch, Ray or
DeepSpeed), validated at submit time on the login node."""
