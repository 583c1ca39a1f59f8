"""Bad input through the CLI, by class: every case is exit code 2 with one line on stderr, no
traceback, and no output or temporary file left behind.  Cases are generated per class
(numeric ranges, paths, Program and NIR files, physics that contradicts a recording, ...);
the training configuration's own cases live in tests/test_trainer_hardening.py."""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import zipfile
from pathlib import Path

import h5py
import nir
import numpy as np
import pytest
from nets import mlp

from snncli.cli import main
from snncli.nirgraph import write_nir

CASES: list[tuple[str, list[str], str]] = []  # (id, argv with {placeholders}, a word the message must hold)


def case(name: str, argv: str, word: str = "") -> None:
    CASES.append((name, argv.split(), word))


# ---------------------------------------------------------------- numeric options, every command
NUMERIC = {
    "simulate {nir} --input {x}": {
        "--limit": ["0", "-1", "1.5", "abc", "nan"],
        "--batch-size": ["0", "-3", "x"],
        "--seed": ["-1", "abc"],
        "--time-steps": ["0", "-2", "2.5"],
        "--dt": ["0", "-1e-4", "nan", "inf", "abc", "1e999"],
    },
    "parity {run}": {
        "--limit": ["0", "-5"],
        "--reference-limit": ["-1", "abc"],
        "--seed": ["-1"],
        "--tolerance": ["-1", "nan", "inf", "abc"],
        "--dt": ["0", "nan", "-1"],
    },
    "export {run} --target nir -o {out}/m.nir": {"--dt": ["0", "-1e-4", "nan", "inf", "abc"]},
}
for command, options in NUMERIC.items():
    for flag, values in options.items():
        for value in values:
            case(f"{command.split()[0]}{flag}={value}", f"{command} {flag} {value}", flag)

CHOICES = {
    "simulate {nir} --input {x} --target": "bogus", "simulate {nir} --input {x} --reading": "bogus",
    "export {run} -o {out}/m.nir --target": "bogus", "export {run} --target nir -o {out}/m.nir --checkpoint": "middle",
    "parity {run} --target": "bogus", "parity {run} --checkpoint": "middle",
    "export {run} --target loihi -o {out}/n.h5 --preset": "fast",
}  # fmt: skip
for prefix, value in CHOICES.items():
    case(f"choice:{prefix.split()[0]}{prefix.split()[-1]}", f"{prefix} {value}", "invalid choice")
for command in (
    "simulate {nir}",
    "export {run} --target nir -o {out}/m.nir",
    "parity {run}",
    "report {sim}",
    "train --run-dir {out}/t",
):
    case(f"{command.split()[0]}:unknown-flag", f"{command} --frobnicate 3", "unrecognized arguments")
case("no-command-args:export", "export", "required")

