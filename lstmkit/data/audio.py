"""Audio helpers for the speech experiment: 16-bit WAV files (standard library ``wave``), band-limited resampling,
noise at a given SNR, and a log-mel front end built from ``torch.stft`` and an HTK-scale triangular filterbank.

The filterbank is written here rather than taken from torchaudio because torchaudio pins an exact torch version.
"""

from __future__ import annotations

import math
import wave
from pathlib import Path

import numpy as np
import torch
from torch import Tensor


def read_wav(path: str | Path) -> tuple[np.ndarray, int]:
    """``(samples (N,) float32 in [-1, 1], sample_rate)`` of a mono 16-bit PCM WAV file."""
    with wave.open(str(path), "rb") as file:
        if file.getsampwidth() != 2 or file.getnchannels() != 1:
            raise ValueError(f"path: expected a mono 16-bit PCM WAV file, got {file.getnchannels()} channel(s) of "
                             f"{8 * file.getsampwidth()} bits in {path}")
        samples = np.frombuffer(file.readframes(file.getnframes()), dtype="<i2")
        return samples.astype(np.float32) / 32768.0, file.getframerate()


def write_wav(path: str | Path, samples: np.ndarray, sample_rate: int) -> None:
    """Write ``samples`` (float, [-1, 1]; clipped) as a mono 16-bit PCM WAV file."""
    pcm = np.clip(np.round(np.asarray(samples, dtype=np.float64) * 32767.0), -32768, 32767).astype("<i2")
    with wave.open(str(path), "wb") as file:
        file.setnchannels(1)
        file.setsampwidth(2)
        file.setframerate(int(sample_rate))
        file.writeframes(pcm.tobytes())


def resample(samples: np.ndarray, orig_rate: float, new_rate: float) -> np.ndarray:
    """Band-limited resampling by the FFT (``scipy.signal.resample``): the result has
    ``round(N · new_rate / orig_rate)`` samples. Speed perturbation by a factor ``f`` (faster and higher, like
    Kaldi's) is ``resample(x, rate, rate / f)`` played at ``rate``."""
    from scipy.signal import resample as fft_resample

    if orig_rate <= 0 or new_rate <= 0:
        raise ValueError(f"orig_rate, new_rate: expected positive rates, got {orig_rate} and {new_rate}")
    samples = np.asarray(samples, dtype=np.float64)
    m = max(1, round(len(samples) * new_rate / orig_rate))
    if m == len(samples):
        return samples.astype(np.float32)
    return fft_resample(samples, m).astype(np.float32)


def add_noise(samples: np.ndarray, snr_db: float, rng: np.random.Generator) -> np.ndarray:
    """``samples`` plus white Gaussian noise whose power is the utterance's mean power (silences included) divided by
    ``10 ** (snr_db / 10)``."""
    power = float(np.mean(np.square(samples, dtype=np.float64)))
    noise = rng.standard_normal(len(samples)) * math.sqrt(power / 10 ** (snr_db / 10))
    return (samples + noise).astype(np.float32)


def hz_to_mel(hz: Tensor | float) -> Tensor:
    """HTK mel scale: ``2595 · log10(1 + f / 700)``."""
    return 2595.0 * torch.log10(1.0 + torch.as_tensor(hz, dtype=torch.float64) / 700.0)


def mel_to_hz(mel: Tensor | float) -> Tensor:
    return 700.0 * (10.0 ** (torch.as_tensor(mel, dtype=torch.float64) / 2595.0) - 1.0)


def mel_filterbank(n_mels: int, n_fft: int, sample_rate: int, f_min: float = 0.0, f_max: float | None = None) -> Tensor:
    """``(n_fft // 2 + 1, n_mels)`` float32: triangular filters on the HTK mel scale, without area normalisation.

    Filter ``m`` rises linearly from the ``m``-th to the ``m + 1``-th of ``n_mels + 2`` points equally spaced in mel
    between ``f_min`` and ``f_max`` (default: the Nyquist frequency), peaks at 1 there, and falls to 0 at the
    ``m + 2``-th (torchaudio's ``melscale_fbanks(..., norm=None, mel_scale="htk")``).
    """
    f_max = sample_rate / 2 if f_max is None else f_max
    if not 0 <= f_min < f_max <= sample_rate / 2:
        raise ValueError(f"f_min, f_max: expected 0 <= f_min < f_max <= sample_rate / 2 = {sample_rate / 2}, got "
                         f"{f_min} and {f_max}")
    if n_mels < 1:
        raise ValueError(f"n_mels: expected a positive number of filters, got {n_mels}")
    points = mel_to_hz(torch.linspace(float(hz_to_mel(f_min)), float(hz_to_mel(f_max)), n_mels + 2,
                                      dtype=torch.float64))
    freqs = torch.arange(n_fft // 2 + 1, dtype=torch.float64) * sample_rate / n_fft
    left, centre, right = points[:-2], points[1:-1], points[2:]
    rising = (freqs[:, None] - left) / (centre - left)
    falling = (right - freqs[:, None]) / (right - centre)
    return rising.minimum(falling).clamp(min=0.0).float()


def log_mel(samples: Tensor, sample_rate: int = 16000, n_fft: int = 512, win_length: int = 400,
            hop_length: int = 160, n_mels: int = 40, f_min: float = 0.0, f_max: float | None = None,
            eps: float = 1e-6) -> Tensor:
    """Log-mel spectrogram ``(..., frames, n_mels)`` of ``samples (..., N)``: ``log(power @ filterbank + eps)``.

    Frame ``t`` covers samples ``[t · hop, t · hop + n_fft)`` (no centring padding), weighted by a periodic Hann
    window of ``win_length`` centred in it; ``frames = 1 + (N - n_fft) // hop`` (signals shorter than ``n_fft`` are
    zero-padded to one frame). Power is ``|FFT|²``.
    """
    samples = torch.as_tensor(samples, dtype=torch.float32)
    if samples.shape[-1] < n_fft:
        samples = torch.nn.functional.pad(samples, (0, n_fft - samples.shape[-1]))
    window = torch.hann_window(win_length, periodic=True, dtype=samples.dtype, device=samples.device)
    flat = samples.reshape(-1, samples.shape[-1])
    spectrum = torch.stft(flat, n_fft, hop_length=hop_length, win_length=win_length, window=window, center=False,
                          return_complex=True)  # (B, n_fft // 2 + 1, frames)
    power = spectrum.real.square() + spectrum.imag.square()
    bank = mel_filterbank(n_mels, n_fft, sample_rate, f_min, f_max).to(samples.device)
    mel = torch.log(power.transpose(1, 2) @ bank + eps)
    return mel.reshape(*samples.shape[:-1], *mel.shape[1:])


def frames_for(num_samples: int, n_fft: int = 512, hop_length: int = 160) -> int:
    """Frames :func:`log_mel` makes from ``num_samples`` samples."""
    return 1 + (max(num_samples, n_fft) - n_fft) // hop_length
