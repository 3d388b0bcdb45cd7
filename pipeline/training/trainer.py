"""The training loop of the `train` stage: DeepSpeed engine from the workflow's parameters,
exact resume (weights, optimizer, schedule, step, RNG, sampler position), checkpoint and
requeue on the preemption signal, NaN detection on every rank at once, TensorBoard."""

from __future__ import annotations

import json
import math
import os
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from ..atomic import append_line, atomic_path, atomic_write_json, atomic_write_text
from ..data.dataset import EventSubset
from ..deadline import UnitTimer, job_deadline
from ..overrides import deep_merge
from ..stage import StageContext, StageInterrupted
from ..tasks import load_task
from ..tasks.protocol import LearningTask
from . import distributed
from .accelerator import accelerator_for
from .checkpoints import CheckpointStore
from .plateau import EpochWatch

OPTIMIZERS = {"adamw": torch.optim.AdamW, "adam": torch.optim.Adam}


class NonFiniteLoss(FloatingPointError):
    pass


def lr_lambda(warmup: int, total: int, decay: str, floor: float):
    def factor(step: int) -> float:
        if warmup and step < warmup:
            return (step + 1) / warmup
        if decay == "constant" or total <= warmup:
            return 1.0
        progress = min(1.0, (step - warmup) / max(1, total - warmup))
        return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * progress))

    return factor


@dataclass
class TrialMode:
    """How a run differs when it is one trial of a search: no signal handlers (trials run in a
    worker thread; the search's own job handles preemption), scalars under the search's logdir,
    the best weights exported whenever validation improves (the trial may be stopped at any
    epoch), and every epoch reported (rank 0) with the tag of its checkpoint."""

    tb_logdir: Path
    report: Callable[[dict[str, Any]], None] | None = None
    metric: str = "val_loss"  # the search's metric: the exported best weights are the best by it
    mode: str = "min"
    best: float | None = None  # its best value in the epochs reported before a resume


def searchable(val_loss: float | None, metrics: dict[str, float]) -> dict[str, Any]:
    """A validation's figures under the names a search and HParams know them by: `val_loss`
    and `val_<name>` for each of the task's validation metrics."""
    return {"val_loss": val_loss} | {f"val_{name}": value for name, value in metrics.items()}


@dataclass
class _Run:
    """The loop's state: what it trains on and where it is."""

    train: Any
    val: Any
    sampler: Any
    engine: Any
    model_config: dict[str, Any]
    loss_config: Any
    per_epoch: int
    total: int
    step: int
    epoch: int
    batch_in_epoch: int
    best: float
    last_val: float | None = None
    writer: Any = None
    weights: Path | None = None
    deployed: dict[str, Any] | None = None  # the task's deployable export (e.g. ONNX), rank 0
    selected: dict[str, Any] | None = None  # select: best — the checkpoint whose weights were exported
    events_seen: int = 0
    epoch_loss: float = 0.0
    epoch_batches: float = 0.0
    started: float = field(default_factory=time.perf_counter)


