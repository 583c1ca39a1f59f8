"""snncli: train spiking neural networks, export them through NIR, simulate them on chip arithmetic."""

__version__ = "0.1.0"