# ---------------------------------------------------------------- paths
PATH_CASES = [
    ("simulate:missing", "simulate {out}/nope.nir --input {x}", "not found"),
    ("simulate:folder", "simulate {out} --input {x}", "folder"),
    ("simulate:empty-file", "simulate {empty} --input {x}", "neither"),
    ("simulate:garbage", "simulate {garbage} --input {x}", "neither"),
    ("simulate:json-file", "simulate {sim} --input {x}", "neither"),
    ("simulate:truncated-nir", "simulate {truncated_nir} --input {x}", "cannot read"),
    ("simulate:hdf5-not-nir", "simulate {hdf5} --input {x}", "not a NIR graph"),
    ("simulate:netx-file", "simulate {netx} --input {x}", ".program.npz"),
    ("simulate:truncated-program", "simulate {truncated_program} --input {x}", "not a readable snncli Program"),
    ("simulate:random-zip", "simulate {random_zip} --input {x}", "Program"),
    ("input:missing", "simulate {nir} --input {out}/nope.npy", "not found"),
    ("input:folder", "simulate {nir} --input {out}", "folder"),
    ("input:npz", "simulate {nir} --input {npz}", ".npz"),
    ("input:empty", "simulate {nir} --input {empty_array}", "no data"),
    ("input:1d", "simulate {nir} --input {x1d}", "expects [time, batch"),
    ("input:wrong-shape", "simulate {nir} --input {xwrong}", "expects [time, batch"),
    ("input:object", "simulate {nir} --input {xobject}", "not a readable .npy"),
    ("input:strings", "simulate {nir} --input {xstr}", "numeric"),
    ("input:nan", "simulate {nir} --input {xnan}", "NaN"),
    ("input:inf", "simulate {nir} --input {xinf}", "NaN or infinite"),
    ("input:text", "simulate {nir} --input {garbage}", "not a readable .npy"),
    ("input:truncated", "simulate {nir} --input {xtrunc}", "not a readable .npy"),
    ("input:and-dataset", "simulate {nir} --input {x} --dataset digits", "not allowed"),
    ("record:missing-folder", "simulate {nir} --input {x} --record {out}/no/dir/r.npz", "does not exist"),
    ("record:is-folder", "simulate {nir} --input {x} --record {out}", "folder"),
    ("json:missing-folder", "simulate {nir} --input {x} --json {out}/no/dir/s.json", "does not exist"),
    ("json:is-folder", "simulate {nir} --input {x} --json {out}", "folder"),
    ("dataset:unknown", "simulate {nir} --dataset bogus", "unknown dataset"),
    ("dataset:none-recorded", "simulate {nir}", "--dataset"),
    ("export:missing-source", "export {out}/nope --target nir -o {out}/m.nir", "not found"),
    ("export:garbage-source", "export {garbage} --target nir -o {out}/m.nir", "neither"),
    ("export:program-source", "export {program} --target nir -o {out}/m.nir", "lowered Program"),
    ("export:out-missing-folder", "export {run} --target nir -o {out}/no/m.nir", "does not exist"),
    ("export:out-is-folder", "export {run} --target nir -o {out}", "folder"),
    ("export:out-is-folder-loihi", "export {run} --target loihi -o {out}", "folder"),
    ("export:out-is-folder-float", "export {run} --target float -o {out}", "folder"),
    ("export:json-missing-folder", "export {run} --target nir -o {out}/m.nir --json {out}/x/e.json", "does not exist"),
    ("export:run-without-config", "export {norun} --target nir -o {out}/m.nir", "not a training run"),
    ("export:reading-for-a-run", "export {run} --target nir -o {out}/m.nir --reading sinabs", "apply to .nir"),
    ("parity:missing-run", "parity {out}/nope", "not found"),
    ("parity:file-as-run", "parity {garbage}", "not found"),
    ("parity:no-config", "parity {norun}", "not a training run"),
    ("parity:no-checkpoint", "parity {nockpt}", "checkpoint"),
    ("parity:corrupt-checkpoint", "parity {badckpt}", "checkpoint"),
    ("parity:json-folder", "parity {run} --json {out}", "folder"),
    ("report:missing", "report {out}/nope.json -o {out}/r", "not found"),
    ("report:not-json", "report {garbage} -o {out}/r", "not valid JSON"),
    ("report:json-list", "report {jsonlist} -o {out}/r", "not a simulation result"),
    ("report:no-layers", "report {jsonempty} -o {out}/r", "lacks"),
    ("report:folder", "report {out} -o {out}/r", "training run"),
    ("report:profile", "report {sim} -o {out}/r --profile bogus", "profile"),
    ("report:output-is-a-file", "report {sim} -o {garbage}", "is a file, not a folder"),
    ("report:output-under-a-file", "report {sim} -o {garbage}/r", "is a file, not a folder"),
    ("train:config-missing", "train --run-dir {out}/t --config {out}/nope.yaml", "config"),
    ("train:config-folder", "train --run-dir {out}/t --config {out}", "config"),
    ("train:init-from-missing", "train --run-dir {out}/t --init-from {out}/nope", "init_from"),
    ("train:resume-run-is-file", "train --run-dir {garbage} --resume", "run"),
]
for name, argv, word in PATH_CASES:
    case(name, argv, word)