class Trainer:
    def __init__(
        self,
        ctx: StageContext,
        params: Any,
        process: Any = None,
        trial: TrialMode | None = None,
        init_weights: Path | None = None,
    ) -> None:
        self.ctx, self.params = ctx, params
        self.trial = trial
        self.init_weights = init_weights
        site = ctx.site
        self.learning: LearningTask = load_task(params.task)  # what is learned (pipeline/tasks/protocol.py)
        self.learning.configure(self.learning.loss_config(params.loss))
        self.process = distributed.export_env(site.distributed.deepspeed_accelerator, process)
        self.acc = accelerator_for(site.device)  # after the launcher's variables (Gaudi reads them at import)
        distributed.init_group(site.distributed.backend)
        self.rank, self.world = self.process.rank, self.process.world_size
        self.device = self.acc.device(self.process.local_rank)
        self.store = CheckpointStore(
            ctx.checkpoints_dir, self.rank, self.world, params.zero_stage, params.keep_checkpoints
        )
        self.stop_signal: str | None = None
        # the job's time limit: stop and checkpoint early when the next unit would overrun it
        deadline = None if trial is not None else job_deadline(ctx.resources.time)
        self.timer = UnitTimer(deadline, params.deadline_margin_s)
        plateau, early = params.schedule.plateau, params.early_stopping
        self.watch = EpochWatch(  # what the validation loss decides between epochs (training/plateau.py)
            plateau.patience if plateau else None,
            plateau.factor if plateau else 1.0,
            early.patience if early else None,
            (early or plateau).min_delta if (early or plateau) else 0.0,
        )
        self.losses_path = ctx.outputs_dir / "losses.jsonl"
        self.phases: dict[str, float] = {}  # seconds per phase (data, model, engine, restore, train...)

    def _spent(self, phase: str, since: float) -> float:
        """Add the time since `since` (perf_counter) to `phase`; returns now."""
        now = time.perf_counter()
        self.phases[phase] = self.phases.get(phase, 0.0) + now - since
        return now

    # ---- data -------------------------------------------------------------------------------
    def datasets(self):
        from ..data.dataset import copy_to_local

        manifest = self.ctx.manifest(self.params.data, "to train on")
        if self.params.local_copy:
            scratch = (
                Path(os.environ.get("TMPDIR", "/tmp")) / "colliderflow" / self.ctx.campaign_dir.name / self.ctx.stage
            )
            manifest = copy_to_local(manifest, scratch)
        p = self.params
        train, val = self.learning.dataset(manifest, "train"), self.learning.dataset(manifest, "val")
        if p.train_events:  # the same subset for every trial and rank: the seed is the data's, not the run's
            train = EventSubset(train, p.train_events, seed=0)
        if p.val_events:
            val = EventSubset(val, p.val_events, seed=1)
        return json.loads(manifest.read_text()), train, val

    def batch(self, dataset, indices: list[int]) -> dict[str, torch.Tensor]:
        source = dataset.source if isinstance(dataset, EventSubset) else dataset
        batch = self.learning.collate([dataset[i] for i in indices], source)
        return {k: v.to(self.device) for k, v in batch.items()}

    # ---- engine -----------------------------------------------------------------------------
    def engine(self, model: torch.nn.Module, total_steps: int):
        import deepspeed

        p = self.params
        scale = 1.0 if isinstance(p.init_from, str) else p.init_from.backbone_lr_scale
        loaded = set(getattr(self, "loaded", []))
        groups = [
            {"params": [t for n, t in model.named_parameters() if n in loaded], "lr": p.optimizer.lr * scale},
            {"params": [t for n, t in model.named_parameters() if n not in loaded], "lr": p.optimizer.lr},
        ]
        optimizer = OPTIMIZERS[p.optimizer.name](
            [g for g in groups if g["params"]], betas=p.optimizer.betas, weight_decay=p.optimizer.weight_decay
        )
        optimizer_steps = max(1, total_steps // p.gradient_accumulation)
        shape = lr_lambda(p.schedule.warmup_steps, optimizer_steps, p.schedule.decay, p.schedule.min_lr_ratio)
        # the plateau's reductions multiply the schedule's shape (1 without a plateau schedule)
        schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: shape(step) * self.watch.state.lr_scale)
        config = {
            "train_micro_batch_size_per_gpu": p.batch_size or 1,
            "gradient_accumulation_steps": p.gradient_accumulation,
            "gradient_clipping": p.gradient_clipping,
            "zero_optimization": {"stage": p.zero_stage},
            "bf16": {"enabled": p.precision == "bf16"},
            "fp16": {"enabled": p.precision == "fp16", "loss_scale": 0, "initial_scale_power": 12},
            "steps_per_print": 10**9,
            "zero_allow_untested_optimizer": True,
        }
        config = deep_merge(config, p.deepspeed)
        engine, _, _, _ = deepspeed.initialize(model=model, optimizer=optimizer, lr_scheduler=schedule, config=config)
        return engine

    # ---- signals ----------------------------------------------------------------------------
    def _on_signal(self, signum: int, frame: object) -> None:
        self.stop_signal = signal.Signals(signum).name

    def _install_signals(self) -> None:
        for sig in (signal.SIGUSR2, signal.SIGTERM):
            signal.signal(sig, self._on_signal)

    # ---- the loop ---------------------------------------------------------------------------
    def fit(self) -> dict[str, Any]:
        run = self._prepare()
        try:
            while run.epoch < self.params.epochs and run.step < run.total and not self.watch.state.stopped:
                self._train_epoch(run)
                if run.batch_in_epoch >= run.per_epoch:  # the epoch is complete
                    self._end_epoch(run)
            if self.store.latest() is None or self.store.latest()["step"] != run.step:
                self._save(run.engine, run.step, run.epoch, run.batch_in_epoch)
            if self.params.select == "best":
                run.selected = self._restore_best(run.engine)
            elif run.batch_in_epoch:  # stopped inside an epoch: its statistics were not re-estimated
                self._recalibrate_norms(run)
            self._write_selection(run)
            run.weights = self._export(run.engine, run.model_config)
            run.deployed = self._export_deployable(run)
        finally:
            if run.writer:
                run.writer.flush()
        if run.writer:
            run.writer.close()
        return self._summary(run)

    def _prepare(self) -> _Run:
        """Data, model, engine, the restored position, TensorBoard writer and signal handlers."""
        from models import build_model

        from ..data.sampler import BucketBatchSampler

        p, ctx = self.params, self.ctx
        began = time.perf_counter()
        manifest, train, val = self.datasets()
        began = self._spent("data", began)
        model_config = self.learning.model_config(manifest, p.model)
        self.acc.seed(p.seed)
        model = build_model(model_config)
        self.loaded: list[str] = []  # parameters from init weights (a fine-tuned backbone), for their lr
        if self.init_weights is not None:  # also on a resume: the optimizer's groups must be the same
            from .init_weights import load_by_name

            replace = [] if isinstance(p.init_from, str) else p.init_from.replace
            state = torch.load(self.init_weights, map_location="cpu", weights_only=True)
            report = load_by_name(model, state, replace, self.init_weights)
            self.loaded = report["loaded"]
            if self.store.latest() is None and self.rank == 0:
                atomic_write_json(ctx.outputs_dir / "init_weights.json", report)
                ctx.log(
                    f"initial weights from {self.init_weights}: {len(report['loaded'])} tensors loaded, "
                    f"{len(report['skipped'])} skipped {report['skipped'][:6]}, "
                    f"{len(report['initialised'])} newly initialised {report['initialised'][:6]}"
                )
        summary = self.learning.describe(model)
        if self.rank == 0 and self.trial is None:
            atomic_write_json(ctx.outputs_dir / "model_summary.json", {"model": model_config, **summary})
        ctx.log(f"model {model_config.get('kind')}: " + ", ".join(f"{k} {v}" for k, v in summary.items()))
        model = model.to(self.device)
        began = self._spent("model", began)
        sampler = BucketBatchSampler(
            train.sizes, p.batch_size, p.max_elements, shuffle=True, seed=p.seed, rank=self.rank, world_size=self.world
        )
        per_epoch = len(sampler)
        total = min(p.max_steps or 10**12, per_epoch * p.epochs)
        engine = self.engine(model, total)
        began = self._spent("engine", began)
        state = self.store.load(engine) or {}
        self._spent("restore", began)
        self.watch.restore(state.get("watch"))
        run = _Run(
            train=train,
            val=val,
            sampler=sampler,
            engine=engine,
            model_config=model_config,
            loss_config=self.learning.loss_config(p.loss),
            per_epoch=per_epoch,
            total=total,
            step=state.get("step", 0),
            epoch=state.get("epoch", 0),
            batch_in_epoch=state.get("batch", 0),
            best=self.store.best_metric(),
        )
        if state and state.get("world_size", self.world) != self.world:
            consumed = run.batch_in_epoch * state["world_size"]
            run.batch_in_epoch = consumed // self.world  # same data position, new split over ranks
        if state:
            ctx.log(f"resumed from {state['tag']}: step {run.step}, epoch {run.epoch}, batch {run.batch_in_epoch}")
        self._truncate_losses(run.step)
        run.writer = self._writer(purge_step=run.step + 1 if state else None)
        if self.trial is None:
            self._install_signals()
        return run

    def _train_epoch(self, run: _Run) -> None:
        """Batches of the current epoch from the run's position, until it ends or the run does."""
        run.sampler.set_epoch(run.epoch, start_batch=run.batch_in_epoch)
        run.epoch_loss = run.epoch_batches = 0.0
        for indices in run.sampler:
            self._step(run, indices)
            if run.step >= run.total:
                break

    def _step(self, run: _Run, indices: list[int]) -> None:
        """One optimizer step, agreed by every rank: a non-finite loss anywhere skips it or fails
        (nan_policy), a signal anywhere stops everyone at the same step, checkpointed."""
        p, engine = self.params, run.engine
        step_start = time.perf_counter()
        batch = self.batch(run.train, indices)
        with self.acc.autocast(p.precision):
            out = self.learning.forward(engine, batch)
        loss, terms = self.learning.loss(out, batch, run.loss_config)
        finite = bool(torch.isfinite(loss))
        # after this step, would the next one and a checkpoint still end before the deadline?
        late = not self.timer.fits("step", "step", "checkpoint")
        signalled = float(self.stop_signal is not None or late)
        total_loss, finite_ranks, signalled_ranks = distributed.sum_values(
            [loss.item() if finite else 0.0, float(finite), signalled], self.device
        )
        run.batch_in_epoch += 1
        if finite_ranks < self.world:
            self._non_finite(run, self.world - int(finite_ranks))
            return
        engine.backward(loss)
        grad_norm = self._grad_norm(engine)
        engine.step()
        run.step += 1
        run.events_seen += len(indices)
        mean_loss = total_loss / self.world
        run.epoch_loss, run.epoch_batches = run.epoch_loss + mean_loss, run.epoch_batches + 1
        seconds = time.perf_counter() - step_start
        self.phases["train"] = self.phases.get("train", 0.0) + seconds
        self.timer.record("step", seconds)
        self._record(run.writer, run.step, run.epoch, mean_loss, terms, engine, grad_norm, len(indices), seconds)
        if self.trial is None:  # a search reports its trials itself
            self.ctx.progress(run.step, run.total, "steps", epoch=f"{run.epoch + 1}/{p.epochs}", loss=mean_loss)
        if run.step % p.checkpoint_every == 0:
            self._save(engine, run.step, run.epoch, run.batch_in_epoch)
        if signalled_ranks > 0:  # a rank was signalled or is out of time: everyone stops here, checkpointed
            if run.step % p.checkpoint_every:
                self._save(engine, run.step, run.epoch, run.batch_in_epoch)
            if self.stop_signal is None:
                self.ctx.log(
                    f"stopping at step {run.step}: the next step and a checkpoint would end within "
                    f"{p.deadline_margin_s:g} s of the time limit ({self.timer.remaining():.0f} s left)"
                )
            raise StageInterrupted(requeue=self.stop_signal in (None, "SIGUSR2"))

    def _non_finite(self, run: _Run, ranks: int) -> None:
        bad = (
            f"non-finite loss at step {run.step + 1} (epoch {run.epoch}, batch {run.batch_in_epoch - 1}) "
            f"on {ranks} rank(s)"
        )
        if self.params.nan_policy == "fail":
            raise NonFiniteLoss(f"{bad}; the last good checkpoint is {self.store.latest()}")
        self.ctx.log(f"{bad}: batch skipped (nan_policy: skip)")

    def _end_epoch(self, run: _Run) -> None:
        """Validation, a checkpoint tagged with its metric, and a search trial's report. When
        the validation and its checkpoint would overrun the time limit, the finished epoch is
        checkpointed unvalidated and the job requeued: the next attempt validates it."""
        validating = self.params.validation and len(run.val) > 0
        if not self.timer.fits(*(("validation",) if validating else ()), "checkpoint"):
            if self.store.latest() is None or self.store.latest()["step"] != run.step:
                self._save(run.engine, run.step, run.epoch, run.batch_in_epoch)
            self.ctx.log(f"epoch {run.epoch + 1} trained; its validation would overrun the time limit: requeued")
            raise StageInterrupted(requeue=True)
        began = time.perf_counter()
        run.epoch, run.batch_in_epoch = run.epoch + 1, 0
        val_loss, metrics = (None, {})
        self._recalibrate_norms(run)
        if self.params.validation:
            val_loss, metrics = self.validate(run.engine, run.val, run.loss_config)
        run.last_val = val_loss
        if val_loss is not None:
            run.best = min(run.best, val_loss)
            if run.writer:
                run.writer.add_scalar("val/loss", val_loss, run.step)
                for name, value in metrics.items():
                    run.writer.add_scalar(f"val/{name}", value, run.step)
            if self.rank == 0:
                record = {"step": run.step, "epoch": run.epoch, "val_loss": val_loss, **metrics}
                append_line(self.ctx.outputs_dir / "validation.jsonl", json.dumps(record))
            shown = "".join(f", {name} {value:.4f}" for name, value in metrics.items())
            self.ctx.log(f"epoch {run.epoch}: validation loss {val_loss:.5f}{shown}")
            for decision in self.watch.observe(val_loss):
                self.ctx.log(f"epoch {run.epoch}: {decision}")
            self._apply_lr_scale(run.engine)
            if run.writer:
                run.writer.add_scalar("train/lr_scale", self.watch.state.lr_scale, run.step)
        self.timer.record("validation", time.perf_counter() - began)
        self._spent("validation", began)
        tag = self._save(run.engine, run.step, run.epoch, 0, metric=val_loss)
        if self.trial is None:
            return
        train_loss = run.epoch_loss / run.epoch_batches if run.epoch_batches else None
        report = {"epoch": run.epoch, "step": run.step, "train_loss": train_loss} | searchable(val_loss, metrics)
        score, best = report.get(self.trial.metric), self.trial.best
        better = score is not None and (best is None or (score < best if self.trial.mode == "min" else score > best))
        # rank 0 holds the search's metric (a task metric is its own share): its decision, for
        # every rank, since the export ends in a collective
        if distributed.all_true(better or self.rank != 0, self.device):
            self.trial.best = score
            self._export(run.engine, run.model_config, name="best_model")
        if self.trial.report is not None:
            self.trial.report({**report, "checkpoint_tag": tag})

    def _recalibrate_norms(self, run: _Run) -> None:
        """Precise batch norm: the running mean and variance of every BatchNorm replaced by the
        exact average over the first `norm_recalibration` training batches, with the weights as
        they are now. The running averages trail weights that move fast (they mix ~10 recent
        steps), and a network that normalises heavy-tailed activations can score very differently
        with them than with its batch statistics. Deterministic (fixed batches, no random draws),
        so a resumed run re-estimates the same numbers."""
        count = self.params.norm_recalibration
        norms = [m for m in run.engine.module.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
        if not count or not norms:
            return
        size = self.params.batch_size or 8
        momenta = [m.momentum for m in norms]
        for m in norms:
            m.reset_running_stats()
            m.momentum = None  # cumulative average
        run.engine.train()
        with torch.no_grad():
            for start in range(0, min(count * size, len(run.train)), size):
                batch = self.batch(run.train, list(range(start, min(start + size, len(run.train)))))
                with self.acc.autocast(self.params.precision):
                    self.learning.forward(run.engine, batch)
        for m, momentum in zip(norms, momenta, strict=True):
            m.momentum = momentum

    def _apply_lr_scale(self, engine) -> None:
        """A plateau's reduction takes effect from the next step (the scheduler reads the scale at
        each step; the current rates are set now too)."""
        schedule = engine.lr_scheduler
        for group, base, shape in zip(
            schedule.optimizer.param_groups, schedule.base_lrs, schedule.lr_lambdas, strict=True
        ):
            group["lr"] = base * shape(schedule.last_epoch)

    def _restore_best(self, engine) -> dict[str, Any] | None:
        """The weights of the epoch with the lowest validation loss into the engine (select:
        best): only the epoch is chosen by the validation split. None when no epoch was validated."""
        best = self.store.best()
        if best is None:
            return None
        if best["tag"] != self.store.latest()["tag"]:
            engine.load_checkpoint(
                str(self.store.root), tag=best["tag"], load_module_only=True,
                load_optimizer_states=False, load_lr_scheduler_states=False,
            )  # fmt: skip
        self.ctx.log(f"selected the weights of {best['tag']} (lowest validation loss {best['metric']:.6g})")
        return best

    def _write_selection(self, run: _Run) -> None:
        """outputs/selection.json: how the exported weights were chosen (what a report cites)."""
        if self.rank != 0 or self.trial is not None:
            return
        p, w = self.params, self.watch.state
        record = {
            "select": p.select,
            "selected": run.selected,
            "epochs_run": run.epoch,
            "epochs_max": p.epochs,
            "stopped_early": w.stopped,
            "early_stopping": p.early_stopping.model_dump() if p.early_stopping else None,
            "plateau": p.schedule.plateau.model_dump() if p.schedule.plateau else None,
            "lr_reductions": w.reductions,
            "best_val_loss": w.best,
            "validation": "the task's validation split (for the anomaly task: background events only)",
        }
        atomic_write_json(self.ctx.outputs_dir / "selection.json", record)

    def _summary(self, run: _Run) -> dict[str, Any]:
        elapsed = time.perf_counter() - run.started
        return {
            "steps": run.step,
            "epochs": run.epoch,
            "train_events": len(run.train),  # the training set's size (a data-scaling study's N)
            "stopped_early": self.watch.state.stopped,
            "lr_reductions": self.watch.state.reductions,
            "selected": run.selected,
            "events_per_second": run.events_seen * self.world / max(elapsed, 1e-9),
            "best_val_loss": None if run.best == float("inf") else run.best,
            "weights": str(run.weights),
            "weights_agree": self._weights_agree(run.engine),
            "world_size": self.world,
            **({"deployed": run.deployed} if run.deployed else {}),
        }

    def validate(self, engine, val, loss_config) -> tuple[float | None, dict[str, float]]:
        """Validation loss over the split (all ranks), and the task's validation metrics (of the
        outputs it keeps, `validation_outputs`) on this rank's share."""
        if len(val) == 0:
            return None, {}
        engine.eval()
        total = count = 0.0
        kept: list[tuple[dict, dict]] = []
        with torch.no_grad():
            for start in range(self.rank * 8, len(val), 8 * self.world):
                batch = self.batch(val, list(range(start, min(start + 8, len(val)))))
                with self.acc.autocast(self.params.precision):
                    out = self.learning.forward(engine, batch)
                loss, _ = self.learning.loss(out, batch, loss_config)
                events = self.learning.events(batch)
                total += loss.item() * events
                count += events
                if self.learning.validation_outputs:
                    kept.append(({k: v.float().cpu() for k, v in out.items()}, {k: v.cpu() for k, v in batch.items()}))
        engine.train()
        total, count = distributed.sum_values([total, count], self.device)
        # metrics such as an AUC do not add up over ranks: each rank scores its own share, rank 0's
        # are recorded (the whole split with one rank); no collective, so a rank with no share is fine
        metrics = self.learning.validation_metrics(kept) if kept else {}
        return total / max(count, 1), metrics

    # ---- records ----------------------------------------------------------------------------
    def _writer(self, purge_step: int | None):
        if self.rank != 0:
            return None
        from torch.utils.tensorboard import SummaryWriter

        logdir = self.trial.tb_logdir if self.trial else self.ctx.tensorboard_dir / "train" / self.ctx.stage
        logdir.mkdir(parents=True, exist_ok=True)
        return SummaryWriter(str(logdir), purge_step=purge_step)

    def _truncate_losses(self, step: int) -> None:
        """After a resume, drop the records (losses, validation) of steps the restored checkpoint
        never saw."""
        for path in (self.losses_path, self.ctx.outputs_dir / "validation.jsonl"):
            if self.rank != 0 or not path.exists():
                continue
            kept = [line for line in path.read_text().splitlines() if line and json.loads(line)["step"] <= step]
            atomic_write_text(path, "".join(line + "\n" for line in kept))

    @staticmethod
    def _grad_norm(engine) -> float | None:
        """Global gradient norm before the optimizer step (ZeRO >= 1: DeepSpeed's own figure)."""
        grads = [p.grad.detach().double().pow(2).sum() for p in engine.module.parameters() if p.grad is not None]
        if grads:
            return float(torch.stack(grads).sum().sqrt())
        norm = engine.get_global_grad_norm()
        return None if norm is None else float(norm)

    def _record(self, writer, step, epoch, loss, terms, engine, grad_norm, events, seconds) -> None:
        if self.rank != 0:
            return
        record = {"step": step, "epoch": epoch, "loss": loss, **{k: float(v) for k, v in terms.items()}}
        with self.losses_path.open("a") as handle:
            handle.write(json.dumps(record) + "\n")
        if writer and step % self.params.log_every == 0:
            writer.add_scalar("train/loss", loss, step)
            for name, value in terms.items():
                writer.add_scalar(f"train/loss_{name}", float(value), step)
            writer.add_scalar("train/lr", engine.get_lr()[0], step)
            if grad_norm is not None:
                writer.add_scalar("train/grad_norm", grad_norm, step)
            writer.add_scalar("train/events_per_second", events * self.world / max(seconds, 1e-9), step)
            writer.add_scalar("train/step_time_s", seconds, step)
            writer.add_scalar("train/memory_mb", self.acc.memory_mb(), step)

    def _save(self, engine, step: int, epoch: int, batch: int, metric: float | None = None) -> str:
        tag = f"step{step:09d}-e{epoch}"
        state = {"step": step, "epoch": epoch, "batch": batch, "watch": self.watch.saved()}
        began = time.perf_counter()
        self.store.save(engine, tag, state, metric=metric)
        self.timer.record("checkpoint", time.perf_counter() - began)
        self._spent("checkpoint", began)
        self.ctx.log(f"checkpoint {tag}")
        return tag

    def _export(self, engine, model_config: dict[str, Any], name: str = "model") -> Path:
        """Consolidated fp32 weights + the resolved model config (torch.load(weights_only=True))."""
        if self.params.zero_stage == 3:
            from deepspeed.utils.zero_to_fp32 import get_fp32_state_dict_from_zero_checkpoint

            distributed.barrier()
            state = get_fp32_state_dict_from_zero_checkpoint(str(self.store.root), tag=self.store.latest()["tag"])
        else:
            state = {k: v.detach().float().cpu() for k, v in engine.module.state_dict().items()}
        path = self.ctx.outputs_dir / f"{name}.pt"
        if self.rank == 0:
            with atomic_path(path) as tmp:
                torch.save(state, tmp)
            atomic_write_json(self.ctx.outputs_dir / f"{name}.json", model_config)
        distributed.barrier()
        return path

    def _export_deployable(self, run: _Run) -> dict[str, Any] | None:
        """The task's deployable form of the final model (the anomaly task: a checked ONNX file
        for the trigger), built on rank 0 from the exported fp32 weights on real validation
        events. Not for search trials."""
        if not self.learning.deployable or self.trial is not None:
            return None
        record = None
        if self.rank == 0:
            from models import build_model

            model = build_model(run.model_config)
            model.load_state_dict(torch.load(run.weights, map_location="cpu", weights_only=True))
            examples = run.val if len(run.val) else run.train
            source = examples.source if isinstance(examples, EventSubset) else examples
            batch = self.learning.collate([examples[i] for i in range(min(4, len(examples)))], source)
            record = self.learning.export_deployable(model.eval(), batch, self.ctx.outputs_dir)
            self.ctx.log(f"deployable model: {record['file']} (checked against PyTorch: {record['check']['outputs']})")
        distributed.barrier()
        return record

    def _weights_agree(self, engine) -> bool:
        """Every rank holds the same weights (checked by an all-reduced checksum)."""
        checksum = float(sum(p.detach().double().sum() for p in engine.module.parameters()))
        values = distributed.sum_values([checksum, checksum**2], self.device)
        mean = values[0] / self.world
        return abs(values[1] / self.world - mean**2) <= 1e-9 * max(1.0, mean**2)
