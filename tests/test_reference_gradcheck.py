"""fp64 finite-difference checks of the reference backend's hand-written backward."""

import pytest
import torch

from lstmkit.ops import recurrence


@pytest.mark.parametrize("proj", [False, True])
@pytest.mark.parametrize("with_lengths", [False, True])
def test_recurrence_gradcheck(proj, with_lengths):
    torch.manual_seed(0)
    steps, batch, hid = 4, 3, 5
    real = 2 if proj else hid
    dt = dict(dtype=torch.float64, requires_grad=True)
    pre = torch.randn(steps, batch, 4 * hid, **dt)
    w_hh = (torch.randn(4 * hid, real, dtype=torch.float64) * 0.5).requires_grad_()
    h0 = torch.randn(batch, real, **dt)
    c0 = torch.randn(batch, hid, **dt)
    w_hr = torch.randn(real, hid, **dt) if proj else None
    lengths = torch.tensor([4, 2, 1]) if with_lengths else None

    def fn(pre, w_hh, h0, c0, *w_hr):
        return recurrence("reference", pre, w_hh, h0, c0, w_hr[0] if w_hr else None, lengths)

    inputs = (pre, w_hh, h0, c0) + ((w_hr,) if proj else ())
    assert torch.autograd.gradcheck(fn, inputs, eps=1e-6, atol=1e-6)


@pytest.mark.parametrize("bidirectional", [False, True])
def test_module_gradcheck(bidirectional):
    from lstmkit.nn import LSTM

    torch.manual_seed(1)
    lstm = LSTM(3, 4, num_layers=2, bidirectional=bidirectional, dtype=torch.float64, backend="reference")
    x = torch.randn(5, 2, 3, dtype=torch.float64, requires_grad=True)
    lengths = torch.tensor([3, 5])

    def fn(x, *params):
        out, (h, c) = torch.func.functional_call(lstm, dict(zip([n for n, _ in lstm.named_parameters()], params)),
                                                 (x,), {"lengths": lengths})
        return out, h, c

    assert torch.autograd.gradcheck(fn, (x, *[p.detach().requires_grad_() for p in lstm.parameters()]), atol=1e-6)
