"""Language modelling: tokenizer and vocabulary, BPTT batching, the carried state, sampling, generation."""

from __future__ import annotations

import json

import pytest
import torch
from helpers import compose_config

from lstmkit.data.language_modeling import BPTTDataset, LanguageModelDataModule, batchify, split_lines
from lstmkit.data.vocab import EOS, UNK, Tokenizer, Vocabulary
from lstmkit.models.language_model import LSTMLanguageModel
from lstmkit.models.sampling import filter_logits, sample_next
from lstmkit.models.sampling import generate as generate_ids

TEXT = "the cat sat on the mat\nthe dog sat\n\na cat ran\n"


@pytest.mark.parametrize("level", ["word", "char"])
def test_tokenizer_round_trip(level):
    tokenizer = Tokenizer(level)
    tokens = tokenizer.tokenize(TEXT)
    assert tokens.count(EOS) == 3
    assert tokenizer.join(tokens) == "the cat sat on the mat\nthe dog sat\na cat ran\n"
    if level == "char":
        assert tokens[:4] == ["t", "h", "e", " "]


def test_vocabulary_ids_and_unknown_tokens():
    vocab = Vocabulary.build([Tokenizer("word").tokenize(TEXT)], min_freq=2)
    # kept: the (3), sat (2), cat (2) and <eos> (3, a special); by falling count, ties alphabetical
    assert vocab.tokens == ["<pad>", UNK, EOS, "<bos>", "the", "cat", "sat"]
    assert vocab.encode(["the", "dog", "zebra"]) == [4, 1, 1]
    assert vocab.decode(vocab.encode(["sat", "cat"])) == ["sat", "cat"]
    with pytest.raises(KeyError, match="no <unk>"):
        Vocabulary(["a", "b"]).encode(["c"])
    with pytest.raises(ValueError, match="duplicates"):
        Vocabulary(["a", "a"])


def test_bptt_batches_are_contiguous_rows():
    ids = list(range(103))
    stream = batchify(ids, 4)  # 25 columns, the last 3 tokens dropped
    assert stream.shape == (4, 25) and stream[1, 0] == 25
    dataset = BPTTDataset(stream, bptt=10)
    batches = list(torch.utils.data.DataLoader(dataset, batch_size=4))
    assert [tuple(x.shape) for x, _ in batches] == [(4, 10), (4, 10), (4, 4)]
    for i, (x, y) in enumerate(batches):
        for b in range(4):
            start = 25 * b + 10 * i
            assert x[b].tolist() == list(range(start, start + x.shape[1]))
            assert y[b].tolist() == list(range(start + 1, start + 1 + x.shape[1]))


def test_user_files_and_single_file_split(tmp_path):
    lines = [f"line {i} word{i % 7}" for i in range(100)]
    (tmp_path / "all.txt").write_text("\n".join(lines))
    parts = split_lines("\n".join(lines), (0.8, 0.1, 0.1))
    assert parts["val"].splitlines() == lines[80:90]
    for name, part in parts.items():
        (tmp_path / f"{name}.txt").write_text(part)
    one = LanguageModelDataModule(path=str(tmp_path / "all.txt"), split=(0.8, 0.1, 0.1), bptt=5, batch_size=2)
    three = LanguageModelDataModule(train_path=str(tmp_path / "train.txt"), val_path=str(tmp_path / "val.txt"),
                                    test_path=str(tmp_path / "test.txt"), bptt=5, batch_size=2)
    for datamodule in (one, three):
        datamodule.setup()
        x, y = next(iter(datamodule.train_dataloader()))
        assert x.shape == (2, 5) and datamodule.vocab.decode(x[0, :3]) == ["line", "0", "word0"]
    assert one.vocab == three.vocab
    with pytest.raises(ValueError, match="test_path"):
        LanguageModelDataModule(train_path="a", val_path="b").setup()


def test_state_is_carried_and_detached_across_batches():
    from lstmkit.tasks.language_model import LanguageModelTask

    torch.manual_seed(0)
    net = LSTMLanguageModel(vocab_size=11, embedding_size=6, hidden_size=6, num_layers=2, backend="reference")
    task = LanguageModelTask(net=net, optimizer={"_target_": "torch.optim.SGD", "_partial_": True, "lr": 1.0})
    task.train()
    stream = torch.randint(0, 11, (3, 13))
    first = task.step((stream[:, :6], stream[:, 1:7]))[1]
    second = task.step((stream[:, 6:12], stream[:, 7:13]))[1]
    assert not task._states["train"][0].requires_grad
    whole, _ = net(stream[:, :12])  # one uninterrupted pass over both windows
    torch.testing.assert_close(torch.cat([first, second], 1), whole)


