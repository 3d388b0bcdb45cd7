"""The train stage's machinery: accelerator layer, distributed set-up, checkpoints, loop."""
