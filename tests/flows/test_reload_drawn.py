"""Flows keep what they draw when built (issue 16): a checkpoint holds every drawn buffer
(the 1x1 convolution's permutation and signs), load checks and restores them; sampling
refuses a temperature that overflows the dtype instead of returning inf/NaN."""

from __future__ import annotations

import re

import numpy as np
import pytest
from registry_models import make

from minigen.backend import use_backend
from minigen.base import GenerativeModel
from minigen.io import CheckpointError, load_checkpoint, save_checkpoint

pytest.importorskip("sklearn")  # digits


@pytest.fixture
def glow(tmp_path):
    with use_backend("numpy"):
        model, X = make("glow", max_epochs=1, random_state=2)
        model.fit(X)
    return model, X, model.save(tmp_path / "g.npz")


def test_glow_checkpoint_holds_its_drawn_buffers(glow):
    model, X, path = glow
    arrays, _ = load_checkpoint(path)
    drawn = sorted(k for k in arrays if k.startswith("extra/drawn/"))
    assert drawn and all(k.endswith((".perm", ".sign_s")) for k in drawn)
    with use_backend("numpy"):
        np.testing.assert_array_equal(GenerativeModel.load(path).score_samples(X[:8]),
                                      model.score_samples(X[:8]))


def _rewrite(path, edit):
    arrays, meta = load_checkpoint(path)
    edit(arrays)
    save_checkpoint(path, arrays, meta)


def _first(arrays, suffix):
    return next(k for k in sorted(arrays) if k.startswith("extra/drawn/") and k.endswith(suffix))


@pytest.mark.parametrize("edit,msg", [
    (lambda a: a.pop(_first(a, ".perm")), "lacks 'drawn/"),
    (lambda a: a.__setitem__(_first(a, ".perm"), np.ones_like(a[_first(a, ".perm")])),
     "perm must be a permutation matrix"),
    (lambda a: a.__setitem__(_first(a, ".sign_s"), 0.5 * a[_first(a, ".sign_s")]),
     "sign_s must hold only -1 and +1"),
    (lambda a: a.__setitem__(_first(a, ".sign_s"), np.ones(3)), "has shape (3,)"),
    (lambda a: a.__setitem__("extra/drawn/nowhere.perm", np.eye(2)),
     "drawn buffers ['drawn/nowhere.perm'] the model does not have"),
])
def test_tampered_drawn_buffers_are_refused(glow, edit, msg):
    _, _, path = glow
    _rewrite(path, edit)
    with pytest.raises(CheckpointError, match="g.npz") as info:
        GenerativeModel.load(path)
    assert msg in str(info.value)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_sample_refuses_a_temperature_that_overflows_the_dtype(dtype):
    with use_backend("numpy"):
        model, X = make("realnvp", dtype=dtype, max_epochs=1)
        model.fit(X)
        big = float(np.finfo(dtype).max)
        for t in (1e200 if dtype == "float32" else 1e307, big):
            with pytest.raises(ValueError, match=re.escape(f"temperature={t:g} overflows")):
                model.sample(3, random_state=0, temperature=t)
        for t in (1.0, 1e3, 1e30):  # large but representable: finite samples or a clear error
            try:
                s = model.sample(3, random_state=0, temperature=t, dequantized=True)
            except ValueError as exc:
                assert "overflowed" in str(exc)
            else:
                assert np.isfinite(s).all()
