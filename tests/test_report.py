"""snncli report: one ANN twin per network, energy per profile, latency per target, the HTML page."""

import json
import re
import struct
import sys
from pathlib import Path

import numpy as np
import pytest
from nets import DT, cnn, lower, mlp

from snncli.cli import main
from snncli.commands.report import DEFAULT_PROFILES, ReportRequest, report
from snncli.commands.simulate import SimulateRequest, simulate
from snncli.errors import SnnCliError
from snncli.hwsim.energy import get_profile
from snncli.hwsim.latency import SPECK_CORES, SPECK_EVENT_S, latency
from snncli.hwsim.simulate import simulate as run_hwsim
from snncli.nirgraph import check_graph, write_nir

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the benchmarks package (chromium helper)
from benchmarks.chromium import dump_dom, find_chromium, screenshot


@pytest.fixture(scope="module")
def cnn_sims(tmp_path_factory):
    """The same CNN simulated for float and for loihi on the same inputs: the simulate results as JSON files."""
    root = tmp_path_factory.mktemp("report")
    write_nir(check_graph(cnn()), str(root / "cnn.nir"))
    rng = np.random.default_rng(0)
    np.save(root / "x.npy", (rng.random((8, 20, 1, 8, 8)) < 0.3).astype(float))
    sims = {}
    for target in ("float", "loihi"):
        result = simulate(SimulateRequest(str(root / "cnn.nir"), target=target, input=str(root / "x.npy")))
        sims[target] = root / f"sim_{target}.json"
        sims[target].write_text(json.dumps(result.to_json()))
    return sims


def _report(path, tmp_path, **kwargs):
    return report(ReportRequest(str(path), str(tmp_path / "rep"), **kwargs)).report


def test_the_twin_costs_the_same_under_every_target(cnn_sims, tmp_path):
    reports = {t: _report(path, tmp_path / t) for t, path in cnn_sims.items()}
    twins = {t: r["twin"]["macs"] for t, r in reports.items()}
    assert twins["float"] == twins["loihi"] > 0
    for name in DEFAULT_PROFILES:
        assert reports["float"]["energy"][name]["ann_pj"] == reports["loihi"]["energy"][name]["ann_pj"]
    # the Loihi layers fold each pool into the next convolution: counted there, the twin would differ
    loihi_layers = sum(layer["synapses"] for layer in reports["loihi"]["layers"])
    assert loihi_layers != twins["loihi"]
    # on the float target the graph's twin is the unrolled layers' synapses (taps on padding excluded)
    assert twins["float"] == sum(layer["synapses"] for layer in reports["float"]["layers"])


def test_energy_formulas_and_break_even(cnn_sims, tmp_path):
    rep = _report(cnn_sims["float"], tmp_path)
    t = {k: sum(layer[k] for layer in rep["layers"]) for k in ("sops", "macs")}
    e = rep["energy"]["horowitz45"]
    assert e["snn_pj"] == pytest.approx(0.9 * t["sops"] + 4.6 * t["macs"])
    assert e["ann_pj"] == pytest.approx(4.6 * rep["twin"]["macs"])
    for name, est in rep["energy"].items():
        assert sum(est["by_kind_pj"].values()) == pytest.approx(est["snn_pj"]), name
        if est["break_even_firing_rate"] is not None:  # E_snn(r*) = E_ann
            r = est["break_even_firing_rate"]
            assert est["snn_fixed_pj"] + r * est["snn_pj_per_unit_rate"] == pytest.approx(est["ann_pj"])
        assert est["snn_fixed_pj"] + est["input_rate"] * est["snn_pj_per_unit_rate"] == pytest.approx(est["snn_pj"])
    memory = rep["energy"]["horowitz45-memory"]
    assert memory["by_kind_pj"]["weight read"] > 0 and memory["by_kind_pj"]["state read/write"] > 0


