"""train(): convergence, validation, early stopping, checkpoints, bitwise resume, divergence."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from minigen import training
from minigen.backend import use_backend
from minigen.io import load_checkpoint
from minigen.params import Param
from minigen.training import History, IterativeModel, TrainingDiverged, cross_validate, train

ROOT = Path(__file__).resolve().parents[1]


class LogisticBernoulli(IterativeModel):
    r"""Test-only model: independent Bernoullis with logits ``theta`` trained by gradients.

    ``log p(x) = sum_d x_d log s(theta_d) + (1 - x_d) log(1 - s(theta_d))``; the gradient of
    the mean NLL is ``mean(s(theta) - x)``. ``noise`` adds rng-drawn gradient noise so that
    the run's Generator matters inside ``loss_and_grads`` (for the resume test).
    """

    hyperparameters = {"noise": Param(0.0, "gradient noise"),
                       "nan_at_step": Param(None, "NaN loss after this many calls")}
    training_defaults = {"verbose": False}

    def build_parameters(self, n_features, rng):
        self.theta_ = rng.standard_normal(n_features) * 0.1
        self.calls_ = 0

    def trainable_arrays(self):
        return {"theta": self.theta_}

    def extra_state(self):
        return {"calls": np.array(self.calls_)}

    def load_extra_state(self, state):
        self.calls_ = int(state["calls"])

    def _logp(self, X):
        t = self.theta_
        return X * -np.logaddexp(0, -t) + (1 - X) * -np.logaddexp(0, t)

    def score_samples(self, X):
        return self._logp(np.asarray(X, dtype=float)).sum(axis=1)

    def loss_and_grads(self, batch, rng):
        self.calls_ += 1
        X = np.asarray(batch, dtype=float)
        loss = -self._logp(X).sum(axis=1).mean()
        g = 1 / (1 + np.exp(-self.theta_)) - X.mean(axis=0)
        if self.noise:
            g = g + self.noise * rng.standard_normal(g.shape)
        if self.nan_at_step is not None and self.calls_ > self.nan_at_step:
            loss = float("nan")
        return loss, {"theta": g}


def _data(n=400, d=6, seed=0):
    rng = np.random.default_rng(seed)
    p = np.linspace(0.1, 0.9, d)
    return (rng.random((n, d)) < p).astype(np.float64), p


def test_converges_to_mle():
    X, _ = _data()
    m = LogisticBernoulli()
    h = train(m, X, max_epochs=300, batch_size=400, learning_rate=0.05, random_state=0)
    assert isinstance(h, History) and h.epochs == 300
    p_hat = 1 / (1 + np.exp(-m.theta_))
    np.testing.assert_allclose(p_hat, X.mean(axis=0), atol=1e-3)
    assert h.train_loss[-1] < h.train_loss[0]
    d = h.to_dict()
    json.dumps(d)
    assert d["valid_nll"][0] is None  # no validation data: NaN -> null


def test_validation_and_history():
    X, _ = _data()
    m = LogisticBernoulli()
    h = train(m, X, early_stopping=True, patience=10, validation_fraction=0.25, max_epochs=5,
              batch_size=32, learning_rate=0.05, random_state=1)
    assert len(h.valid_nll) == 5 and all(np.isfinite(h.valid_nll))
    # without early stopping the fraction is not held out (scikit-learn's MLP rule)
    h2 = train(LogisticBernoulli(), X, validation_fraction=0.25, max_epochs=2, random_state=1)
    assert all(np.isnan(h2.valid_nll))
    assert len(h.epoch_time) == 5 and h.best_epoch is not None
    assert History.from_dict(h.to_dict()).valid_nll == h.valid_nll


def test_l2_shrinks_parameters():
    X, _ = _data()
    a, b = LogisticBernoulli(), LogisticBernoulli()
    train(a, X, max_epochs=30, batch_size=100, learning_rate=0.1, random_state=0)
    train(b, X, max_epochs=30, batch_size=100, learning_rate=0.1, weight_decay=1.0, random_state=0)
    assert np.abs(b.theta_).sum() < np.abs(a.theta_).sum()


def test_early_stopping_restores_best():
    X, _ = _data(n=200)
    Xv = 1 - _data(n=100, seed=3)[0]  # validation from the mirrored distribution: gets worse
    m = LogisticBernoulli()
    seen = []

    def snap(epoch, history, model):
        seen.append(model.theta_.copy())

    h = train(
        m,
        X,
        X_valid=Xv,
        max_epochs=50,
        batch_size=20,
        learning_rate=0.2,
        early_stopping=True,
        patience=3,
        random_state=0,
        callbacks=[snap],
    )
    assert h.stopped_early and h.epochs < 50
    assert h.epochs == h.best_epoch + 1 + 3
    np.testing.assert_array_equal(m.theta_, seen[h.best_epoch])
    assert np.nanargmin(h.valid_nll) == h.best_epoch


def test_early_stopping_final_checkpoint_is_the_returned_model(tmp_path):
    X, _ = _data(n=200)
    Xv = 1 - _data(n=100, seed=3)[0]  # valid NLL rises every epoch: best is epoch 0
    kw = dict(
        X_valid=Xv,
        batch_size=20,
        learning_rate=0.2,
        early_stopping=True,
        patience=100,
        random_state=0,
    )
    seen = []
    m = LogisticBernoulli(noise=0.3)
    h = train(
        m,
        X,
        max_epochs=3,
        checkpoint_dir=tmp_path,
        callbacks=[lambda epoch, history, model: seen.append(model.theta_.copy())],
        **kw,
    )
    assert h.best_epoch == 0 and not np.array_equal(seen[0], seen[-1])
    np.testing.assert_array_equal(m.theta_, seen[0])  # the restored best
    # a plain load of the final checkpoint is the returned model, not the last epoch's
    loaded = LogisticBernoulli.load(tmp_path / "checkpoint.npz")
    np.testing.assert_array_equal(loaded.theta_, m.theta_)
    assert loaded.score(Xv) == m.score(Xv)
    arrays, _ = load_checkpoint(tmp_path / "checkpoint.npz")
    np.testing.assert_array_equal(arrays["best/theta"], seen[0])
    np.testing.assert_array_equal(arrays["last/theta"], seen[-1])
    # resume continues from the last epoch's state: same as one uninterrupted longer run
    full = LogisticBernoulli(noise=0.3)
    h_full = train(full, X, max_epochs=6, checkpoint_dir=tmp_path / "full", **kw)
    h_res = train(
        LogisticBernoulli(noise=0.3),
        X,
        max_epochs=6,
        checkpoint_dir=tmp_path,
        resume_from=tmp_path / "checkpoint.npz",
        **kw,
    )
    assert h_res.train_loss == h_full.train_loss and h_res.valid_nll == h_full.valid_nll
    a_res, _ = load_checkpoint(tmp_path / "checkpoint.npz")
    a_full, _ = load_checkpoint(tmp_path / "full" / "checkpoint.npz")
    for key in ("param/theta", "last/theta", "best/theta"):
        np.testing.assert_array_equal(a_res[key], a_full[key])
    # stopping early writes the restored best as well
    m2 = LogisticBernoulli()
    h2 = train(
        m2,
        X,
        max_epochs=50,
        checkpoint_dir=tmp_path / "es",
        X_valid=Xv,
        batch_size=20,
        learning_rate=0.2,
        early_stopping=True,
        patience=2,
        random_state=0,
    )
    assert h2.stopped_early
    assert LogisticBernoulli.load(tmp_path / "es" / "checkpoint.npz").score(Xv) == m2.score(Xv)


def test_callback_can_stop():
    X, _ = _data()
    h = train(
        LogisticBernoulli(),
        X,
        max_epochs=10,
        learning_rate=0.1,
        random_state=0,
        callbacks=[lambda e, hist, m: e == 2],
    )
    assert h.epochs == 3


def test_schedule_and_clip_and_optimizers():
    from minigen.optim import StepLR

    X, _ = _data()
    h = train(
        LogisticBernoulli(),
        X,
        max_epochs=4,
        batch_size=400,
        learning_rate=0.1,
        optimizer="sgd",
        momentum=0.5,
        lr_schedule=StepLR(2, 0.5),
        clip_norm=0.01,
        random_state=0,
    )
    assert h.lr == [0.1, 0.1, 0.05, 0.05]  # lr used at steps 0..3
    with pytest.raises(TypeError, match="optimizer_kwargs.*momentum"):
        train(LogisticBernoulli(), X, optimizer_kwargs={"momentum": 0.5})


def test_cosine_schedule_by_name_spans_the_run():
    # 400 rows, batch 100: 4 steps per epoch, 5 epochs = 20 steps; the lr at the last
    # step of epoch e is base * (1 + cos(pi * (4e + 3) / 20)) / 2
    X, _ = _data()
    h = train(
        LogisticBernoulli(),
        X,
        max_epochs=5,
        batch_size=100,
        learning_rate=0.1,
        lr_schedule="cosine",
        random_state=0,
    )
    want = [0.05 * (1 + np.cos(np.pi * (4 * e + 3) / 20)) for e in range(5)]
    np.testing.assert_allclose(h.lr, want)
    h_const = train(
        LogisticBernoulli(),
        X,
        max_epochs=2,
        learning_rate=0.1,
        lr_schedule="constant",
        random_state=0,
    )
    assert h_const.lr == [0.1, 0.1]
    with pytest.raises(ValueError, match="lr_schedule must be one of 'constant', 'cosine'"):
        train(LogisticBernoulli(), X, max_epochs=2, lr_schedule="step")
    with pytest.raises(ValueError, match="total_steps"):
        from minigen.optim import make_schedule

        make_schedule("cosine")


def test_bad_arguments():
    X, _ = _data()
    m = LogisticBernoulli()
    with pytest.raises(ValueError, match="optimizer must be one of 'adam', 'adamw', 'sgd'"):
        train(m, X, optimizer="foo", random_state=0)
    with pytest.raises(ValueError, match="max_epochs"):
        train(LogisticBernoulli(), X, max_epochs=0)
    with pytest.raises(TypeError, match="batch_size"):
        train(LogisticBernoulli(), X, batch_size=2.5)
    with pytest.raises(ValueError, match="early_stopping needs validation rows"):
        train(LogisticBernoulli(), X, early_stopping=True, patience=2, validation_fraction=0.0)
    with pytest.raises(ValueError, match="validation_fraction"):
        train(LogisticBernoulli(), X, validation_fraction=1.0)
    with pytest.raises(TypeError, match="epochs.*is now the model hyper-parameter max_epochs"):
        train(LogisticBernoulli(), X, epochs=3)
    with pytest.raises(TypeError, match="unknown setting.*'max_epoch'.*valid parameters"):
        train(LogisticBernoulli(), X, max_epoch=3)
    with pytest.raises(ValueError, match="X_valid"):
        train(LogisticBernoulli(), X, X_valid=X[:, :3])
    with pytest.raises(ValueError, match="X contains NaN"):
        train(LogisticBernoulli(), np.full((3, 2), np.nan))
    with pytest.raises(TypeError, match="model"):
        train(object(), X)


@pytest.mark.parametrize(
    "value,exc,match",
    [
        (-0.01, ValueError, "returned -0.01 at step 3"),
        (float("nan"), ValueError, "returned nan"),
        ("x", TypeError, "returned 'x'"),
    ],
)
def test_bad_lr_schedule_value(value, exc, match):
    X, _ = _data(n=40)
    m = LogisticBernoulli()

    def schedule(step, base_lr):
        return base_lr if step < 3 else value

    with pytest.raises(exc, match=f"lr_schedule {match}.*finite float >= 0"):
        train(
            m,
            X,
            max_epochs=2,
            batch_size=10,
            learning_rate=0.1,
            lr_schedule=schedule,
            random_state=0,
        )


def test_lr_zero_leaves_parameters_unchanged():
    X, _ = _data(n=40)
    m = LogisticBernoulli()
    h = train(m, X, max_epochs=2, batch_size=10, learning_rate=0.0, random_state=0)
    theta0 = LogisticBernoulli()
    theta0.build_parameters(6, np.random.default_rng(0))
    np.testing.assert_array_equal(m.theta_, theta0.theta_)
    assert h.train_loss[0] == h.train_loss[1] and h.lr == [0.0, 0.0]
    # a schedule may return 0 too (CosineLR ends there)
    train(
        LogisticBernoulli(),
        X,
        max_epochs=1,
        batch_size=10,
        learning_rate=0.1,
        lr_schedule=lambda s, b: 0.0,
        random_state=0,
    )


def test_checkpoint_layout(tmp_path):
    X, _ = _data()
    m = LogisticBernoulli(noise=0.1)
    train(
        m,
        X,
        validation_fraction=0.2,
        max_epochs=3,
        learning_rate=0.1,
        random_state=0,
        checkpoint_dir=tmp_path,
        checkpoint_every=2,
        early_stopping=True,
        patience=5,
    )
    arrays, meta = load_checkpoint(tmp_path / "checkpoint.npz")
    assert {
        "param/theta",
        "extra/calls",
        "optim/m/theta",
        "optim/v/theta",
        "optim/t",
        "best/theta",
        "split/valid_idx",
    } <= set(arrays)
    tr = meta["training"]
    assert tr["epoch"] == 3 and tr["step"] == 3 * 5 and tr["settings"]["optimizer"] == "adam"
    assert len(tr["history"]["train_loss"]) == 3
    assert "rng_state" in tr and meta["n_features"] == 6


def _run_resume_script(ckpt_dir, epochs, resume):
    code = f"""