# ---------------------------------------------------------------- Program files
PROGRAM_CASES = {
    "nan-weight": "contains NaN", "unknown-op": "op 'fancy'", "unknown-model": "no neuron model 'quantum_lif'",
    "unknown-key": "unknown key 'colour'", "missing-array": "missing from the file", "old-version": "format version",
    "not-a-program": "not an snncli Program", "header-not-json": "not a readable snncli Program",
    "weight-3d": "2 dimensions", "bias-shape": "bias has shape", "huge": "GiB", "missing-field": "weight",
    "bad-reset": "float_lif reset", "read-unknown-layer": "which the program does not have",
}  # fmt: skip
for name, word in PROGRAM_CASES.items():
    case(f"program:{name}", f"simulate {{program_{name}}} --input {{x}}", word)

# ---------------------------------------------------------------- NIR files
NIR_CASES = {
    "unknown-node": "type 'Delay'", "nested": "nested NIRGraph", "nan": "NaN or inf", "tau-zero": "time constants",
    "weight-rank": "2-D", "edge-to-missing": "which is not in the graph", "duplicate-edge": "appears twice",
    "no-input": "no Input node", "no-output": "no Output node", "unreachable": "not reachable",
    "shape-mismatch": "shape mismatch", "reset-mode": "reset_mode", "bomb": "declares", "padding": "padding",
    "into-input": "Input nodes take no edges", "neuron-shape": "shape mismatch", "bias-shape": "bias has shape",
    "groups": "groups=", "string-param": "not numeric",
}  # fmt: skip
for name, word in NIR_CASES.items():
    case(f"nir:{name}", f"simulate {{nir_{name}}} --input {{x}}", word)

# ---------------------------------------------------------------- physics that contradicts a recording
case("physics:dt-vs-graph", "simulate {nir_dt} --input {x} --dt 1e-4", "--override-dt")
case("physics:dt-vs-program", "simulate {program} --input {x} --dt 1e-3", "cannot change it")
case("physics:reading-vs-program", "simulate {program} --input {x} --reading sinabs", "cannot change it")
case("physics:target-vs-program", "simulate {program} --input {x} --target loihi", "cannot change it")
case("physics:option-for-program", "simulate {program} --input {x} --preset nir-paper", "apply when lowering")
case("physics:option-of-other-target", "simulate {nir} --input {x} --preset nir-paper", "--preset applies to target")
case("physics:encoder-vs-graph", "simulate {run_nir} --encoder poisson --limit 5", "--override-encoder")
case("physics:steps-vs-graph", "simulate {run_nir} --time-steps 3 --limit 5", "--override-time-steps")
case("physics:encoder-unknown", "simulate {run_nir} --encoder bogus --override-encoder --limit 5", "encoder")

# ---------------------------------------------------------------- train options (validated before any work)
TRAIN = {"--epochs": ["0", "-1", "abc"], "--batch-size": ["0", "x"], "--lr": ["nan", "inf", "-1", "0", "abc"],
         "--seed": ["-1"], "--time-steps": ["0"], "--beta": ["0", "1.5", "nan"], "--hidden": ["0", "abc"],
         "--model": ["transformer"], "--neuron": ["hodgkin"], "--qat-bits": ["1", "99"]}  # fmt: skip
for flag, values in TRAIN.items():
    for value in values:
        case(f"train{flag}={value}", f"train --run-dir {{out}}/t {flag} {value}", "")
for item in (
    "hidden=[1,",
    "model=",
    "nosuchkey=1",
    "lr=abc",
    "!!python/object/apply:os.system",
    "=3",
    "epochs=!!python/object/apply:os.system ['true']",
):
    case(f"train:set:{item}", f"train --run-dir {{out}}/t --set {item}", "")


