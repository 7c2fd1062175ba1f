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
