"""Synthetic speech for CTC recognition: connected digit strings and single commands spoken by Debian's ``espeak-ng``
and ``flite`` voices (``apt-get install espeak-ng flite``), generated offline, reproducibly from a seed, and cached.

**Utterances.** A digit string of 1 to ``max_digits`` words from ``zero one … nine`` or, with probability
``command_share``, one command word (default: ``yes no up down left right on off stop go``, the ten core words of
Speech Commands). Transcripts are lower-case words separated by one space; the recogniser's alphabet is their
letters plus the space.

**Voices.** An espeak-ng voice is an accent (``-v en-gb-scotland``) with a voice variant (``+f3``): its id is
``espeak-ng:en-gb-scotland+f3``; a flite voice is one of its built-in voices (``flite:rms``). Each utterance picks
flite with probability ``flite_share`` (espeak-ng otherwise), then a voice of that engine uniformly, a speed
(espeak-ng: words per minute, ``-s``; flite: ``duration_stretch``, > 1 is slower) and a pitch (espeak-ng: ``-p``,
0–99; flite: ``int_f0_target_mean`` in Hz, which the ``rms`` voice ignores).

**Splits are by voice.** ``accents``, ``variants`` and ``flite_voices`` each give disjoint lists for ``train``,
``val`` and ``test``; a split's espeak-ng voices are its accents × its variants, and its flite voices are its own
list. So no test or validation voice occurs in training — and more strictly, no accent, no variant and no flite
voice of a held-out split occurs in training either (a test voice is a new accent spoken with a new variant, or a
new flite speaker). Overlapping lists raise an error.

**Audio.** Every file is resampled to 16 kHz mono 16-bit (espeak-ng writes 22.05 kHz, flite's ``kal`` 8 kHz).
Training utterances only are augmented: with probability ``speed_perturb_prob`` a speed factor drawn from
``speed_perturb`` (resampling: faster and higher, like Kaldi's speed perturbation), and with probability
``noise_prob`` white noise at an SNR drawn from ``snr_db``. Validation and test audio is clean.

**Cache.** ``<root>/<hash of the settings>/``: ``wav/<split>/<index>.wav``, ``settings.json`` (the settings and the
synthesisers' versions) and ``manifest.csv`` (``path, transcript, voice, engine, speed, pitch, tempo, snr_db, split,
seconds``; written last, so a folder with a manifest is complete).

**Reproducibility.** The same settings give the same folder and byte-identical files with the same espeak-ng and
flite releases (and the same numpy/scipy, which resample and add noise), whatever the machine's state: in how
many threads, in which order, or on a fresh machine (see :func:`synthesizer_environment`). Another synthesiser
release may change the audio; the folder name does not change with it, ``settings.json`` records the versions.
"""

from __future__ import annotations

import concurrent.futures
import csv
import dataclasses
import hashlib
import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset

from lstmkit.data.audio import add_noise, log_mel, read_wav, resample, write_wav
from lstmkit.data.resumable import ResumableDataModule
from lstmkit.data.sequences import pad
from lstmkit.data.vocab import Vocabulary

SPLITS = ("train", "val", "test")
SAMPLE_RATE = 16000
DIGITS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
COMMANDS = ("yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go")
BLANK = "<blank>"
FORMAT_VERSION = 1  # bump when the generation code changes what the same settings produce
MANIFEST_FIELDS = ("path", "transcript", "voice", "engine", "speed", "pitch", "tempo", "snr_db", "split", "seconds")
INSTALL_HINT = "apt-get install espeak-ng flite"

DEFAULT_ACCENTS = {"train": ["en-gb", "en-us", "en-gb-x-rp", "en-gb-x-gbclan", "en-gb-x-gbcwmd"], "val": ["en-029"],
                   "test": ["en-gb-scotland", "en-us-nyc"]}
DEFAULT_VARIANTS = {"train": ["m1", "m2", "m4", "m5", "m7", "f1", "f2", "f5"], "val": ["m6", "f4"],
                    "test": ["m3", "f3"]}
DEFAULT_FLITE_VOICES = {"train": ["kal", "kal16", "slt"], "val": ["awb"], "test": ["rms"]}
FLITE_PITCH = {"slt": (150.0, 210.0)}  # Hz; the other (male) voices: FLITE_MALE_PITCH
FLITE_MALE_PITCH = (85.0, 135.0)


