"""Export of LSTM layers and networks: ONNX files run by onnxruntime and torch.export programs, with dynamic batch
size and sequence length, against torch.nn.LSTM (vanilla) and lstmkit's reference backend (variants); streaming
(chunks of 1, 7 and T steps with the state carried) against whole-sequence calls."""

from __future__ import annotations

import pytest
import torch
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from lstmkit.export import (
    ExportMismatch,
    StatefulForecaster,
    StatefulLanguageModel,
    compare,
    export,
    inference,
    layer_inference,
    run_exported,
    stream,
)
from lstmkit.models.forecasting import LSTMForecaster
from lstmkit.models.language_model import LSTMLanguageModel
from lstmkit.nn import LSTM

pytest.importorskip("onnxruntime")
CLOSE = {"rtol": 1e-5, "atol": 1e-6}  # fp32: the exported graph rounds differently from PyTorch's kernels
SIZES = [(2, 5), (6, 13)]  # (batch, steps): both through the one exported file
VARIANT = {"layer_norm": True, "zoneout_cell": 0.15, "zoneout_hidden": 0.1}


def _flat(result):
    """``output, (h_n, c_n)`` -> ``output, h_n, c_n``."""
    output, (h_n, c_n) = result
    return output, h_n, c_n


def _torch_packed(layer, x, h0, c0, lengths):
    """torch.nn.LSTM's own answer for a padded batch: a PackedSequence."""
    torch_layer = layer.to_torch().eval()
    packed = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
    out, (h_n, c_n) = torch_layer(packed, (h0, c0))
    return pad_packed_sequence(out, batch_first=True, total_length=x.shape[1])[0], h_n, c_n


@pytest.fixture(scope="module")
def vanilla_onnx(tmp_path_factory):
    """A bidirectional LSTM with lengths, exported once (stacked layers: the trained forecaster's test)."""
    torch.manual_seed(0)
    layer = LSTM(4, 6, bidirectional=True, batch_first=True).eval()
    path = tmp_path_factory.mktemp("onnx") / "vanilla.onnx"
    export(layer_inference(layer, torch.randn(3, 7, 4), torch.tensor([7, 2, 5])), path, "onnx")
    return layer, path


@pytest.fixture(scope="module")
def variant_onnx(tmp_path_factory):
    """A LayerNorm + zoneout LSTM (eval mode: zoneout at its rate), exported once."""
    torch.manual_seed(1)
    layer = LSTM(4, 6, batch_first=True, backend="reference", **VARIANT).eval()
    path = tmp_path_factory.mktemp("onnx") / "variant.onnx"
    export(layer_inference(layer, torch.randn(3, 7, 4)), path, "onnx")
    return layer, path


@pytest.mark.slow
@pytest.mark.parametrize("batch,steps", SIZES)
def test_onnx_vanilla_with_lengths_matches_torch_lstm(vanilla_onnx, batch, steps):
    layer, path = vanilla_onnx
    torch.manual_seed(batch)
    x, h0, c0 = torch.randn(batch, steps, 4), torch.randn(2, batch, 6), torch.randn(2, batch, 6)
    lengths = torch.randint(1, steps + 1, (batch,))
    lengths[0] = steps
    got = run_exported(path, "onnx", [x, h0, c0, lengths])
    for have, want in zip(got, _torch_packed(layer, x, h0, c0, lengths)):
        torch.testing.assert_close(torch.from_numpy(have), want.detach(), **CLOSE)


@pytest.mark.slow
@pytest.mark.parametrize("batch,steps", SIZES)
def test_onnx_layer_norm_zoneout_matches_reference_backend(variant_onnx, batch, steps):
    layer, path = variant_onnx
    torch.manual_seed(batch)
    x, h0, c0 = torch.randn(batch, steps, 4), torch.randn(1, batch, 6), torch.randn(1, batch, 6)
    got = run_exported(path, "onnx", [x, h0, c0])
    with torch.no_grad():
        y, (h_n, c_n) = layer(x, (h0, c0))
    for have, want in zip(got, (y, h_n, c_n)):
        torch.testing.assert_close(torch.from_numpy(have), want, **CLOSE)


