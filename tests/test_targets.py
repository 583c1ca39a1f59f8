"""The Target interface: a target defined here, in the test, registers itself and works through
export, simulate and parity without touching any other file; Program files name their models."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import numpy as np
import pytest

from snncli.cli import main
from snncli.core.program import Dense, Layer, Program
from snncli.hwsim.simulate import Simulator
from snncli.targets import TARGETS, Target, register
from snncli.targets.float.lowering import lower_float

TINY = ["--epochs", "2", "--set", "limit_test=40", "--hidden", "32", "--no-progress"]


@dataclass(frozen=True)
class ToyOptions:
    grid: int = field(default=16, metadata={"help": "weights are rounded to multiples of 1/grid"})


class ToyTarget(Target):
    """A 'chip' whose synapses hold weights on a 1/grid lattice; its vendor simulator is a plain loop."""

    name = "toy"
    summary = "a test chip: float neurons, weights on a 1/grid lattice"
    artifact = "the Program (.npz) and a .grid file"
    Options = ToyOptions
    quantized = True

    def lower(self, graph, dt, reading, options, calibration=None) -> Program:
        program = lower_float(graph, dt, reading, self.name)
        layers = [Layer(ly.name, Dense(np.round(ly.op.weight * options.grid) / options.grid, ly.op.bias),
                        ly.in_shape, ly.out_shape, ly.inputs, ly.delayed_inputs) if ly.kind == "dense" else ly
                  for ly in program.layers]  # fmt: skip
        program = program.with_layers(layers)
        program.notes = {"grid": options.grid}
        return program

    def write(self, program, graph, path) -> list[str]:
        program.save(path)
        with open(path + ".grid", "w") as f:
            f.write(str(program.notes["grid"]))
        return [path, path + ".grid"]

    def reference(self, program, x, progress=None):
        """Step by step in plain numpy: dense layers and the float_lif neurons."""
        from snncli.targets.float.neuron import init, step

        values, states, spikes = {}, {}, {ly.name: [] for ly in program.neuron_layers}
        for t in range(x.shape[0]):
            for ly in program.layers:
                if ly.kind == "input":
                    out = x[t].reshape(x.shape[1], -1)
                elif ly.kind == "dense":
                    out = values[ly.inputs[0]].reshape(x.shape[1], -1) @ ly.op.weight.T + ly.op.bias
                elif ly.kind == "neuron":
                    state = states.get(ly.name) or init(ly.out_shape, x.shape[1], ly.neuron)
                    states[ly.name], out = step(state, values[ly.inputs[0]], ly.neuron)
                    spikes[ly.name].append(out)
                else:
                    out = values[ly.inputs[0]]
                values[ly.name] = out
        return {name: np.stack(s) for name, s in spikes.items()}


@pytest.fixture
def toy():
    register(ToyTarget)
    yield TARGETS["toy"]
    del TARGETS["toy"]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("toy")
    assert main(["train", "--run-dir", str(root / "run"), *TINY]) == 0
    return root / "run"


def test_a_target_defined_here_works_through_export_simulate_and_parity(toy, run_dir, tmp_path, capsys):
    assert main(["export", str(run_dir), "--target", "toy", "-o", str(tmp_path / "t.npz"), "--grid", "8"]) == 0
    assert (tmp_path / "t.npz.grid").read_text() == "8"
    program = Program.load(tmp_path / "t.npz")
    assert program.target == "toy" and program.notes["grid"] == 8
    assert all(np.array_equal(ly.op.weight * 8, np.round(ly.op.weight * 8)) for ly in program.of_kind("dense"))
    assert main(["simulate", str(tmp_path / "t.npz"), "--limit", "100", "--json", str(tmp_path / "s.json")]) == 0
    sim = json.loads((tmp_path / "s.json").read_text())
    assert sim["target"] == "toy" and sim["samples"] == 100 and sim["accuracy"] > 0.5
    assert main(["parity", str(run_dir), "--target", "toy", "--grid", "64", "--reference-limit", "6",
                 "--json", str(tmp_path / "p.json")]) in (0, 1)  # fmt: skip
    parity = json.loads((tmp_path / "p.json").read_text())
    assert parity["target"] == "toy" and parity["reference"]["samples"] == 6
    assert parity["reference"]["identical_spikes"]  # the plain loop and hwsim agree on every spike
    assert "toy" in capsys.readouterr().out


def test_an_option_of_another_target_is_refused(toy, run_dir, tmp_path, capsys):
    code = main(["export", str(run_dir), "--target", "float", "-o", str(tmp_path / "f.npz"), "--grid", "8"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "--grid applies to target toy, not to float" in err
    assert not (tmp_path / "f.npz").exists()


def test_a_program_naming_an_unknown_neuron_model_is_one_line(run_dir, tmp_path, capsys):
    assert main(["export", str(run_dir), "--target", "float", "-o", str(tmp_path / "p.npz")]) == 0
    data = dict(np.load(tmp_path / "p.npz"))
    header = json.loads(bytes(data["__header__"]).decode())
    neuron = next(ly for ly in header["layers"] if ly["op"] == "neuron")
    neuron["params"]["params"]["__neuron__"] = "quantum_lif"
    data["__header__"] = np.frombuffer(json.dumps(header).encode(), dtype=np.uint8)
    np.savez(tmp_path / "bad.npz", **data)
    np.save(tmp_path / "x.npy", np.zeros((4, 2, 1, 8, 8)))
    capsys.readouterr()
    code = main(["simulate", str(tmp_path / "bad.npz"), "--input", str(tmp_path / "x.npy")])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "Traceback" not in err
    assert "no neuron model 'quantum_lif'" in err and "float_lif" in err


def test_hwsim_runs_a_program_the_same_after_a_file_round_trip(run_dir, tmp_path):
    assert main(["export", str(run_dir), "--target", "loihi", "-o", str(tmp_path / "n.h5")]) == 0
    program = Program.load(tmp_path / "n.h5.program.npz")
    x = (np.random.default_rng(0).random((8 + program.latency_steps, 5, 1, 8, 8)) < 0.5).astype(float)
    a = Simulator(program).run(x, record=True).records
    program.save(tmp_path / "again.npz")
    b = Simulator(Program.load(tmp_path / "again.npz")).run(x, record=True).records
    assert a.keys() == b.keys() and all(np.array_equal(a[k]["out"], b[k]["out"]) for k in a)


@pytest.mark.parametrize("target", ["float", "loihi", "speck"])
def test_a_program_loads_and_runs_in_a_fresh_process_that_imported_no_target(target, tmp_path):
    """Program.load finds the neuron models of the installed targets (entry points ``snncli.targets``):
    a library user who imports only the core and hwsim gets the same spikes as this process."""
    import subprocess
    import sys

    from nets import cnn, lower

    graph = cnn(shape=(2, 16, 16))
    graph.metadata = {"snncli": {"encoder": "frames"}}  # Speck's input: event frames
    program = lower(graph, target)
    path = tmp_path / "p.npz"
    program.save(path)
    x = (np.random.default_rng(1).random((6 + program.latency_steps, 3, 2, 16, 16)) < 0.4).astype(float)
    np.save(tmp_path / "x.npy", x)
    expected = Simulator(program).run(x).outputs
    assert expected.sum() > 0  # spikes to compare
    code = (
        "import sys, numpy as np\n"
        "from snncli.core.program import Program\n"
        "from snncli.hwsim.simulate import Simulator\n"
        "assert not any(m.startswith('snncli.targets') for m in sys.modules)\n"
        f"out = Simulator(Program.load({str(path)!r})).run(np.load({str(tmp_path / 'x.npy')!r})).outputs\n"
        f"np.save({str(tmp_path / 'out.npy')!r}, out)\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    np.testing.assert_array_equal(np.load(tmp_path / "out.npy"), expected)
