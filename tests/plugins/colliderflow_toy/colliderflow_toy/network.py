"""The toy model: a small MLP, built from its config."""

import torch


def build(cfg) -> torch.nn.Module:
    layers, width = [], cfg.input_dim
    for _ in range(cfg.depth):
        layers += [torch.nn.Linear(width, cfg.width), torch.nn.GELU()]
        width = cfg.width
    layers.append(torch.nn.Linear(width, 1))
    return torch.nn.Sequential(*layers)