def test_every_chip_profile_has_a_source_and_estimates_say_why():
    for name in DEFAULT_PROFILES:
        p = get_profile(name)
        assert p.source and (not p.estimate or len(p.reasoning) > 40), name
    assert get_profile("loihi2").estimate and "loihi" in get_profile("loihi2").targets
    assert get_profile("speck").estimate and "speck" in get_profile("speck").targets
    with pytest.raises(SnnCliError, match="loihi1"):
        get_profile("loihi")


def test_the_report_names_the_profile_of_the_target(cnn_sims, tmp_path):
    assert _report(cnn_sims["loihi"], tmp_path)["matched_profile"]["name"] == "loihi2"
    assert _report(cnn_sims["float"], tmp_path)["matched_profile"]["name"] == "horowitz45"
    only = _report(cnn_sims["loihi"], tmp_path, profiles=("horowitz45",))
    assert only["matched_profile"]["name"] == "loihi2" and "--profile loihi2" in only["matched_profile"]["note"]
    assert list(only["energy"]) == ["horowitz45"]


def test_a_user_profile_from_yaml(cnn_sims, tmp_path):
    path = tmp_path / "mine.yaml"
    path.write_text(
        "name: my-chip\nsource: datasheet v1, table 3\ne_ac: 2.0\ne_mac: 8.0\ne_neuron: 1.5\ntargets: [loihi]\n"
    )
    rep = _report(cnn_sims["loihi"], tmp_path, profile_files=(str(path),))
    e = rep["energy"]["my-chip"]
    t = {k: sum(layer[k] for layer in rep["layers"]) for k in ("sops", "macs", "neuron_updates")}
    assert e["snn_pj"] == pytest.approx(2.0 * t["sops"] + 8.0 * t["macs"] + 1.5 * t["neuron_updates"])
    assert set(DEFAULT_PROFILES) < set(rep["energy"])
    assert rep["matched_profile"]["name"] == "loihi2"  # the built-in profile comes first
    path.write_text(
        "profiles:\n  - {name: a, source: s, e_ac: 1, e_mac: 2}\n  - {name: b, source: s, e_ac: 1, e_mac: 3}\n"
    )
    assert {"a", "b"} <= set(_report(cnn_sims["float"], tmp_path, profile_files=(str(path),))["energy"])


@pytest.mark.parametrize(
    "text, words",
    [
        ("name: x\nsource: s\ne_ac: 1\ne_mac: 2\ne_sop: 3\n", ["unknown key 'e_sop'", "known:"]),
        ("name: x\nsource: s\ne_ac: -1\ne_mac: 2\n", ["e_ac", ">= 0"]),
        ("name: x\nsource: s\ne_ac: .nan\ne_mac: 2\n", ["e_ac", "finite"]),
        ("name: x\ne_ac: 1\ne_mac: 2\n", ["missing source"]),
        ("name: horowitz45\nsource: s\ne_ac: 1\ne_mac: 2\n", ["built in"]),
        ("name: x\nsource: s\ne_ac: 1\ne_mac: 2\nestimate: true\n", ["reasoning"]),
        ("[1, 2\n", ["not readable YAML"]),
        ("- 1\n- 2\n", ["mapping"]),
    ],
)
def test_bad_profile_files_are_one_line_errors(cnn_sims, tmp_path, capsys, text, words):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    out = tmp_path / "rep"
    code = main(["report", str(cnn_sims["float"]), "-o", str(out), "--profile-file", str(path)])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "Traceback" not in err[0]
    for word in words:
        assert word in err[0]
    assert not out.exists()


def test_an_old_simulation_result_still_reports_and_says_what_is_missing(cnn_sims, tmp_path):
    sim = json.loads(cnn_sims["loihi"].read_text())
    del sim["twin"], sim["latency"]
    old = tmp_path / "old.json"
    old.write_text(json.dumps(sim))
    rep = _report(old, tmp_path)
    assert rep["twin"]["macs"] == sum(layer["ann_macs"] for layer in sim["layers"])
    text = " ".join(rep["report_warnings"])
    assert "no ANN twin" in text and "fold pooling" in text and "no latency" in text
    assert "Warnings" in (tmp_path / "rep" / "report.md").read_text()


