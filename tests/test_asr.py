"""Speech recognition with CTC (``experiment=asr_digits``): each piece against an independent reference — the log-mel
front end against numpy, decoding against hand-made paths and an exhaustive enumeration, CER/WER against
hand-counted edit distances, the voice-disjoint split rule, and short real runs on a tiny synthesised set."""

from __future__ import annotations

import itertools
import json
import math
import shutil

import numpy as np
import pytest
import torch
from helpers import compose_config

from lstmkit.data import speech
from lstmkit.data.audio import log_mel, read_wav, resample
from lstmkit.data.speech import SPLITS, SpeechDataSpec, SpeechDigitsDataModule, make_speech_data, plan_split
from lstmkit.models.asr import CTCRecognizer, stack_frames
from lstmkit.models.ctc import beam_decode, collapse, greedy_decode, pad_labels, prefix_beam_search
from lstmkit.tasks.asr import CharacterErrorRate, TranscriptWordErrorRate

torch.set_num_threads(1)

ENGINES = shutil.which("espeak-ng") is not None and shutil.which("flite") is not None
needs_engines = pytest.mark.skipif(not ENGINES, reason="espeak-ng and flite are not installed "
                                   "(apt-get install espeak-ng flite); CI installs them")
TINY = ["data.train_utterances=192", "data.val_utterances=16", "data.test_utterances=16"]