def _per_split(value: Mapping[str, Sequence[str]] | None, default: dict[str, list[str]], name: str) -> dict:
    value = default if value is None else value
    if set(value) - set(SPLITS):
        raise ValueError(f"{name}: expected lists for the splits {list(SPLITS)}, got keys {sorted(value)}")
    lists = {split: tuple(str(v) for v in value.get(split, ())) for split in SPLITS}
    for i, first in enumerate(SPLITS):
        for second in SPLITS[i + 1:]:
            shared = sorted(set(lists[first]) & set(lists[second]))
            if shared:
                raise ValueError(f"{name}: expected disjoint lists per split (the splits are by voice), but "
                                 f"{shared} are in both {first!r} and {second!r}")
    return lists


def _range(value: Sequence[float], name: str, low: float = -np.inf) -> tuple[float, float]:
    pair = tuple(float(v) for v in value)
    if len(pair) != 2 or not low <= pair[0] <= pair[1]:
        raise ValueError(f"{name}: expected [low, high] with {low} <= low <= high, got {list(value)}")
    return pair


@dataclasses.dataclass(frozen=True)
class SpeechDataSpec:
    """Everything that decides the generated data set (its hash names the cache folder); see the module docstring.

    Args:
        seed: generation seed (texts, voices, speeds, pitches, augmentation).
        utterances: ``{split: count}``.
        accents, variants, flite_voices: ``{split: [names]}``, disjoint across splits.
        commands: the command words.
        command_share: probability that an utterance is one command instead of a digit string.
        max_digits: digit strings have 1 to ``max_digits`` digits (uniform).
        flite_share: probability of a flite voice (when the split has both engines).
        espeak_speed, espeak_pitch: ranges of espeak-ng's ``-s`` (words per minute) and ``-p`` (0–99).
        flite_stretch: range of flite's ``duration_stretch``.
        speed_perturb_prob, speed_perturb: training only: probability and range of the resampling speed factor.
        noise_prob, snr_db: training only: probability of white noise and the range of its SNR in dB.
    """

    seed: int = 0
    utterances: Mapping[str, int] = dataclasses.field(
        default_factory=lambda: {"train": 3000, "val": 300, "test": 500})
    accents: Mapping[str, Sequence[str]] = dataclasses.field(default_factory=lambda: DEFAULT_ACCENTS)
    variants: Mapping[str, Sequence[str]] = dataclasses.field(default_factory=lambda: DEFAULT_VARIANTS)
    flite_voices: Mapping[str, Sequence[str]] = dataclasses.field(default_factory=lambda: DEFAULT_FLITE_VOICES)
    commands: Sequence[str] = COMMANDS
    command_share: float = 0.25
    max_digits: int = 5
    flite_share: float = 0.4
    espeak_speed: Sequence[float] = (130.0, 200.0)
    espeak_pitch: Sequence[float] = (25.0, 75.0)
    flite_stretch: Sequence[float] = (0.8, 1.25)
    speed_perturb_prob: float = 0.5
    speed_perturb: Sequence[float] = (0.85, 1.15)
    noise_prob: float = 0.5
    snr_db: Sequence[float] = (10.0, 30.0)

    def __post_init__(self) -> None:  # normalise (Hydra passes DictConfig/ListConfig) and check
        counts = {split: int(self.utterances.get(split, 0)) for split in SPLITS}
        if set(self.utterances) - set(SPLITS) or any(counts[s] < 1 for s in SPLITS):
            raise ValueError(f"utterances: expected a positive count for each of {list(SPLITS)}, "
                             f"got {dict(self.utterances)}")
        fields = {
            "utterances": counts,
            "accents": _per_split(self.accents, DEFAULT_ACCENTS, "accents"),
            "variants": _per_split(self.variants, DEFAULT_VARIANTS, "variants"),
            "flite_voices": _per_split(self.flite_voices, DEFAULT_FLITE_VOICES, "flite_voices"),
            "commands": tuple(str(c).lower() for c in self.commands),
            "espeak_speed": _range(self.espeak_speed, "espeak_speed", 80.0),
            "espeak_pitch": _range(self.espeak_pitch, "espeak_pitch", 0.0),
            "flite_stretch": _range(self.flite_stretch, "flite_stretch", 0.1),
            "speed_perturb": _range(self.speed_perturb, "speed_perturb", 0.1),
            "snr_db": _range(self.snr_db, "snr_db"),
        }
        for name, value in fields.items():
            object.__setattr__(self, name, value)
        for name in ("command_share", "flite_share", "speed_perturb_prob", "noise_prob"):
            if not 0 <= getattr(self, name) <= 1:
                raise ValueError(f"{name}: expected a probability in [0, 1], got {getattr(self, name)}")
        if self.max_digits < 1:
            raise ValueError(f"max_digits: expected at least 1, got {self.max_digits}")
        if any(not c.isalpha() for c in self.commands):
            raise ValueError(f"commands: expected single words of letters, got {list(self.commands)}")
        for split in SPLITS:
            if not self.voices(split):
                raise ValueError(f"accents, variants, flite_voices: the {split!r} split has no voice (it needs an "
                                 "accent and a variant, or a flite voice)")

    def voices(self, split: str) -> list[str]:
        """The split's voice ids: espeak-ng accents × variants, then flite voices."""
        espeak = [f"espeak-ng:{a}+{v}" for a in self.accents[split] for v in self.variants[split]]
        return espeak + [f"flite:{name}" for name in self.flite_voices[split]]

    def engines(self) -> list[str]:
        """The synthesisers the data set needs."""
        needed = {voice.split(":")[0] for split in SPLITS for voice in self.voices(split)}
        return [engine for engine in ("espeak-ng", "flite") if engine in needed]

    def characters(self) -> list[str]:
        """The CTC alphabet: ``<blank>`` (id 0), the space (id 1), then the letters of all words, sorted."""
        return [BLANK, " ", *sorted(set("".join(DIGITS + tuple(self.commands))))]

    def as_json(self) -> str:
        return json.dumps({"format": FORMAT_VERSION, **dataclasses.asdict(self)}, sort_keys=True)

    def folder(self, root: str | Path) -> Path:
        """``<root>/<12 hex digits of the settings' SHA-1>``."""
        return Path(root) / hashlib.sha1(self.as_json().encode()).hexdigest()[:12]