def test_loihi_latency_counts_the_flush_steps(cnn_sims, tmp_path):
    lat = _report(cnn_sims["loihi"], tmp_path)["latency"]
    program = lower(cnn(), "loihi")
    assert lat["steps_per_inference"] == 8 + program.latency_steps
    assert lat["per_inference_s"] == pytest.approx(lat["per_step_s"] * lat["steps_per_inference"])
    assert lat["pipeline_latency_s"] == pytest.approx(lat["per_step_s"] * program.latency_steps)
    assert lat["estimate"] and lat["sources"] and any("flush" in a for a in lat["assumptions"])
    parts = lat["breakdown_s"]
    assert lat["per_step_s"] == pytest.approx(
        max(parts["busiest_core_messages"], parts["busiest_core_neurons"]) + parts["barrier"]
    )


def test_speck_latency_is_the_input_window_plus_the_pipeline():
    program = lower(mlp(neuron="if"), "float")
    program.target = "speck"  # the timing model is keyed by the target name
    x = (np.random.default_rng(0).random((10, 5, 1, 8, 8)) < 0.2).astype(float)
    result = run_hwsim(program, x)
    lat = latency(program, result.layers(), result.steps, 0.1, result.samples)
    depth = len(program.neuron_layers)
    assert lat["pipeline_latency_s"] == pytest.approx(depth * SPECK_EVENT_S / SPECK_CORES)
    assert lat["per_inference_s"] >= 10 * DT + lat["pipeline_latency_s"] - 1e-15


def test_float_latency_is_measured(cnn_sims, tmp_path):
    sim = json.loads(cnn_sims["float"].read_text())
    lat = _report(cnn_sims["float"], tmp_path)["latency"]
    assert not lat["estimate"] and lat["model"].startswith("measured")
    assert lat["per_inference_s"] == pytest.approx(sim["seconds"] / sim["samples"])


def test_report_files_and_html_are_self_contained(cnn_sims, tmp_path):
    result = report(ReportRequest(str(cnn_sims["loihi"]), str(tmp_path / "rep")))
    assert set(result.files) == {"json", "md", "png", "html"}
    page = Path(result.files["html"]).read_text()
    assert not re.findall(r'(?:src|href)="(?!#)', page) and "<script" not in page  # nothing to fetch
    assert page.count("<svg") == 5


@pytest.mark.skipif(find_chromium() is None, reason="chromium is not installed (.ci/run installs Debian's package)")
def test_the_html_page_renders_in_headless_chromium(cnn_sims, tmp_path):
    rep = report(ReportRequest(str(cnn_sims["loihi"]), str(tmp_path / "rep")))
    dom = dump_dom(Path(rep.files["html"]))
    for panel in ("operations", "firing", "energy", "kinds", "break_even"):
        start = dom.index(f'id="fig-{panel}"')
        assert "<svg" in dom[start : start + 400], panel
    e = rep.report["energy"]["loihi2"]
    for text in (
        f"{e['snn_pj'] / 1e3:,.2f}",
        f"{e['ann_pj'] / 1e3:,.2f}",
        f"{rep.report['twin']['macs']:,}",
        "nJ per inference",
        "E_SNN / E_ANN twin",
        e["verdict"].split(":")[0],
    ):
        assert text in dom, text
    png = screenshot(Path(rep.files["html"]), tmp_path / "page.png")
    data = png.read_bytes()
    width, height = struct.unpack(">II", data[16:24])
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and (width, height) == (1200, 3400) and len(data) > 100_000


