"""Generate the synthetic speech data of ``experiment=asr_digits`` ahead of training (the datamodule also generates
it on first use): ``python scripts/make_speech_data.py [--root data_cache/speech_digits] [--seed 0] [--train 3000]``.

Needs ``espeak-ng`` and ``flite`` (``apt-get install espeak-ng flite``). The defaults are those of
``conf/data/speech_digits.yaml``, so the folder printed is the one the experiment reads; the voices per split, the
augmentation and the other settings are :class:`lstmkit.data.speech.SpeechDataSpec`'s. See docs/SEQUENCES.md.
"""

from __future__ import annotations

import argparse
import collections
import time

from lstmkit.data.speech import SPLITS, SpeechDataSpec, make_speech_data, read_manifest


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", default="data_cache/speech_digits", help="cache root (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=0, help="generation seed (default: %(default)s)")
    parser.add_argument("--train", type=int, default=3000, help="training utterances (default: %(default)s)")
    parser.add_argument("--val", type=int, default=300, help="validation utterances (default: %(default)s)")
    parser.add_argument("--test", type=int, default=500, help="test utterances (default: %(default)s)")
    parser.add_argument("--workers", type=int, default=None, help="synthesiser processes at once")
    args = parser.parse_args(argv)

    spec = SpeechDataSpec(seed=args.seed, utterances={"train": args.train, "val": args.val, "test": args.test})
    start = time.perf_counter()
    cached = (spec.folder(args.root) / "manifest.csv").exists()
    folder = make_speech_data(spec, args.root, args.workers, progress=True)
    print(f"{'cached' if cached else 'generated'} in {time.perf_counter() - start:.1f} s: {folder}")
    rows = read_manifest(folder)
    for split in SPLITS:
        voices = collections.Counter(row["voice"] for row in rows if row["split"] == split)
        minutes = sum(float(row["seconds"]) for row in rows if row["split"] == split) / 60
        print(f"{split}: {sum(voices.values())} utterances, {minutes:.1f} min, {len(voices)} voices: "
              + ", ".join(f"{voice} ({count})" for voice, count in sorted(voices.items())))


if __name__ == "__main__":
    main()