import sys, numpy as np
sys.path.insert(0, {str(ROOT / "tests")!r}); sys.path.insert(0, {str(ROOT)!r})
from test_training import LogisticBernoulli, _data
from minigen.training import train
X, _ = _data()
m = LogisticBernoulli(noise=0.3)
train(m, X, validation_fraction=0.2, max_epochs={epochs}, batch_size=32, learning_rate=0.05,
      random_state=7, checkpoint_dir={str(ckpt_dir)!r}, resume_from={resume!r},
      early_stopping=True, patience=100)
sys.stdout.write(m.theta_.tobytes().hex())
"""
    env = {**os.environ, "MINIGEN_BACKEND": "numpy"}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=ROOT, timeout=120
    )
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


def test_resume_in_new_process_is_bitwise(tmp_path):
    X, _ = _data()
    full = LogisticBernoulli(noise=0.3)
    with use_backend("numpy"):  # the subprocesses run with MINIGEN_BACKEND=numpy
        train(
            full,
            X,
            validation_fraction=0.2,
            max_epochs=5,
            batch_size=32,
            learning_rate=0.05,
            random_state=7,
            early_stopping=True,
            patience=100,
        )
    _run_resume_script(tmp_path, 2, None)
    resumed_hex = _run_resume_script(tmp_path, 5, str(tmp_path / "checkpoint.npz"))
    assert resumed_hex == full.theta_.tobytes().hex()
    _, meta = load_checkpoint(tmp_path / "checkpoint.npz")
    assert meta["training"]["epoch"] == 5 and len(meta["training"]["history"]["valid_nll"]) == 5


def test_nan_raises_and_keeps_last_good_checkpoint(tmp_path):
    X, _ = _data(n=100)
    m = LogisticBernoulli(nan_at_step=7)  # 4 steps per epoch: NaN in epoch 1
    with pytest.raises(TrainingDiverged, match="epoch 1, step 7") as info:
        train(
            m,
            X,
            max_epochs=5,
            batch_size=25,
            learning_rate=0.1,
            random_state=0,
            checkpoint_dir=tmp_path,
        )
    err = info.value
    assert err.epoch == 1 and err.step == 7
    assert Path(err.checkpoint) == tmp_path / "checkpoint.npz"
    arrays, meta = load_checkpoint(err.checkpoint)
    assert meta["training"]["epoch"] == 1 and np.isfinite(arrays["param/theta"]).all()
    assert np.isfinite(m.theta_).all()


def test_nan_gradient_detected():
    X, _ = _data(n=50)

    class BadGrad(LogisticBernoulli):
        def loss_and_grads(self, batch, rng):
            loss, g = super().loss_and_grads(batch, rng)
            g["theta"][0] = np.inf
            return loss, g

    with pytest.raises(TrainingDiverged, match="epoch 0, step 0: non-finite gradient"):
        train(BadGrad(), X, max_epochs=2, random_state=0)


def test_resume_rejects_non_training_checkpoint(tmp_path):
    X, _ = _data()
    m = LogisticBernoulli()
    train(m, X, max_epochs=1, random_state=0)
    m.save(tmp_path / "plain.npz")
    with pytest.raises(ValueError, match="not a training checkpoint"):
        train(LogisticBernoulli(), X, max_epochs=2, resume_from=tmp_path / "plain.npz")


def test_cross_validate():
    X, p = _data(n=200)
    res = cross_validate(
        LogisticBernoulli, X, k=4, random_state=0, max_epochs=20, learning_rate=0.1, batch_size=50
    )
    assert len(res["fold_nll"]) == 4 and res["std"] > 0
    # Compare with the true model's NLL on the same rows, which removes the sampling noise
    # of X itself. For the MLE from n_tr = 150 rows scored on held-out rows,
    # log p_true(x) - log p_hat(x) ~ -(theta_hat - theta).score(x) + (1/2)||theta_hat - theta||_I^2:
    # mean d / (2 n_tr); the linear term averaged over all n = 200 scored rows has
    # variance ~ d / (n_tr n). Allow 4 standard deviations.
    true_nll = -(X * np.log(p) + (1 - X) * np.log1p(-p)).sum(axis=1).mean()
    d, n_tr, n = X.shape[1], 150, 200
    excess = res["mean"] - true_nll
    assert abs(excess - d / (2 * n_tr)) < 4 * np.sqrt(d / (n_tr * n))  # 0.057 nats
    with pytest.raises(ValueError, match="k must be"):
        cross_validate(LogisticBernoulli, X, k=1)
    with pytest.raises(TypeError, match="X_valid"):
        cross_validate(LogisticBernoulli, X, k=2, X_valid=X)


def _unique_rows(n, d=16):
    X = np.unique(_data(n=4 * n, d=d)[0], axis=0)
    return np.random.default_rng(1).permutation(X)[:n]


def test_cross_validate_never_trains_on_the_scored_fold(monkeypatch):
    X = _unique_rows(160)  # distinct rows: a row identifies its fold
    assert len(X) == 160
    calls = []

    def spy(model, X_train, **kw):
        calls.append((model, X_train.copy(), kw))
        return train(model, X_train, **kw)

    monkeypatch.setattr(training, "train", spy)
    res = cross_validate(
        LogisticBernoulli,
        X,
        k=4,
        random_state=0,
        max_epochs=30,
        learning_rate=0.2,
        batch_size=20,
        early_stopping=True,
        patience=2,
    )
    key = [r.tobytes() for r in X]
    scored = []
    for (model, X_train, kw), fold_nll in zip(calls, res["fold_nll"], strict=True):
        assert kw.get("X_valid") is None  # early stopping uses an inner split instead
        assert model.validation_fraction == 0.1 and model.early_stopping
        seen = {r.tobytes() for r in X_train}
        fold = np.array([r for r, kr in zip(X, key, strict=True) if kr not in seen])
        assert len(fold) == 40 and len(X_train) == 120
        scored.append({r.tobytes() for r in fold})
        # the reported score is the NLL of exactly the rows the model never saw
        assert fold_nll == pytest.approx(-model.score_samples(fold).mean(), rel=1e-12)
    assert len(calls) == 4 and set().union(*scored) == set(key)  # folds cover X...
    assert sum(map(len, scored)) == len(X)  # ...and are disjoint


def test_cross_validate_fold_scores_match_models_trained_without_the_fold():
    # the documented draw order: folds from rng, then one integer seeding a SeedSequence
    # whose children are the folds' random_state
    X, _ = _data(n=120)
    kw = dict(max_epochs=40, learning_rate=0.3, batch_size=10, early_stopping=True, patience=2)
    res = cross_validate(lambda: LogisticBernoulli(noise=1.0), X, k=3, random_state=5, **kw)
    rng = np.random.default_rng(5)
    folds = np.array_split(rng.permutation(len(X)), 3)
    seeds = np.random.SeedSequence(int(rng.integers(2**63))).spawn(3)
    expected, stopped = [], []
    for fold, seed in zip(folds, seeds, strict=True):
        rest = np.setdiff1d(np.arange(len(X)), fold)
        m = LogisticBernoulli(noise=1.0)
        h = train(m, X[rest], validation_fraction=0.1, random_state=seed, **kw)
        expected.append(-m.score_samples(X[fold]).mean())
        stopped.append(h.stopped_early)
    assert any(stopped)  # early stopping did choose an epoch, on the inner split
    assert res["fold_nll"] == expected
    # an explicit inner split is accepted too
    res2 = cross_validate(
        LogisticBernoulli,
        X,
        k=3,
        random_state=5,
        validation_fraction=0.25,
        max_epochs=5,
        learning_rate=0.1,
    )
    assert len(res2["fold_nll"]) == 3


def test_build_and_data_init_hook():
    X, _ = _data()
    seen = {}

    class WithInit(LogisticBernoulli):
        def init_from_data(self, X, rng):
            seen["shape"] = X.shape
            p = X.mean(axis=0).clip(0.01, 0.99)
            self.theta_[...] = np.log(p) - np.log1p(-p)

    m = WithInit()
    h = train(m, X, max_epochs=1, learning_rate=1e-12, random_state=0)
    assert seen["shape"] == X.shape and m.n_features_in_ == 6
    # initialised at the MLE already: the first epoch's loss is the empirical entropy
    p = X.mean(axis=0)
    assert h.train_loss[0] == pytest.approx(-(p * np.log(p) + (1 - p) * np.log1p(-p)).sum())


@pytest.mark.filterwarnings("ignore:overflow encountered")
def test_non_finite_parameters_detected(tmp_path):
    X, _ = _data(n=40)

    class Blowup(LogisticBernoulli):
        def loss_and_grads(self, batch, rng):
            loss, g = super().loss_and_grads(batch, rng)
            return loss, {"theta": np.full_like(g["theta"], 1e150)}

    with pytest.raises(
        TrainingDiverged, match="epoch 0, step 1: non-finite parameters after the epoch"
    ) as info:
        train(
            Blowup(),
            X,
            max_epochs=3,
            batch_size=40,
            learning_rate=1e200,
            optimizer="sgd",
            random_state=0,
            checkpoint_dir=tmp_path,
        )
    assert info.value.checkpoint is None and not (tmp_path / "checkpoint.npz").exists()


def test_closed_form_model_goes_through_fit(tmp_path):
    from minigen.models.baseline import FactorizedBernoulli

    X, _ = _data(n=300)
    m = FactorizedBernoulli(alpha=0.0)
    with pytest.raises(TypeError, match="unknown setting.*'max_epochs'.*valid parameters: alpha"):
        train(m, X[:200], max_epochs=5)
    h = train(m, X[:200], X_valid=X[200:], checkpoint_dir=tmp_path)
    np.testing.assert_allclose(m.p_, X[:200].mean(axis=0))
    assert h.epochs == 1 and h.valid_nll[0] == pytest.approx(-m.score(X[200:]))
    # written through model._save: "training" is reserved for minigen in model.save(**extra)
    assert load_checkpoint(tmp_path / "checkpoint.npz")[1]["training"]["history"]["train_loss"]
    res = cross_validate(lambda: FactorizedBernoulli(alpha=1.0), X, k=3, random_state=0)
    assert len(res["fold_nll"]) == 3 and np.isfinite(res["mean"])


#: the settings of _first_run's run, which a resume must repeat
RUN = {"learning_rate": 0.05, "random_state": 0}


def _first_run(tmp_path, **kw):
    X, _ = _data()
    train(
        LogisticBernoulli(noise=0.1),
        X,
        **{"max_epochs": 1, "checkpoint_dir": tmp_path, **RUN, **kw},
    )
    return X, tmp_path / "checkpoint.npz"


def test_resume_rejects_other_model_or_hyper_parameters(tmp_path):
    from minigen.io import CheckpointError

    X, ckpt = _first_run(tmp_path)

    class Other(LogisticBernoulli):
        pass

    with pytest.raises(CheckpointError, match="a 'LogisticBernoulli' model, this is a 'Other'"):
        train(Other(noise=0.1), X, max_epochs=2, resume_from=ckpt, **RUN)
    with pytest.raises(
        CheckpointError,
        match=r"other settings \(noise: 0.1 -> 0.5\); only "
        "max_epochs, verbose may change",
    ):
        train(LogisticBernoulli(noise=0.5), X, max_epochs=2, resume_from=ckpt, **RUN)
    for other in ({"learning_rate": 0.1}, {"random_state": 1}, {"batch_size": 10}):
        with pytest.raises(CheckpointError, match=f"other settings \\({next(iter(other))}: "):
            train(LogisticBernoulli(noise=0.1), X, resume_from=ckpt, **{**RUN, **other})


@pytest.mark.parametrize("optimizer", ["sgd", "adamw"])
def test_resume_rejects_other_optimizer(tmp_path, optimizer):
    from minigen.io import CheckpointError

    X, ckpt = _first_run(tmp_path)
    with pytest.raises(CheckpointError, match=f"optimizer: 'adam' -> '{optimizer}'"):
        train(
            LogisticBernoulli(noise=0.1),
            X,
            max_epochs=2,
            optimizer=optimizer,
            resume_from=ckpt,
            **RUN,
        )
    # and the other way round: an sgd run cannot continue as adam (used to be a KeyError)
    _first_run(tmp_path, optimizer="sgd")
    with pytest.raises(CheckpointError, match="optimizer: 'sgd' -> 'adam'"):
        train(LogisticBernoulli(noise=0.1), X, max_epochs=2, resume_from=ckpt, **RUN)


def test_resume_with_other_X_and_saved_split(tmp_path):
    from minigen.io import CheckpointError

    es = {"validation_fraction": 0.2, "early_stopping": True, "patience": 5}
    X, ckpt = _first_run(tmp_path, **es)
    # the saved held-out rows index up to 399: smaller X used to raise an IndexError
    for Xo in (X[:100], np.vstack([X, X])):
        with pytest.raises(CheckpointError, match="validation split .* does not fit X"):
            train(LogisticBernoulli(noise=0.1), Xo, max_epochs=2, resume_from=ckpt, **RUN, **es)
    h = train(LogisticBernoulli(noise=0.1), X, max_epochs=2, resume_from=ckpt, **RUN, **es)
    assert h.epochs == 2
    # without a saved split nothing indexes old rows: a smaller X resumes fine
    X, ckpt = _first_run(tmp_path)
    assert (
        train(LogisticBernoulli(noise=0.1), X[:100], max_epochs=2, resume_from=ckpt, **RUN).epochs
        == 2
    )


@pytest.mark.parametrize(
    "key,value", [("epoch", "1"), ("step", None), ("history", []), ("rng_state", "x")]
)
def test_resume_rejects_malformed_training_state(tmp_path, key, value):
    from minigen.io import CheckpointError, save_checkpoint

    X, ckpt = _first_run(tmp_path)
    arrays, meta = load_checkpoint(ckpt)
    meta["training"][key] = value
    save_checkpoint(ckpt, arrays, meta)
    with pytest.raises(CheckpointError, match=f"training.{key} is"):
        train(LogisticBernoulli(noise=0.1), X, max_epochs=2, resume_from=ckpt, **RUN)


def test_resume_rejects_non_finite_parameters(tmp_path):
    from minigen.io import CheckpointError, save_checkpoint

    X, ckpt = _first_run(tmp_path)
    arrays, meta = load_checkpoint(ckpt)
    arrays["param/theta"][0] = np.nan
    save_checkpoint(ckpt, arrays, meta)
    msg = r"cannot resume from .*\.npz': parameter 'theta' has 1 non-finite"
    with pytest.raises(CheckpointError, match=msg):
        train(LogisticBernoulli(noise=0.1), X, max_epochs=2, resume_from=ckpt, **RUN)


def test_resume_rejects_other_named_lr_schedule(tmp_path):
    from minigen.io import CheckpointError
    from minigen.optim import CosineLR

    X, ckpt = _first_run(tmp_path)
    assert load_checkpoint(ckpt)[1]["training"]["settings"]["lr_schedule"] == "constant"
    with pytest.raises(CheckpointError, match="lr_schedule: 'constant' -> 'cosine'"):
        train(
            LogisticBernoulli(noise=0.1),
            X,
            max_epochs=2,
            lr_schedule="cosine",
            resume_from=ckpt,
            **RUN,
        )
    train(
        LogisticBernoulli(noise=0.1),
        X,
        max_epochs=2,
        lr_schedule="constant",
        resume_from=ckpt,
        **RUN,
    )

    X, ckpt = _first_run(tmp_path, lr_schedule="cosine")
    with pytest.raises(CheckpointError, match="lr_schedule: 'cosine' -> 'constant'"):
        train(LogisticBernoulli(noise=0.1), X, max_epochs=2, resume_from=ckpt, **RUN)
    # a schedule object is recorded by its repr, and a resume must pass an equal one
    X, ckpt = _first_run(tmp_path, lr_schedule=CosineLR(10))
    assert (
        load_checkpoint(ckpt)[1]["params"]["lr_schedule"] == "CosineLR(total_steps=10, min_lr=0.0)"
    )
    train(
        LogisticBernoulli(noise=0.1),
        X,
        max_epochs=2,
        lr_schedule=CosineLR(10),
        resume_from=ckpt,
        **RUN,
    )