@dataclasses.dataclass(frozen=True)
class Utterance:
    """One planned utterance (a manifest row before synthesis)."""

    split: str
    index: int
    transcript: str
    voice: str
    speed: float
    pitch: float
    tempo: float  # speed-perturbation factor (1: none)
    snr_db: float | None  # None: no noise

    @property
    def engine(self) -> str:
        return self.voice.split(":")[0]

    @property
    def path(self) -> str:
        return f"wav/{self.split}/{self.index:05d}.wav"


def plan_split(spec: SpeechDataSpec, split: str) -> list[Utterance]:
    """The split's utterances (texts, voices, speeds, pitches, augmentation), drawn from ``(seed, split)`` alone."""
    rng = np.random.default_rng([spec.seed, SPLITS.index(split)])
    voices = spec.voices(split)
    espeak = [v for v in voices if v.startswith("espeak-ng:")]
    flite = [v for v in voices if v.startswith("flite:")]
    plan = []
    for index in range(spec.utterances[split]):
        if rng.random() < spec.command_share:
            words = [spec.commands[rng.integers(len(spec.commands))]]
        else:
            words = [DIGITS[d] for d in rng.integers(10, size=rng.integers(1, spec.max_digits + 1))]
        use_flite = bool(flite) and (not espeak or rng.random() < spec.flite_share)
        pool = flite if use_flite else espeak
        voice = pool[rng.integers(len(pool))]
        if use_flite:
            speed = round(float(rng.uniform(*spec.flite_stretch)), 3)
            pitch = round(float(rng.uniform(*FLITE_PITCH.get(voice.split(":")[1], FLITE_MALE_PITCH))))
        else:
            speed = round(float(rng.uniform(*spec.espeak_speed)))
            pitch = round(float(rng.uniform(*spec.espeak_pitch)))
        tempo, snr = 1.0, None
        if split == "train":  # augmentation: training only
            if rng.random() < spec.speed_perturb_prob:
                tempo = round(float(rng.uniform(*spec.speed_perturb)), 3)
            if rng.random() < spec.noise_prob:
                snr = round(float(rng.uniform(*spec.snr_db)), 1)
        plan.append(Utterance(split, index, " ".join(words), voice, speed, pitch, tempo, snr))
    return plan