def test_temperature_zero_is_argmax_and_top_k_stays_in_top_k():
    torch.manual_seed(0)
    logits = torch.randn(64, 50)
    assert torch.equal(sample_next(logits, temperature=0.0), logits.argmax(-1))
    top5 = logits.topk(5, -1).indices
    generator = torch.Generator().manual_seed(1)
    for _ in range(50):
        draw = sample_next(logits, temperature=2.0, top_k=5, generator=generator)
        assert (top5 == draw[:, None]).any(-1).all()


class Favouring(torch.nn.Module):
    """A stand-in language model whose next-token distribution puts 0.99 of its mass on ids 0 and 3."""

    def __init__(self) -> None:
        super().__init__()
        self.anchor = torch.nn.Parameter(torch.zeros(()))

    def forward(self, tokens, state=None):
        probs = torch.full((6,), 0.01 / 4).index_fill(0, torch.tensor([0, 3]), 0.495)
        return probs.log().expand(*tokens.shape, 6), state


def test_generation_never_emits_a_banned_id():
    generator = torch.Generator().manual_seed(0)
    free = generate_ids(Favouring(), [1], 200, generator=generator)
    assert {0, 3} <= set(free)  # without the ban, the favoured ids dominate
    banned = generate_ids(Favouring(), [1], 200, generator=generator, banned=[0, 3])
    assert len(banned) == 200 and not {0, 3} & set(banned)
    assert set(generate_ids(Favouring(), [1], 5, temperature=0, banned=[0, 3])) <= {1, 2, 4, 5}
    with pytest.raises(ValueError, match="banned"):
        generate_ids(Favouring(), [1], 5, banned=[6])


def test_top_p_keeps_the_smallest_set_reaching_p():
    probs = torch.tensor([0.05, 0.5, 0.1, 0.3, 0.05])
    kept = torch.isfinite(filter_logits(probs.log(), top_p=0.85))
    assert kept.tolist() == [False, True, True, True, False]  # 0.5 + 0.3 = 0.8 < 0.85, + 0.1 reaches it
    kept = torch.isfinite(filter_logits(probs.log(), top_p=0.5))
    assert kept.tolist() == [False, True, False, False, False]


def test_short_training_lowers_the_loss_and_generates(tmp_path):
    from lstmkit.generate import run as generate
    from lstmkit.train import run

    text = "\n".join(["the cat sat on the mat", "a dog ran to the park", "the bird sang in the tree"] * 60)
    (tmp_path / "corpus.txt").write_text(text)
    cfg = compose_config("train", [
        "experiment=lm_ptb_word", f"data.path={tmp_path / 'corpus.txt'}", "data.split=[0.8,0.1,0.1]",
        "data.bptt=10", "data.batch_size=4", "model.net.hidden_size=32", "model.net.embedding_size=32",
        "model.net.tie_weights=true", "model.optimizer._target_=torch.optim.Adam", "model.optimizer.lr=0.01",
        "trainer.max_epochs=6", "model.scheduler=null",
        "logger=csv", "extras.print_config=false", "callbacks.rich_progress_bar=null",
        "callbacks.model_summary=null"], tmp_path / "run")
    run(cfg)
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    # from the vocabulary's size (21: a uniform guess) to the few choices left in a text that repeats
    assert metrics["test"]["test/perplexity"] < 2.0
    generation = compose_config("generate", [f"ckpt_path={metrics['best_checkpoint']}", "prompt=the cat",
                                             "temperature=0", "max_new_tokens=5", "num_samples=1"], tmp_path / "g")
    (sample,) = generate(generation)
    assert sample.startswith("the cat sat on the mat\n")


def test_tokenizer_pattern_and_its_errors():
    tokenizer = Tokenizer("word", lowercase=True, pattern=r"\w+(?:'\w+)?|[!?]")
    assert tokenizer.split("It's GOOD, isn't it?!") == ["it's", "good", "isn't", "it", "?", "!"]
    assert Tokenizer("word").split("good. tea") == ["good.", "tea"]  # no pattern: whitespace words
    with pytest.raises(ValueError, match="pattern: expected a regular expression"):
        Tokenizer("word", pattern="(unclosed")
    with pytest.raises(ValueError, match="non-capturing"):
        Tokenizer("word", pattern=r"(\w+)")  # findall would return the group, not the match
    with pytest.raises(ValueError, match="level='word'"):
        Tokenizer("char", pattern=r"\w")
