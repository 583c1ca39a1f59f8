"""Does STDP fine-tuning help?  Validation and test accuracy before and after, digits and Fashion-MNIST.

    python benchmarks/stdp_finetune.py [--digits-run DIR] [--fashion-run DIR] [--datasets digits fashion-mnist]

For each dataset a surrogate-gradient run (given, or trained here with
``configs/digits_mlp.yaml`` / the Fashion-MNIST benchmark's settings) is fine-tuned
with ``epochs: 0, stdp_epochs: N, init_from: RUN``, once per variant (STDP alone on
``fc1`` at two learning rates, and mixed with gradient steps on the output layer).
Recorded per variant: validation and test accuracy of the starting weights and of
the weights after the last STDP epoch, and which checkpoint validation selected.
Writes ``benchmarks/results/stdp_finetune.json``.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

from snncli.trainer.config import load_config
from snncli.trainer.train import train

ROOT = Path(__file__).resolve().parents[1]
RESULT = ROOT / "benchmarks" / "results" / "stdp_finetune.json"
VARIANTS = {
    "alone_fc1_lr1e-4": {"stdp_layers": ["fc1"], "stdp_mode": "alone", "stdp_lr": 1e-4},
    "alone_fc1_lr1e-3": {"stdp_layers": ["fc1"], "stdp_mode": "alone", "stdp_lr": 1e-3},
    "mixed_fc1_lr1e-4": {"stdp_layers": ["fc1"], "stdp_mode": "mixed", "stdp_lr": 1e-4, "stdp_grad_lr": 1e-4},
}
STDP_EPOCHS = {"digits": 3, "fashion-mnist": 1}


def _fashion_benchmark():
    """The sibling script (benchmarks/ is not on sys.path when this file runs as a script)."""
    sys.path.insert(0, str(ROOT))
    from benchmarks import train_fashion_mnist

    return train_fashion_mnist


def base_config(dataset: str):
    if dataset == "digits":
        return load_config(ROOT / "configs" / "digits_mlp.yaml")
    return load_config(None, _fashion_benchmark().CONFIG)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--digits-run", help="a trained digits run to start from (default: train one)")
    parser.add_argument("--fashion-run", help="a trained Fashion-MNIST run to start from (default: train one)")
    parser.add_argument("--datasets", nargs="+", default=["digits", "fashion-mnist"])
    parser.add_argument(
        "--variants",
        nargs="+",
        choices=list(VARIANTS),
        default=list(VARIANTS),
        help="which fine-tunings (one Fashion-MNIST STDP epoch takes ~10-20 min on 2 cores: SpikingJelly's "
        "learner builds a [batch, out, in] tensor per step)",
    )
    args = parser.parse_args()
    results = json.loads(RESULT.read_text()) if RESULT.is_file() else {}
    with tempfile.TemporaryDirectory() as tmp:
        for dataset in args.datasets:
            base = getattr(args, "digits_run" if dataset == "digits" else "fashion_run")
            if base is None:
                base = str(Path(tmp) / f"{dataset}-base")
                train(base_config(dataset), base, progress=False)
            source = load_config(Path(base) / "config.yaml")
            rows = {}
            for name in args.variants:
                variant = VARIANTS[name]
                cfg = load_config(
                    None, {"init_from": base, "epochs": 0, "stdp_epochs": STDP_EPOCHS[dataset], **variant}, base=source
                )
                t0 = time.perf_counter()
                summary = train(cfg, Path(tmp) / f"{dataset}-{name}", progress=False)
                stdp = summary["stdp"]
                rows[name] = {
                    "settings": variant,
                    "stdp_epochs": cfg.stdp_epochs,
                    "val_before": stdp["before"]["val_acc"],
                    "val_after": stdp["after"]["val_acc"],
                    "test_before": stdp["before"]["test_acc"],
                    "test_after": stdp["after"]["test_acc"],
                    "selected": summary["selection"],
                    "selected_test": summary["test_accuracy"],
                    "seconds": round(time.perf_counter() - t0, 1),
                }
                print(json.dumps({dataset: {name: rows[name]}}), flush=True)
                results[dataset] = {
                    "base_run_config": source.to_dict(),
                    "variants": rows,
                    "command": " ".join(["python", *sys.argv]),
                    "machine": _fashion_benchmark().machine(),
                }
                RESULT.parent.mkdir(parents=True, exist_ok=True)
                RESULT.write_text(
                    json.dumps(results, indent=1) + "\n"
                )  # after every variant: long runs keep what they measured


if __name__ == "__main__":
    main()