@pytest.mark.slow
@pytest.mark.parametrize("chunk", [1, 7, 13])
def test_onnx_streaming_in_chunks_matches_the_whole_sequence(variant_onnx, chunk):
    layer, path = variant_onnx
    torch.manual_seed(2)
    x = torch.randn(2, 13, 4)
    zeros = torch.zeros(1, 2, 6)

    def step(x_chunk, h, c):
        return [torch.from_numpy(a) for a in run_exported(path, "onnx", [x_chunk, h, c])]

    outputs, (h, c) = stream(step, x, (zeros, zeros), chunk)
    with torch.no_grad():
        y, (h_n, c_n) = layer(x)
    torch.testing.assert_close(torch.cat(outputs, 1), y, **CLOSE)
    torch.testing.assert_close((h, c), (h_n, c_n), **CLOSE)


@pytest.mark.slow
@pytest.mark.parametrize("options", [{}, VARIANT], ids=["vanilla", "layer_norm_zoneout"])
def test_torch_export_has_dynamic_batch_and_time(tmp_path, options):
    torch.manual_seed(3)
    layer = LSTM(4, 5, bidirectional=True, proj_size=3, batch_first=True, backend="reference",
                 **options).eval()
    path = tmp_path / "layer.pt2"
    export(layer_inference(layer, torch.randn(3, 6, 4), torch.tensor([6, 1, 4])), path, "torch_export")
    assert len(torch.export.load(path).range_constraints) >= 2, "expected symbolic batch and time sizes"
    for batch, steps in SIZES:
        x, h0, c0 = torch.randn(batch, steps, 4), torch.randn(2, batch, 3), torch.randn(2, batch, 5)
        lengths = torch.randint(1, steps + 1, (batch,))
        got = run_exported(path, "torch_export", [x, h0, c0, lengths])
        with torch.no_grad():
            want = (_torch_packed(layer, x, h0, c0, lengths) if not options
                    else _flat(layer(x, (h0, c0), lengths=lengths)))
        for have, expected in zip(got, want):
            torch.testing.assert_close(have, expected.detach(), **CLOSE)


@pytest.mark.parametrize("options", [{}, VARIANT], ids=["vanilla", "layer_norm_zoneout"])
@pytest.mark.parametrize("chunk", [1, 7, 19])
def test_layer_streaming_in_chunks_matches_the_whole_sequence(options, chunk):
    torch.manual_seed(4)
    # float64: chunks change the order of fp32 roundings (LayerNorm amplifies them), not the arithmetic
    layer = LSTM(3, 5, num_layers=2, batch_first=True, dtype=torch.float64, **options).eval()
    x = torch.randn(2, 19, 3, dtype=torch.float64)
    zeros = torch.zeros(2, 2, 5, dtype=torch.float64)
    with torch.no_grad():
        y, (h_n, c_n) = layer(x)
        outputs, (h, c) = stream(lambda xs, h, c: _flat(layer(xs, (h, c))), x, (zeros, zeros), chunk)
    torch.testing.assert_close(torch.cat(outputs, 1), y, rtol=1e-12, atol=1e-13)
    torch.testing.assert_close((h, c), (h_n, c_n), rtol=1e-12, atol=1e-13)


@pytest.mark.parametrize("chunk", [1, 7, 24])
def test_forecaster_streaming_gives_the_window_forecast(chunk):
    torch.manual_seed(5)
    net = LSTMForecaster(input_size=2, hidden_size=8, num_layers=2, horizon=3, future_size=2).double().eval()
    x, future = torch.randn(4, 24, 2, dtype=torch.float64), torch.randn(4, 3, 2, dtype=torch.float64)
    streaming = StatefulForecaster(net)
    zeros = torch.zeros(2, 4, 8, dtype=torch.float64)
    with torch.no_grad():
        forecasts, _ = stream(streaming, x, (zeros, zeros), chunk, future)
        expected = net(x, future)
    torch.testing.assert_close(forecasts[-1], expected, rtol=1e-12, atol=1e-13)


@pytest.mark.parametrize("chunk", [1, 7, 20])
def test_language_model_streaming_matches_the_whole_sequence(chunk):
    torch.manual_seed(6)
    net = LSTMLanguageModel(30, 8, 8, num_layers=2, lstm_options={"layer_norm": True}).double().eval()
    tokens = torch.randint(0, 30, (3, 20))
    zeros = torch.zeros(2, 3, 8, dtype=torch.float64)
    with torch.no_grad():
        logits, (h_n, c_n) = net(tokens)
        outputs, (h, c) = stream(StatefulLanguageModel(net), tokens, (zeros, zeros), chunk)
    torch.testing.assert_close(torch.cat(outputs, 1), logits, rtol=1e-12, atol=1e-13)
    torch.testing.assert_close((h, c), (h_n, c_n), rtol=1e-12, atol=1e-13)


