"""Batches of events of similar size, split over ranks, resumable at an exact batch.

Event sizes range from tens to tens of thousands of elements; batching similar sizes keeps
padding small. Each epoch: shuffle (seeded by seed + epoch), sort within buckets of
`bucket_batches` batches, cut batches (a fixed count, or as many as fit `max_elements` padded
elements), shuffle the batch order, give rank r every world_size-th batch (all ranks get the
same number). `set_epoch(e, start_batch=k)` resumes exactly at batch k of epoch e.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np


class BucketBatchSampler:
    def __init__(
        self,
        sizes: np.ndarray,
        batch_size: int | None = None,
        max_elements: int | None = None,
        shuffle: bool = True,
        seed: int = 0,
        rank: int = 0,
        world_size: int = 1,
        bucket_batches: int = 50,
    ) -> None:
        if (batch_size is None) == (max_elements is None):
            raise ValueError("give exactly one of batch_size and max_elements")
        self.sizes = np.asarray(sizes, dtype=np.int64)
        self.batch_size = batch_size
        self.max_elements = max_elements
        self.shuffle = shuffle
        self.seed = seed
        self.rank = rank
        self.world_size = world_size
        self.bucket_batches = bucket_batches
        self.epoch = 0
        self.start_batch = 0

    def set_epoch(self, epoch: int, start_batch: int = 0) -> None:
        self.epoch = epoch
        self.start_batch = start_batch

    def _cut(self, order: np.ndarray) -> list[np.ndarray]:
        if self.batch_size is not None:
            return [order[i : i + self.batch_size] for i in range(0, len(order), self.batch_size)]
        batches, start, widest = [], 0, 0
        for i, index in enumerate(order):
            widest_next = max(widest, int(self.sizes[index]))
            if i > start and widest_next * (i - start + 1) > self.max_elements:
                batches.append(order[start:i])
                start, widest_next = i, int(self.sizes[index])
            widest = widest_next
        if start < len(order):
            batches.append(order[start:])
        return batches

    def batches(self) -> list[np.ndarray]:
        """This rank's batches of the current epoch, from the first."""
        rng = np.random.default_rng([self.seed, self.epoch])
        order = rng.permutation(len(self.sizes)) if self.shuffle else np.arange(len(self.sizes))
        if self.batch_size is not None:
            per_batch = self.batch_size
        else:
            median = int(np.median(self.sizes)) if len(self.sizes) else 1
            per_batch = max(1, self.max_elements // max(1, median))
        span = per_batch * self.bucket_batches
        batches: list[np.ndarray] = []
        for start in range(0, len(order), span):
            bucket = order[start : start + span]
            bucket = bucket[np.argsort(self.sizes[bucket], kind="stable")]
            batches += self._cut(bucket)
        if self.shuffle:
            batches = [batches[i] for i in rng.permutation(len(batches))]
        per_rank = len(batches) // self.world_size
        return batches[self.rank : per_rank * self.world_size : self.world_size]

    def __iter__(self) -> Iterator[list[int]]:
        for batch in self.batches()[self.start_batch :]:
            yield batch.tolist()

    def __len__(self) -> int:
        return max(0, len(self.batches()) - self.start_batch)
