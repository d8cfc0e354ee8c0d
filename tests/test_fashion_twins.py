"""minigen's PixelCNN and its torch twin in bench/fashion_peers.py are one network trained
one way: with minigen's parameters copied into the twin, the same NLL per image and the
same gradients; through ``train`` with the benchmark's settings, the same Adam steps.

So a one-seed NLL gap between the two sides in bench/fashion_mnist.py comes from their
initialisations and batch orders (measured: bench/README.md, "fashion: PixelCNN")."""


import numpy as np
import pytest

torch = pytest.importorskip("torch")

SHAPE = (12, 10)  # not square: a transposed kernel or image shows
C, LAYERS, K, K0 = 8, 2, 3, 7


@pytest.fixture(scope="module")
def peers(bench_script):
    return bench_script("fashion_peers")


def _images(n, seed):
    rng = np.random.default_rng(seed)
    base = rng.random(SHAPE) < 0.4  # a shared pattern, flipped per image: learnable
    flips = rng.random((n, *SHAPE)) < 0.15
    return (base ^ flips).astype(np.uint8)


def _minigen(**training):
    from minigen.models import PixelCNN

    return PixelCNN(n_channels=C, n_layers=LAYERS, kernel_size=K, first_kernel_size=K0,
                    n_categories=2, **training)


def _twin(peers, arrays):
    net = peers.PixelCNN(SHAPE, C, LAYERS, K, K0)
    net.load_minigen(arrays)
    return net


def _module(net, name):
    """minigen's layer ``name`` ("convs.1", "head.fc2", ...) of ``net``."""
    for part in name.split("."):
        net = net[int(part)] if part.isdigit() else getattr(net, part)
    return net


def _tensor(X):
    return torch.as_tensor(X.astype(np.float32)).reshape(len(X), 1, *SHAPE)


def test_same_parameters_same_nll_and_gradients(peers):
    torch.set_num_threads(1)
    m = _minigen()
    m.build_parameters(SHAPE, np.random.default_rng(11))
    m.fitted_ = True
    arrays = {k: np.array(v) for k, v in m.trainable_arrays().items()}
    net = _twin(peers, arrays)
    # the twin's masks keep exactly minigen's taps (the same unmasked weights)
    for name, conv in net.convs_by_minigen_name().items():
        mine = _module(m.net_, name)
        mask = getattr(conv, "mask", torch.ones_like(conv.weight)).numpy()
        kh = np.asarray(mine.mask).shape[2]
        np.testing.assert_array_equal(mask[:, :, :kh], np.asarray(mine.mask), err_msg=name)
        assert not mask[:, :, kh:].any(), name

    X = _images(24, 5)
    xt = _tensor(X)
    nll = net.nll(xt)
    np.testing.assert_allclose(-m.score_samples(X), nll.detach().numpy(), rtol=2e-6)

    loss, grads = m.loss_and_grads(X, None)  # the mean over images of the per-image sum
    nll.mean().backward()
    assert loss == pytest.approx(float(nll.mean().detach()), rel=2e-6)
    theirs = net.grads_as_minigen()
    assert set(theirs) == set(grads)
    for k, g in grads.items():
        t = theirs[k]
        rel = np.linalg.norm(np.asarray(g) - t) / np.linalg.norm(t)
        assert rel < 1e-4, (k, rel)


def test_train_takes_the_same_adam_steps_as_the_twin(peers):
    """``train`` with the benchmark's settings (Adam 1e-3, betas (0.9, 0.999), eps 1e-8; no
    clipping, schedule or decay) replayed in torch on the very batches it drew."""
    torch.set_num_threads(1)
    X, Xv = _images(128, 1), _images(32, 2)
    m = _minigen(optimizer="adam", momentum=0.9, learning_rate=1e-3, batch_size=16,
                 max_epochs=1, early_stopping=True, patience=3, random_state=3,
                 verbose=False)
    seen = {"init": None, "batches": [], "losses": []}
    inner = m.loss_and_grads

    def spy(batch, rng):
        if seen["init"] is None:
            seen["init"] = {k: np.array(v) for k, v in m.trainable_arrays().items()}
        seen["batches"].append(np.array(batch))
        loss, grads = inner(batch, rng)
        seen["losses"].append(loss)
        return loss, grads

    m.loss_and_grads = spy
    from minigen.training import train

    train(m, X, X_valid=Xv)
    assert len(seen["batches"]) == 8
    net = _twin(peers, seen["init"])
    opt = torch.optim.Adam(net.parameters(), lr=1e-3, betas=(0.9, 0.999), eps=1e-8)
    losses = []
    for b in seen["batches"]:
        loss = net.nll(_tensor(b)).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    np.testing.assert_allclose(seen["losses"], losses, rtol=1e-5)
    after = {name: conv.weight.detach()[:, :, :conv.weight.shape[2] // 2 + 1].numpy()
             for name, conv in net.convs_by_minigen_name().items()}
    for name, w in after.items():
        mine = np.asarray(m.trainable_arrays()[name + ".weight"])
        moved = np.linalg.norm(w - seen["init"][name + ".weight"])
        assert np.linalg.norm(mine - w) < 1e-3 * moved, name


def test_row_lstm_same_parameters_same_nll_and_gradients(peers):
    """minigen's Row LSTM (one fused op for the recurrence) against the torch twin's
    per-row loop, from the same parameters: NLL per image and every gradient."""
    from minigen.models import RowLSTM

    torch.set_num_threads(1)
    m = RowLSTM(n_channels=C, hidden_size=5, n_layers=LAYERS, kernel_size=K,
                first_kernel_size=K0, n_categories=2)
    m.build_parameters(SHAPE, np.random.default_rng(12))
    m.fitted_ = True
    arrays = {k: np.array(v) for k, v in m.trainable_arrays().items()}
    net = peers.RowLSTM(SHAPE, C, 5, LAYERS, K, K0)
    net.load_minigen(arrays)
    X = _images(24, 6)
    nll = net.nll(_tensor(X))
    np.testing.assert_allclose(-m.score_samples(X), nll.detach().numpy(), rtol=2e-6)
    loss, grads = m.loss_and_grads(X, None)
    nll.mean().backward()
    assert loss == pytest.approx(float(nll.mean().detach()), rel=2e-6)
    theirs = net.grads_as_minigen()
    assert set(theirs) == set(grads)
    for k, g in grads.items():
        np.testing.assert_allclose(np.asarray(g), theirs[k], rtol=2e-4,
                                   atol=2e-5 * np.abs(theirs[k]).max(), err_msg=k)
