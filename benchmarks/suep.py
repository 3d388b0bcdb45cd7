"""SUEP anomaly detection figures (measured, not asserted):
- generation rate of QCD and each SUEP point (Pythia 8 + dark shower, then the image detector),
  for the reference image definition with pileup 50 per core (--definition reference, the
  default: pre-selection, pileup pool, images, pileup-corrected HT, trigger; and, with
  --preselect-check, what the generator-level pre-selection loses) or the first runs' cells;
- training images/s of the reference-size autoencoder (2 threads; batch 32 and 128, NCHW and
  channels-last);
- the exported autoencoder's per-event latency at batch 1 in ONNX Runtime (median, p99; 1 and
  2 threads) beside PyTorch eager, and events/s in batches, on real QCD images;
- with --campaign, the campaign's signal efficiency at 2% QCD mistag per point and its training
  size (from report/<stage>/metrics.json), with the commit it was run at if recorded.

    python benchmarks/suep.py [--definition reference|cells] [--events 40] [--preselect-check 0]
                              [--campaign campaigns/suep-reference-medium] [--latency-events 500]

Without --campaign an untrained autoencoder of the small workflow's size is exported (latency
does not depend on the weights). Prints a table and writes benchmarks/results/suep.json (cells) or
benchmarks/results/suep-reference.json.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np
from results_file import save

from pipeline.evaluation.reports import task_report

MODEL = {"kind": "conv_autoencoder", "width": 8, "depth": 3, "image_shape": [3, 286, 360]}
PROCESSES = ("pp_qcd", "suep_m125", "suep_m400", "suep_m750", "suep_m1000", "suep_m400_t1")
REFERENCE_MODEL = {
    "kind": "conv_autoencoder", "image_shape": [3, 286, 360], "filters": [128, 64, 32, 16, 8],
    "strides": [[3, 3], [2, 2], [2, 2], [2, 2], [2, 3]], "activation": "prelu", "output_norm": True,
    "pad_to": [288, 360], "log_scale": False, "input_scale": 2000.0, "channels_last": True,
}  # fmt: skip
REFERENCE_PROCESSES = ("pp_qcd", "suep_ref_m125", "suep_ref_m400")


def reference_generation(process: str, events: int, pileup: float = 50.0, preselect: float = 400.0) -> tuple:
    """One core's rate for the reference definition: Pythia initialisation and the pileup pool
    fill (once per file) timed apart from the per-event work."""
    from pipeline.physics.crossings import CrossingSample
    from pipeline.physics.pileup import PileupConfig
    from pipeline.physics.pp import Production, cms_like_detector
    from pipeline.physics.reference_images import ImageBinning, ReferenceConfig

    cfg = ReferenceConfig(pileup=PileupConfig(mean=pileup))
    sample = CrossingSample(process, 11, 500.0, preselect, Production(150.0, None, "hjet", 150.0), cfg)
    began = time.perf_counter()
    stream = sample.events(events, cms_like_detector(), ImageBinning(), np.random.default_rng(1))
    first = next(stream)
    start_s = time.perf_counter() - began  # initialisation, pool fill (part), first event
    rest_began = time.perf_counter()
    images = [first, *stream]
    per_event = (time.perf_counter() - rest_began) / max(len(images) - 1, 1)
    record = sample.record()
    return (
        {
            "events": len(images),
            "pileup": pileup,
            "first_event_s": start_s,
            "per_event_ms": 1000 * per_event,
            "events_per_second_per_core": 1 / per_event,
            "file_of_200_seconds": start_s + 199 * per_event,
            "acceptance": record["acceptance"],
            "pileup_record": record["pileup"],
            "pixels_per_event": float(np.mean([i.index.size for i, _ in images])),
            "tracks_per_event": float(np.mean([i.ntracks for i, _ in images])),
            "ht_median": float(np.median([i.ht for i, _ in images])),
        },
        [(i.index, i.value) for i, _ in images],
        [i.ht for i, _ in images],
    )


def preselection_loss(events: int) -> dict:
    """QCD without pre-selection: the share of triggered events whose hard-interaction HT is
    below the pre-selection (what a pre-selection there would have dropped)."""
    from pipeline.physics.crossings import CrossingSample
    from pipeline.physics.pileup import PileupConfig
    from pipeline.physics.pp import Production, cms_like_detector
    from pipeline.physics.reference_images import ImageBinning, ReferenceConfig

    cfg = ReferenceConfig(pileup=PileupConfig())
    sample = CrossingSample("pp_qcd", 12, 500.0, 0.0, Production(150.0), cfg, measure_hard_ht=True)
    hard = np.array(
        [i.hard_ht for i, _ in sample.events(events, cms_like_detector(), ImageBinning(), np.random.default_rng(3))]
    )
    return {
        "events_passing_trigger": int(hard.size),
        "fraction_with_hard_ht_below_400": float(np.mean(hard < 400.0)),
        "fraction_with_hard_ht_below_300": float(np.mean(hard < 300.0)),
        "acceptance": sample.record()["acceptance"],
    }


def training_rate(batch_sizes=(32, 128), steps: int = 3) -> dict:
    """Training images/s of the reference network on 2 threads (Adam step included)."""
    import torch

    from models import build_model

    torch.set_num_threads(2)
    rng = torch.Generator().manual_seed(0)
    out = {}
    for channels_last in (False, True):
        model = build_model({**REFERENCE_MODEL, "channels_last": channels_last})
        optimizer = torch.optim.Adam(model.parameters(), 1e-3)
        for size in batch_sizes:
            images = torch.relu(torch.randn(size, 3, 286, 360, generator=rng)) * (
                torch.rand(size, 3, 286, 360, generator=rng) < 0.01
            )
            rates = []
            for _ in range(steps):
                began = time.perf_counter()
                loss = ((model(images) - images / 2000.0) ** 2).mean()
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                rates.append(size / (time.perf_counter() - began))
            key = f"batch{size}_{'channels_last' if channels_last else 'nchw'}"
            out[key] = float(np.median(rates[1:]))
            print(f"training {key:28s} {out[key]:6.1f} images/s", flush=True)
    return out


def generation(process: str, events: int) -> tuple[dict, list[tuple[np.ndarray, np.ndarray]]]:
    from pipeline.physics.pp import ImageBinning, cms_like_detector, generate_pp, image_event

    detector, binning, rng = cms_like_detector(), ImageBinning(), np.random.default_rng(1)
    generated, images, gen_s, sim_s = generate_pp(process, events + 1, 11, 500.0, 250.0), [], 0.0, 0.0
    next(generated)  # Pythia's initialisation happens here: not timed
    while True:
        t0 = time.perf_counter()
        try:
            particles, _ = next(generated)
        except StopIteration:
            break
        t1 = time.perf_counter()
        images.append(image_event(particles, detector, binning, rng))
        gen_s, sim_s = gen_s + t1 - t0, sim_s + time.perf_counter() - t1
    return {
        "events": events,
        "events_per_second": events / (gen_s + sim_s),
        "pythia_and_shower_ms": 1000 * gen_s / events,
        "image_simulation_ms": 1000 * sim_s / events,
        "pixels_per_event": float(np.mean([i.size for i, _ in images])),
    }, images


def dense(images, shape) -> np.ndarray:
    from pipeline.physics.pp import dense_image

    return np.stack([dense_image(i, v, shape) for i, v in images]).astype(np.float32)


def onnx_figures(onnx_file: Path, batch: np.ndarray, latency_events: int) -> dict:
    from pipeline.onnx_export import session
    from pipeline.scoring import latency_summary, time_dense

    events = [batch[i % len(batch)] for i in range(latency_events)]
    out = {}
    for threads in (1, 2):
        sess = session(onnx_file, threads)
        _, seconds = time_dense(sess, events, warmup=10)
        out[f"batch1_threads{threads}"] = latency_summary(seconds)
        name = sess.get_inputs()[0].name
        chunk = batch[:32]
        sess.run(["score"], {name: chunk})
        began, rounds = time.perf_counter(), 3
        for _ in range(rounds):
            sess.run(["score"], {name: chunk})
        out[f"batch{len(chunk)}_threads{threads}_events_per_second"] = (
            rounds * len(chunk) / (time.perf_counter() - began)
        )
    return out


def torch_figures(model, batch: np.ndarray, latency_events: int) -> dict:
    import torch

    from models.autoencoder.network import AnomalyScorer
    from pipeline.scoring import latency_summary

    torch.set_num_threads(2)
    scorer = AnomalyScorer(model).eval()
    seconds = []
    with torch.no_grad():
        for i in range(min(latency_events, 200) + 10):
            x = torch.from_numpy(batch[i % len(batch)][None])
            began = time.perf_counter()
            scorer(x)
            if i >= 10:
                seconds.append(time.perf_counter() - began)
        chunk = torch.from_numpy(batch[:32])
        began = time.perf_counter()
        scorer(chunk)
        rate = len(chunk) / (time.perf_counter() - began)
    return {"batch1_threads2": latency_summary(seconds), "batch32_threads2_events_per_second": rate}


def campaign_figures(campaign: Path) -> dict:
    metrics = task_report(campaign, "anomaly_detection")
    manifest = json.loads(Path(metrics["manifest"]).read_text())
    train = json.loads((campaign / "stages" / "train" / "result.json").read_text())
    provenance = campaign / "PROVENANCE.json"
    points = {
        point: {
            label: {s: v["efficiency"]["0.02"] for s, v in sel["sources"].items()}
            for label, sel in p["selections"].items()
        }
        for point, p in metrics["points"].items()
    }
    return {
        "campaign": str(campaign),
        "training_events": manifest["splits"]["train"]["events"],
        "training_epochs": train["epochs"],
        "test_background_events": metrics["background_events"],
        "efficiency_at_2pct_mistag": points,
        "latency_in_evaluate": metrics.get("latency"),
        "provenance": json.loads(provenance.read_text()) if provenance.is_file() else None,
    }


def main() -> None:
    import torch

    from models import build_model
    from pipeline.onnx_export import export_checked

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=40, help="events generated per process")
    parser.add_argument("--latency-events", type=int, default=500)
    parser.add_argument("--campaign", type=Path, default=None)
    parser.add_argument("--definition", choices=("reference", "cells"), default="reference")
    parser.add_argument("--preselect-check", type=int, default=0, help="QCD events without pre-selection (0: skip)")
    args = parser.parse_args()
    reference = args.definition == "reference"

    figures: dict = {"generation": {}, "cpus_available": len(os.sched_getaffinity(0)), "definition": args.definition}
    qcd_images = None
    for process in REFERENCE_PROCESSES if reference else PROCESSES:
        if reference:
            figures["generation"][process], images, _ = reference_generation(process, args.events)
            g = figures["generation"][process]
            print(
                f"{process:14s} {g['events_per_second_per_core']:6.2f} ev/s per core at pileup 50"
                f" ({g['per_event_ms']:.0f} ms/event after a {g['first_event_s']:.1f} s start;"
                f" {g['tracks_per_event']:.0f} tracks,"
                f" {g['pixels_per_event']:.0f} pixels/event; trigger efficiency {g['acceptance']['efficiency']:.3f})"
            )
        else:
            figures["generation"][process], images = generation(process, args.events)
            g = figures["generation"][process]
            print(
                f"{process:11s} {g['events_per_second']:6.2f} ev/s  (Pythia + shower {g['pythia_and_shower_ms']:.0f}"
                f" ms, images {g['image_simulation_ms']:.0f} ms, {g['pixels_per_event']:.0f} pixels/event)"
            )
        qcd_images = qcd_images if qcd_images is not None else images
    if reference and args.preselect_check:
        figures["preselection_loss"] = preselection_loss(args.preselect_check)
        print(f"pre-selection check: {figures['preselection_loss']}")
    if reference:
        figures["training_images_per_second"] = training_rate()
    batch = dense(qcd_images, (3, 286, 360))

    trained = args.campaign / "stages" / "train" / "outputs" if args.campaign else None
    default_model = REFERENCE_MODEL if reference else MODEL
    config = json.loads((trained / "model.json").read_text()) if trained else default_model
    model = build_model(config).eval()
    if trained:
        model.load_state_dict(torch.load(trained / "model.pt", map_location="cpu", weights_only=True))
    with tempfile.TemporaryDirectory() as tmp:
        onnx_file = trained / "model.onnx" if trained else Path(tmp) / "model.onnx"
        if not trained:
            from models.autoencoder.network import AnomalyScorer

            export_checked(
                AnomalyScorer(model), torch.from_numpy(batch[:4]), onnx_file, "images", ["score", "reconstruction"]
            )
        figures["model"] = {
            **config,
            "parameters": sum(p.numel() for p in model.parameters()),
            "trained": bool(trained),
        }
        figures["onnx"] = onnx_figures(onnx_file, batch, args.latency_events)
    figures["torch"] = torch_figures(model, batch, args.latency_events)
    for what in ("onnx", "torch"):
        for key, value in figures[what].items():
            text = (
                f"median {value['median_ms']:.2f} ms, p99 {value['p99_ms']:.2f} ms ({value['events']} events)"
                if isinstance(value, dict)
                else f"{value:.1f} events/s"
            )
            print(f"{what:5s} {key:36s} {text}")
    if args.campaign:
        figures["campaign"] = campaign_figures(args.campaign)
        print(f"training size: {figures['campaign']['training_events']} QCD events")
        for point, selections in figures["campaign"]["efficiency_at_2pct_mistag"].items():
            for label, sources in selections.items():
                cells = ", ".join(f"{s} {v['value']:.3f} ± {v['error']:.3f}" for s, v in sources.items())
                print(f"  {point} [{label}] efficiency at 2% mistag: {cells}")
    save("suep-reference" if reference else "suep", figures)


if __name__ == "__main__":
    main()
