"""A checkpoint cannot exhaust memory, and every failure to load is a CheckpointError
naming the file (issue 16, items 4 and 5).

The acceptance test crafts, for every registered model, checkpoints whose metadata or
extra state declare huge sizes (each architecture integer scaled by 10**6, n_features by
10**3 and 10**6, K by 10**7), plus the issue's container reproducers (a header declaring
shape (2**40,), 256 MiB of zeros compressed to ~1 MiB, ``hidden_sizes=[1e7, 1e7]``), and
loads each one in a forked child of a fresh process: the child's peak resident memory
(``resource.getrusage``) may grow at most 100 MB before the CheckpointError. A crafted
value that does not size anything the build allocates (``ais_chains``, ``n_steps``) may
load; nothing may raise anything but CheckpointError.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
from numpy.lib import format as npy_format
from registry_models import TINY, make

from minigen.backend import use_backend
from minigen.base import GenerativeModel
from minigen.io import METADATA_KEY, CheckpointError, load_checkpoint, save_checkpoint
from minigen.models.baseline import FactorizedBernoulli
from minigen.params import TRAINING_PARAMS

ROOT = Path(__file__).resolve().parents[1]
GROWTH_LIMIT_MB = 100
_REPRODUCERS = ("shape (2**40,)", "256 MiB of compressed zeros", "hidden_sizes=[1e7, 1e7]",
                "hidden_sizes=[10**7, 10**7]")
#: crafted values that size what the build allocates (the others, such as ais_chains, may load)
_SIZES = ("n_features", "hidden_sizes", "hidden", "hidden_size", "n_components", "n_channels",
          "n_categories", "extra/n_categories", "d_model", "d_ff", "n_layers", "n_couplings",
          "n_steps", "n_hidden", "n_masks")
_NOT_SIZES = {("ebm", "n_steps")}  # Langevin steps there, not flow steps

pytest.importorskip("sklearn")  # the digits data set comes from scikit-learn


def _scaled(meta, key, value):
    return {**meta, "params": {**meta["params"], key: value}}


def _craft_model_files(folder: Path) -> list:
    """``(model, what, path)`` for every crafted file of every registered model."""
    files = []
    with use_backend("numpy"):
        for name in TINY:
            model, X = make(name)
            if "max_epochs" in model.get_params():
                model.set_params(max_epochs=1)
            model.fit(X)
            arrays, meta = load_checkpoint(model.save(folder / f"{name}.npz"))
            files.append((name, "honest", str(folder / f"{name}.npz")))

            def put(what, meta2, arrays2=arrays, name=name):
                path = folder / f"{name}--{what.replace('/', '_')}.npz"
                save_checkpoint(path, arrays2, meta2)
                files.append((name, what, str(path)))

            for k, v in meta["params"].items():
                if k in TRAINING_PARAMS:
                    continue
                if isinstance(v, int) and not isinstance(v, bool):
                    put(f"{k}={v}e6", _scaled(meta, k, max(v, 1) * 10**6))
                elif isinstance(v, list) and v and all(isinstance(x, int) for x in v):
                    put(f"{k}=x1e6", _scaled(meta, k, [x * 10**6 for x in v]))
                elif v is None and k in ("n_categories", "n_persistent", "d_ff"):
                    put(f"{k}=1e7", _scaled(meta, k, 10**7))
            nf = meta["n_features"]
            for big in (10**3, 10**6):
                put(f"n_features x{big}", {**meta, "n_features": [x * big for x in nf]}
                    if isinstance(nf, list) else {**meta, "n_features": nf * big})
            for k, a in arrays.items():
                if k.startswith("extra/") and a.ndim == 0 and a.dtype.kind in "iu" and a > 0:
                    put(f"{k} x1e7", meta, {**arrays, k: np.asarray(int(a) * 10**7, a.dtype)})
    return files


def _write_member(zf, name, header: dict, data_bytes: int, chunk=2**20):
    with zf.open(name, "w", force_zip64=True) as m:
        npy_format.write_array_header_1_0(m, header)
        zeros = bytes(chunk)
        for _ in range(data_bytes // chunk):
            m.write(zeros)
        m.write(bytes(data_bytes % chunk))


def _craft_container_files(folder: Path) -> list:
    """The issue's reproducers at the level of the file."""
    X = (np.random.default_rng(1).random((40, 64)) < 0.4).astype(float)
    path = FactorizedBernoulli().fit(X).save(folder / "bern.npz")
    arrays, meta = load_checkpoint(path)
    blob = np.frombuffer(json.dumps(meta).encode(), np.uint8)
    out = []
    # a header declaring shape (2**40,) over 512 bytes of data
    p = folder / "huge-header.npz"
    with zipfile.ZipFile(p, "w") as zf:
        _write_member(zf, "param/p.npy", {"descr": "<f8", "fortran_order": False,
                                          "shape": (2**40,)}, 512)
        with zf.open(f"{METADATA_KEY}.npy", "w") as m:
            npy_format.write_array(m, blob)
    out.append(("baseline-bernoulli", "shape (2**40,)", str(p)))
    # 256 MiB of zeros compressed to about 1 MiB, under the right name
    p = folder / "zeros.npz"
    with zipfile.ZipFile(p, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
        _write_member(zf, "param/p.npy", {"descr": "<f8", "fortran_order": False,
                                          "shape": (2**25,)}, 2**28)
        with zf.open(f"{METADATA_KEY}.npy", "w") as m:
            npy_format.write_array(m, blob)
    out.append(("baseline-bernoulli", "256 MiB of compressed zeros", str(p)))
    # hidden_sizes=[1e7, 1e7] as the issue wrote it (floats), and as ints
    with use_backend("numpy"):
        made, Xd = make("made")
        made.set_params(max_epochs=1).fit(Xd)
    arrays, meta = load_checkpoint(made.save(folder / "made.npz"))
    for what, sizes in (("hidden_sizes=[1e7, 1e7]", [1e7, 1e7]),
                        ("hidden_sizes=[10**7, 10**7]", [10**7, 10**7])):
        p = folder / f"made-{len(out)}.npz"
        save_checkpoint(p, arrays, _scaled(meta, "hidden_sizes", sizes))
        out.append(("made", what, str(p)))
    return out


_LOADER = r"""
import json, os, resource, sys
sys.path.insert(0, {root!r})
from minigen.models import load
from minigen.io import CheckpointError
files = json.load(open(sys.argv[1]))
for _, what, path in files:  # warm up: imports and caches a load needs
    if what == "honest":
        load(path)

def rss_mb():
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20

results = []
for name, what, path in files:
    if what == "honest":
        continue
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # one child per file: its peak is this load's alone
        os.close(r)
        limit = 4 * 2**30  # a regression fails the test instead of exhausting the machine
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
        start = rss_mb()
        try:
            load(path)
            outcome = "loaded"
        except CheckpointError as exc:
            outcome = "CheckpointError: " + str(exc)
        except BaseException as exc:
            outcome = f"{{type(exc).__name__}}: {{exc}}"
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        os.write(w, json.dumps([name, what, peak - start, outcome]).encode())
        os._exit(0)
    os.close(w)
    data = b""
    while chunk := os.read(r, 1 << 16):
        data += chunk
    os.close(r)
    os.waitpid(pid, 0)
    results.append(json.loads(data) if data else [name, what, None, "child died"])
json.dump(results, open(sys.argv[2], "w"))
"""


@pytest.mark.skipif(not hasattr(os, "fork") or not Path("/proc/self/statm").exists(),
                    reason="needs fork and /proc (Linux)")
def test_crafted_checkpoints_never_grow_memory_by_100_mb(tmp_path):
    files = _craft_model_files(tmp_path) + _craft_container_files(tmp_path)
    index, report = tmp_path / "files.json", tmp_path / "results.json"
    index.write_text(json.dumps(files))
    env = {**os.environ, "MINIGEN_BACKEND": "numpy", "OPENBLAS_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, "-c", _LOADER.format(root=str(ROOT)), str(index),
                           str(report)], capture_output=True, text=True, env=env,
                          timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = json.loads(report.read_text())
    assert len(results) == sum(what != "honest" for _, what, _ in files)
    bad = [r for r in results if r[2] is None or r[2] > GROWTH_LIMIT_MB
           or not (r[3] == "loaded" or r[3].startswith("CheckpointError"))]
    assert not bad, "\n".join(f"{n} {w}: +{g} MB, {o[:200]}" for n, w, g, o in bad)
    refused = {(n, w) for n, w, _, o in results if o.startswith("CheckpointError")}
    # the reproducers, and every size the build allocates by, are refused
    must = [(n, w) for n, w, _ in files
            if w != "honest" and (w in _REPRODUCERS or w.split("=")[0].split(" ")[0]
                                  in _SIZES) and (n, w.split("=")[0]) not in _NOT_SIZES]
    assert len(must) > 3 * len(TINY)
    assert [nw for nw in must if nw not in refused] == []
    for *_, o in results:
        if o.startswith("CheckpointError"):
            assert ".npz" in o, o  # the error names the file


# ------------------------------------------------------------ invalid content, clear errors
def _trained(name, **overrides):
    with use_backend("numpy"):
        model, X = make(name, **overrides)
        if "max_epochs" in model.get_params():
            model.set_params(max_epochs=1, random_state=1)
        return model.fit(X), X


def _tamper(tmp_path, model, meta_edit=None, **arrays_edit):
    arrays, meta = load_checkpoint(model.save(tmp_path / "m.npz"))
    if meta_edit:
        meta = meta_edit(meta)
    for k, v in arrays_edit.items():
        key = k.replace("__", "/")
        if v is None:
            del arrays[key]
        else:
            arrays[key] = v(arrays[key]) if callable(v) else v
    return save_checkpoint(tmp_path / "bad.npz", arrays, meta)


@pytest.mark.parametrize("name,edit,msg", [
    ("rbm", {"param__c": None}, "lacks parameter 'c'"),
    ("rbm", {"extra__chains": np.zeros((5, 3))}, "'chains' has shape (5, 3)"),
    ("rbm", {"extra__chains": np.full((5, 64), np.nan)}, "'chains' holds 320 non-finite"),
    ("ebm", {"extra__buffer": np.zeros((7, 3))}, "'buffer' has shape (7, 3)"),
    ("ebm", {"extra__box": np.array([[4.0, 4.0], [-4.0, -4.0]])}, "lower < upper"),
    ("made", {"extra__image_shape": np.array([-8, -8])}, "image_shape (-8, -8) disagrees"),
    ("made", {"extra__n_categories": np.array(0)}, "n_categories must be"),
    ("made", {"extra__n_categories": None}, "lacks extra/n_categories"),
    ("made", {"extra__orderings": np.zeros((2, 64), np.int64)}, "'orderings' has shape (2, 64)"),
    ("made", {"extra__orderings": np.zeros((1, 64), np.int64)}, "orderings must be a permutation"),
    ("made-continuous", {"extra__scale": lambda a: -a}, "'scale' must be > 0"),
    ("made-continuous", {"extra__shift": np.full(2, np.inf)}, "'shift' holds 2 non-finite"),
])
def test_invalid_extra_state_is_refused_at_load(tmp_path, name, edit, msg):
    model, _ = _trained(name)
    path = _tamper(tmp_path, model, **edit)
    with pytest.raises(CheckpointError, match="bad.npz") as info:
        GenerativeModel.load(path)
    assert msg in str(info.value)


@pytest.mark.parametrize("name,key,value,msg", [
    ("rbm", "ais_chains", -3, "ais_chains must be an int >= 1"),
    ("made", "hidden_sizes", [1e7, 1e7], "hidden_sizes must be a non-empty sequence of ints"),
    ("made", "n_categories", 3, "disagrees with the hyper-parameter n_categories=3"),
    ("baseline", "n_categories", 7, "'probs' has shape (64, 2) in the checkpoint"),
])
def test_invalid_hyper_parameters_are_refused_at_load(tmp_path, name, key, value, msg):
    model, _ = _trained(name)
    path = _tamper(tmp_path, model, lambda m: _scaled(m, key, value))
    with pytest.raises(CheckpointError, match="bad.npz") as info:
        GenerativeModel.load(path)
    assert msg in str(info.value)


def test_image_shape_in_metadata_must_be_positive(tmp_path):
    model, _ = _trained("pixelcnn")
    path = _tamper(tmp_path, model, lambda m: {**m, "n_features": [-8, -8]})
    with pytest.raises(CheckpointError, match="'n_features' must be a positive int"):
        GenerativeModel.load(path)


def test_load_reads_no_array_before_the_shapes_are_checked(tmp_path, monkeypatch):
    import minigen.io as mio

    model, _ = _trained("rbm")
    path = _tamper(tmp_path, model, param__W=np.zeros((64, 9)))
    read = []
    real = mio.CheckpointFile.read
    monkeypatch.setattr(mio.CheckpointFile, "read",
                        lambda self, name: read.append(name) or real(self, name))
    with pytest.raises(CheckpointError, match=r"'W' has shape \(64, 9\) in the checkpoint"):
        GenerativeModel.load(path)
    assert not [k for k in read if k.startswith("param/")]  # refused from the headers



# ------------------------------------------------------------ resuming a tampered run
@pytest.fixture
def run_checkpoint(tmp_path):
    from minigen.training import train

    model, X = make("made", max_epochs=2, random_state=1)
    with use_backend("numpy"):
        train(model, X, checkpoint_dir=tmp_path)
    return tmp_path / "checkpoint.npz", X


@pytest.mark.parametrize("edit,msg", [
    (lambda tr: tr.update(epoch=-1), "epoch/step are -1/"),
    (lambda tr: tr.update(step=-5), "epoch/step are 2/-5"),
    (lambda tr: tr["history"].update(train_loss=[0.1]), "history.train_loss must be a list of 2"),
    (lambda tr: tr.update(best_epoch=7), "best_epoch is 7"),
    (lambda tr: tr.update(bad_epochs=-1), "bad_epochs is -1"),
    (lambda tr: tr.update(loss_ref="x"), "loss_ref is 'x'"),
    (lambda tr: tr["rng_state"].update(bit_generator="RandomState"),
     "unknown bit generator 'RandomState'"),
    (lambda tr: tr["rng_state"].update(bit_generator="SeedSequence"),
     "unknown bit generator 'SeedSequence'"),
    (lambda tr: tr["rng_state"].update(state={"state": "x", "inc": 1}),
     "saved random state of PCG64 is invalid"),
])
def test_a_tampered_run_state_is_refused_on_resume(run_checkpoint, edit, msg):
    from minigen.training import train

    path, X = run_checkpoint
    arrays, meta = load_checkpoint(path)
    edit(meta["training"])
    save_checkpoint(path, arrays, meta)
    model, _ = make("made", max_epochs=3, random_state=1)
    with use_backend("numpy"), pytest.raises(CheckpointError, match="checkpoint.npz") as info:
        train(model, X, resume_from=path)
    assert msg in str(info.value)


def test_checkpoint_dir_that_is_a_file_is_refused_before_any_work(tmp_path):
    from minigen.training import train

    afile = tmp_path / "afile"
    afile.write_text("")
    model, X = make("made", max_epochs=1)
    calls = []
    model.loss_and_grads = lambda *a: calls.append(1)
    with pytest.raises(ValueError, match="checkpoint_dir '.*afile' is a file, not a folder"):
        train(model, X, checkpoint_dir=afile)
    assert calls == [] and afile.read_text() == ""
