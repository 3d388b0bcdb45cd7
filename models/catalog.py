"""The registered model kinds (importing this module imports no torch)."""

from .autoencoder.config import ConvAutoencoderConfig
from .mlpf.config import GNNLSHConfig, KernelTransformerConfig, TransformerConfig
from .pet.config import PETConfig
from .registry import register_model

register_model("gnn_lsh", GNNLSHConfig, "models.mlpf.network:MLPF")
register_model("kernel_transformer", KernelTransformerConfig, "models.mlpf.network:MLPF")
register_model("transformer", TransformerConfig, "models.mlpf.network:MLPF")
register_model("conv_autoencoder", ConvAutoencoderConfig, "models.autoencoder.network:ConvAutoencoder")
register_model("pet", PETConfig, "models.pet.network:PET")
