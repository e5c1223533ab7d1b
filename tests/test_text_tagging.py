"""CoNLL reader (with malformed lines), the restoration labels, and tagging/seq2seq metrics."""

from __future__ import annotations

import pytest
import torch

from lstmkit.data.conll import TaggingDataModule, read_conll, restoration_example
from lstmkit.tasks.seq2seq import SequenceErrorRate

FIXTURE = "# a comment\nJohn\tB-PER\nSmith\tI-PER\nlives\tO\n\nin\tO\nParis\tB-LOC\n\n\n"


def test_conll_reader_reads_sentences(tmp_path):
    path = tmp_path / "train.conll"
    path.write_text(FIXTURE)
    assert read_conll(path) == [(["John", "Smith", "lives"], ["B-PER", "I-PER", "O"]),
                                (["in", "Paris"], ["O", "B-LOC"])]


@pytest.mark.parametrize(("line", "number"), [("Smith I-PER", 3), ("Smith\t", 3), ("Smith\tI-PER\textra", 3)])
def test_conll_reader_names_the_malformed_line(tmp_path, line, number):
    path = tmp_path / "bad.conll"
    path.write_text(FIXTURE.replace("Smith\tI-PER", line))
    with pytest.raises(ValueError, match=rf"bad.conll, line {number}: expected 'word<TAB>tag'.*{line.split()[0]}"):
        read_conll(path)


def test_conll_datamodule_and_unseen_tags(tmp_path):
    for name in ("train", "val", "test"):
        (tmp_path / f"{name}.conll").write_text(FIXTURE)
    paths = {f"{name}_path": str(tmp_path / f"{name}.conll") for name in ("train", "val", "test")}
    datamodule = TaggingDataModule(source="conll", min_freq=1, batch_size=2, **paths)
    datamodule.setup()
    words, lengths, tags, tag_lengths = next(iter(datamodule.val_dataloader()))
    assert lengths.tolist() == [3, 2] and torch.equal(lengths, tag_lengths)
    assert [datamodule.tags.tokens[t] for t in tags[1, :2]] == ["O", "B-LOC"]
    (tmp_path / "test.conll").write_text("Bob\tB-ORG\n")
    with pytest.raises(ValueError, match="not seen in training.*B-ORG"):
        TaggingDataModule(source="conll", min_freq=1, **paths).setup()
    with pytest.raises(ValueError, match="data.val_path"):
        TaggingDataModule(source="conll", train_path="x")


def test_restoration_labels():
    words, tags = restoration_example("Wow, the NEW plan works! See https://t.co/x ok?")
    assert words == ["wow", "the", "new", "plan", "works", "see", "ok"]
    assert tags == ["C,", "l", "U", "l", "l!", "C", "l?"]


def test_error_rates_against_hand_counts():
    per, wer = SequenceErrorRate(), SequenceErrorRate(whole=True)
    preds = torch.tensor([[5, 6, 7, 0], [5, 9, 0, 0]])
    target = torch.tensor([[5, 6, 7, 0], [5, 6, 7, 8]])  # second: 1 substitution + 2 deletions of 4 phonemes
    per.update(preds, target)
    wer.update(preds, target)
    assert per.compute().item() == pytest.approx(3 / 7)
    assert wer.compute().item() == pytest.approx(1 / 2)


def test_bio_tags_get_entity_level_metrics(tmp_path):
    import lightning as L

    from lstmkit.tasks.tagging import TaggingTask

    for name in ("train", "val", "test"):
        (tmp_path / f"{name}.conll").write_text(FIXTURE * 4)
    paths = {f"{name}_path": str(tmp_path / f"{name}.conll") for name in ("train", "val", "test")}
    datamodule = TaggingDataModule(source="conll", min_freq=1, batch_size=4, **paths)
    model = TaggingTask(net={"_target_": "lstmkit.models.tagger.BiLSTMTagger", "embedding_size": 8, "hidden_size": 8,
                             "num_layers": 1, "backend": "reference"},
                        optimizer={"_target_": "torch.optim.Adam", "_partial_": True, "lr": 0.1})
    trainer = L.Trainer(max_epochs=12, logger=False, enable_checkpointing=False, enable_progress_bar=False,
                        enable_model_summary=False, limit_val_batches=0)
    trainer.fit(model, datamodule=datamodule)
    metrics = trainer.test(model, datamodule=datamodule, verbose=False)[0]
    # the fixture's three entities (John Smith/PER, Paris/LOC, x4) are learned exactly from the training copy
    assert metrics["test/entity_f1"] == pytest.approx(1.0) and metrics["test/f1"] == pytest.approx(1.0)