def check_engines(spec: SpeechDataSpec, folder: Path | None = None) -> None:
    """Raise ``FileNotFoundError`` naming the missing synthesisers and the install command."""
    missing = [engine for engine in spec.engines() if shutil.which(engine) is None]
    if missing:
        where = f" (no generated copy in {folder})" if folder is not None else ""
        raise FileNotFoundError(f"the speech data needs the text-to-speech program(s) {', '.join(missing)} to "
                                f"synthesise its utterances{where}; install them with: {INSTALL_HINT}")
    if "flite" in spec.engines():
        listed = subprocess.run(["flite", "-lv"], capture_output=True, text=True, check=False).stdout.split()
        unknown = sorted({v for split in SPLITS for v in spec.flite_voices[split]} - set(listed))
        if unknown:
            raise ValueError(f"flite_voices: {unknown} are not built into this flite; available: {listed[2:]}")


def engine_versions(spec: SpeechDataSpec) -> dict[str, str]:
    """``{engine: its --version output on one line}`` for the synthesisers ``spec`` needs. Recorded in
    ``settings.json`` and not part of the folder's hash: another espeak-ng or flite release may give other audio."""
    return {engine: " ".join(subprocess.run([engine, "--version"], capture_output=True, text=True,
                                            check=False).stdout.split()) for engine in spec.engines()}


def synthesizer_environment(workdir: str | Path) -> dict[str, str]:
    """The environment the synthesisers run in: ours, with PulseAudio pointed at a socket that does not exist and a
    runtime folder inside ``workdir``.

    espeak-ng writes files, yet its audio library (libpcaudio) still probes for a PulseAudio server first, and
    libpulse, on its first run for a user (no ``~/.config/pulse/<machine-id>-runtime`` link, or its ``/tmp/pulse-*``
    target cleaned away), names a new runtime folder with 12 draws from the C library's ``rand()`` -- the unseeded
    generator that espeak-ng's breath noise (voice variants ``f2``, ``f3``, ``f5``) draws from too. The first
    utterances on a fresh machine then came out different from the same utterances later. With an explicit server
    address libpulse neither looks for nor creates a runtime folder, fails to connect at once, and never touches a
    sound server the user may be running.
    """
    workdir = Path(workdir)
    return {**os.environ, "PULSE_SERVER": f"unix:{workdir / 'no-sound-server'}",
            "PULSE_RUNTIME_PATH": str(workdir / "pulse")}


def synthesize(utterance: Utterance, workdir: str | Path) -> tuple[np.ndarray, int]:
    """Run the utterance's synthesiser; ``(samples float32, sample_rate)`` as it wrote them."""
    engine, name = utterance.voice.split(":", 1)
    path = Path(workdir) / f"{utterance.split}_{utterance.index}.wav"
    if engine == "espeak-ng":
        command = ["espeak-ng", "-v", name, "-s", f"{utterance.speed:g}", "-p", f"{utterance.pitch:g}", "-w",
                   str(path), utterance.transcript]
    else:
        command = ["flite", "-voice", name, "--setf", f"duration_stretch={utterance.speed:g}", "--setf",
                   f"int_f0_target_mean={utterance.pitch:g}", "-t", utterance.transcript, "-o", str(path)]
    result = subprocess.run(command, capture_output=True, text=True, check=False,
                            env=synthesizer_environment(workdir))
    if result.returncode != 0 or not path.exists():
        raise RuntimeError(f"{engine} failed for voice {utterance.voice!r} (exit {result.returncode}): "
                           f"{result.stderr.strip() or result.stdout.strip()}\ncommand: {' '.join(command)}")
    samples, rate = read_wav(path)
    path.unlink()
    return samples, rate