# ---------------------------------------------------------------- counted on the torch model
def test_torch_counts_equal_hwsim_on_the_same_network():
    import torch
    from spikingjelly.activation_based import functional
    from test_counters_crosscheck import IN, B, T, dyadic_mlp, hwsim_ops

    from snncli.commands.torch_counts import Counter

    x = (np.random.default_rng(3).random((T, B, IN)) < 0.3).astype(np.float64)
    x[:, :, :3] *= 0.5  # some analog values: MACs in the first layer on those rows
    net = dyadic_mlp()
    counter = Counter(net, T)
    with torch.no_grad():
        functional.reset_net(net)
        net(torch.as_tensor(x, dtype=torch.float32))
    counter.close()
    ours = {row["name"]: row for row in counter.layers(B)}
    totals, result = hwsim_ops(dyadic_mlp(), x)
    theirs = {layer["name"]: layer for layer in result.layers()}
    for name in ("0", "2"):  # Linear layers (NIR names them _0, _2)
        for key in ("sops", "macs", "synapses"):
            assert ours[name][key] == pytest.approx(theirs[f"_{name}"][key]), (name, key)
    for name in ("1", "3"):
        assert ours[name]["spikes"] == pytest.approx(theirs[f"_{name}"]["spikes"])
    assert sum(r["sops"] for r in ours.values()) > 0 and sum(r["macs"] for r in ours.values()) > 0


def test_spikformer_attention_products_are_counted():
    import torch
    from spikingjelly.activation_based import functional

    from snncli.commands.torch_counts import Counter
    from snncli.trainer.config import TrainConfig
    from snncli.trainer.models import build_model

    cfg = TrainConfig(model="spikformer", time_steps=2, embed_dim=16, num_heads=2, depth=1, patch_size=4)
    torch.manual_seed(0)
    model = build_model(cfg, (1, 8, 8), 10).eval()
    attn = next(m for m in model.modules() if type(m).__name__ == "SpikingSelfAttention")
    seen = []
    attn.qkv_lif.register_forward_hook(lambda m, i, out: seen.append(out.detach()))
    counter = Counter(model, 2)
    with torch.no_grad():
        functional.reset_net(model)
        model(torch.rand(2, 3, 1, 8, 8) * 4)
    counter.close()
    qkv = seen[0]
    t, n, c3, length = qkv.shape
    q, k, v = (s.squeeze(2) for s in qkv.reshape(t, n, 3, 2, c3 // 6, length).double().chunk(3, dim=2))
    a = v @ k.transpose(-2, -1)
    expected = float(a.sum() + ((a != 0).double() @ q).sum()) / n
    row = next(r for r in counter.layers(n) if r["op"].startswith("attention"))
    assert row["sops"] == pytest.approx(expected) and row["ann_macs"] == 2 * (c3 // 3) * (c3 // 6) * length


def test_report_of_a_run_no_chip_can_run(tmp_path, capsys):
    run = tmp_path / "psn"
    assert (
        main(
            [
                "train",
                "--run-dir",
                str(run),
                "--neuron",
                "psn",
                "--hidden",
                "32",
                "--time-steps",
                "4",
                "--epochs",
                "1",
                "--no-progress",
                "--set",
                "limit_train=200",
            ]
        )
        == 0
    )
    assert main(["export", str(run), "--target", "nir", "-o", str(tmp_path / "m.nir")]) == 2
    capsys.readouterr()
    assert main(["report", str(run), "-o", str(tmp_path / "rep"), "--limit", "30"]) == 0
    out = capsys.readouterr().out
    rep = json.loads((tmp_path / "rep" / "report.json").read_text())
    assert rep["counted_on"].startswith("the float torch model") and "cannot be exported" in rep["counted_on"]
    assert "float torch model" in out and rep["samples"] == 30
    psn = [layer for layer in rep["layers"] if layer["op"] == "neuron (parallel spiking)"]
    assert psn and all(layer["macs"] == 4 * 4 * layer["neurons"] for layer in psn)  # T x T mixing per neuron
    assert rep["twin"]["macs"] == 64 * 32 + 32 * 10
    assert "float torch model" in (tmp_path / "rep" / "report.html").read_text()