# ---------------------------------------------------------------- fixtures: the files the cases name
@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("bad")
    f: dict[str, Path] = {}
    run = root / "run"
    assert main(["train", "--run-dir", str(run), "--epochs", "1", "--hidden", "16", "--time-steps", "4",
                 "--set", "limit_train=200", "--no-progress"]) == 0  # fmt: skip
    f["run"] = run
    assert main(["export", str(run), "--target", "nir", "-o", str(root / "run.nir")]) == 0
    f["run_nir"] = root / "run.nir"
    graph = mlp(seed=1, shape=(3,), hidden=4, classes=2)
    f["nir"] = _nir(root / "good.nir", graph)
    graph_dt = mlp(seed=1, shape=(3,), hidden=4, classes=2)
    graph_dt.metadata = {"snncli": {"dt": 1e-3}}
    f["nir_dt"] = _nir(root / "dt.nir", graph_dt)
    assert main(["export", str(f["nir"]), "--target", "float", "-o", str(root / "good.npz")]) == 0
    f["program"] = root / "good.npz"
    assert main(["export", str(f["nir"]), "--target", "loihi", "-o", str(root / "net.h5")]) == 0
    f["netx"] = root / "net.h5"
    x = (np.random.default_rng(0).random((4, 2, 3)) < 0.5).astype(float)
    for key, value in {"x": x, "x1d": np.zeros(5), "xwrong": np.zeros((4, 2, 5)), "empty_array": np.zeros((0, 2, 3)),
                       "xstr": np.full((4, 2, 3), "a"), "xnan": np.where(x > 0, np.nan, 0.0),
                       "xinf": np.where(x > 0, np.inf, 0.0)}.items():  # fmt: skip
        np.save(root / f"{key}.npy", value)
        f[key] = root / f"{key}.npy"
    np.save(root / "xobject.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    f["xobject"] = root / "xobject.npy"
    (root / "xtrunc.npy").write_bytes((root / "x.npy").read_bytes()[:100])
    f["xtrunc"] = root / "xtrunc.npy"
    np.savez(root / "arrays.npz", x=x)
    f["npz"] = root / "arrays.npz"
    f["empty"] = _write(root / "empty.nir", b"")
    f["garbage"] = _write(root / "garbage.bin", b"\x00\xffnot a file snncli knows" * 50)
    f["truncated_nir"] = _write(root / "trunc.nir", f["nir"].read_bytes()[:600])
    f["truncated_program"] = _write(root / "trunc.npz", f["program"].read_bytes()[:700])
    with zipfile.ZipFile(root / "random.zip", "w") as z:
        z.writestr("hello.txt", "hi")
    f["random_zip"] = root / "random.zip"
    with h5py.File(root / "plain.h5", "w") as h5:
        h5["data"] = np.arange(3)
    f["hdf5"] = root / "plain.h5"
    sim = root / "sim.json"
    assert main(["simulate", str(f["nir"]), "--input", str(f["x"]), "--json", str(sim)]) == 0
    f["sim"] = sim
    f["jsonlist"] = _write(root / "list.json", b"[1, 2]")
    f["jsonempty"] = _write(root / "empty.json", b"{}")
    (root / "norun").mkdir()
    f["norun"] = root / "norun"
    for name, content in (("nockpt", None), ("badckpt", b"not a torch file")):
        d = root / name
        (d / "checkpoints").mkdir(parents=True)
        (d / "config.yaml").write_text((run / "config.yaml").read_text())
        if content is not None:
            (d / "checkpoints" / "best.pt").write_bytes(content)
        f[name] = d
    for name in PROGRAM_CASES:
        f[f"program_{name}"] = _bad_program(root, name, f["program"])
    for name in NIR_CASES:
        f[f"nir_{name}"] = _bad_nir(root, name)
    return root, f


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def _nir(path: Path, graph) -> Path:
    write_nir(graph, path)
    return path


def _bad_program(root: Path, name: str, good: Path) -> Path:
    data = dict(np.load(good))
    header = json.loads(bytes(data["__header__"]).decode())
    layers = header["layers"]
    dense = next(ly for ly in layers if ly["op"] == "dense")
    neuron = next(ly for ly in layers if ly["op"] == "neuron")
    key = dense["params"]["weight"]["__array__"]
    if name == "nan-weight":
        data[key] = np.where(data[key] > 0, np.nan, data[key])
    elif name == "unknown-op":
        dense["op"] = "fancy"
    elif name == "unknown-model":
        neuron["params"]["params"]["__neuron__"] = "quantum_lif"
    elif name == "unknown-key":
        dense["params"]["colour"] = "blue"
    elif name == "missing-array":
        del data[key]
    elif name == "old-version":
        header["version"] = 1
    elif name == "not-a-program":
        header["format"] = "something-else"
    elif name == "weight-3d":
        data[key] = data[key][None]
    elif name == "bias-shape":
        dense["params"]["bias"] = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0]
    elif name == "missing-field":
        del dense["params"]["weight"]
    elif name == "bad-reset":
        neuron["params"]["params"]["reset"] = "sideways"
    elif name == "read-unknown-layer":
        dense["inputs"] = ["ghost"]
    path = root / f"program_{name}.npz"
    if name == "header-not-json":
        data["__header__"] = np.frombuffer(b"{not json", dtype=np.uint8)
    else:
        data["__header__"] = np.frombuffer(json.dumps(header).encode(), dtype=np.uint8)
    np.savez(path, **data)
    if name == "huge":  # three entries whose central directory declares ~4 GiB each
        with zipfile.ZipFile(path, "a") as z:
            for i in range(3):
                z.writestr(f"bomb{i}.npy", b"x")
        raw = bytearray(path.read_bytes())
        start = 0
        for _ in range(3):
            central = raw.index(b"PK\x01\x02", start)
            while raw[central + 46 : central + 50] != b"bomb":  # the central record of a bomb entry
                central = raw.index(b"PK\x01\x02", central + 4)
            raw[central + 24 : central + 28] = (0xFFFFFFF0).to_bytes(4, "little")  # uncompressed size
            start = central + 46
        path.write_bytes(bytes(raw))
        with zipfile.ZipFile(path) as z:
            assert sum(i.file_size for i in z.infolist()) > 8 << 30
    return path


