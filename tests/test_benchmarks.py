"""The benchmark suite's pieces: peers compute the same thing, the README table regenerates between its markers.

No timing is asserted here (speed goals live in benchmarks/results as ratios)."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks import density, op_counts, readme, training  # noqa: E402


@pytest.mark.parametrize("network", ["mlp", "cnn"])
def test_density_peers_emit_the_same_spikes(network):
    """hwsim, the plain torch forward and Sinabs run the same equations (the Program's spike rule);
    SpikingJelly too where the rule fires once per step (the mlp). snnTorch's Leaky subtracts one step
    late (its own semantics), so its count is only recorded."""
    pytest.importorskip("sinabs")
    peers = density.Peers(network, samples=3)
    x = density.bernoulli((6, 3, *peers.shape), 0.05)
    spikes = {name: getattr(peers, name)(x) for name in ("hwsim", *density.FRAMEWORKS)}
    assert spikes["hwsim"] > 0 and spikes["hwsim"] == spikes["sinabs"] == spikes["torch"], spikes
    if network == "mlp":
        assert spikes["spikingjelly"] == spikes["hwsim"], spikes


def test_training_peers_take_a_step():
    x, y = training._data(1)
    for name, make in training.FRAMEWORKS.items():
        out = make()(x[0], y[0])
        loss = out[0] if isinstance(out, tuple) else out
        assert np.isfinite(float(loss)), name


def test_operation_counts_agree_with_neurobench_and_op_counter():
    result = op_counts.run(quick=True)
    assert result["all_equal"]
    assert result["analog"]["per_sample"]["hwsim"]["MACs"] > 0 and result["spikes"]["per_sample"]["hwsim"]["ACs"] > 0


def _suite() -> dict:
    return {
        "command": "python -m benchmarks --quick",
        "started": "2026-12-04T17:00:00",
        "wall_seconds": 200.0,
        "cpu_seconds": 150.0,
        "machine": {"cpu": "Some CPU", "cpus": 2, "load_average_at_start": [1.5, 1, 1]},
        "errors": {},
        "results": {
            "training": {
                "network": "64-500-10",
                "samples_per_s": {"snncli": 500, "snntorch": 200, "spikingjelly": 480},
                "ratio_snncli_over_snntorch": 2.5,
                "ratio_snncli_over_spikingjelly": 1.04,
            },
            "lava": {
                "samples": 10,
                "steps": 10,
                "speedup_hwsim_over_lava": 150.0,
                "identical_spikes_every_layer_every_step": True,
            },
            "op_counts": {"all_equal": True},
            "accuracy": {
                "targets": ["float", "loihi"],
                "test_samples": "the first 200",
                "datasets": {
                    "digits": {
                        "mlp": {
                            "float_test_accuracy": 0.95,
                            "targets": {
                                "float": {"accuracy_hwsim": 0.95, "vendor_identical_spikes": None},
                                "loihi": {"accuracy_hwsim": 0.94, "vendor_identical_spikes": True},
                            },
                        },
                        "spikformer": {
                            "float_test_accuracy": 0.5,
                            "targets": {"float": {"refused": "x"}, "loihi": {"refused": "x"}},
                        },
                    }
                },
            },
        },
    }


def test_readme_table_is_regenerated_between_the_markers(tmp_path):
    text = readme.table(_suite(), "benchmarks/results/suite_quick.json")
    for expected in (
        "2.5x (500 vs 200; wall clock n/a)",
        "150x (wall clock n/a; spikes identical)",
        "| digits | mlp | 95.0 % | 95.0 % | 94.0 % = |",
        "| digits | spikformer | 50.0 % | refused | refused |",
        "benchmarks/results/suite_quick.json",
    ):
        assert expected in text
    path = tmp_path / "README.md"
    path.write_text(f"# title\n\nbefore\n{readme.BEGIN}\nold table\n{readme.END}\nafter\n")
    readme.update_readme(path, text)
    content = path.read_text()
    assert "old table" not in content and text in content
    assert content.startswith("# title\n\nbefore\n") and content.endswith(f"{readme.END}\nafter\n")
    readme.update_readme(path, text)
    assert path.read_text() == content  # idempotent


def test_a_quick_table_also_shows_the_goals_of_the_full_density_run():
    full = {
        "acceptance": {
            "cnn_0.1pct_ge_3x": {"min_speedup_1_thread": 3.77, "all": {"sinabs": 3.92, "torch": 3.77}},
            "lava_per_sample_after_first_ge_100x": {"speedup": 202.8},
        }
    }
    quick = {**_suite(), "quick": True}
    text = readme.table(quick, "benchmarks/results/suite_quick.json", full)
    assert "full density run" in text and "| hwsim / 1-thread torch frameworks, cnn, 0.1 % input" in text
    assert "3.77x (Sinabs 3.92x, plain torch 3.77x) | >= 3x |" in text and "| 202.8x | >= 100x |" in text
    assert "few epochs only" in text
    full_suite = readme.table({**_suite(), "quick": False}, "benchmarks/results/suite.json", full)
    assert "full density run" not in full_suite and "few epochs only" not in full_suite


def test_readme_without_markers_is_refused(tmp_path):
    path = tmp_path / "README.md"
    path.write_text("# no markers\n")
    with pytest.raises(SystemExit, match="no benchmark markers"):
        readme.update_readme(path, "table")


def test_the_repository_readme_has_the_markers():
    content = (ROOT / "README.md").read_text()
    assert content.count(readme.BEGIN) == 1 and content.count(readme.END) == 1


def test_suite_command_line():
    out = subprocess.run([sys.executable, "-m", "benchmarks", "--help"], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0 and "--quick" in out.stdout and "op_counts" in out.stdout
