"""Fuzzed calls of lstmkit.nn.LSTM against torch.nn.LSTM (hypothesis, derandomized, a few hundred examples).

Each example builds a small layer (sizes, layers, bias, batch_first, bidirectional, proj_size, dtype, backend), a
well-formed call (batched, unbatched, or a PackedSequence; unsorted ``lengths``; all-false ``resets``), and then
breaks at most one argument (``input``, ``hx``, ``lengths``, ``resets``). Rules: a well-formed call returns what
torch.nn.LSTM returns (``lengths`` as torch's pack → LSTM → pad); a broken one either equals torch's result too
(where torch accepts it) or raises ValueError/TypeError naming the broken argument. Never another exception type,
never a result where torch raises. Then long sequences with saturated gates, against float64 torch.nn.LSTM."""

from __future__ import annotations

import pytest
import torch
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence, pad_packed_sequence

from lstmkit.nn import LSTM

TOL = {torch.float32: dict(rtol=1e-4, atol=2e-5), torch.float64: dict(rtol=1e-9, atol=1e-10)}
# 100 well-formed calls, then 8 for each of the 23 ways to break an argument: 284 examples, derandomized
FUZZ = dict(derandomize=True, database=None, deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def torch_call(module: torch.nn.LSTM, x, hx, lengths, batch_first: bool):
    """torch's answer: ``(output (padded), h_n, c_n)``; ``lengths`` means pack → LSTM → pad (with no sequence
    to pack, an empty batch, the unpacked call)."""
    if lengths is None or x.shape[0 if batch_first else 1] == 0:
        output, (h, c) = module(x, hx)
    else:
        packed = pack_padded_sequence(x, lengths, batch_first=batch_first, enforce_sorted=False)
        output, (h, c) = module(packed, hx)
        output, _ = pad_packed_sequence(output, batch_first=batch_first, total_length=x.shape[1 if batch_first else 0])
    if isinstance(output, PackedSequence):
        output = pad_packed_sequence(output)[0]
    return output, h, c


# every way an argument is broken
BREAKS = [f"input:{how}" for how in ("features", "rank", "dtype", "int", "meta", "list", "no steps")] + [
    f"hx:{how}" for how in ("shape", "rank", "dtype", "meta", "int", "tuple")] + [
    f"lengths:{how}" for how in ("zero", "long", "float", "count", "rank", "meta", "bool")] + [
    f"resets:{how}" for how in ("shape", "dtype", "list")]


def broken_state(draw, good: torch.Tensor, how: str) -> torch.Tensor:
    if how == "shape":
        dim = draw(st.integers(0, good.dim() - 1))
        shape = list(good.shape)
        shape[dim] += draw(st.sampled_from([-1, 1])) if shape[dim] > 0 else 1
        return torch.zeros(shape, dtype=good.dtype)
    if how == "rank":
        return good.unsqueeze(0) if draw(st.booleans()) else good[0]
    if how == "dtype":
        return good.to(torch.float64 if good.dtype == torch.float32 else torch.float32)
    if how == "meta":
        return good.to("meta")
    return good.to(torch.int64)


@settings(max_examples=100, **FUZZ)
@given(st.data())
def test_fuzzed_well_formed_calls_equal_torch(data):
    fuzzed_call(data.draw, None)


@pytest.mark.parametrize("choice", BREAKS)
@settings(max_examples=8, **FUZZ)
@given(st.data())
def test_fuzzed_broken_calls_equal_torch_or_raise_naming_the_argument(choice, data):
    fuzzed_call(data.draw, choice)


def fuzzed_call(draw, choice: str | None) -> None:
    """Build a layer and a call, break ``choice`` (``"<argument>:<how>"``, None: nothing), check the rules."""
    input_size, hidden_size = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    layers, bidirectional, bias = draw(st.integers(1, 2)), draw(st.booleans()), draw(st.booleans())
    batch_first = draw(st.booleans())
    proj = draw(st.integers(0, hidden_size - 1)) if draw(st.booleans()) else 0
    dtype = draw(st.sampled_from([torch.float32, torch.float64]))
    backend = draw(st.sampled_from(["auto", "reference"]))
    ours = LSTM(input_size, hidden_size, layers, bias, batch_first, 0.0, bidirectional, proj, dtype=dtype,
                backend=backend).eval()
    theirs = torch.nn.LSTM(input_size, hidden_size, layers, bias, batch_first, 0.0, bidirectional, proj,
                           dtype=dtype).eval()
    theirs.load_state_dict(ours.state_dict())

    broken, how = choice.split(":") if choice else (None, None)
    # a broken input is a plain tensor (or not one): no PackedSequence then
    kind = draw(st.sampled_from(["batched", "unbatched"] + ([] if broken == "input" else ["packed"])))
    event(f"{kind}, {choice or 'well-formed'}")
    steps, batch = draw(st.integers(1, 5)), draw(st.integers(0 if kind == "batched" else 1, 3))
    generator = torch.Generator().manual_seed(draw(st.integers(0, 2**16)))
    if kind == "unbatched":
        shape = (steps, input_size)
    else:
        shape = (batch, steps, input_size) if batch_first and kind == "batched" else (steps, batch, input_size)
    x = torch.randn(*shape[:-1], 2 * input_size, generator=generator, dtype=dtype)[..., ::2]  # non-contiguous
    lengths = None
    if kind != "unbatched" and draw(st.booleans()) or kind == "packed":
        lengths = torch.tensor([draw(st.integers(1, steps)) for _ in range(batch)], dtype=torch.int64)  # unsorted
    states = layers * (2 if bidirectional else 1)
    lead = (states,) if kind == "unbatched" else (states, batch)
    hx = None
    if draw(st.booleans()):
        hx = (torch.randn(*lead, proj or hidden_size, generator=generator, dtype=dtype),
              torch.randn(*lead, hidden_size, generator=generator, dtype=dtype))
    resets_shape = (steps,) if kind == "unbatched" else (batch, steps) if batch_first and kind == "batched" \
        else (int(lengths.max()), batch) if kind == "packed" else (steps, batch)  # packed: its longest sequence
    resets = torch.zeros(resets_shape, dtype=torch.bool) if draw(st.booleans()) else None

    if broken == "input":
        if how == "features":
            x = torch.randn(*x.shape[:-1], input_size + 1, dtype=dtype)
        elif how == "rank":
            x = x[..., 0] if x.dim() == 2 else x.unsqueeze(0)
        elif how == "dtype":
            x = x.to(torch.float16 if draw(st.booleans()) else torch.float64 if dtype == torch.float32
                     else torch.float32)
        elif how == "int":
            x = (x * 10).to(torch.int64)
        elif how == "meta":
            x = x.to("meta")
        elif how == "list":
            x = x.tolist()
        else:
            x = x.narrow(1 if batch_first and kind == "batched" else 0, 0, 0)
        lengths = None if kind == "unbatched" or how in ("no steps", "list", "meta") else lengths
    elif broken == "hx":
        hx = hx or (torch.zeros(*lead, proj or hidden_size, dtype=dtype), torch.zeros(*lead, hidden_size, dtype=dtype))
        if how == "tuple":
            hx = draw(st.sampled_from([hx[0], (hx[0],), (*hx, hx[1])]))
        else:
            which = draw(st.integers(0, 1))
            hx = tuple(broken_state(draw, hx[i], how) if i == which else hx[i] for i in range(2))
    elif broken == "lengths":
        if kind == "unbatched" or kind == "packed":
            lengths = torch.ones(batch, dtype=torch.int64)  # not allowed with these inputs
        else:
            lengths = lengths if lengths is not None else torch.full((batch,), steps)
            lengths = {"zero": lambda: torch.cat([torch.zeros(1, dtype=torch.int64), lengths[1:]]),
                       "long": lambda: lengths + steps,
                       "float": lambda: lengths.double(),
                       "count": lambda: torch.cat([lengths, lengths[:1]]),
                       "rank": lambda: lengths[None],
                       "meta": lambda: lengths.to("meta"),
                       "bool": lambda: lengths > 0}[how]()
    elif broken == "resets":
        good = torch.zeros(resets_shape, dtype=torch.bool)
        resets = {"shape": lambda: good.unsqueeze(-1) if draw(st.booleans()) else good.flatten()[:-1] if
                  good.numel() > 1 else good[None, None],
                  "dtype": lambda: good.to(torch.float32), "list": lambda: good.tolist()}[how]()

    call_input = x
    if kind == "packed" and broken != "lengths":
        call_input, lengths = pack_padded_sequence(x, lengths, enforce_sorted=False), None
    if kind == "packed" and broken == "lengths":
        call_input = pack_padded_sequence(x, torch.full((batch,), steps), enforce_sorted=False)
    try:
        output, (h, c) = ours(call_input, hx, lengths=lengths, resets=resets)
    except (ValueError, TypeError) as error:
        assert broken is not None, f"a well-formed call was refused: {error}"
        assert broken in str(error), f"the error does not name {broken!r}: {error}"
        return
    # lstmkit returned: torch must accept the same call and agree
    try:
        expected = torch_call(theirs, call_input, hx, lengths, batch_first)
    except Exception as error:  # noqa: BLE001 - any refusal by torch
        pytest.fail(f"lstmkit returned a result for a call torch refuses ({broken} broken): {error}")
    if isinstance(output, PackedSequence):
        output = pad_packed_sequence(output)[0]
    for got, want in zip((output, h, c), expected):
        torch.testing.assert_close(got, want, **TOL[dtype])


def saturated_pair(dtype: torch.dtype, backend: str = "reference") -> tuple[LSTM, torch.nn.LSTM]:
    """A 1-layer LSTM(3, 4) with weights ×12 (gate pre-activations of tens: sigmoids at 0/1, tanh at ±1), and
    torch.nn.LSTM in float64 with the same weights."""
    torch.manual_seed(0)
    ours = LSTM(3, 4, backend=backend)
    with torch.no_grad():
        for p in ours.parameters():
            p.mul_(12.0)
    reference = torch.nn.LSTM(3, 4, dtype=torch.float64)
    reference.load_state_dict({k: v.double() for k, v in ours.state_dict().items()})
    return ours.to(dtype), reference


@pytest.mark.slow  # ~10 s on an idle 2-core machine (the reference backend steps 10,000 times in Python)
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_ten_thousand_steps_with_saturated_gates_stay_finite_and_match_float64(dtype):
    steps = 10_000
    ours, reference = saturated_pair(dtype)
    x64 = torch.randn(steps, 2, 3, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    x64.requires_grad_(True)
    out64, (h64, c64) = reference(x64)
    (out64.sum() + c64.sum()).backward()
    torch_low = torch.nn.LSTM(3, 4, dtype=dtype)  # torch in the same precision: the yardstick for the tolerance
    torch_low.load_state_dict(ours.state_dict())
    results = {}
    for name, module in (("lstmkit", ours), ("torch", torch_low)):
        x = x64.detach().to(dtype).requires_grad_(True)
        out, (h, c) = module(x)
        (out.float().sum() + c.float().sum()).backward()
        assert all(torch.isfinite(t).all() for t in (out, h, c, x.grad, *[p.grad for p in module.parameters()]))
        results[name] = [t.double() for t in (out, c, x.grad, module.weight_hh_l0.grad)]
    truth = [out64, c64, x64.grad, reference.weight_hh_l0.grad]
    for i, label in enumerate(("output", "c_n", "input grad", "weight_hh grad")):
        scale = truth[i].abs().max().clamp(min=1.0)
        ours_err = float((results["lstmkit"][i] - truth[i]).abs().max() / scale)
        torch_err = float((results["torch"][i] - truth[i]).abs().max() / scale)
        bound = 1e-4 if dtype == torch.float32 else 2e-2  # or twice torch's own error in that precision
        assert ours_err <= max(bound, 2 * torch_err), f"{label}: {ours_err:.3g} vs torch's own {torch_err:.3g}"
