"""ROOT files -> shards: schema, determinism, resumption, bad files, dataset, sampler."""

from __future__ import annotations

import json
import shutil
import time

import numpy as np
import pytest
import uproot

from pipeline.data.dataset import ShardDataset, collate_padded, copy_to_local
from pipeline.data.sampler import BucketBatchSampler
from pipeline.data.staging import DataError, stage_files
from pipeline.families.particle_flow.params import ParticleFlowStageData as StageDataParams
from pipeline.physics.schema import SCHEMA, branch, schema_markdown

from .conftest import REPO
from .physics_fixtures import write_files


@pytest.fixture(scope="module")
def root_files(tmp_path_factory):
    directory = tmp_path_factory.mktemp("root")
    return write_files(directory, ["ee_qq", "ee_tt", "ee_qq", "ee_zh"], events=12)


def params(**overrides) -> StageDataParams:
    base = {"max_events_per_shard": 5, "step_size": 4, "split": {"train": 0.5, "val": 0.25, "test": 0.25}}
    return StageDataParams.model_validate({**base, **overrides})


def shard_hashes(manifest: dict) -> list[tuple[str, str]]:
    return sorted((s["path"], s["sha256"]) for s in manifest["shards"])


def test_root_files_follow_the_documented_schema(root_files):
    tree = uproot.open(root_files[0])["events"]
    assert tree.num_entries == 12
    for collection, fields in SCHEMA.items():
        for field in fields:
            assert branch(collection, field) in tree, branch(collection, field)
    counts = tree["nhit"].array(library="np")
    assert counts.mean() > 1000
    assert (REPO / "docs" / "data-schema.md").read_text() == schema_markdown()


@pytest.mark.parametrize("level", ["clusters", "hits"])
def test_staging_is_deterministic_and_idempotent(root_files, tmp_path, level):
    first = stage_files(root_files, tmp_path / "a", params(input_level=level), log=lambda m: None)
    assert (
        first["splits"]["train"]["events"] + first["splits"]["val"]["events"] + first["splits"]["test"]["events"] == 48
    )
    assert all(s["events"] <= 5 for s in first["shards"])
    assert {len(v["files"]) for v in first["splits"].values()} == {1, 2}
    messages = []
    again = stage_files(root_files, tmp_path / "a", params(input_level=level), log=messages.append)
    assert sum("already staged" in m for m in messages) == 4
    fresh = stage_files(root_files, tmp_path / "b", params(input_level=level), log=lambda m: None)
    assert shard_hashes(first) == shard_hashes(again) == shard_hashes(fresh)
    assert first["width"] == 1 + max(len(params().features.track), len(getattr(params().features, level[:-1])))


def test_shards_are_bounded_in_bytes(root_files, tmp_path):
    manifest = stage_files(root_files, tmp_path, params(input_level="hits", max_shard_mb=1.5), log=lambda m: None)
    assert all(s["bytes"] < 1.5e6 or s["events"] == 1 for s in manifest["shards"])
    assert sum(s["events"] for s in manifest["shards"]) == 48


def test_interrupted_staging_resumes(root_files, tmp_path):
    reference = stage_files(root_files, tmp_path / "ref", params(), log=lambda m: None)

    class Interrupt(Exception):
        pass

    def die_after_first(message: str) -> None:
        if "->" in message:
            raise Interrupt  # the job is killed right after its first file

    with pytest.raises(Interrupt):
        stage_files(root_files, tmp_path / "run", params(), log=die_after_first)
    assert not (tmp_path / "run" / "manifest.json").exists()
    messages = []
    resumed = stage_files(root_files, tmp_path / "run", params(), log=messages.append)
    assert sum("already staged" in m for m in messages) == 0  # the record of file 1 was not yet written
    assert shard_hashes(resumed) == shard_hashes(reference)


