"""Datasets and input encoders, shared by the trainer and the simulator's CLI."""

from snncli.data.datasets import EVENT_DATASETS, Dataset, list_datasets, load_dataset
from snncli.data.encoders import ENCODERS, encoder_is_binary, make_encoder

__all__ = ["Dataset", "EVENT_DATASETS", "ENCODERS", "encoder_is_binary", "list_datasets", "load_dataset", "make_encoder"]
