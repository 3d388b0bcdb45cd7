"""MLPF encoders: registry, shapes, masks, permutation equivariance, gradients, bf16, and a
tiny batch of real simulated events that each encoder must overfit."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch

from models import build_model, model_kinds
from models.mlpf.loss import LossConfig, mlpf_loss
from models.registry import ModelConfigError
from pipeline.data.dataset import ShardDataset, collate_padded
from pipeline.data.staging import stage_files
from pipeline.families.particle_flow.params import ParticleFlowStageData as StageDataParams

from .physics_fixtures import write_files

SMALL = {
    "gnn_lsh": {"width": 32, "depth": 2, "head_width": 32, "bin_size": 16, "distance_dim": 16},
    "kernel_transformer": {"width": 32, "depth": 2, "head_width": 32, "heads": 4, "num_random_features": 32},
    "transformer": {"width": 32, "depth": 2, "head_width": 32, "heads": 4},
}


def small(kind: str, **extra) -> torch.nn.Module:
    torch.manual_seed(0)
    return build_model({"kind": kind, **SMALL[kind], **extra}).eval()


def random_event(n: int = 70, batch: int = 2) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(1)
    X = torch.randn(batch, n, 14, generator=generator)
    X[..., 0] = torch.randint(1, 4, (batch, n), generator=generator).float()
    K = torch.rand(batch, n, 5, generator=generator) + 0.1
    mask = torch.ones(batch, n, dtype=torch.bool)
    mask[1, n - 25 :] = False
    X[~mask] = 0.0
    return X, mask, K


def test_registry_lists_and_rejects():
    assert model_kinds() == ["conv_autoencoder", "gnn_lsh", "kernel_transformer", "pet", "transformer"]
    with pytest.raises(ModelConfigError, match="unknown model kind 'gcn' \\(valid: conv_autoencoder, gnn_lsh"):
        build_model({"kind": "gcn"})
    with pytest.raises(
        ModelConfigError, match="unknown hyperparameter\\(s\\) 'heads' for gnn_lsh \\(valid: .*bin_size"
    ):
        build_model({"kind": "gnn_lsh", "heads": 4})
    with pytest.raises(ModelConfigError, match="activation 'tanh' not in"):
        build_model({"kind": "transformer", "activation": "tanh"})
    with pytest.raises(ModelConfigError, match="multiple of heads"):
        build_model({"kind": "kernel_transformer", "width": 30, "heads": 4})


def test_models_need_neither_pipeline_nor_slurm_and_validate_without_torch():
    code = (
        "import sys, models; models.model_config({'kind': 'gnn_lsh', 'bin_size': 64}); "
        "print(sorted(m for m in ('pipeline', 'slurm', 'torch') if m in sys.modules))"
    )
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout.strip() == "[]"


@pytest.mark.parametrize("kind", sorted(SMALL))
def test_shapes_and_padding_never_changes_real_outputs(kind):
    model = small(kind)
    X, mask, K = random_event()
    with torch.no_grad():
        out = model(X, mask, K)
        assert out["cls"].shape == (2, 70, 6) and out["charge"].shape == (2, 70, 3)
        assert out["regression"].shape == (2, 70, 5) and out["pt"].shape == (2, 70)
        padded = torch.cat([X, torch.zeros(2, 40, 14)], dim=1)
        padded_mask = torch.cat([mask, torch.zeros(2, 40, dtype=torch.bool)], dim=1)
        out_padded = model(padded, padded_mask, torch.cat([K, torch.ones(2, 40, 5)], dim=1))
    for key in ("cls", "charge", "regression", "is_particle"):
        assert torch.allclose(out[key][mask], out_padded[key][:, :70][mask], atol=1e-5), key
        assert torch.isfinite(out_padded[key]).all()


@pytest.mark.parametrize("kind", sorted(SMALL))
def test_permutation_equivariance(kind):
    model = small(kind)
    X, mask, K = random_event()
    X = X + torch.randn(X.shape, generator=torch.Generator().manual_seed(4)) * (~mask).unsqueeze(-1)
    X[..., 0] = X[..., 0].abs().round().clamp(1, 3)
    mask[:] = True  # every element real and distinct (identical elements at a bin edge are a true tie)
    perm = torch.randperm(70, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        out = model(X, mask, K)
        out_perm = model(X[:, perm], mask[:, perm], K[:, perm])
    for key in ("cls", "charge", "regression"):
        assert torch.allclose(out[key][:, perm], out_perm[key], atol=1e-5), key


@pytest.mark.parametrize("kind", sorted(SMALL))
def test_gradients_reach_every_parameter(kind):
    model = small(kind).train()
    X, mask, K = random_event()
    Y = torch.zeros(2, 70, 7)
    Y[..., 0] = torch.randint(0, 6, (2, 70)).float()
    Y[..., 1] = torch.randint(-1, 2, (2, 70)).float()
    Y[..., 2:] = torch.rand(2, 70, 5) + 0.1
    loss, terms = mlpf_loss(model(X, mask, K), Y, K, mask)
    loss.backward()
    assert set(terms) == {"is_particle", "cls", "charge", "pt", "eta", "sin_phi", "cos_phi", "energy"}
    for name, parameter in model.named_parameters():
        assert parameter.grad is not None and parameter.grad.abs().sum() > 0, name


@pytest.mark.parametrize("kind", sorted(SMALL))
def test_bf16_autocast_on_cpu(kind):
    model = small(kind)
    X, mask, K = random_event()
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        out = model(X, mask, K)
    reference = model(X, mask, K)
    assert torch.isfinite(out["cls"].float()).all()
    assert (out["cls"].float() - reference["cls"]).abs().max() < 0.25


@pytest.fixture(scope="module")
def real_batch(tmp_path_factory):
    directory = tmp_path_factory.mktemp("overfit")
    files = write_files(directory, ["ee_qq"], events=2, levels=("clusters",))
    params = StageDataParams(split={"train": 1.0, "val": 0.0, "test": 0.0})
    stage_files(files, directory / "staged", params, log=lambda m: None)
    dataset = ShardDataset(directory / "staged" / "manifest.json", "train")
    return collate_padded([dataset[0], dataset[1]])


@pytest.mark.parametrize("kind", sorted(SMALL))
def test_tiny_batch_of_real_events_overfits(kind, real_batch):
    torch.manual_seed(0)
    model = build_model({"kind": kind, **SMALL[kind], "input_dim": real_batch["X"].shape[-1]}).train()
    optimiser = torch.optim.AdamW(model.parameters(), lr=3e-3)
    config = LossConfig()
    X, Y, K, mask = real_batch["X"], real_batch["Y"], real_batch["K"], real_batch["mask"]
    first = None
    for _ in range(400):
        loss, _ = mlpf_loss(model(X, mask, K), Y, K, mask, config)
        first = first if first is not None else loss.item()
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    assert loss.item() < first / 10, (first, loss.item())


def test_charged_from_track_gives_tracks_classified_charged_their_own_kinematics():
    X, mask, K = random_event()
    torch.manual_seed(0)
    plain = small("gnn_lsh").eval()
    model = small("gnn_lsh", charged_from_track=True).eval()
    model.load_state_dict(plain.state_dict())  # the same network; only the reading of its outputs differs
    with torch.no_grad():
        ref, out = plain(X, mask, K), model(X, mask, K)
    charged = torch.isin(out["cls"].argmax(-1), torch.tensor([1, 4, 5])) & (X[..., 0] == 1)
    assert charged.any() and (~charged).any()
    for i, name in enumerate(("pt", "eta", "sin_phi", "cos_phi", "energy")):
        assert torch.equal(out[name][charged], K[..., i][charged])
        assert torch.equal(out[name][~charged], ref[name][~charged])
    assert torch.equal(out["regression"], ref["regression"])  # training sees the same outputs


@pytest.mark.parametrize(("events", "elements"), [(4, 150), (2, 3000)])
def test_lsh_hashes_on_the_codes_the_batch_needs_with_the_full_rotations_order(events, elements):
    """The hash projects only on the rotation columns the largest event can use; the bins (the
    permutation) are those of the full rotation, for events of several sizes and padding."""
    from models.mlpf.lsh import LSHMessagePassing

    layer = LSHMessagePassing(16, 8, 32, 1024, "gelu", "layernorm", 0.0, seed=3)
    generator = torch.Generator().manual_seed(events)
    distance = torch.randn(events, elements, 8, generator=generator)
    mask = torch.ones(events, elements, dtype=torch.bool)
    mask[0, elements // 3 :] = False  # a smaller event, padded
    full = layer.bin_order(distance, mask, columns=layer.rotation.shape[1])
    assert torch.equal(layer.bin_order(distance, mask), full)
    assert torch.equal(full[0, elements // 3 :].sort().values, torch.arange(elements // 3, elements))  # padding last
