"""``snncli train``: settings from defaults < config file < flags, then the trainer.

Fine-tuning (``init_from``) keeps the source run's settings unless flags say
otherwise; ``--resume`` continues a run with its own settings.  Under ``torchrun``
every rank trains; the CLI reports from rank 0.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class TrainRequest:
    run_dir: str
    config: str | None = None  # YAML file
    overrides: dict = field(default_factory=dict)  # config key -> value given by a flag (None: not given)
    set_items: tuple[str, ...] = ()  # KEY=VALUE strings (YAML values)
    resume: bool = False
    progress: bool = True


@dataclass
class TrainResult:
    summary: dict
    model: str
    dataset: str

    @property
    def accuracy(self) -> float:
        return self.summary.get("test_accuracy", self.summary.get("best_test_acc"))

    def to_json(self) -> dict:
        return {"command": "train", "accuracy": self.accuracy, **self.summary}


def train(req: TrainRequest):
    """Resolve the settings (a resumed run keeps its own; ``init_from`` starts from the source run's)
    and train; ``--set`` values are checked like a config file (no YAML tags or aliases)."""
    from snncli.trainer.config import parse_set_items, resolve_config
    from snncli.trainer.train import train as run_training

    overrides = {k: v for k, v in req.overrides.items() if v is not None}
    overrides.update(parse_set_items(list(req.set_items)))
    cfg = resolve_config(req.run_dir, req.config, overrides, resume=req.resume)
    return TrainResult(run_training(cfg, req.run_dir, resume=req.resume, progress=req.progress), cfg.model, cfg.dataset)
