"""Machine-learned particle flow: per-element classification and regression over the tracks
and calorimeter clusters (or hits) of an event, with encoders linear in the element count
(`gnn_lsh`, `kernel_transformer`) and the quadratic softmax reference (`transformer`).
Networks live in `network.py` (torch); `config.py` is torch-free."""