def render(spec: SpeechDataSpec, utterance: Utterance, folder: Path, workdir: str | Path) -> float:
    """Synthesise, resample to 16 kHz, augment (training plan only) and write one utterance; its seconds."""
    samples, rate = synthesize(utterance, workdir)
    samples = resample(samples, rate, SAMPLE_RATE)
    if utterance.tempo != 1.0:
        samples = resample(samples, SAMPLE_RATE, SAMPLE_RATE / utterance.tempo)
    if utterance.snr_db is not None:
        rng = np.random.default_rng([spec.seed, SPLITS.index(utterance.split), utterance.index])
        samples = add_noise(samples, utterance.snr_db, rng)
    peak = float(np.abs(samples).max(initial=0.0))
    if peak > 0.99:  # noise or resampling overshoot: scale down rather than clip
        samples = samples * (0.99 / peak)
    write_wav(folder / utterance.path, samples, SAMPLE_RATE)
    return len(samples) / SAMPLE_RATE


def make_speech_data(spec: SpeechDataSpec, root: str | Path, workers: int | None = None,
                     progress: bool = False) -> Path:
    """Generate the data set of ``spec`` under ``root`` unless it is already there; its folder.

    ``workers``: synthesiser processes run at once (default: the CPU count, at most 4)."""
    folder = spec.folder(root)
    if (folder / "manifest.csv").exists():
        return folder
    check_engines(spec, folder)
    for split in SPLITS:
        (folder / "wav" / split).mkdir(parents=True, exist_ok=True)
    settings = {**json.loads(spec.as_json()), "synthesizers": engine_versions(spec)}
    (folder / "settings.json").write_text(json.dumps(settings, indent=2) + "\n")
    rows = []
    workers = workers or min(4, os.cpu_count() or 1)
    with tempfile.TemporaryDirectory(prefix="lstmkit_speech_") as workdir, \
            concurrent.futures.ThreadPoolExecutor(workers) as pool:
        for split in SPLITS:
            plan = plan_split(spec, split)
            seconds = list(pool.map(lambda u: render(spec, u, folder, workdir), plan))
            rows += [{"path": u.path, "transcript": u.transcript, "voice": u.voice, "engine": u.engine,
                      "speed": u.speed, "pitch": u.pitch, "tempo": u.tempo,
                      "snr_db": "" if u.snr_db is None else u.snr_db, "split": split, "seconds": round(s, 3)}
                     for u, s in zip(plan, seconds)]
            if progress:
                print(f"{split}: {len(plan)} utterances, {sum(seconds) / 60:.1f} min of audio")
    temporary = folder / "manifest.csv.tmp"
    with temporary.open("w", newline="") as file:
        writer = csv.DictWriter(file, fieldnames=MANIFEST_FIELDS)
        writer.writeheader()
        writer.writerows(rows)
    os.replace(temporary, folder / "manifest.csv")
    return folder


def read_manifest(folder: str | Path) -> list[dict[str, str]]:
    """The manifest's rows (all values strings; ``path`` relative to ``folder``)."""
    with (Path(folder) / "manifest.csv").open(newline="") as file:
        return list(csv.DictReader(file))


class PaddedFeatures(Dataset):
    """Items ``(features (T_max, F), length, target (L_max,), target_length)``, zero-padded to the data set's
    longest utterance and transcript (cut back per batch with :func:`lstmkit.data.sequences.trim`)."""

    def __init__(self, features: Sequence[Tensor], targets: Sequence[Sequence[int]]) -> None:
        if len(features) != len(targets):
            raise ValueError(f"targets: expected one per utterance ({len(features)}), got {len(targets)}")
        self.features = list(features)
        self.lengths = torch.tensor([len(f) for f in features], dtype=torch.long)
        self.targets, self.target_lengths = pad(targets)
        self.max_frames = int(self.lengths.max())

    def __len__(self) -> int:
        return len(self.features)

    def __getitem__(self, i: int) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        padded = torch.zeros(self.max_frames, self.features[i].shape[1])
        padded[: len(self.features[i])] = self.features[i]
        return padded, self.lengths[i], self.targets[i], self.target_lengths[i]


