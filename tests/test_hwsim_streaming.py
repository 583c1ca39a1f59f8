"""Streaming: a dataset encoded and simulated batch by batch gives what the whole split gave, and records stay small.

* ``encode_batches`` yields exactly ``encode_split``'s values (Poisson draws in the same order, kept as bits);
* ``simulate --dataset`` (the library call) equals hwsim on the whole encoded split: accuracy, counters;
* ``--record`` writes spikes as bool and the states in the target's width (float64 for float, int32 for Loihi).
"""

from __future__ import annotations

import numpy as np
import pytest
from nets import lower, lower_loihi, mlp

from snncli.commands.simulate import SimulateRequest, simulate
from snncli.data import encode_batches, encode_split, load_dataset
from snncli.hwsim.simulate import Simulator, output_window, pad_for_latency


@pytest.mark.parametrize("encoder,options", [("poisson", {}), ("poisson", {"max_rate": 0.5}), ("direct", {}),
                                             ("latency", {})])  # fmt: skip
def test_encode_batches_equals_encode_split(encoder, options):
    data = load_dataset("digits")
    whole, labels = encode_split(data, "test", encoder, 6, options, limit=70, seed=3)
    batches, streamed = encode_batches(data, "test", encoder, 6, options, limit=70, seed=3, batch_size=16)
    parts = list(batches)
    assert [p.shape[1] for p in parts] == [16, 16, 16, 16, 6]
    np.testing.assert_array_equal(np.concatenate(parts, axis=1), whole)
    np.testing.assert_array_equal(streamed, labels)
    if encoder == "poisson":
        assert 0 < whole.mean() < 1  # the draws are there, not all zero or one


def _digits_program(tmp_path, target="float"):
    graph = mlp(seed=5, encoder="poisson")
    graph.metadata["snncli"].update(dataset="digits", time_steps=8)
    program = lower(graph) if target == "float" else lower_loihi(graph)
    assert program.source.dataset == "digits" and program.source.time_steps == 8
    path = tmp_path / f"{target}.npz"
    program.save(path)
    return program, str(path)


def test_simulate_dataset_streams_what_the_whole_split_gives(tmp_path):
    program, path = _digits_program(tmp_path)
    got = simulate(SimulateRequest(path, dataset="digits", limit=90, batch_size=32))
    x, y = encode_split(load_dataset("digits"), "test", "poisson", 8, {}, limit=90, seed=0)
    whole = Simulator(program).run(pad_for_latency(program, x))
    assert got.samples == 90 and got.steps == whole.steps
    assert got.accuracy == pytest.approx(float(np.mean(whole.predictions(output_window(program, 8)) == y)))
    assert got.layers == whole.layers()
    assert got.totals["spikes"] > 0


@pytest.mark.parametrize("target,state", [("float", np.float64), ("loihi", np.int32)])
def test_record_keeps_spikes_as_bool_and_states_in_the_targets_width(tmp_path, target, state):
    program, path = _digits_program(tmp_path, target)
    out = tmp_path / "rec.npz"
    simulate(SimulateRequest(path, dataset="digits", limit=20, record=str(out)))
    x, _ = encode_split(load_dataset("digits"), "test", "poisson", 8, {}, limit=20, seed=0)
    ref = Simulator(program).run(pad_for_latency(program, x), record=True).records
    with np.load(out) as rec:
        for layer in program.neuron_layers:
            assert rec[f"{layer.name}/out"].dtype == np.bool_, layer.name
            np.testing.assert_array_equal(rec[f"{layer.name}/out"], ref[layer.name]["out"])
            assert rec[f"{layer.name}/v"].dtype == state
            np.testing.assert_array_equal(rec[f"{layer.name}/v"], ref[layer.name]["v"])
        assert rec["input/out"].dtype.itemsize == 1  # binary input: one byte per value, not eight


def test_record_file_widens_a_later_batch_and_writes_nothing_on_error(tmp_path):
    from snncli.commands.simulate import RecordFile

    parts = [np.array([[[0, 1]], [[1, 0]]], dtype=bool), np.array([[[3, -2]], [[0, 1]]], dtype=np.int64),
             np.array([[[0.5, 1.0]], [[2.0, 0.0]]])]  # fmt: skip
    path = tmp_path / "rec.npz"
    with RecordFile(str(path), samples=3) as sink:
        for part in parts:
            sink({"lif": {"out": part}, "fc": {"out": part.astype(np.float64) * 2}})
    with np.load(path) as rec:
        assert sorted(rec.files) == ["fc/out", "lif/out"]
        np.testing.assert_array_equal(rec["lif/out"], np.concatenate(parts, axis=1))
        assert rec["lif/out"].dtype == np.float64  # bool -> int8 -> float64 as the batches needed
    broken = tmp_path / "broken.npz"
    with pytest.raises(RuntimeError), RecordFile(str(broken), samples=3) as sink:
        sink({"lif": {"out": parts[0]}})
        raise RuntimeError("interrupted")
    assert not broken.exists() and not [p for p in tmp_path.iterdir() if p.name.startswith(".tmp")]
