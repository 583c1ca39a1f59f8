"""``snncli convert``: ANN-to-SNN conversion (SpikingJelly's ann2snn), written as an ordinary run."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class ConvertRequest:
    run_dir: str
    config: str | None = None  # YAML file
    overrides: dict = field(default_factory=dict)  # config key -> value given by a flag (None: not given)
    set_items: tuple[str, ...] = ()
    ann: str | None = None  # ann.pt of an earlier conversion: skip the ANN training
    progress: bool = True


@dataclass
class ConvertResult:
    summary: dict
    model: str

    def to_json(self) -> dict:
        return {"command": "convert", "accuracy": self.summary.get("test_accuracy"), **self.summary}


def convert(req: ConvertRequest) -> ConvertResult:
    from snncli.trainer.config import load_config, parse_set_items
    from snncli.trainer.convert import convert as run_conversion

    overrides = {k: v for k, v in req.overrides.items() if v is not None}
    overrides.update(parse_set_items(list(req.set_items)))
    cfg = load_config(req.config, overrides)
    return ConvertResult(run_conversion(cfg, req.run_dir, ann_checkpoint=req.ann, progress=req.progress), cfg.model)
