"""The `hpo` stage kind: a Ray Tune search (ASHA or BOHB) over `train` configurations inside one
job's allocation — Ray's head on the first node, a worker on every other — resumable from
Tune's experiment state after a kill or a requeue."""

from __future__ import annotations

import os
import shutil
import signal
from pathlib import Path
from typing import Any

from ..atomic import atomic_write_text
from ..spec import ResolvedResources
from ..stage import Stage, StageInterrupted
from ..usage import TRIAL_USAGE


def _trial_dirname(trial: Any) -> str:
    return trial.trial_id


class HpoStage(Stage):
    def run(self) -> dict | None:
        from slurm import launch_env, ray_cluster

        ctx, p = self.ctx, self.params
        process = launch_env.current()
        if process.world_size != max(1, process.num_nodes):
            raise ValueError(
                f"stage {ctx.stage!r}: an hpo stage runs one task per node (resources.tasks_per_node: 1); "
                f"this job has {process.world_size} process(es) on {process.num_nodes} node(s)"
            )
        spec = self._node_spec(process)
        if ctx.rank != 0:
            process = ray_cluster.join(spec, p.ray.start_deadline_s)
            ctx.log(f"joined the Ray cluster as node rank {spec.node_rank}")
            try:
                ray_cluster.serve_until_done(process, spec)
            finally:
                ray_cluster.stop(process)
                shutil.rmtree(spec.temp_dir(), ignore_errors=True)
            return None
        head, address = ray_cluster.start_head(spec)
        self._cluster = (head, spec)
        ctx.log(f"Ray head at {address}; waiting for {spec.num_nodes} node(s)")
        try:
            launcher_sigterm = signal.getsignal(signal.SIGTERM)
            nodes = ray_cluster.connect(address, spec.ray_dir, spec.num_nodes, p.ray.start_deadline_s)
            signal.signal(signal.SIGTERM, launcher_sigterm)  # ray.init took SIGTERM over
            ctx.log(f"Ray cluster ready: {len(nodes)} node(s)")
            return self.search(nodes)
        finally:
            atomic_write_text(spec.done_file, "done\n")
            import ray

            ray.shutdown()
            ray_cluster.stop(head)
            shutil.rmtree(spec.temp_dir(), ignore_errors=True)

    def checkpoint(self) -> None:
        """Requeue or cancel: Tune's experiment state is already on disk (it is saved as trials
        report); take the cluster down now so no trial keeps writing after this job is gone."""
        from slurm import ray_cluster

        cluster = getattr(self, "_cluster", None)
        if cluster is not None:
            head, spec = cluster
            atomic_write_text(spec.done_file, "stopped\n")
            ray_cluster.stop(head, grace_s=3.0)

    # ---- the allocation ------------------------------------------------------------------
    def _node_spec(self, process: Any):
        from slurm.ray_cluster import NodeSpec

        ctx = self.ctx
        gpus = ResolvedResources.of(ctx.resources).gpus_per_node  # resolved once, at validation
        hpu = ctx.site.hpo.accelerator_resource == "HPU"
        return NodeSpec(
            ray_dir=ctx.stage_dir / "ray",
            token=f"{ctx.campaign_dir}/{ctx.stage}",
            run_key=f"{ctx.job_id or 'local'}.{ctx.attempt}",
            node_rank=process.node_rank if process.launcher == "slurm" else ctx.rank,
            num_nodes=max(1, process.num_nodes),
            node_ip=process.node_address(),
            # the CPUs Slurm gave this job on this node, not a number written in a file
            num_cpus=process.cpus_on_node or ctx.resources.cpus_per_task,
            num_gpus=0 if hpu else gpus,
            resources={"HPU": float(gpus)} if hpu and gpus else {},
            temp_root=Path("/tmp"),
        )

    # ---- the search ----------------------------------------------------------------------
    def trial_resources(self) -> tuple[dict[str, float], int, int]:
        p, site = self.params, self.ctx.site
        cpus = p.cpus_per_trial or site.hpo.cpus_per_trial
        gpus = p.gpus_per_trial if p.gpus_per_trial is not None else site.hpo.gpus_per_trial
        ranks = p.ranks_per_trial or max(1, gpus)
        resources = {"cpu": float(cpus)}
        if gpus:
            resources["gpu" if site.hpo.accelerator_resource == "GPU" else "HPU"] = float(gpus)
        return resources, gpus, ranks

    def search(self, nodes: list[dict]) -> dict:
        from ray import tune

        from ..hpo import results, search_space, searchers
        from ..hpo.progress_callback import SearchProgress
        from ..hpo.trial import FAILURE, TrialSetup, run_trial

        ctx, p = self.ctx, self.params
        resources, gpus, ranks = self.trial_resources()
        setup = TrialSetup(str(ctx.campaign_dir), ctx.stage, p.train, p.max_t, ranks, p.metric, p.mode)
        trainable = tune.with_resources(tune.with_parameters(run_trial, setup=setup), resources)
        os.environ["TUNE_GLOBAL_CHECKPOINT_S"] = str(p.ray.state_every_s)
        storage = ctx.stage_dir / "tune"
        experiment = storage / "search"
        cpus = int(resources["cpu"])
        from ..deadline import stage_timer

        searchers.DeadlineWatch.start(stage_timer(ctx, p.deadline_margin_s))
        progress = SearchProgress(
            ctx.progress_path, p.num_samples, p.metric, p.mode, p.max_t, ctx.stage_dir / TRIAL_USAGE, cpus, gpus
        )
        if tune.Tuner.can_restore(str(experiment)):
            if p.restart_errored:
                for failure in (ctx.stage_dir / "trials").glob(f"*/{FAILURE}"):
                    shutil.rmtree(failure.parent)  # rerun from scratch: none of its record is kept
            ctx.log(f"resuming the search from {experiment}")
            tuner = tune.Tuner.restore(
                str(experiment),
                trainable,
                resume_unfinished=True,
                resume_errored=not p.restart_errored,
                restart_errored=p.restart_errored,
            )
        else:
            searcher, scheduler = searchers.make(p)
            tuner = tune.Tuner(
                trainable,
                tune_config=tune.TuneConfig(
                    search_alg=searcher,
                    scheduler=scheduler,
                    num_samples=p.num_samples,
                    max_concurrent_trials=p.max_concurrent_trials,
                    trial_dirname_creator=_trial_dirname,
                    reuse_actors=ranks == 1 if p.ray.reuse_actors == "auto" else p.ray.reuse_actors,
                ),
                run_config=tune.RunConfig(
                    name="search",
                    storage_path=str(storage),
                    verbose=0,
                    callbacks=[progress, searchers.DeadlineStop()],
                    failure_config=tune.FailureConfig(max_failures=0),
                    # Tune writes its state in a driver staging dir and copies it here at most every
                    # sync_period (300 s by default): a kill in between resumed from a stale state.
                    sync_config=tune.SyncConfig(sync_period=max(1, round(p.ray.state_every_s))),
                ),
            )
        grid = tuner.fit()
        if searchers.DeadlineWatch.stopped:
            ctx.log(
                f"search stopped {searchers.DeadlineWatch.remaining():.0f} s before the time limit: no trial's next "
                f"epoch would have ended {p.deadline_margin_s:g} s before it; every trial is paused at its last "
                "reported epoch, the job is requeued"
            )
            raise StageInterrupted(requeue=True)
        records = results.trial_records(grid, ctx.stage_dir, p.metric, p.mode, p.max_t, gpus, cpus)
        for orphan in results.set_aside_orphans(records, ctx.stage_dir, ctx.tensorboard_dir):
            ctx.log(f"trial {orphan} started after the search's last saved state: set aside under trials/orphaned")
        results.write_table(records, ctx.outputs_dir, p.metric, p.max_t)
        best = results.write_best(records, ctx.stage_dir, setup, p.metric, p.mode)
        space = search_space.parse(p.search_space)
        searched = {d.key: (list(d.values) if d.kind == "choice" else None) for d in search_space.walk(space)}
        results.write_hparams(records, ctx, setup, p.metric, p.mode, searched)
        counts = {s: sum(r["status"] == s for r in records) for s in ("completed", "stopped", "errored")}
        ctx.log(f"search done: {len(records)} trials {counts}; best {best and best['trial_id']}")
        return {
            "algorithm": p.algorithm,
            "trials": len(records),
            **counts,
            "trial_epochs": sum(r["epochs"] for r in records),
            "best": None if best is None else {k: best[k] for k in ("trial_id", "epoch", p.metric, "config")},
            "ray_nodes": [{"node_id": n["NodeID"], "address": n["NodeManagerAddress"]} for n in nodes],
        }
