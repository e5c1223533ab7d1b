"""lstmkit.nn.LSTM / LSTMCell against torch.nn.LSTM / LSTMCell holding the same weights.

The baseline is torch's own implementation (oneDNN/aten), independent of lstmkit's reference backend.
"""

import random

import pytest
import torch
from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence, pad_packed_sequence

from lstmkit.nn import LSTM, LSTMCell

TOL = {torch.float32: dict(rtol=1e-4, atol=2e-5), torch.float64: dict(rtol=1e-9, atol=1e-10)}


def random_configs(n: int, seed: int = 1234):
    rng = random.Random(seed)
    configs = []
    for k in range(n):
        unbatched = rng.random() < 0.15
        mode = "plain" if unbatched else rng.choice(["plain", "lengths", "packed"])
        hidden = rng.choice([5, 40])
        configs.append(dict(
            num_layers=rng.choice([1, 2, 3]),
            bidirectional=rng.random() < 0.5,
            proj_size=rng.choice([0, 0, 3]) if hidden > 3 else 0,
            batch_first=rng.random() < 0.5,
            bias=rng.random() < 0.85,
            input_size=rng.choice([1, 4, 9]),
            hidden_size=hidden,
            batch=rng.choice([1, 3, 4]),
            steps=rng.choice([1, 2, 7]),
            unbatched=unbatched,
            mode=mode,
            dtype=rng.choice([torch.float32, torch.float64]),
            backend="reference" if k % 3 else "auto",
            loss=rng.choice(["weighted", "sum"]),
            with_hx=rng.random() < 0.6,
        ))
    return configs


def make_pair(cfg):
    kwargs = {k: cfg[k] for k in ("num_layers", "bidirectional", "proj_size", "batch_first", "bias")}
    theirs = torch.nn.LSTM(cfg["input_size"], cfg["hidden_size"], dtype=cfg["dtype"], **kwargs)
    ours = LSTM(cfg["input_size"], cfg["hidden_size"], dtype=cfg["dtype"], backend=cfg["backend"], **kwargs)
    ours.load_state_dict(theirs.state_dict())
    return ours, theirs


def run(module, x, hx, lengths, cfg):
    """Forward through ``module`` in the requested input mode; returns padded output and states."""
    if cfg["mode"] == "packed":
        packed = pack_padded_sequence(x, lengths, batch_first=cfg["batch_first"], enforce_sorted=False)
        out, state = module(packed, hx)
        assert isinstance(out, PackedSequence)
        out, _ = pad_packed_sequence(out, batch_first=cfg["batch_first"], total_length=cfg["steps"])
        return out, state
    if cfg["mode"] == "lengths":
        if isinstance(module, LSTM):
            return module(x, hx, lengths=lengths)
        packed = pack_padded_sequence(x, lengths, batch_first=cfg["batch_first"], enforce_sorted=False)
        out, state = module(packed, hx)
        out, _ = pad_packed_sequence(out, batch_first=cfg["batch_first"], total_length=cfg["steps"])
        return out, state
    return module(x, hx)


@pytest.mark.parametrize("cfg", random_configs(60), ids=lambda c: "-".join(
    f"{k}={v}" for k, v in c.items() if k in ("num_layers", "bidirectional", "proj_size", "mode", "backend")))
def test_lstm_matches_torch(cfg):
    torch.manual_seed(hash(str(cfg)) % 2**31)
    ours, theirs = make_pair(cfg)
    dt, batch, steps = cfg["dtype"], cfg["batch"], cfg["steps"]
    num_states = cfg["num_layers"] * (2 if cfg["bidirectional"] else 1)
    real_h = cfg["proj_size"] or cfg["hidden_size"]
    if cfg["unbatched"]:
        shape = (steps, cfg["input_size"])
        hx_shapes = [(num_states, real_h), (num_states, cfg["hidden_size"])]
    else:
        shape = (batch, steps, cfg["input_size"]) if cfg["batch_first"] else (steps, batch, cfg["input_size"])
        hx_shapes = [(num_states, batch, real_h), (num_states, batch, cfg["hidden_size"])]
    x = torch.randn(shape, dtype=dt, requires_grad=True)
    hx = tuple(torch.randn(s, dtype=dt, requires_grad=True) for s in hx_shapes) if cfg["with_hx"] else None
    lengths = torch.randint(1, steps + 1, (batch,)) if cfg["mode"] != "plain" else None
    if lengths is not None:
        lengths[random.Random(str(cfg)).randrange(batch)] = steps  # torch packs to max length

    results = []
    for module in (ours, theirs):
        out, (h_n, c_n) = run(module, x, hx, lengths, cfg)
        if cfg["loss"] == "sum":
            loss = out.sum() + h_n.sum() + c_n.sum()
        else:
            g = torch.Generator().manual_seed(7)
            loss = sum((t * torch.randn(t.shape, generator=g, dtype=dt)).sum() for t in (out, h_n, c_n))
        inputs = [x, *(hx or ()), *module.parameters()]
        results.append((out, h_n, c_n, *torch.autograd.grad(loss, inputs)))
    names = ["output", "h_n", "c_n", "d_input"] + (["d_h0", "d_c0"] if hx else []) + [
        n for n, _ in theirs.named_parameters()]
    for name, a, b in zip(names, *results):
        assert a.shape == b.shape, name
        torch.testing.assert_close(a, b, **TOL[dt], msg=lambda m, name=name: f"{name}: {m}")


