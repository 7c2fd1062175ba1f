import math

import pytest
import torch

from labkit.history import rnnlm


def _data():
    return [[3, 4, 5, 6] * 10, [3, 4, 5, 9, 3, 4]]


def test_vocabulary_maps_rare_tokens_to_unk():
    vocab = rnnlm.Vocabulary.from_sequences(_data(), full_size=20)
    assert vocab.ids == [3, 4, 5, 6]
    assert vocab.encode([3, 9, 19]).tolist() == [1, 0, 0]
    assert vocab.unseen == 16 and len(vocab) == 5


def test_untrained_perplexity_accounts_for_the_whole_vocabulary():
    vocab = rnnlm.Vocabulary.from_sequences(_data(), full_size=20)
    model = rnnlm.GRULanguageModel(vocab, embedding_dim=8, hidden_size=8)
    with torch.no_grad():
        model.head.weight.zero_()
        model.head.bias.zero_()  # uniform over 5 compact classes
    # unseen token: 1/5 spread over 16 ids; seen token: 1/5
    expected = math.exp(-(2 * math.log(1 / 5) + math.log(1 / 5 / 16)) / 3)
    assert rnnlm.perplexity(model, [[3, 4, 9, 5]]) == pytest.approx(expected, rel=1e-5)


def test_training_lowers_loss_and_perplexity():
    vocab = rnnlm.Vocabulary.from_sequences(_data(), full_size=20)
    model = rnnlm.GRULanguageModel(vocab, embedding_dim=16, hidden_size=32, dropout=0.0)
    before = rnnlm.perplexity(model, [[3, 4, 5, 6] * 3])
    history = rnnlm.train_rnn(model, _data(), epochs=30, seq_len=8, batch_size=4, lr=1e-2)
    assert history[-1] < history[0]
    assert rnnlm.perplexity(model, [[3, 4, 5, 6] * 3]) < before / 2
