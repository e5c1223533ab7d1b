"""The step strategy's graph-capture path (lstmkit.kernels.graphs), the strategy fallbacks and float64 handling of the
launcher, against the float64 reference backend.

Without a GPU, ``torch.cuda.CUDAGraph`` is replaced by a stand-in whose replay re-runs the captured function on the
graph's static buffers: what this checks is the library's side of capture (every input copied into the static
buffers, every output cloned out of them, aliases kept, a bounded cache), with the same launch sequence the
interpreter runs eagerly.
"""

from __future__ import annotations

import pytest
import torch
from triton_helpers import FEATURES, NAMES, check_vs_reference, make_inputs, run_op, strict_kernels

from lstmkit.ops import available_backends

pytestmark = pytest.mark.skipif("triton" not in available_backends(), reason="triton backend not registered")

if "triton" in available_backends():
    from lstmkit.kernels import graphs, launch

    from lstmkit.ops import triton_backend


_strict = pytest.fixture(autouse=True)(strict_kernels)


@pytest.fixture
def stand_in_graphs(monkeypatch):
    """Capture on: graphs.capture replaced by a stand-in; returns the list of replays done."""
    replays = []

    def capture(fn, static_inputs):
        outputs = fn(*static_inputs)

        def replay():
            for static, fresh in zip(outputs, fn(*static_inputs)):
                if static is not None:
                    static.copy_(fresh)
            replays.append(fn)

        return replay, outputs

    monkeypatch.setattr(graphs, "enabled", lambda device, interpreting: True)
    monkeypatch.setattr(graphs, "capture", capture)
    monkeypatch.setattr(graphs, "CACHE", graphs.GraphCache(4))
    return replays


@pytest.mark.parametrize("features", ["zoneout_c", "all"])
def test_graphed_step_strategy_vs_reference(stand_in_graphs, features):
    """Three calls of one shape (eager, capture + replay, replay) with different inputs: each matches the float64
    reference, and the results of a call survive the next replay (they are clones, not the static buffers)."""
    triton_backend.set_strategy("step")
    cases = [make_inputs(4, 3, 16, FEATURES[features], seed=seed, lengths=[4, 2, 1]) for seed in (1, 2, 3)]
    results = [run_op("triton", torch.float32, *case) for case in cases]
    assert len(stand_in_graphs) == 4  # forward and backward replayed on the second and third calls
    assert {key[0] for key in graphs.CACHE.entries} == {"forward", "backward"}
    for got, case in zip(results, cases):
        check_vs_reference(got, torch.float32, *case)


def test_graph_cache_is_bounded_lru(stand_in_graphs):
    cache = graphs.GraphCache(2)
    double = lambda x: (2 * x,)  # noqa: E731
    for key in ("a", "b", "a", "c"):  # "b" is the least recently used when "c" arrives
        (out,) = cache.run(key, double, (torch.ones(3),))
        assert torch.equal(out, torch.full((3,), 2.0))
    assert list(cache.entries) == ["a", "c"]
    (out,) = cache.run("a", double, (torch.arange(3.0),))  # replayed with new inputs copied in
    assert torch.equal(out, torch.tensor([0.0, 2.0, 4.0]))
    with pytest.raises(ValueError, match="LSTMKIT_CUDA_GRAPH_CACHE"):
        graphs.GraphCache(0)


def test_capture_switches(monkeypatch):
    monkeypatch.setenv("LSTMKIT_CUDA_GRAPHS", "0")
    assert not graphs.enabled(torch.device("cuda"), interpreting=False)
    monkeypatch.delenv("LSTMKIT_CUDA_GRAPHS")
    assert not graphs.enabled(torch.device("cpu"), interpreting=False)
    assert not graphs.enabled(torch.device("cuda"), interpreting=True)


@pytest.mark.parametrize("refusal", ["shared_memory", "index_range"])
def test_auto_falls_back_to_step_when_sequence_refuses(monkeypatch, refusal):
    """A sequence kernel that cannot run here (shared memory over the device's opt-in limit, or int32 indexing):
    "auto" runs the step strategy and still matches the reference; "sequence" by name raises, naming why."""
    if refusal == "shared_memory":
        monkeypatch.setattr(launch, "shared_memory", lambda *args: (200_000, 101_376))
        match = r"200000 bytes of shared memory per block, more than this GPU's 101376"
    else:
        monkeypatch.setattr(launch, "INDEX_LIMIT", 100)
        match = "exceeds the sequence kernel's int32 indexing"
    case = make_inputs(3, 2, 8, FEATURES["ln_c"], seed=4)
    triton_backend.set_strategy("auto")
    check_vs_reference(run_op("triton", torch.float32, *case), torch.float32, *case)
    triton_backend.set_strategy("sequence")
    with pytest.raises(ValueError, match=match):
        run_op("triton", torch.float32, *case)


@pytest.mark.parametrize("strategy", ["step", "sequence"])
def test_float64_runs_in_float32(strategy):
    """float64 inputs are computed in float32 explicitly: the kernels' results are the float32 run's, cast to float64
    (dW_hh, a GEMM after the kernels, is then formed in float64 from them)."""
    triton_backend.set_strategy(strategy)
    case = make_inputs(3, 2, 8, FEATURES["zoneout_h"], seed=6)
    as64, as32 = run_op("triton", torch.float64, *case), run_op("triton", torch.float32, *case)
    for name, a, b in zip(NAMES, as64, as32):
        if b is not None:
            assert a.dtype == torch.float64, name
            exact = dict(rtol=1e-5, atol=1e-6) if name == "d_w_hh" else dict(rtol=0, atol=0)
            torch.testing.assert_close(a, b.double(), **exact, msg=name)