class SpeechDigitsDataModule(ResumableDataModule):
    """Batches ``(log-mel features (B, T, n_mels), lengths (B,), characters (B, L), target lengths (B,))`` of the
    synthetic digit and command utterances (module docstring), generated under ``root`` on first use.

    Features: :func:`lstmkit.data.audio.log_mel` (25 ms Hann window, 10 ms hop, 512-point FFT at 16 kHz), then
    ``normalize``: ``"global"`` (each mel band to zero mean and unit variance over all training frames),
    ``"utterance"`` (the same per utterance) or ``"none"``. Character ids follow
    :meth:`SpeechDataSpec.characters` (0 is the CTC blank, never a target).

    Args:
        root: cache root (the experiment uses ``${paths.data_dir}/speech_digits``).
        train_utterances, val_utterances, test_utterances: utterances per split.
        workers: synthesiser processes at once when generating.
        n_mels, n_fft, win_length, hop_length: the log-mel front end.
        normalize: ``"global"``, ``"utterance"`` or ``"none"``.
        batch_size, num_workers, pin_memory: see :class:`ResumableDataModule`.
        **spec: the other :class:`SpeechDataSpec` fields (seed, voices per split, augmentation, …).
    """

    def __init__(self, root: str = "data_cache/speech_digits", train_utterances: int = 3000,
                 val_utterances: int = 300, test_utterances: int = 500, workers: int | None = None, n_mels: int = 40,
                 n_fft: int = 512, win_length: int = 400, hop_length: int = 160, normalize: str = "global",
                 batch_size: int = 32, num_workers: int = 0, pin_memory: bool = False, **spec) -> None:
        super().__init__(batch_size=batch_size, num_workers=num_workers, pin_memory=pin_memory)
        if normalize not in ("global", "utterance", "none"):
            raise ValueError(f"normalize: expected 'global', 'utterance' or 'none', got {normalize!r}")
        valid = sorted({f.name for f in dataclasses.fields(SpeechDataSpec)} - {"utterances"})
        if set(spec) - set(valid):
            raise TypeError(f"SpeechDigitsDataModule: unknown argument(s) {sorted(set(spec) - set(valid))}; the "
                            f"data settings besides the explicit arguments are {valid}")
        utterances = {"train": train_utterances, "val": val_utterances, "test": test_utterances}
        self.spec = SpeechDataSpec(utterances=utterances, **spec)
        self.root, self.workers, self.normalize = root, workers, normalize
        self.front_end = {"n_mels": n_mels, "n_fft": n_fft, "win_length": win_length, "hop_length": hop_length}
        self.characters = self.spec.characters()
        self.vocab = Vocabulary(self.characters)  # no <unk>: a character outside the alphabet is a KeyError
        self.manifest: list[dict[str, str]] = []
        self.datasets: dict[str, PaddedFeatures] = {}

    @property
    def folder(self) -> Path:
        return self.spec.folder(self.root)

    def vocabularies(self) -> dict[str, list[str]]:
        """``{"characters": ["<blank>", " ", letters…]}``: the task sizes its CTC head from it."""
        return {"characters": self.characters}

    def prepare_data(self) -> None:
        make_speech_data(self.spec, self.root, self.workers)

    def encode(self, transcript: str) -> list[int]:
        return self.vocab.encode(transcript)

    def setup(self, stage: str | None = None) -> None:
        if self.datasets:
            return
        folder = make_speech_data(self.spec, self.root, self.workers)
        self.manifest = read_manifest(folder)
        features: dict[str, list[Tensor]] = {split: [] for split in SPLITS}
        targets: dict[str, list[list[int]]] = {split: [] for split in SPLITS}
        for row in self.manifest:
            samples, rate = read_wav(folder / row["path"])
            if rate != SAMPLE_RATE:
                raise ValueError(f"{row['path']}: expected {SAMPLE_RATE} Hz audio, got {rate} Hz")
            features[row["split"]].append(log_mel(torch.from_numpy(samples), SAMPLE_RATE, **self.front_end))
            targets[row["split"]].append(self.encode(row["transcript"]))
        if self.normalize == "global":
            frames = torch.cat(features["train"])
            mean, std = frames.mean(0), frames.std(0).clamp(min=1e-5)
            features = {split: [(f - mean) / std for f in items] for split, items in features.items()}
        elif self.normalize == "utterance":
            features = {split: [(f - f.mean(0)) / f.std(0).clamp(min=1e-5) for f in items]
                        for split, items in features.items()}
        self.datasets = {split: PaddedFeatures(features[split], targets[split]) for split in SPLITS}