# ---- front end ---------------------------------------------------------------------------------------------------
def numpy_log_mel(x: np.ndarray, rate: int, n_fft: int, win: int, hop: int, n_mels: int) -> np.ndarray:
    """Independent float64 reference: frames by slicing, a Hann window centred in the FFT frame, numpy's FFT, and
    triangles built point by point on the HTK mel scale."""
    mel = lambda f: 2595.0 * np.log10(1.0 + f / 700.0)
    hz = lambda m: 700.0 * (10.0 ** (m / 2595.0) - 1.0)
    edges = hz(np.linspace(mel(0.0), mel(rate / 2), n_mels + 2))
    bank = np.zeros((n_fft // 2 + 1, n_mels))
    for k, f in enumerate(np.arange(n_fft // 2 + 1) * rate / n_fft):
        for m in range(n_mels):
            low, centre, high = edges[m], edges[m + 1], edges[m + 2]
            if low <= f <= centre:
                bank[k, m] = (f - low) / (centre - low)
            elif centre < f <= high:
                bank[k, m] = (high - f) / (high - centre)
    window = np.zeros(n_fft)
    offset = (n_fft - win) // 2
    window[offset: offset + win] = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(win) / win)  # periodic Hann
    frames = [x[t * hop: t * hop + n_fft] * window for t in range(1 + (len(x) - n_fft) // hop)]
    return np.log(np.abs(np.fft.rfft(np.array(frames), axis=1)) ** 2 @ bank + 1e-6)


@pytest.mark.parametrize("tone_hz", [440.0, 1000.0, 3000.0])
def test_log_mel_matches_numpy_and_peaks_in_the_tone_bin(tone_hz):
    rate, n_mels = 16000, 40
    t = np.arange(int(0.3 * rate)) / rate
    x = 0.5 * np.sin(2 * np.pi * tone_hz * t) + 0.05 * np.random.default_rng(0).standard_normal(len(t))
    expected = numpy_log_mel(x, rate, 512, 400, 160, n_mels)
    features = log_mel(torch.tensor(x, dtype=torch.float32), rate, n_fft=512, win_length=400, hop_length=160,
                       n_mels=n_mels)
    assert features.shape == expected.shape == (1 + (len(x) - 512) // 160, n_mels)
    np.testing.assert_allclose(features.numpy(), expected, atol=2e-3, rtol=0)
    # the band whose centre (HTK mel, equally spaced up to 8 kHz) lies nearest the tone holds the most energy
    centres = 700.0 * (10.0 ** (np.linspace(0, 2595 * np.log10(1 + 8000 / 700), n_mels + 2)[1:-1] / 2595) - 1)
    assert int(features.mean(0).argmax()) == int(np.abs(centres - tone_hz).argmin())


def test_resample_keeps_a_tones_frequency():
    x = np.sin(2 * np.pi * 1000.0 * np.arange(22050) / 22050)  # 1 s of 1 kHz at 22.05 kHz
    y = resample(x, 22050, 16000)
    assert len(y) == 16000
    assert int(np.abs(np.fft.rfft(y)).argmax()) == 1000  # 1 Hz bins over 1 s
    np.testing.assert_allclose(y[100:-100], np.sin(2 * np.pi * 1000.0 * np.arange(16000) / 16000)[100:-100],
                               atol=1e-3)


def test_stack_frames_and_lengths():
    x = torch.arange(2 * 7 * 2, dtype=torch.float32).reshape(2, 7, 2)
    stacked, lengths = stack_frames(x, torch.tensor([7, 4]), 3)
    assert stacked.shape == (2, 3, 6) and lengths.tolist() == [3, 2]
    torch.testing.assert_close(stacked[0, 1], x[0, 3:6].flatten())
    torch.testing.assert_close(stacked[0, 2], torch.cat([x[0, 6], torch.zeros(4)]))


# ---- decoding ----------------------------------------------------------------------------------------------------
def one_hot_log_probs(paths: list[list[int]], classes: int) -> torch.Tensor:
    probs = torch.full((len(paths), max(map(len, paths)), classes), 0.01)
    for i, path in enumerate(paths):
        for t, label in enumerate(path):
            probs[i, t, label] = 1.0
    return (probs / probs.sum(-1, keepdim=True)).log()


def test_greedy_decoding_collapses_repeats_then_removes_blanks():
    paths = [[1, 1, 0, 1, 2, 2, 0, 0, 3], [0, 0, 0, 0, 0, 0, 0, 0, 0], [2, 0, 2, 2, 0, 3, 3, 3, 3],
             [3, 3, 1, 1, 1, 0, 0, 2, 2]]
    log_probs = one_hot_log_probs(paths, 4)
    assert greedy_decode(log_probs) == [[1, 1, 2, 3], [], [2, 2, 3], [3, 1, 2]]
    assert greedy_decode(log_probs, torch.tensor([9, 9, 3, 5])) == [[1, 1, 2, 3], [], [2, 2], [3, 1]]
    assert collapse([5, 5, 5]) == [5] and collapse([5, 0, 5]) == [5, 5]


def test_beam_width_1_equals_greedy_on_peaky_posteriors():
    # peaky (best class >= 0.9 at every frame, as trained CTC networks produce): width 1 follows the best path.
    # (On flat posteriors they may differ: the beam sums a prefix's alignments, best path takes one.)
    generator = torch.Generator().manual_seed(0)
    for _ in range(40):
        path = torch.randint(0, 5, (12,), generator=generator)
        probs = torch.rand(12, 5, generator=generator) * 0.02
        probs[torch.arange(12), path] = 0.92
        log_probs = (probs / probs.sum(-1, keepdim=True)).log()
        greedy = greedy_decode(log_probs[None])[0]
        assert greedy == collapse(path.tolist())
        assert prefix_beam_search(log_probs, beam_size=1, prune=None) == greedy


def labelling_probabilities(probs: np.ndarray) -> dict[tuple[int, ...], float]:
    """Exact CTC probability of every labelling: the sum over all C^T paths that collapse to it."""
    totals: dict[tuple[int, ...], float] = {}
    for path in itertools.product(range(probs.shape[1]), repeat=probs.shape[0]):
        labels = tuple(collapse(path))
        totals[labels] = totals.get(labels, 0.0) + math.prod(probs[t, c] for t, c in enumerate(path))
    return totals


def test_beam_search_finds_the_most_probable_labelling_where_greedy_fails():
    # blank, "a", "b": every frame's best class is the blank, so best path says "" (0.6^3 = 0.216); but "a" has
    # many alignments (a__, _a_, __a, aa_, ...) and is more probable in total
    probs = np.array([[0.6, 0.3, 0.1], [0.6, 0.25, 0.15], [0.6, 0.3, 0.1]])
    totals = labelling_probabilities(probs)
    assert math.isclose(sum(totals.values()), 1.0)
    best = max(totals, key=totals.get)
    log_probs = torch.tensor(np.log(probs), dtype=torch.float32)
    greedy = greedy_decode(log_probs[None])[0]
    assert tuple(greedy) == () and best == (1,) and totals[best] > totals[()]
    assert prefix_beam_search(log_probs, beam_size=16, prune=None) == list(best)
    assert beam_decode(log_probs[None], beam_size=4)[0] == list(best)


def test_beam_search_is_exact_on_random_small_distributions():
    rng = np.random.default_rng(3)
    for _ in range(20):
        probs = rng.dirichlet(np.ones(3) * 0.7, size=4)  # T=4, C=3: 81 paths
        totals = labelling_probabilities(probs)
        best = max(totals, key=totals.get)
        found = prefix_beam_search(torch.tensor(np.log(probs)), beam_size=64, prune=None)
        assert math.isclose(totals[tuple(found)], totals[best], rel_tol=1e-9)


# ---- metrics -----------------------------------------------------------------------------------------------------
def test_cer_and_wer_against_hand_counted_edits():
    characters = SpeechDataSpec().characters()
    index = {c: i for i, c in enumerate(characters)}
    encode = lambda texts: pad_labels([[index[c] for c in text] for text in texts])
    references = ["one two three", "yes", "five six"]
    hypotheses = ["one too three", "", "five six six"]
    # characters: "two"->"too" 1 substitution; "yes"->"" 3 deletions; " six" 4 insertions; reference 13 + 3 + 8
    # words: 1 substitution; 1 deletion; 1 insertion; reference 3 + 1 + 2
    cer, wer = CharacterErrorRate(characters), TranscriptWordErrorRate(characters)
    cer.update(encode(hypotheses), encode(references))
    wer.update(encode(hypotheses), encode(references))
    assert math.isclose(float(cer.compute()), (1 + 3 + 4) / (13 + 3 + 8), rel_tol=1e-6)
    assert math.isclose(float(wer.compute()), (1 + 1 + 1) / (3 + 1 + 2), rel_tol=1e-6)
    with pytest.raises(RuntimeError, match="characters"):
        CharacterErrorRate().update(encode(["one"]), encode(["one"]))


# ---- data --------------------------------------------------------------------------------------------------------
def test_splits_are_disjoint_by_voice():
    spec = SpeechDataSpec(utterances={"train": 400, "val": 100, "test": 100})
    plans = {split: plan_split(spec, split) for split in SPLITS}
    used = {split: {u.voice for u in plan} for split, plan in plans.items()}
    for split in SPLITS:
        assert used[split] <= set(spec.voices(split)) and len(used[split]) >= 3
    # no held-out voice, accent, variant or flite speaker occurs in training
    parts = lambda voices: {p for v in voices for p in v.split(":")[1].split("+")}
    for held_out in ("val", "test"):
        assert not used[held_out] & used["train"]
        assert not parts(used[held_out]) & parts(used["train"])
    assert not parts(used["val"]) & parts(used["test"])
    # augmentation only in training
    assert any(u.snr_db is not None for u in plans["train"]) and any(u.tempo != 1 for u in plans["train"])
    assert all(u.snr_db is None and u.tempo == 1 for split in ("val", "test") for u in plans[split])
    assert plan_split(spec, "test") == plans["test"]  # reproducible from the seed
    with pytest.raises(ValueError, match=r"variants: expected disjoint lists per split.*\['m1'\].*'train'.*'test'"):
        SpeechDataSpec(variants={"train": ["m1", "m2"], "val": ["m3"], "test": ["m1"]})


def test_missing_synthesisers_name_the_apt_command(tmp_path, monkeypatch):
    monkeypatch.setattr(speech.shutil, "which", lambda name: None)
    data = SpeechDigitsDataModule(root=str(tmp_path), train_utterances=4, val_utterances=2, test_utterances=2)
    with pytest.raises(FileNotFoundError, match=r"espeak-ng, flite.*apt-get install espeak-ng flite"):
        data.prepare_data()


@pytest.fixture(scope="module")
def data_root(tmp_path_factory):
    return tmp_path_factory.mktemp("speech")


@needs_engines
def test_generation_is_reproducible_16khz_and_manifested(data_root, tmp_path):
    spec = SpeechDataSpec(utterances={"train": 6, "val": 3, "test": 3})
    first, second = make_speech_data(spec, data_root), make_speech_data(spec, tmp_path)
    assert first.name == second.name
    rows = speech.read_manifest(first)
    assert [r["split"] for r in rows] == ["train"] * 6 + ["val"] * 3 + ["test"] * 3
    assert (first / "manifest.csv").read_text() == (second / "manifest.csv").read_text()
    versions = json.loads((first / "settings.json").read_text())["synthesizers"]
    assert set(versions) == {"espeak-ng", "flite"} and all(versions.values())
    for row in rows:
        samples, rate = read_wav(first / row["path"])
        assert rate == 16000 and math.isclose(len(samples) / rate, float(row["seconds"]), abs_tol=1e-3)
        assert (first / row["path"]).read_bytes() == (second / row["path"]).read_bytes()


@needs_engines
@pytest.mark.parametrize("voice", ["espeak-ng:en-gb-scotland+f3", "espeak-ng:en-us+f2", "flite:slt"])
def test_synthesis_does_not_depend_on_the_sound_systems_first_run(tmp_path, monkeypatch, voice):
    # espeak-ng's breath noise (variants f2, f3, f5) comes from the C library's unseeded rand(); its audio-output
    # probe (libpcaudio -> libpulse) draws 12 more numbers from it when libpulse first creates its runtime folder
    # for a user (a fresh HOME here, a fresh machine in CI), so the first synthesis in a new HOME sounded
    # different from the next one
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    for name in ("XDG_RUNTIME_DIR", "PULSE_RUNTIME_PATH", "PULSE_SERVER"):
        monkeypatch.delenv(name, raising=False)
    engine = voice.split(":")[0]
    utterance = speech.Utterance("test", 0, "six two zero", voice, 150 if engine == "espeak-ng" else 1.0, 40,
                                 1.0, None)
    (tmp_path / "work").mkdir()
    first, rate = speech.synthesize(utterance, tmp_path / "work")
    second, _ = speech.synthesize(utterance, tmp_path / "work")
    assert len(first) > rate // 4  # a real utterance, not an empty file
    np.testing.assert_array_equal(first, second)
    assert not (home / ".config" / "pulse").exists()  # the synthesisers never reached for a sound server


@needs_engines
def test_experiment_fast_dev_run(data_root, tmp_path):
    from lstmkit.train import run

    cfg = compose_config("train", ["experiment=asr_digits", "debug=fdr", "extras.print_config=false",
                                   f"data.root={data_root}", *TINY], tmp_path)
    run(cfg)
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert {"test/cer", "test/wer", "test/cer_beam", "test/wer_beam"} <= set(metrics["test"])


@needs_engines
def test_short_training_loss_falls_and_media_are_logged(data_root, tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from lstmkit.train import run

    cfg = compose_config("train", ["experiment=asr_digits", "extras.print_config=false", f"data.root={data_root}",
                                   "callbacks.rich_progress_bar=null", "callbacks.model_summary=null",
                                   "data.batch_size=8", "model.net.hidden_size=64", "model.net.spec_augment=null",
                                   "model.optimizer.lr=0.005", "trainer.max_epochs=12", "model.media_every_n_epochs=6",
                                   "model.test_beam_size=2", *TINY], tmp_path)
    run(cfg)
    events = EventAccumulator(str(tmp_path / "tensorboard"), size_guidance={"images": 0, "tensors": 0})
    events.Reload()
    losses = [event.value for event in events.Scalars("train/loss")]
    assert len(losses) == 12 and losses[-1] < 0.35 * losses[0], losses
    assert {"val/log_mel", "test/log_mel"} <= set(events.Tags()["images"])
    assert {"val/transcripts/text_summary", "test/transcripts/text_summary"} <= set(events.Tags()["tensors"])


def test_recognizer_with_lengths_vs_each_utterance_alone():
    torch.manual_seed(0)
    net = CTCRecognizer(6, input_size=4, hidden_size=8, num_layers=2, stride=2,
                        spec_augment={"freq_masks": 1, "time_masks": 1}).eval()
    lengths = torch.tensor([9, 5, 6])  # odd lengths: the last stacked step holds one real frame and zeros
    x = torch.randn(3, 9, 4)
    x[torch.arange(9) >= lengths[:, None]] = 100.0  # padding must not matter
    batched, out_lengths = net(x, lengths)
    assert out_lengths.tolist() == [5, 3, 3]
    for i, n in enumerate(lengths.tolist()):
        alone, _ = net(x[i: i + 1, :n], lengths[i: i + 1])
        torch.testing.assert_close(batched[i, : out_lengths[i]], alone[0], rtol=1e-5, atol=1e-5)