def _bad_nir(root: Path, name: str) -> Path:
    path = root / f"nir_{name}.nir"
    g = mlp(seed=1, shape=(3,), hidden=4, classes=2)
    nodes, edges = dict(g.nodes), list(g.edges)
    if name == "bomb":
        with h5py.File(path, "w") as h5:  # nir's layout, with a 20000 x 25000 weight declared but never stored
            node = h5.create_group("node")
            node["type"] = "NIRGraph"
            ns = node.create_group("nodes")
            fc = ns.create_group("fc")
            fc["type"] = "Affine"
            fc.create_dataset("weight", shape=(20000, 25000), dtype="f4")
            fc["bias"] = np.zeros(20000)
            node["edges"] = np.array([["input", "fc"]], dtype="S")
        return path
    if name == "unknown-node":
        nodes["delay"] = nir.Delay(delay=np.ones(4))
        edges += [("lif1", "delay")]
    elif name == "nested":
        nodes["sub"] = nir.NIRGraph(nodes={"i": nir.Input(np.array([4])), "o": nir.Output(np.array([4]))},
                                    edges=[("i", "o")], type_check=False)  # fmt: skip
        edges += [("lif1", "sub")]
    elif name == "nan":
        nodes["fc1"].weight[0, 0] = np.nan
    elif name == "tau-zero":
        nodes["lif1"].tau[0] = 0.0
    elif name == "weight-rank":
        nodes["fc1"].weight = nodes["fc1"].weight[None]
    elif name == "edge-to-missing":
        edges += [("lif1", "ghost")]
    elif name == "duplicate-edge":
        edges += [edges[0]]
    elif name == "no-input":
        nodes.pop("input")
        edges = [e for e in edges if "input" not in e]
    elif name == "no-output":
        nodes.pop("output")
        edges = [e for e in edges if "output" not in e]
    elif name == "unreachable":
        nodes["island"] = nir.Linear(weight=np.ones((2, 2)))
    elif name == "shape-mismatch":
        nodes["fc2"] = nir.Affine(weight=np.ones((2, 5)), bias=np.zeros(2))
    elif name == "reset-mode":
        nodes["lif1"].metadata = {"reset_mode": "sideways"}
    elif name in ("padding", "groups"):
        nodes = {"input": nir.Input(input_type=np.array([3, 4, 4])),
                 "conv": nir.Conv2d(input_shape=(4, 4), weight=np.ones((3, 3 if name == "padding" else 1, 1, 1)),
                                    stride=1, padding=0, dilation=1,
                                    groups=1 if name == "padding" else 2, bias=np.zeros(3)),
                 "output": nir.Output(output_type=np.array([3, 4, 4]))}  # fmt: skip
        edges = [("input", "conv"), ("conv", "output")]
    elif name == "into-input":
        edges += [("lif1", "input")]
    elif name == "neuron-shape":
        nodes["lif1"] = nir.LIF(tau=np.full(7, 1e-3), r=np.ones(7), v_leak=np.zeros(7), v_threshold=np.ones(7),
                                v_reset=np.zeros(7))  # fmt: skip
    elif name == "bias-shape":
        nodes["fc1"].bias = np.zeros(9)
    elif name == "string-param":
        nodes["fc1"].weight = np.array([[b"a"]])
    graph = nir.NIRGraph(nodes=nodes, edges=edges, type_check=False)
    nir.write(path, graph, compression=None)
    if name == "padding":  # nir refuses to build it: edit the file as a broken producer would
        with h5py.File(path, "a") as h5:
            del h5["node/nodes/conv/padding"]
            h5["node/nodes/conv/padding"] = "bogus"
    return path