def test_staging_does_not_start_a_file_it_cannot_finish_before_the_time_limit(root_files, tmp_path):
    from pipeline.deadline import TooLongForTheLimit, UnitTimer
    from pipeline.stage import StageInterrupted

    reference = stage_files(root_files, tmp_path / "ref", params(), log=lambda m: None)
    # the limit is all but reached: the first file runs (nothing measured yet), the second is not started
    messages = []
    almost_out = UnitTimer(time.time() + 0.01, margin_s=1.0, full_s=3600.0)
    with pytest.raises(StageInterrupted) as stopped:
        stage_files(root_files, tmp_path / "run", params(), log=messages.append, timer=almost_out)
    assert stopped.value.requeue and any(m.startswith("not starting") for m in messages)
    records = list((tmp_path / "run" / "records").glob("*.json"))
    assert len(records) == 1 and json.loads(records[0].read_text())["seconds"] > 0
    # the requeued attempt learns the speed from that record and goes on from the second file
    fresh = UnitTimer(time.time() + 3600, margin_s=1.0, full_s=3600.0)
    resumed = stage_files(root_files, tmp_path / "run", params(), log=messages.append, timer=fresh)
    assert "MB" in fresh.mean and sum("already staged" in m for m in messages) == 1
    assert shard_hashes(resumed) == shard_hashes(reference)
    # a file longer than the whole limit is an error a requeue cannot fix
    record = json.loads(records[0].read_text())
    shutil.rmtree(tmp_path / "run" / "records")
    (tmp_path / "run" / "records").mkdir()
    record["seconds"] = 1.0e6
    (tmp_path / "run" / "records" / records[0].name).write_text(json.dumps(record))
    with pytest.raises(TooLongForTheLimit, match="raise resources.time"):
        stage_files(
            root_files, tmp_path / "run", params(), log=lambda m: None, timer=UnitTimer(time.time() + 60, 1.0, 60.0)
        )


def test_array_tasks_share_the_files_and_the_last_writes_the_manifest(root_files, tmp_path):
    assert stage_files(root_files, tmp_path, params(), task_index=0, task_count=2, log=lambda m: None) is None
    manifest = stage_files(root_files, tmp_path, params(), task_index=1, task_count=2, log=lambda m: None)
    assert sum(s["events"] for s in manifest["shards"]) == 48


