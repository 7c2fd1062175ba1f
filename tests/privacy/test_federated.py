import numpy as np
import pytest
import torch

from labkit.privacy.federated import fedavg, label_skew_split, local_train, state_bytes


def test_fedavg_weights_clients_by_their_number_of_examples():
    states = [{"w": torch.tensor([0.0, 0.0]), "b": torch.tensor(1.0)}, {"w": torch.tensor([4.0, 8.0]), "b": torch.tensor(5.0)}]
    out = fedavg(states, [3, 1])
    assert torch.allclose(out["w"], torch.tensor([1.0, 2.0])) and torch.isclose(out["b"], torch.tensor(2.0))


def test_fedavg_of_identical_clients_is_that_client():
    state = {"w": torch.randn(4, 3)}
    assert torch.allclose(fedavg([state, state, state], [5, 1, 7])["w"], state["w"])


def test_fedavg_needs_one_size_per_state():
    with pytest.raises(ValueError, match="one size per client"):
        fedavg([{"w": torch.zeros(1)}], [1, 2])


def test_label_skew_split_partitions_and_skews():
    labels = np.repeat(np.arange(5), 20)
    parts = label_skew_split(labels, n_clients=5, labels_per_client=2, seed=0)
    joined = np.concatenate(parts)
    assert sorted(joined.tolist()) == list(range(100))  # every example once
    assert all(len(set(labels[p])) == 2 for p in parts)


def test_state_bytes_counts_raw_tensor_data():
    assert state_bytes({"a": torch.zeros(10, dtype=torch.float32), "b": torch.zeros(3, dtype=torch.float16)}) == 46


def test_fedavg_rounds_learn_what_no_single_client_can():
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(4, 8)) * 3
    y = np.repeat(np.arange(4), 50)
    X = torch.as_tensor(centres[y] + rng.normal(size=(200, 8)), dtype=torch.float32)
    yt = torch.as_tensor(y)
    clients = label_skew_split(y, n_clients=4, labels_per_client=2)
    torch.manual_seed(0)
    server = torch.nn.Linear(8, 4)
    for rnd in range(15):
        states = []
        for i, idx in enumerate(clients):
            local = torch.nn.Linear(8, 4)
            local.load_state_dict(server.state_dict())
            states.append(local_train(local, X[idx], yt[idx], epochs=1, lr=0.1, seed=rnd * 10 + i))
        server.load_state_dict(fedavg(states, [len(i) for i in clients]))
    alone = torch.nn.Linear(8, 4)
    local_train(alone, X[clients[0]], yt[clients[0]], epochs=15, lr=0.1)
    acc = lambda m: (m(X).argmax(-1) == yt).float().mean().item()
    assert acc(server) > 0.9 and acc(server) > acc(alone) + 0.15  # client 0 never saw two of the labels


# ---- FedAvg over peft LoRA adapters on MiniLM's last layer ---------------------------------------

from labkit import models  # noqa: E402
from labkit.privacy.federated import (  # noqa: E402
    accuracy, lora_classifier, top_layer_inputs, trainable_state)

TEXTS = ["My parcel never arrived.", "I was charged twice for one order, please refund me.",
         "How do I reset my password?", "The lamp came broken; I want to send it back.",
         "Can I change the delivery address?", "Please merge my two accounts."]
LABELS = torch.tensor([0, 1, 2, 3, 0, 2])


@pytest.fixture(scope="module")
def minilm():
    encoder = models.load_model(models.MINILM, kind="encoder")
    return encoder, top_layer_inputs(encoder, models.load_tokenizer(models.MINILM), TEXTS)


def trained(minilm, seed: int, steps: int = 3):
    encoder, states = minilm
    model = lora_classifier(encoder, n_labels=4, r=4, seed=seed)
    local_train(model, states, LABELS, epochs=steps, lr=0.5, batch_size=3, seed=seed)
    return model


def test_the_cached_last_layer_gives_the_sentence_encoders_embeddings(minilm):
    encoder, states = minilm
    expected = models.load_sentence_encoder(models.MINILM).encode(TEXTS, normalize_embeddings=True)
    with torch.no_grad():  # LoRA's B starts at zero: the adapted layer is the frozen one
        got = lora_classifier(encoder, n_labels=4, seed=0).get_base_model().embed(states[list(range(len(TEXTS)))])
    assert np.abs(got.numpy() - expected).max() < 1e-5


def test_a_client_sends_exactly_its_adapters_and_head(minilm):
    model = trained(minilm, seed=0)
    state = trainable_state(model)
    assert any("lora_A" in k for k in state) and any("lora_B" in k for k in state) and any(".head." in k for k in state)
    assert sum(t.numel() for t in state.values()) == models.parameter_count(model, trainable_only=True)
    assert not any("dense" in k or "key" in k or "LayerNorm" in k for k in state)  # no frozen weight travels


def test_fedavg_of_two_peft_states_is_the_hand_computed_mean(minilm):
    a, b = trainable_state(trained(minilm, seed=0)), trainable_state(trained(minilm, seed=1))
    assert a.keys() == b.keys() and any(not a[k].equal(b[k]) for k in a)
    mean = fedavg([a, b], [3, 1])
    assert mean.keys() == a.keys()
    for key in a:
        assert torch.allclose(mean[key], (3 * a[key] + b[key]) / 4, atol=1e-7), key


def test_a_round_changes_only_the_trainable_tensors(minilm):
    encoder, states = minilm
    model = lora_classifier(encoder, n_labels=4, r=4, seed=0)
    trainable = {name for name, p in model.named_parameters() if p.requires_grad}
    before = {k: v.clone() for k, v in model.state_dict().items()}
    local_train(model, states, LABELS, epochs=3, lr=0.5, batch_size=3, seed=0)
    changed = {k for k, v in model.state_dict().items() if not v.equal(before[k])}
    assert changed == trainable  # every adapter matrix and the head moved, nothing else did
    assert any("lora_A" in k for k in changed) and any("lora_B" in k for k in changed)


def test_the_averaged_state_loaded_into_a_fresh_peft_model_reproduces_its_logits(minilm):
    from peft import set_peft_model_state_dict

    encoder, states = minilm
    server = lora_classifier(encoder, n_labels=4, r=4, seed=5)
    averaged = fedavg([trainable_state(trained(minilm, seed=s)) for s in (0, 1)], [2, 2])
    set_peft_model_state_dict(server, averaged)
    fresh = lora_classifier(encoder, n_labels=4, r=4, seed=9)
    batch = states[list(range(len(TEXTS)))]
    with torch.no_grad():
        expected, untouched = server(batch), fresh(batch)
        set_peft_model_state_dict(fresh, averaged)
        got = fresh(batch)
    assert not torch.allclose(untouched, expected, atol=1e-3)  # a fresh model differs until it loads the state
    assert torch.allclose(got, expected, atol=1e-6)
    assert accuracy(fresh, states, LABELS) == accuracy(server, states, LABELS)