def _fill(argv: list[str], root: Path, files: dict) -> list[str]:
    names = {"out": root / "out", **files}
    return [a.format(**{k: str(v) for k, v in names.items()}) for a in argv]


def test_the_corpus_is_large_enough():
    assert len(CASES) >= 150, len(CASES)
    assert len({name for name, _, _ in CASES}) == len(CASES)


@pytest.mark.parametrize("name,argv,word", CASES, ids=[c[0] for c in CASES])
def test_bad_input_is_one_line_exit_2_and_leaves_nothing(name, argv, word, files, capsys):
    root, f = files
    out = root / "out"
    out.mkdir(exist_ok=True)
    before = sorted(p.relative_to(root) for p in root.rglob("*"))
    capsys.readouterr()
    code = main(_fill(argv, root, f))
    captured = capsys.readouterr()
    lines = [line for line in captured.err.strip().splitlines() if line]
    assert code == 2, (code, captured.err[-500:], captured.out[-500:])
    assert len(lines) == 1 and "Traceback" not in captured.err, captured.err[-1500:]
    assert len(lines[0]) < 500
    assert word in lines[0], lines[0]
    after = sorted(p.relative_to(root) for p in root.rglob("*"))
    assert after == before, set(after) ^ set(before)


def test_the_nir_bomb_reads_in_bounded_memory(files, tmp_path):
    """A 200-byte NIR file declaring a 2 GB weight is refused before anything is read."""
    _, f = files
    bomb, x = str(f["nir_bomb"]), str(f["x"])
    code = (
        f"import resource, sys; from snncli.cli import main; rc = main(['simulate', {bomb!r}, '--input', {x!r}]); "
        "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss); sys.exit(rc)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and "declares" in done.stderr
    peak_mib = int(done.stdout.strip().splitlines()[-1]) / 1024
    assert peak_mib < 1024, peak_mib  # the interpreter with torch imported, not 2 GB more
    assert resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024 < 4096