@pytest.fixture()
def broken(root_files, tmp_path):
    files = [tmp_path / p.name for p in root_files]
    for src, dst in zip(root_files, files, strict=True):
        shutil.copyfile(src, dst)
    data = files[1].read_bytes()
    files[1].write_bytes(data[: len(data) // 2])  # truncated transfer
    return files


def test_corrupt_file_fails_naming_the_file(broken, tmp_path):
    out = tmp_path / "out"
    with pytest.raises(DataError) as info:
        stage_files(broken, out, params(), log=lambda m: None)
    assert str(broken[1]) in str(info.value)
    assert not (out / "manifest.json").exists()
    # what was finished before the bad file is complete and kept
    for record in (out / "records").glob("*.json"):
        for shard in json.loads(record.read_text())["shards"]:
            assert (out / shard["path"]).stat().st_size == shard["bytes"]
    assert not list(out.rglob("*.tmp"))


def test_corrupt_file_is_quarantined_with_skip(broken, tmp_path):
    manifest = stage_files(broken, tmp_path / "out", params(on_error="skip"), log=lambda m: None)
    assert [q["source"] for q in manifest["quarantined"]] == [str(broken[1].resolve())]
    assert sum(s["events"] for s in manifest["shards"]) == 36


def test_wrong_tree_and_missing_branch_are_named(root_files, tmp_path):
    with pytest.raises(DataError, match="gone.root: file not found"):
        stage_files([tmp_path / "gone.root"], tmp_path / "missing", params(), log=lambda m: None)
    with pytest.raises(DataError, match="no tree 'nope'"):
        stage_files(root_files[:1], tmp_path / "a", params(tree="nope"), log=lambda m: None)
    clusters_only = write_files(tmp_path, ["ee_qq"], events=3, levels=("clusters",))
    with pytest.raises(DataError, match="lacks branches: .*hit_energy"):
        stage_files(clusters_only, tmp_path / "b", params(input_level="hits"), log=lambda m: None)


def test_dataset_collate_and_local_copy(root_files, tmp_path):
    stage_files(root_files, tmp_path / "staged", params(), log=lambda m: None)
    local = copy_to_local(tmp_path / "staged" / "manifest.json", tmp_path / "scratch", split="train")
    dataset = ShardDataset(local, "train")
    assert len(dataset) == 24 and dataset.sizes.min() > 0
    batch = collate_padded([dataset[i] for i in range(4)])
    n = batch["mask"].sum(dim=1)
    assert n.tolist() == dataset.sizes[:4].tolist()
    assert batch["X"].shape[1] == n.max() and float(batch["X"][~batch["mask"]].abs().sum()) == 0.0
    assert set(batch["X"][batch["mask"]][:, 0].unique().tolist()) <= {1.0, 2.0}
    # a shard damaged on the shared file system is caught when copied
    victim = tmp_path / "staged" / json.loads((tmp_path / "staged" / "manifest.json").read_text())["shards"][0]["path"]
    victim.write_bytes(victim.read_bytes()[:-10] + b"0123456789")
    with pytest.raises(OSError, match="sha256"):
        copy_to_local(tmp_path / "staged" / "manifest.json", tmp_path / "scratch2")


def test_sampler_fast_forward_is_exact():
    sizes = np.random.default_rng(0).integers(10, 20000, size=500)
    for kwargs in ({"batch_size": 8}, {"max_elements": 60000}):
        full = list(BucketBatchSampler(sizes, seed=3, **kwargs).__iter__())
        resumed_sampler = BucketBatchSampler(sizes, seed=3, **kwargs)
        resumed_sampler.set_epoch(0, start_batch=17)
        assert list(resumed_sampler) == full[17:]
        other_epoch = BucketBatchSampler(sizes, seed=3, **kwargs)
        other_epoch.set_epoch(1)
        assert list(other_epoch) != full
        assert sorted(i for b in full for i in b) == list(range(500)) or "max_elements" in kwargs


def test_sampler_ranks_are_disjoint_and_buckets_cut_padding():
    sizes = np.random.default_rng(1).integers(10, 20000, size=400)
    ranks = [list(BucketBatchSampler(sizes, batch_size=4, rank=r, world_size=3, seed=1)) for r in range(3)]
    seen = [i for rank in ranks for batch in rank for i in batch]
    assert len(seen) == len(set(seen)) and len({len(r) for r in ranks}) == 1

    def padding(batches):
        return sum(max(sizes[b]) * len(b) for b in batches) / sum(sizes[i] for b in batches for i in b)

    bucketed = list(BucketBatchSampler(sizes, batch_size=8, seed=1))
    unsorted = list(BucketBatchSampler(sizes, batch_size=8, seed=1, bucket_batches=1))
    assert padding(bucketed) < 1.1 < padding(unsorted)
    for batch in BucketBatchSampler(sizes, max_elements=50000, seed=1):
        assert len(batch) == 1 or max(sizes[batch]) * len(batch) <= 50000


def test_link_features_are_appended_and_follow_the_tracks(root_files, tmp_path):
    from pipeline.data.links import LINK_COLUMNS

    plain = stage_files(root_files, tmp_path / "plain", params(), log=lambda m: None)
    linked = stage_files(root_files, tmp_path / "links", params(links={"enabled": True}), log=lambda m: None)
    assert linked["width"] == plain["width"] + len(LINK_COLUMNS)
    assert linked["links"]["enabled"] and not plain["links"]["enabled"]
    col = {name: plain["width"] + i for i, name in enumerate(LINK_COLUMNS)}
    rows = {"X": [], "Y": [], "K": []}
    by_path = [sorted(m["shards"], key=lambda s: s["path"]) for m in (plain, linked)]
    for a, b in zip(*by_path, strict=True):
        with np.load(tmp_path / "plain" / a["path"]) as p, np.load(tmp_path / "links" / b["path"]) as q:
            np.testing.assert_array_equal(q["X"][:, : plain["width"]], p["X"])  # the features are untouched
            for key in rows:
                rows[key].append(q[key])
    X, Y, K = (np.concatenate(rows[k]) for k in ("X", "Y", "K"))
    track, cluster = X[:, 0] == 1, X[:, 0] == 2
    # a track of a few GeV that reaches the calorimeter links to the clusters of its own shower
    hard = track & (K[:, 4] > 5) & (X[:, col["reaches"]] == 1)
    assert hard.sum() > 50
    assert (X[hard, col["n_linked"]] > 0).mean() > 0.8
    assert np.median(np.expm1(X[hard, col["linked"]]) / K[hard, 4]) > 0.4  # the linked energy is a good part of p
    # clusters that hold no particle of their own (charged showers' pieces) are linked far more
    # often than photon clusters, and their block's energy is explained by its tracks
    empty, photon = cluster & (Y[:, 0] == 0), cluster & (Y[:, 0] == 3)
    assert (X[empty, col["n_linked"]] > 0).mean() > 1.5 * (X[photon, col["n_linked"]] > 0).mean()
    linked_photon = photon & (X[:, col["n_linked"]] > 0)
    excess = X[:, col["excess_sigma"]]
    assert np.median(excess[empty & (X[:, col["n_linked"]] > 0)]) < np.median(excess[linked_photon])
    assert np.all((X[cluster, col["linked"]] > 0) == (X[cluster, col["n_linked"]] > 0))
    assert np.all(X[cluster, col["reaches"]] == 0) and np.all(X[:, col["share"]] <= 1 + 1e-6)
    with pytest.raises(ValueError, match="links.enabled needs"):
        params(links={"enabled": True}, input_level="hits")
