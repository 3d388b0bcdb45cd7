"""Search spaces: validation naming the key, random samples, the conditional ConfigSpace."""

from __future__ import annotations

import numpy as np
import pytest

from models import model_config
from pipeline.hpo.search_space import (
    SearchSpaceError,
    apply,
    check_keys,
    from_configspace,
    parse,
    sample,
    to_configspace,
)
from pipeline.stages.params.train import TrainParams

TRAIN_FIELDS = set(TrainParams.model_fields)
BASE = {"model": {"kind": "gnn_lsh", "width": 32, "bin_size": 16}, "epochs": 1}
SPACE = {
    "optimizer.lr": {"loguniform": [1.0e-4, 1.0e-2]},
    "model.width": {"choice": [32, 64]},
    "model.dropout": {"quniform": [0.0, 0.3, 0.1]},
    "model.kind": {
        "choice": {
            "gnn_lsh": {"model.bin_size": {"choice": [16, 32]}, "model.distance_dim": {"randint": [8, 33]}},
            "kernel_transformer": {"model.num_random_features": {"choice": [16, 32]}, "model.heads": {"choice": [4]}},
        }
    },
}


@pytest.mark.parametrize(
    ("raw", "key", "words"),
    [
        ({"model.width": {"normal": [1, 2]}}, "model.width", "unknown distribution 'normal'"),
        ({"model.width": {"choice": []}}, "model.width", "empty choice"),
        ({"optimizer.lr": {"uniform": [0.1, 0.01]}}, "optimizer.lr", "must be below high"),
        ({"optimizer.lr": {"loguniform": [0.0, 0.01]}}, "optimizer.lr", "low > 0"),
        ({"learning_rate": {"uniform": [0.1, 0.2]}}, "learning_rate", "not a training parameter"),
        ({"model.heads": {"choice": [4, 8]}}, "model.heads", "not a hyperparameter of gnn_lsh"),
        ({"model.kind": {"choice": {"gcn": {}}}}, "model.kind", "unknown model kind"),
        (
            {"model.kind": {"choice": {"transformer": {"model.bin_size": {"choice": [8]}}}}},
            "model.bin_size",
            "not a hyperparameter of transformer",
        ),
    ],
)
def test_invalid_spaces_name_the_key(raw, key, words):
    with pytest.raises(SearchSpaceError) as info:
        check_keys(parse(raw), TRAIN_FIELDS, "gnn_lsh")
    assert info.value.key.startswith(key) or key in str(info.value)
    assert words in str(info.value)


def test_samples_follow_the_branches_and_build_valid_models():
    space = parse(SPACE)
    check_keys(space, TRAIN_FIELDS, "gnn_lsh")
    rng = np.random.default_rng(0)
    kinds = set()
    for _ in range(40):
        config = sample(space, rng)
        kinds.add(config["model.kind"])
        assert 1e-4 <= config["optimizer.lr"] <= 1e-2 and config["model.width"] in (32, 64)
        assert round(config["model.dropout"], 6) in (0.0, 0.1, 0.2, 0.3)
        if config["model.kind"] == "gnn_lsh":
            assert "model.num_random_features" not in config and 8 <= config["model.distance_dim"] < 33
        else:
            assert "model.bin_size" not in config
        params = apply(config, BASE)
        model_config(params["model"])  # every sample is a buildable model
        TrainParams.model_validate({**params, "optimizer": {"lr": config["optimizer.lr"]}})
    assert kinds == {"gnn_lsh", "kernel_transformer"}
    assert BASE["model"] == {"kind": "gnn_lsh", "width": 32, "bin_size": 16}, "apply must not modify its input"


def test_configspace_is_conditional_and_round_trips():
    space = parse(SPACE)
    cs = to_configspace(space, seed=1)
    names = set(cs.keys())
    assert "model.bin_size@model.kind=gnn_lsh" in names and len(cs.conditions) == 4
    seen = set()
    for configuration in cs.sample_configuration(30):
        values = dict(configuration)
        config = from_configspace(space, values)
        seen.add(config["model.kind"])
        branch_keys = {k for k in values if "@" in k}
        assert all(k.endswith(f"={config['model.kind']}") for k in branch_keys)
        model_config(apply(config, BASE)["model"])
    assert seen == {"gnn_lsh", "kernel_transformer"}