def test_forecaster_that_cannot_stream_is_refused():
    with pytest.raises(ValueError, match="relative=True"):
        StatefulForecaster(LSTMForecaster(relative=True))
    with pytest.raises(ValueError, match="chunk: expected at least 1"):
        stream(lambda *a: a, torch.zeros(1, 2, 1), (torch.zeros(1), torch.zeros(1)), 0)


def test_compare_names_the_largest_difference():
    expected = [torch.tensor([1.0, 2.0]), torch.tensor([[10.0, -3.0]])]
    report = compare(expected, [torch.tensor([1.0, 2.0]).numpy(), [[10.0, -3.0]]], ["a", "b"], 1e-5)
    assert report == {"a": {"max_abs_diff": 0.0, "max_rel_diff": 0.0}, "b": {"max_abs_diff": 0.0, "max_rel_diff": 0.0}}
    with pytest.raises(ExportMismatch, match=r"output 'b' at index \(0, 1\): exported -3.001, PyTorch -3.0"):
        compare(expected, [[1.0, 2.0], [[10.0, -3.001]]], ["a", "b"], 1e-5)
    with pytest.raises(ExportMismatch, match=r"output 'a': exported shape \(3,\), PyTorch \(2,\)"):
        compare(expected, [[1.0, 2.0, 3.0], [[10.0, -3.0]]], ["a", "b"], 1e-5)


def test_a_task_without_an_export_is_refused():
    with pytest.raises(ValueError, match="ckpt_path: object has no export"):
        inference(object(), None, None)


@pytest.mark.slow
def test_torch_export_of_the_speech_encoder_with_lengths(tmp_path):
    """A BiLSTM-CTC network (frame stacking: its output length is ceil(time / stride)) at two new sizes."""
    from lstmkit.export import Inference
    from lstmkit.models.asr import CTCRecognizer

    torch.manual_seed(7)
    net = CTCRecognizer(5, input_size=4, hidden_size=6, num_layers=1, stride=3).eval()
    found = Inference(net, {"features": torch.randn(3, 10, 4), "lengths": torch.tensor([10, 7, 4])},
                      {"features": {0: "batch", 1: "time"}, "lengths": {0: "batch"}},
                      {"log_probs": {}, "output_lengths": {}})
    export(found, tmp_path / "asr.pt2", "torch_export")
    for batch, steps in SIZES:
        features, lengths = torch.randn(batch, steps, 4), torch.randint(1, steps + 1, (batch,))
        got = run_exported(tmp_path / "asr.pt2", "torch_export", [features, lengths])
        with torch.no_grad():
            log_probs, out_lengths = net(features, lengths)
        torch.testing.assert_close(got[0], log_probs, **CLOSE)
        assert torch.equal(got[1], out_lengths)


@pytest.mark.slow
def test_onnx_export_of_a_text_classifier_task_with_attention(tmp_path):
    """inference() of a classification task (BiLSTM with lengths, attention pooling over the valid tokens) exported
    to ONNX and checked by export_checked; then run by onnxruntime at another batch size and length."""
    from functools import partial

    from lstmkit.export import export_checked
    from lstmkit.models.classifier import BiLSTMClassifier
    from lstmkit.tasks.classification import SequenceClassificationTask

    torch.manual_seed(8)
    net = BiLSTMClassifier(vocab_size=20, num_classes=3, embedding_size=6, hidden_size=5, attention_size=4)
    task = SequenceClassificationTask(net=net, optimizer=partial(torch.optim.Adam)).eval()
    tokens, lengths = torch.randint(1, 20, (3, 9)), torch.tensor([9, 4, 6])
    found = inference(task, None, [tokens, lengths, torch.zeros(3, dtype=torch.long)])
    assert list(found.inputs) == ["tokens", "lengths"] and list(found.outputs) == ["logits", "attention"]
    report = export_checked(found, tmp_path / "classifier.onnx", "onnx")
    assert max(v["max_rel_diff"] for v in report.values()) <= 1e-5
    tokens, lengths = torch.randint(1, 20, (5, 12)), torch.tensor([12, 1, 7, 3, 12])
    logits, attention = run_exported(tmp_path / "classifier.onnx", "onnx", [tokens, lengths])
    with torch.no_grad():
        want_logits, want_attention = net.eval()(tokens, lengths)
    torch.testing.assert_close(torch.from_numpy(logits), want_logits, **CLOSE)
    torch.testing.assert_close(torch.from_numpy(attention), want_attention, **CLOSE)
