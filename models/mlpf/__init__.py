"""Machine-learned particle flow: per-element classification and regression over the tracks
and calorimeter clusters (or hits) of an event, with encoders linear in the element count
(`gnn_lsh`, `kernel_transformer`) and the quadratic softmax reference (`transformer`)."""

from ..registry import register_model
from .config import GNNLSHConfig, KernelTransformerConfig, TransformerConfig
from .network import MLPF

register_model("gnn_lsh", GNNLSHConfig, MLPF)
register_model("kernel_transformer", KernelTransformerConfig, MLPF)
register_model("transformer", TransformerConfig, MLPF)

__all__ = ["MLPF", "GNNLSHConfig", "KernelTransformerConfig", "TransformerConfig"]
