"""``hhlif simulate``: the paper's MATLAB equivalence simulations, piece by piece and end to end
(docs/explanation/authors-code.md#matlab-simulations)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from helpers import SHARED, compose_config, run_cli

from hhlif.cli import main
from hhlif.commands import simulate as command
from hhlif.simulate import data, experiments, hh, spikes, waveforms
from hhlif.simulate.lif2hh import TVState, slif2hh_step, tv_step

AUTHORS = SHARED / "data" / "authors"
WEIGHTS, IMAGE = AUTHORS / "weight.mat", AUTHORS / "input.png"
HAVE_AUTHORS = WEIGHTS.is_file() and IMAGE.is_file()
needs_authors = pytest.mark.skipif(not HAVE_AUTHORS, reason=f"the authors' weight.mat/input.png are not in {AUTHORS}")


def test_mat_weights_read_with_the_installed_dependencies(tmp_path):
    """scipy is a dependency of hhlif: a MATLAB .mat file of weights reads after a plain install."""
    from scipy.io import savemat

    rng = np.random.default_rng(0)
    w01, w12 = rng.random((784, 6)), rng.random((6, 10))
    savemat(tmp_path / "weight.mat", {"W01": w01, "W12": w12})
    weights = data.load_weights(tmp_path / "weight.mat")
    assert np.array_equal(weights["W01"], w01) and np.array_equal(weights["W12"], w12)


# -- waveforms -------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name,t,value", [
    ("const", 0.0, 9.0), ("const", 37.3, 9.0),
    ("sine", 0.0, 11.5), ("sine", math.pi / 2.4, 11.5 - 19.0),
    ("square", 0.0, 24.5), ("square", 3.99, 24.5), ("square", 4.0, -6.5), ("square", 8.9, -6.5),
    ("square", 9.0, 24.5),  # ⌊9⌋ mod 8.5 = 0.5
    ("square", 12.5, 24.5), ("square", 13.0, -6.5),  # 12 mod 8.5 = 3.5 < 3.751; 13 mod 8.5 = 4.5
    ("sawtooth", 0.0, 12.0), ("sawtooth", 8.5 - 1e-9, 23.0), ("sawtooth", 8.5, 12.0), ("sawtooth", 4.25, 17.5),
    ("triangle", 0.0, 10.5), ("triangle", 4.25, 7.0), ("triangle", 8.5, 10.5), ("triangle", 2.125, 8.75),
])
def test_waveform_values_at_known_times(name, t, value):
    assert waveforms.WAVEFORMS[name](np.array([t]))[0] == pytest.approx(value, abs=1e-6)


def test_block_means_are_the_mean_over_each_step():
    square = waveforms.block_means(waveforms.square, 20, 1.0)
    assert np.array_equal(square, waveforms.square(np.arange(20.0)))  # constant within [k, k+1)
    a, b = np.arange(10.0), np.arange(1.0, 11.0)
    exact = 11.5 + 19.0 / 1.2 * (np.cos(1.2 * b) - np.cos(1.2 * a))
    assert np.allclose(waveforms.block_means(waveforms.sine, 10, 1.0), exact, atol=1e-6)


# -- spike metrics ---------------------------------------------------------------------------------------------
def test_onsets_are_rising_edges_of_levels():
    assert spikes.onsets(np.array([0, 1, 1, 0, 0, 1, 0, 1])).tolist() == [1, 5, 7]
    assert spikes.onsets(np.array([1, 1, 0, 1])).tolist() == [3]  # high at sample 0 is no onset
    rows = spikes.onsets(np.array([[0, 1, 0, 1], [0, 0, 0, 0]]))
    assert [r.tolist() for r in rows] == [[1, 3], []]


def test_comparison_metrics_on_hand_made_trains():
    m = spikes.compare(np.array([100, 300, 500]), np.array([110, 320, 500]), dt=0.001)
    assert m["spikes_hh"] == m["spikes_lif"] == 3 and m["equal_counts"]
    assert m["mean_isi_difference"] == pytest.approx(((500 - 110) - (500 - 100)) / 2)  # −5 samples
    assert m["mean_isi_hh"] == pytest.approx(200)
    assert m["timing_error"] == pytest.approx((10 + 20 + 0) / 3 / 200)
    assert m["mean_isi_difference_ms"] == pytest.approx(-0.005)
    assert m["max_onset_difference"] == 20 and m["max_onset_difference_ms"] == pytest.approx(0.02)
    unequal = spikes.compare(np.array([100, 300, 500]), np.array([100, 310]))
    assert unequal["mean_isi_difference"] is None and unequal["timing_error"] is None
    assert unequal["timing_error_first"] == pytest.approx((0 + 10) / 2 / 200)
    assert unequal["max_onset_difference"] is None
    single = spikes.compare(np.array([7]), np.array([9]))
    assert single["timing_error"] is None and single["mean_isi_hh"] is None
    summary = spikes.summarise([m, unequal])
    assert summary["equal_counts"] == 1 and summary["spikes_hh"] == 6 and summary["spikes_lif"] == 5
    assert summary["max_onset_difference"] == 20


# -- the models --------------------------------------------------------------------------------------------------
def test_hh_constants_rest_and_the_two_conventions():
    n, m, h = hh.steady_gates(np.array(-65.0), hh.REST65)
    assert (float(n), float(m), float(h)) == pytest.approx((0.3177, 0.0529, 0.5961), abs=1e-4)
    dv = hh.derivatives(-65.0, n, m, h, 0.0, hh.REST65)[0]
    assert abs(float(dv)) < 0.01  # E_L is chosen so that the resting potential is −65 mV
    for v in (-80.0, -40.0, 10.0):  # REST0 is REST65 shifted by 65 mV
        assert np.allclose(hh.rates(np.array(v), hh.REST65), hh.rates(np.array(v + 65.0), hh.REST0))
    a_n, _, a_m, *_ = hh.rates(np.array([10.0, 25.0]), hh.REST0)  # the removable singularities
    assert a_n[0] == pytest.approx(0.1) and a_m[1] == pytest.approx(1.0)


def test_pipelined_chain_equals_two_plain_passes():
    """The chain's HH pair, integrated as one array with neuron 2 a step behind, equals the MATLAB order."""
    dt, steps, gain = 0.001, 2500, 100.0
    rest = (0.0, *(float(x) for x in hh.steady_gates(np.array(0.0), hh.REST0)))
    t = np.arange(1, steps + 1) * dt
    x1 = np.stack([3 * waveforms.square(t), 3 * waveforms.sine(t)], 1)
    levels, trace = experiments.run_hh_chain(rest, x1, gain, 0.0, dt, hh.REST0, 70.0, 10)
    v1, n1, m1, h1 = (np.full(2, x) for x in rest)
    v2, n2, m2, h2 = (np.full(2, x) for x in rest)
    for k in range(steps):
        (v1, n1, m1, h1), _ = hh.euler_step(v1, n1, m1, h1, x1[k], dt, hh.REST0)
        s1 = v1 > 70.0
        (v2, n2, m2, h2), _ = hh.euler_step(v2, n2, m2, h2, gain * s1, dt, hh.REST0)
        assert np.array_equal(levels[k, 0], s1) and np.array_equal(levels[k, 1], v2 > 70.0)
        if (k + 1) % 10 == 0:
            assert np.allclose(trace[(k + 1) // 10], np.stack([v1, v2]), atol=1e-4)
    assert levels[:, 0, 0].any() and levels[:, 1, 0].any()


def test_slif2hh_fires_only_when_all_four_are_above_threshold_and_resets_all():
    u = np.array([[70.0, 70.0, 0.0], [70.0, 70.0, 0.0], [70.0, 0.0, 0.0], [0.0, 0.0, 0.0]])  # [4 subs, 3 units]
    fired, above, pre, new = slif2hh_step(u, np.full((3, 3), 10.0), threshold=70.0)
    # unit 0: subs 1–3 → 0.9·70 + 10 = 73, sub 4 → 0 + 219 = 219: all above → fires, all reset to 0
    # unit 1: sub 3 → 0.9·0 + 10 = 10 (not above): three of four above → no spike, no reset
    # unit 2: 10, 10, 10, 30: only sub 4 ... not above either
    assert fired.tolist() == [True, False, False]
    assert pre[:, 0].tolist() == pytest.approx([73.0, 73.0, 73.0, 219.0])
    assert above[:, 1].tolist() == [True, True, False, True]
    assert new[:, 0].tolist() == [0.0] * 4 and new[:, 1].tolist() == pytest.approx([73.0, 73.0, 10.0, 156.0])
    assert not above[:, 2].any() and new[:, 2].tolist() == pytest.approx([10.0, 10.0, 10.0, 30.0])


def test_tv_lif2hh_one_step_by_hand():
    state = TVState(u=np.array([[1.0], [2.0], [3.0]]), u4=np.array([-70.0]), f=np.array([[0.5], [-0.5], [0.1]]))
    g_na, g_k, g_l, current, dt = 10.0, 5.0, 0.3, 15.3, 0.01
    new, v = tv_step(state, np.array([current]), (np.array([g_na]), np.array([g_k]), np.array([g_l])), dt)
    g_s = 15.3  # 10 + 5 + 0.3; I/g_s = 1
    u1 = 1.0 + dt * (-(1.0 - 50.0) + 1.0)  # E_Na = 50
    u2 = 2.0 + dt * (-(2.0 + 77.0) + 1.0)  # E_K = −77
    u3 = 3.0 + dt * (-(3.0 + 54.387) + 1.0)  # E_L = −54.387
    f = [0.5 + g_na * (u1 - 1.0), -0.5 + g_k * (u2 - 2.0), 0.1 + g_l * (u3 - 3.0)]
    drive = -sum(f) + (g_na * 1.0 + g_k * 2.0 + g_l * 3.0) / g_s
    u4 = -70.0 + dt * g_s * (drive + 70.0)
    assert new.u[:, 0].tolist() == pytest.approx([u1, u2, u3])
    assert new.f[:, 0].tolist() == pytest.approx(f)
    assert new.u4[0] == pytest.approx(u4)
    assert v[0] == pytest.approx(sum(f) - 70.0)  # f after the step + u4 before it


def test_xor_tv_lif2hh_reproduces_the_hh_spikes():
    r = experiments.run_xor([[40.0, 0.0], [40.0, 40.0]], duration=6.0)
    out = r.metrics["cases"][0]
    assert out["neuron1"]["spikes_hh"] == out["neuron1"]["spikes_lif"] >= 1
    assert out["neuron2"]["spikes_hh"] == out["neuron2"]["spikes_lif"] >= 1 and out["output_level_agreement"] > 0.999
    assert r.arrays["spike_hh"].shape == (5999, 3, 2) and r.arrays["v_hh"].shape == (600, 3, 2)
    assert np.abs(r.arrays["v_hh"] - r.arrays["v_lif"]).max() < 1.0  # V_tv follows the HH membrane


def _matlab_chain(name: str, duration: float) -> dict[str, np.ndarray]:
    """simplified_simulation/main.m written out literally (scalar loops, the MATLAB index arithmetic, MATLAB's own
    rate expressions, ``integral`` by adaptive quadrature), for ``duration`` ms instead of 80."""
    quad = pytest.importorskip("scipy.integrate").quad
    f = 8.5
    x1 = {"const": lambda t: 9 + 0 * t, "sine": lambda t: 11.5 - 19 * math.sin(1.2 * t),
          "square": lambda t: 9 - 15.5 * math.copysign(1.0, math.fmod(math.floor(t), f) - (f - 1) / 2 - 0.001),
          "sawtooth": lambda t: 6.5 + 11 / f * abs(t - math.floor(t / f) * f + f / 2),
          "triangle": lambda t: 7 + 7 / f * abs(t - math.floor(t / f) * f - f / 2)}[name]

    def hh_model(u, m, n, h, i_ext, dt):  # hh_model.m, rest-at-0 convention
        an = 0.01 * ((-10 + u) / (1 - math.exp(-(-10 + u) / 10)))
        am = 0.1 * ((-25 + u) / (1 - math.exp(-(-25 + u) / 10)))
        ah, bn, bm = 0.07 * math.exp(-u / 20), 0.125 * math.exp(-u / 80), 4 * math.exp(-u / 18)
        bh = 1 / (1 + math.exp(-(-30 + u) / 10))
        i_mem = 36 * n**4 * (u + 12) + 120 * m**3 * h * (u - 115) + 0.3 * (u - 10.613)
        return (u + (-i_mem + i_ext) * dt, m + (am * (1 - m) - bm * m) * dt, n + (an * (1 - n) - bn * n) * dt,
                h + (ah * (1 - h) - bh * h) * dt)

    def lif(u, i_ext):  # lif_simplified.m with dt = 1, C = 1, U_rest = 0
        return u + (-u * (1 - 0.9) + i_ext) * 1.0

    dt1, w, th = 0.001, 1e5, 70.0
    fine, coarse = int(round(duration / dt1)), int(round(duration))
    out = {k: np.zeros(fine, bool) for k in ("hh1", "hh2", "lif1", "lif2")}
    hh1 = hh2 = (0.0, 0.0489, 0.6446, 0.1341)  # u, m, n, h
    for i in range(2, fine + 2):
        hh1 = hh_model(*hh1, x1((i - 1) * dt1), dt1)
        spike_hh = hh1[0] > th
        out["hh1"][i - 2] = spike_hh
        hh2 = hh_model(*hh2, spike_hh * w * dt1, dt1)
        out["hh2"][i - 2] = hh2[0] > th
    a, b = [0.0] * 4, [0.0] * 4
    for i in range(2, coarse + 2):
        x = quad(x1, i - 2, i - 1, limit=200)[0]
        a[:3] = [lif(u, x) for u in a[:3]]
        a[3] = lif(a[3], sum(a[:3]))
        above = [u > th for u in a]
        block = slice((i - 2) * 1000, (i - 1) * 1000)
        if all(above):
            out["lif1"][block], a = True, [0.0] * 4
        b[:3] = [lif(u, w * 1.0 * above[k] + above[3]) for k, u in enumerate(b[:3])]
        b[3] = lif(b[3], sum(b[:3]))
        if all(u > th for u in b):
            out["lif2"][block], b = True, [0.0] * 4
    return out


def test_chain_equals_the_matlab_code_written_out_literally():
    """All four spike trains of every waveform, sample for sample, over 16 ms."""
    r = experiments.run_chain(list(waveforms.WAVEFORMS), duration=16.0)
    for c, name in enumerate(waveforms.WAVEFORMS):
        ref = _matlab_chain(name, 16.0)
        for key in ("hh1", "hh2", "lif1", "lif2"):
            assert np.array_equal(r.arrays[f"spike_{key}"][:, c], ref[key]), (name, key)
        assert ref["hh2"].any() and ref["lif2"].any(), name


def test_xor_truth_table_from_rest():
    """Started at rest, the output neuron is silent for (0, 0) and (40, 40) and fires for (0, 40) and (40, 0), in
    both models (for (0, 40) by rebound from the inhibition)."""
    rest = command._hh_init("rest", "xor")
    r = experiments.run_xor([[0.0, 0.0], [0.0, 40.0], [40.0, 0.0], [40.0, 40.0]], duration=12.0, hh_init=rest)
    counts = [(c["neuron2"]["spikes_hh"], c["neuron2"]["spikes_lif"]) for c in r.metrics["cases"]]
    assert counts[0] == counts[3] == (0, 0)
    assert counts[1][0] == counts[1][1] >= 1 and counts[2][0] == counts[2][1] >= 1
    assert all(c["output_level_agreement"] > 0.999 for c in r.metrics["cases"])


def test_chain_metrics_structure_for_all_waveforms():
    r = experiments.run_chain(list(waveforms.WAVEFORMS), duration=10.0)
    assert set(r.metrics["results"]) == set(waveforms.WAVEFORMS)
    assert r.arrays["spike_hh2"].shape == (10000, 5) and r.arrays["spike_lif2"].shape == (10000, 5)
    assert r.arrays["u_lif1"].shape == (10, 4, 5)
    sine = r.metrics["results"]["sine"]["neuron2"]
    assert sine["spikes_hh"] >= 1 and sine["spikes_lif"] >= 1
    # the s-LIF2HH outputs are held for the 1000 fine samples of their coarse step
    blocks = r.arrays["spike_lif2"].reshape(10, 1000, 5)
    assert (blocks == blocks[:, :1]).all()


# -- the fully connected network -------------------------------------------------------------------------------
def test_generated_inputs_have_the_stated_statistics():
    w = data.generate_weights(3)
    assert w["W01"].shape == (784, 128) and w["W12"].shape == (128, 10)
    assert 0 <= w["W01"].min() and w["W01"].max() <= 0.01 and w["W01"].mean() == pytest.approx(0.005, abs=3e-4)
    assert w["W12"].min() >= 5.4e-4 and w["W12"].max() <= 1.93 and w["W12"].mean() == pytest.approx(0.36, abs=0.06)
    image, info = data.mnist_digit(0, 0)
    assert image.shape == (28, 28) and 0 <= image.min() and image.max() <= 255 and info["digit"] == 0
    assert data.flatten_column_major(np.array([[1, 2], [3, 4]])).tolist() == [1, 3, 2, 4]


@needs_authors
def test_fc_with_the_authors_weights_and_image():
    w = data.load_weights(WEIGHTS)
    image = data.load_image(IMAGE)
    assert w["W01"].shape == (784, 128) and w["W12"].shape == (128, 10)
    assert image.shape == (28, 28) and int((image > 0).sum()) == 176 and image.mean() == pytest.approx(39.66, abs=0.01)
    r = experiments.run_fc(w["W01"], w["W12"], data.flatten_column_major(image), duration=3.0)
    cur = r.metrics["layer1_current"]
    assert cur["min"] == pytest.approx(139.7, abs=0.05) and cur["max"] == pytest.approx(176.6, abs=0.05)
    assert r.arrays["spike_hh1"].shape == (2999, 128) and r.arrays["spike_lif2"].shape == (2999, 10)
    assert r.arrays["v_hh1"].shape == (300, 128)
    s1 = r.metrics["layer1"]["summary"]
    assert s1["neurons"] == 128 and s1["equal_counts"] == 128 and s1["spikes_hh"] >= 128  # all fire early


def test_weight_and_image_files_in_other_formats(tmp_path):
    w = data.generate_weights(0)
    np.savez(tmp_path / "w.npz", **w)
    loaded = data.load_weights(tmp_path / "w.npz")
    assert np.array_equal(loaded["W01"], w["W01"])
    np.save(tmp_path / "img.npy", np.arange(784.0).reshape(28, 28))
    assert data.load_image(tmp_path / "img.npy")[0, 1] == 1.0
    np.savez(tmp_path / "bad.npz", W01=w["W01"])
    with pytest.raises(Exception, match="lacks W12"):
        data.load_weights(tmp_path / "bad.npz")


# -- the command -------------------------------------------------------------------------------------------------
def test_presets_compose_with_the_matlab_constants():
    fig3d = compose_config(["experiment=fig3d"], "simulate").simulate
    assert fig3d.circuit == "chain" and fig3d.chain.waveform == "square" and fig3d.duration == 80.0
    assert fig3d.dt == 0.001 and fig3d.chain.lif_dt == 1.0 and fig3d.chain.weight == 1e5
    assert compose_config(["experiment=suppfig2_fc"], "simulate").simulate.circuit == "fc"
    xor = compose_config(["experiment=suppfig2_xor"], "simulate").simulate
    assert xor.circuit == "xor" and [40.0, 40.0] in [list(c) for c in xor.xor.cases]
    command.validate(compose_config(["experiment=suppfig2_xor"], "simulate"))


@pytest.mark.parametrize("args,message", [
    (["simulate.circuit=ring"], "simulate.circuit='ring' is not a known choice"),
    (["experiment=fig3d", "simulate.chain.waveform=noise"], "simulate.chain.waveform='noise' is not a known choice"),
    (["simulate.duration=0.0005"], "simulate.duration=0.0005 is not allowed"),
    (["experiment=fig3d", "simulate.duration=10.5"], "whole number of s-LIF2HH steps"),
    (["experiment=suppfig2_fc", "simulate.fc.weights=/nonexistent/weight.mat"], "no such file"),
    (["experiment=suppfig2_fc", "simulate.fc.image=digit.jpg"], "expected a .png, .npy or .npz image"),
    (["experiment=suppfig2_xor", "simulate.xor.cases=[[40]]"], "simulate.xor.cases"),
    (["experiment=fig5b"], "experiment=fig5b is a preset of 'hhlif flops'"),
    (["experiment=fig3d", "simulate.plot_dpi=0"], "simulate.plot_dpi=0 is not allowed"),
])
def test_bad_simulate_config_exits_2_and_writes_nothing(tmp_path, monkeypatch, capsys, args, message):
    monkeypatch.chdir(tmp_path)
    assert main(["simulate", *args]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert not (tmp_path / "outputs").exists()


def _authors_args() -> list[str]:
    if HAVE_AUTHORS:
        return [f"simulate.fc.weights={WEIGHTS}", f"simulate.fc.image={IMAGE}"]
    return []


def test_each_preset_writes_plot_metrics_and_traces(tmp_path):
    """The three presets as one sweep (one process), short durations; the fc one with the authors' files when
    they are there."""
    sweep = tmp_path / "sweep"
    proc = run_cli(["simulate", "-m", "experiment=fig3d,suppfig2_fc,suppfig2_xor", "simulate.duration=2",
                    "simulate.chain.waveform=all", *_authors_args(), f"hydra.sweep.dir={sweep}"], cwd=tmp_path,
                   timeout=300)
    assert proc.returncode == 0, proc.stderr
    runs = {json.loads(p.read_text())["experiment"]: p.parent for p in sweep.glob("*/metrics.json")}
    assert set(runs) == {"chain", "fc", "xor"}
    for kind, run_dir in runs.items():
        assert (run_dir / f"{kind}.png").stat().st_size > 10_000
        with np.load(run_dir / "traces.npz") as traces:
            assert "t_ms" in traces.files and "trace_t_ms" in traces.files
    chain = json.loads((runs["chain"] / "metrics.json").read_text())
    assert set(chain["results"]) == set(waveforms.WAVEFORMS) and chain["duration_ms"] == 2.0
    assert chain["preset"] == "fig3d" and chain["hh_init"] == "matlab"
    assert "spikes_hh" in chain["results"]["square"]["neuron2"]
    fc = json.loads((runs["fc"] / "metrics.json").read_text())
    assert fc["layer2"]["summary"]["neurons"] == 10 and len(fc["layer1"]["neurons"]) == 128
    if _authors_args():
        assert fc["layer1_current"]["min"] == pytest.approx(139.7, abs=0.05)
        assert fc["inputs"]["weights"]["source"].endswith("weight.mat")
    xor = json.loads((runs["xor"] / "metrics.json").read_text())
    assert len(xor["cases"]) == 4


@pytest.mark.slow
@needs_authors
def test_fc_full_40_ms_with_the_authors_files_matches_spike_for_spike():
    w = data.load_weights(WEIGHTS)
    r = experiments.run_fc(w["W01"], w["W12"], data.flatten_column_major(data.load_image(IMAGE)))
    for layer in ("layer1", "layer2"):
        s = r.metrics[layer]["summary"]
        assert s["equal_counts"] == s["neurons"] and s["level_agreement"] > 0.999
    assert r.metrics["layer2"]["summary"]["spikes_hh"] == 42
