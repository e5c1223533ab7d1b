"""Attention pooling, the BiLSTM classifier with lengths, and the seq2seq decoders (beam 1 = greedy)."""

from __future__ import annotations

import torch

from lstmkit.models.attention import AdditiveAttention, lengths_mask
from lstmkit.models.classifier import BiLSTMClassifier
from lstmkit.models.seq2seq import AttentionSeq2Seq


def test_attention_weights_sum_to_one_and_ignore_padding():
    torch.manual_seed(0)
    attention = AdditiveAttention(key_size=6, query_size=5, attention_size=7)
    keys, query = torch.randn(3, 9, 6), torch.randn(3, 5)
    lengths = torch.tensor([9, 4, 1])
    context, weights = attention(keys, lengths_mask(lengths, 9), query=query)
    torch.testing.assert_close(weights.sum(-1), torch.ones(3))
    assert (weights[1, 4:] == 0).all() and weights[2, 0] == 1
    garbage = keys.clone()
    garbage[1, 4:] = 1e3  # what sits in the padding must not matter
    context2, weights2 = attention(garbage, lengths_mask(lengths, 9), query=query)
    torch.testing.assert_close((context2, weights2), (context, weights))
    # the same sequence alone, unpadded, by the formula written out: softmax(v . tanh(W k + U q))
    k = keys[1, :4]
    scores = attention.score(torch.tanh(attention.key_layer(k) + attention.query_layer(query[1]))).squeeze(-1)
    torch.testing.assert_close(weights[1, :4], scores.softmax(0))
    torch.testing.assert_close(context[1], scores.softmax(0) @ k)


def test_classifier_output_does_not_depend_on_padding():
    torch.manual_seed(0)
    net = BiLSTMClassifier(vocab_size=20, num_classes=3, embedding_size=8, hidden_size=5, dropout=0.0,
                           backend="reference").eval()
    tokens = torch.randint(1, 20, (2, 7))
    lengths = torch.tensor([7, 3])
    logits, weights = net(tokens, lengths)
    alone, alone_weights = net(tokens[1:, :3], lengths[1:])
    torch.testing.assert_close(logits[1:], alone)
    torch.testing.assert_close(weights[1, :3], alone_weights[0])
    assert (weights[1, 3:] == 0).all()


def _reference_greedy(net: AttentionSeq2Seq, source, lengths, max_length):
    """Greedy decoding one example at a time with a plain Python loop."""
    outputs = []
    for b in range(source.shape[0]):
        encoded, state = net.encode(source[b:b + 1, : int(lengths[b])], lengths[b:b + 1])
        token, ids = torch.tensor([net.bos_id]), []
        for _ in range(max_length):
            logits, state, _ = net.decode_step(token, encoded, state)
            logits[:, [0, net.bos_id]] = float("-inf")  # <pad> and <bos> are never outputs
            token = logits.argmax(-1)
            if int(token) == net.eos_id:
                break
            ids.append(int(token))
        outputs.append(ids)
    return outputs


def test_beam_width_one_equals_greedy_and_wider_beams_score_no_worse():
    torch.manual_seed(0)
    net = AttentionSeq2Seq(source_vocab_size=12, target_vocab_size=9, embedding_size=8, hidden_size=8,
                           encoder_layers=1, attention_size=8, dropout=0.0, backend="reference").eval()
    source = torch.randint(2, 12, (4, 6))
    lengths = torch.tensor([6, 2, 5, 3])
    ids, attention = net.beam_search(source, lengths, beam_size=1, max_length=7)
    expected = _reference_greedy(net, source, lengths, 7)
    assert [[i for i in row if i] for row in ids.tolist()] == expected
    torch.testing.assert_close(attention.sum(-1)[ids > 0], torch.ones(int((ids > 0).sum())))

    def log_prob(row):  # the model's log-probability of a full output (with its <eos>), teacher-forced
        target = torch.tensor([[net.bos_id, *row, net.eos_id]])
        logits, _ = net(source[b:b + 1, : int(lengths[b])], lengths[b:b + 1], target[:, :-1])
        return logits.log_softmax(-1).gather(-1, target[:, 1:, None]).sum()

    wide, _ = net.beam_search(source, lengths, beam_size=4, max_length=7)
    for b in range(4):
        greedy_row = [i for i in ids[b].tolist() if i]
        wide_row = [i for i in wide[b].tolist() if i]
        if len(greedy_row) < 7 and len(wide_row) < 7:  # both ended with <eos>
            assert log_prob(wide_row) >= log_prob(greedy_row) - 1e-5


def test_balanced_class_weights_match_scikit_learn():
    import numpy as np
    from sklearn.utils.class_weight import compute_class_weight

    from lstmkit.tasks.classification import balanced_class_weights

    targets = torch.tensor([0] * 26 + [1] * 14 + [2] * 3)
    expected = compute_class_weight("balanced", classes=np.arange(3), y=targets.numpy())
    torch.testing.assert_close(balanced_class_weights(targets, 3), torch.tensor(expected, dtype=torch.float32))


