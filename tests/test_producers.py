"""Every case of the producer corpus (shared/conformance/producers): graphs written by snnTorch,
SpikingJelly, Sinabs, Norse and Rockpool's own exporters, with the producer's own output.

snncli must reproduce the output exactly with the reading it detects, or with one that its
one-line warning or refusal names (at most three): never silently wrong.  This is the
library form of ``check_producers.py`` (which drives the CLI); one CLI case of each kind
checks that warnings and refusals reach the user as one line.
"""

import json
import re

import numpy as np
import pytest

from snncli.cli import main
from snncli.core.physics import DEFAULT_DT
from snncli.hwsim.simulate import simulate
from snncli.nirgraph import read_nir
from snncli.nirgraph.detect import detect, implied_dt
from snncli.targets.float.lowering import lower_float

CASE_IDS = [i for i in range(1, 40) if i != 17]  # 17: SpikingJelly refuses to export soft reset (cases.json)


@pytest.fixture(scope="module")
def cases(producers):
    return {c["id"]: c for c in json.loads((producers / "cases.json").read_text())["cases"]}


def _matches(graph, reading, dt, case, producers) -> bool:
    x = np.load(producers / case["files"]["input"]).astype(np.float64)
    expected = np.load(producers / case["files"]["output"]).astype(np.float64)
    got = simulate(lower_float(graph, dt, reading), x).outputs.reshape(expected.shape)
    if case["output_kind"] == "voltage":
        return bool(np.allclose(got, expected, rtol=1e-4, atol=1e-5 * max(1.0, np.abs(expected).max())))
    return bool(np.array_equal(got, expected))


def _dt(graph, reading, detected):
    return detected or implied_dt(graph, reading)[0] or DEFAULT_DT


@pytest.mark.parametrize("case_id", CASE_IDS)
def test_case_reads_right_or_names_the_reading(producers, cases, case_id):
    case = cases[case_id]
    graph = read_nir(producers / case["files"]["graph"])
    found = detect(graph)
    if found.reading is not None and _matches(
        graph, found.reading, _dt(graph, found.reading, found.dt), case, producers
    ):
        return  # reads right with what snncli applies by itself
    assert found.message, f"{case['name']}: silently wrong with reading {found.reading}"
    named = re.findall(r"--reading ([A-Za-z0-9_-]+)", found.message)
    assert 1 <= len(named) <= 3, found.message
    right = [r for r in named if _matches(graph, r, _dt(graph, r, found.dt), case, producers)]
    assert right, f"{case['name']}: no reading the message names matches ({named})"


def test_the_corpus_is_detected_per_producer(producers, cases):
    """What is applied and what is asked, producer by producer (the semantics the README gives)."""
    outcome = {}
    for case in cases.values():
        found = detect(read_nir(producers / case["files"]["graph"]))
        outcome.setdefault(case["producer"], set()).add(found.reading or "ask")
    assert outcome == {
        "snntorch": {"ask"},
        "spikingjelly": {"spikingjelly"},
        "sinabs": {"sinabs"},
        "norse": {"norse"},
        "rockpool": {"rockpool"},
    }


def _cli(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_refuses_snntorch_in_one_line_and_runs_the_named_reading(producers, cases, capsys, tmp_path):
    case = cases[6]
    graph, x = (str(producers / case["files"][k]) for k in ("graph", "input"))
    code, out, err = _cli(capsys, "simulate", graph, "--input", x)
    assert code == 2 and len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert re.findall(r"--reading ([a-z-]+)", err) == [
        "snntorch-subtract",
        "snntorch-zero",
        "snntorch-subtract-nodelay",
    ]
    code, out, err = _cli(
        capsys,
        "simulate",
        graph,
        "--input",
        x,
        "--reading",
        "snntorch-subtract",
        "--record",
        str(tmp_path / "r.npz"),
        "--json",
        str(tmp_path / "r.json"),
    )
    assert code == 0
    got = np.load(tmp_path / "r.npz")["3/out"]
    np.testing.assert_array_equal(got, np.load(producers / case["files"]["output"]))
    assert json.loads((tmp_path / "r.json").read_text())["reading"] == "snntorch-subtract"


def test_cli_warns_with_the_applied_reading_and_the_dt_it_chose(producers, cases, capsys, tmp_path):
    case = cases[31]  # Norse: tau written as dt * tau, dt not written
    graph, x = (str(producers / case["files"][k]) for k in ("graph", "input"))
    code, out, err = _cli(capsys, "simulate", graph, "--input", x, "--json", str(tmp_path / "s.json"))
    assert code == 0
    warning = next(line for line in out.splitlines() if "Norse" in line)
    assert warning.startswith("warning:") and "--reading norse" in warning and "--dt 0.0001" in warning
    result = json.loads((tmp_path / "s.json").read_text())
    assert result["reading"] == "norse" and result["dt"] == pytest.approx(1e-3)


def test_cli_refuses_an_exploding_euler_step_unless_forced(producers, cases, capsys):
    graph, x = (str(producers / cases[31]["files"][k]) for k in ("graph", "input"))
    code, _, err = _cli(capsys, "simulate", graph, "--input", x, "--reading", "nir")
    assert code == 2 and "forward Euler explodes" in err and "--override-dt" in err
    code, out, _ = _cli(capsys, "simulate", graph, "--input", x, "--reading", "nir", "--override-dt")
    assert code == 0 and "running it anyway" in out


def test_inspect_shows_per_node_fingerprints_and_the_reading(producers, cases, capsys, tmp_path):
    case = cases[37]  # Rockpool: r = tau exp(-dt/tau)/dt, dt not written
    code, out, _ = _cli(capsys, "inspect", str(producers / case["files"]["graph"]), "--json", str(tmp_path / "i.json"))
    assert code == 0 and "reading: rockpool, dt 0.001 s" in out
    result = json.loads((tmp_path / "i.json").read_text())
    neurons = [n for n in result["nodes"] if n["kind"] == "CubaLIF"]
    assert len(neurons) == 2 and all("rockpool" in n["strong"] and n["dt"]["rockpool"] == 1e-3 for n in neurons)
    assert result["detection"]["reading"] == "rockpool" and result["reading"]["sources"]
    code, out, _ = _cli(capsys, "inspect", str(producers / cases[5]["files"]["graph"]))
    assert code == 0 and "simulate/export refuse until --reading chooses one of snntorch-subtract" in out
