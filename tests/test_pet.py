"""The Point-Edge Transformer: kNN and edge features on hand-built jets, permutation and padding
invariance; fine-tuning loads weights by name with a new head and refuses another backbone."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from models import build_model
from models.pet.network import EdgeBlock, knn
from pipeline.training.init_weights import BackboneMismatch, load_by_name


def pet(**overrides):
    torch.manual_seed(0)
    config = {"kind": "pet", "num_features": 6, "num_classes": 3, "width": 16, "depth": 2, "heads": 2, "k": 2}
    return build_model({**config, "layer_scale": 1.0, **overrides}).eval()


def test_knn_finds_the_nearest_real_constituents():
    # four constituents on a line in (deta, dphi) and one padded slot right next to the first
    coords = torch.tensor([[[0.0, 0.0], [0.1, 0.0], [0.3, 0.0], [0.7, 0.0], [0.01, 0.0]]])
    mask = torch.tensor([[True, True, True, True, False]])
    index, valid = knn(coords, mask, 2)
    assert index[0, 0].tolist() == [1, 2] and index[0, 2].tolist() == [1, 0] and index[0, 3].tolist() == [2, 1]
    assert valid[0, :4].all()


def test_edge_features_average_the_neighbours_messages():
    cfg = pet().cfg
    block = EdgeBlock(cfg)
    with torch.no_grad():
        block.scale.gamma.fill_(1.0)
    h = torch.randn(1, 3, cfg.width)
    coords = torch.tensor([[[0.0, 0.0], [0.1, 0.0], [1.0, 0.0]]])
    mask = torch.ones(1, 3, dtype=torch.bool)
    out = block(h, coords, mask)
    # constituent 0's two neighbours are 1 and 2: the mean of their edge messages
    by_hand = torch.stack([block.edge(torch.cat([h[0, 0], h[0, j] - h[0, 0]])) for j in (1, 2)]).mean(0)
    assert torch.allclose(out[0, 0], h[0, 0] + by_hand, atol=1e-6)


def test_classifier_is_permutation_and_padding_invariant():
    model = pet()
    x, mask = torch.randn(2, 12, 6), torch.ones(2, 12, dtype=torch.bool)
    mask[1, 8:] = False
    reference = model(x, mask)["logits"]
    perm = torch.randperm(12)
    assert torch.allclose(model(x[:, perm], mask[:, perm])["logits"], reference, atol=1e-5)
    padded_x = torch.cat([x, 50 * torch.randn(2, 4, 6)], 1)
    padded_mask = torch.cat([mask, torch.zeros(2, 4, dtype=torch.bool)], 1)
    assert torch.allclose(model(padded_x, padded_mask)["logits"], reference, atol=1e-5)
    x2 = x.clone()
    x2[1, 8:] = 99.0  # what sits in padded slots changes nothing
    assert torch.allclose(model(x2, mask)["logits"], reference, atol=1e-6)


def test_fine_tuning_loads_the_backbone_and_initialises_a_new_head(tmp_path):
    pretrained = pet(num_classes=9)
    downstream = pet(num_classes=2)
    report = load_by_name(downstream, pretrained.state_dict(), ["head"], Path("pretrained.pt"))
    assert "head.weight" in report["initialised"] and "head.weight" in report["skipped"]
    assert "embed.0.weight" in report["loaded"] and "jet_head.weight" in report["loaded"]
    assert torch.equal(downstream.embed[0].weight, pretrained.embed[0].weight)
    with pytest.raises(BackboneMismatch, match="head.weight: \\(9, 16\\) in the weights, \\(2, 16\\) in the model"):
        load_by_name(pet(num_classes=2), pretrained.state_dict(), [], Path("pretrained.pt"))
    with pytest.raises(BackboneMismatch, match="do not fit|does not fit"):
        load_by_name(pet(width=32, num_classes=2), pretrained.state_dict(), ["head"], Path("pretrained.pt"))