def test_outputs_past_length_are_exactly_zero():
    lstm = LSTM(3, 6, num_layers=2, bidirectional=True, backend="reference")
    x = torch.randn(5, 4, 3)
    lengths = torch.tensor([5, 2, 3, 1])
    out, _ = lstm(x, lengths=lengths)
    for b, n in enumerate(lengths.tolist()):
        assert torch.all(out[n:, b] == 0)
        assert torch.all(out[:n, b] != 0)


@pytest.mark.parametrize("backend", ["reference", "auto"])
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("unbatched", [False, True])
def test_cell_matches_torch(backend, bias, unbatched):
    theirs = torch.nn.LSTMCell(4, 6, bias=bias, dtype=torch.float64)
    ours = LSTMCell(4, 6, bias=bias, dtype=torch.float64, backend=backend)
    ours.load_state_dict(theirs.state_dict())
    shape = (4,) if unbatched else (3, 4)
    x = torch.randn(shape, dtype=torch.float64, requires_grad=True)
    hx = tuple(torch.randn(shape[:-1] + (6,), dtype=torch.float64, requires_grad=True) for _ in range(2))
    results = []
    for cell in (ours, theirs):
        h1, c1 = cell(x, hx)
        loss = (h1 * 1.5).sum() + (c1 ** 2).sum()
        results.append((h1, c1, *torch.autograd.grad(loss, [x, *hx, *cell.parameters()])))
    for a, b in zip(*results):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)
    h1, c1 = ours(x)  # default zero state
    torch.testing.assert_close(h1, theirs(x)[0], rtol=1e-10, atol=1e-12)


def test_same_seed_same_initialisation():
    kwargs = dict(num_layers=2, bidirectional=True, proj_size=2)
    torch.manual_seed(3)
    theirs = torch.nn.LSTM(3, 5, **kwargs)
    torch.manual_seed(3)
    ours = LSTM(3, 5, **kwargs)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    for (name, a), b in zip(ours.state_dict().items(), theirs.state_dict().values()):
        assert torch.equal(a, b), name
    torch.manual_seed(3)
    cell_theirs = torch.nn.LSTMCell(3, 5)
    torch.manual_seed(3)
    cell_ours = LSTMCell(3, 5)
    for a, b in zip(cell_ours.state_dict().values(), cell_theirs.state_dict().values()):
        assert torch.equal(a, b)


def test_state_dict_round_trip_both_directions():
    kwargs = dict(num_layers=2, bidirectional=True, proj_size=3, batch_first=True)
    theirs = torch.nn.LSTM(4, 7, **kwargs)
    ours = LSTM(4, 7, **kwargs)
    ours.load_state_dict(theirs.state_dict())  # torch -> lstmkit
    back = torch.nn.LSTM(4, 7, **kwargs)
    back.load_state_dict(ours.state_dict())  # lstmkit -> torch
    x = torch.randn(2, 5, 4)
    torch.testing.assert_close(back(x)[0], theirs(x)[0], rtol=0, atol=0)
    torch.testing.assert_close(ours(x)[0], theirs(x)[0])


def test_dropout_between_layers_matches_torch_statistics():
    # Masks come from different RNG streams than torch's, so compare what dropout means: eval mode is
    # deterministic and equal to torch, train mode differs from eval and zeroes whole activations.
    torch.manual_seed(0)
    theirs = torch.nn.LSTM(3, 8, num_layers=2, dropout=0.5)
    ours = LSTM(3, 8, num_layers=2, dropout=0.5, backend="reference")
    ours.load_state_dict(theirs.state_dict())
    x = torch.randn(6, 2, 3)
    ours.eval()
    theirs.eval()
    torch.testing.assert_close(ours(x)[0], theirs(x)[0])
    ours.train()
    y1, y2 = ours(x)[0], ours(x)[0]
    assert not torch.allclose(y1, y2)
    single = LSTM(3, 8, num_layers=1, backend="reference")
    single.load_state_dict({k: v for k, v in ours.state_dict().items() if k.endswith("l0")})
    # the first layer's output is untouched by dropout (it is applied between layers only)
    _, (h_n, _) = ours(x)
    torch.testing.assert_close(h_n[0], single(x)[1][0][0])
