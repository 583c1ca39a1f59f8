"""Training of spiking networks (SpikingJelly, surrogate-gradient BPTT); knows nothing of chips or NIR.

cfg = load_config("train.yaml", {"epochs": 5})
summary = train(cfg, "runs/digits")
model, cfg, info = load_trained("runs/digits", "best")
"""

from snncli.trainer.config import TrainConfig, load_config, save_config
from snncli.trainer.models import FiringRates, build_model, predict
from snncli.trainer.train import encoder_from_config, evaluate, load_trained, train

__all__ = [
    "FiringRates",
    "TrainConfig",
    "build_model",
    "encoder_from_config",
    "evaluate",
    "load_config",
    "load_trained",
    "predict",
    "save_config",
    "train",
]