def test_class_weights_reject_unknown_rule():
    import pytest

    from lstmkit.tasks.classification import SequenceClassificationTask

    with pytest.raises(ValueError, match="class_weights"):
        SequenceClassificationTask(net=BiLSTMClassifier(10, 2), class_weights="inverse")


def test_review_truncation_keeps_head_or_head_and_tail():
    import pytest

    from lstmkit.data.reviews import ReviewsDataModule

    words = [f"w{i}" for i in range(10)]
    assert ReviewsDataModule(max_length=4).cut(words) == ["w0", "w1", "w2", "w3"]
    assert ReviewsDataModule(max_length=5, truncate="head_tail").cut(words) == ["w0", "w1", "w2", "w8", "w9"]
    assert ReviewsDataModule(max_length=20, truncate="head_tail").cut(words) == words
    with pytest.raises(ValueError, match="truncate"):
        ReviewsDataModule(truncate="middle")


def test_review_tokens_drop_markup_and_punctuation_but_keep_marks():
    from lstmkit.data.reviews import ReviewsDataModule

    text = 'Great &quot;tea&quot;.<br /><br />Don\'t buy the OLD one, it\'s stale!! Why?'
    assert ReviewsDataModule().words(text) == [
        "great", "tea", "don't", "buy", "the", "old", "one", "it's", "stale", "!", "!", "why", "?"]
    # a user's own pattern: whitespace-free runs of letters only
    assert ReviewsDataModule(token_pattern=r"[a-z]+").words("Good.<br/>Tea, 2 cups") == ["good", "tea", "cups"]
    assert ReviewsDataModule().words("2 < 3 cups > 1 cup") == ["2", "3", "cups", "1", "cup"]  # not a tag
    # the experiment's YAML (quoted regex) gives the same tokens as the default
    from helpers import compose_config

    pattern = compose_config("train", ["experiment=sentiment_reviews"]).data.token_pattern
    assert ReviewsDataModule(token_pattern=pattern).words(text) == ReviewsDataModule().words(text)


def test_ensemble_decodes_with_the_members_mean_log_probabilities():
    import pytest

    from lstmkit.models.seq2seq import EnsembleSeq2Seq

    torch.manual_seed(0)

    def make(target_vocab=9):
        return AttentionSeq2Seq(source_vocab_size=12, target_vocab_size=target_vocab, embedding_size=8, hidden_size=8,
                                encoder_layers=1, attention_size=8, dropout=0.0, backend="reference").eval()

    a, b = make(), make()
    source = torch.randint(2, 12, (4, 6))
    lengths = torch.tensor([6, 2, 5, 3])
    # one member: exactly that member
    ids_a, attention_a = a.beam_search(source, lengths, beam_size=3, max_length=7)
    ids_e, attention_e = EnsembleSeq2Seq([a]).beam_search(source, lengths, beam_size=3, max_length=7)
    assert torch.equal(ids_a, ids_e)
    torch.testing.assert_close(attention_a, attention_e)

    # two members, greedy: a plain loop over the mean of their log-softmaxes, one example at a time
    ensemble = EnsembleSeq2Seq([a, b])
    ids, _ = ensemble.beam_search(source, lengths, beam_size=1, max_length=7)
    expected = []
    for i in range(4):
        one, length = source[i:i + 1, : int(lengths[i])], lengths[i:i + 1]
        (enc_a, st_a), (enc_b, st_b) = a.encode(one, length), b.encode(one, length)
        token, row = torch.tensor([a.bos_id]), []
        for _ in range(7):
            logits_a, st_a, _ = a.decode_step(token, enc_a, st_a)
            logits_b, st_b, _ = b.decode_step(token, enc_b, st_b)
            mean = (logits_a.log_softmax(-1) + logits_b.log_softmax(-1)) / 2
            mean[:, [0, a.bos_id]] = float("-inf")
            token = mean.argmax(-1)
            if int(token) == a.eos_id:
                break
            row.append(int(token))
        expected.append(row)
    assert [[t for t in row if t] for row in ids.tolist()] == expected
    assert expected != _reference_greedy(a, source, lengths, 7)  # the second member changes the outputs

    target_in = torch.tensor([[a.bos_id, 4, 5, 6]] * 4)
    log_probs, _ = ensemble(source, lengths, target_in)  # teacher forcing: a normalised distribution per step
    torch.testing.assert_close(log_probs.exp().sum(-1), torch.ones(4, 4))
    with pytest.raises(ValueError, match="same bos_id, eos_id and target vocabulary size"):
        EnsembleSeq2Seq([a, make(target_vocab=10)])
