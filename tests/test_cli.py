"""CLI end to end in a temporary folder: train / sample / eval / info / bench, and bad input."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from minigen.cli import build_parser, main

ROOT = Path(__file__).resolve().parents[1]
pytest.importorskip("sklearn")  # the digits data set comes from scikit-learn


def test_train_sample_eval_baseline(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", "baseline", "--data", "digits", "--out", str(out), "--quiet"]) == 0
    assert (out / "model.npz").exists() and (out / "samples.png").exists()
    m = json.loads((out / "metrics.json").read_text())
    assert m["dataset"] == "digits" and m["seed"] == 0 and m["backend"]
    assert "binary" in m["protocol"] and m["n_dims"] == 64
    test = m["nll"]["test"]
    assert test["bits_per_dim"] == pytest.approx(test["nats"] / (64 * np.log(2)))
    # A factorized model on binarized digits: between 10 and 44.4 (= 64 log 2) nats.
    assert 10 < test["nats"] < 64 * np.log(2)
    assert m["train_time_s"] >= 0 and m["training"] == "closed form"
    capsys.readouterr()

    assert main(["eval", str(out / "model.npz"), "--data", "digits", "--split", "test"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert res["nll_nats"] == pytest.approx(test["nats"], rel=1e-12) and res["n"] == 250

    png = tmp_path / "s.png"
    argv = ["sample", str(out / "model.npz"), "-n", "9", "--out", str(png), "--seed", "1"]
    assert main(argv) == 0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    npy = tmp_path / "s.npy"
    assert main(["sample", str(out / "model.npz"), "-n", "5", "--out", str(npy)]) == 0
    assert np.load(npy).shape == (5, 8, 8)


def _register_test_model(monkeypatch):
    """Register the test-only gradient model under a private name."""
    monkeypatch.syspath_prepend(str(ROOT / "tests"))
    from test_training import LogisticBernoulli

    from minigen.base import MODEL_REGISTRY

    monkeypatch.setitem(MODEL_REGISTRY, "_test-logistic", LogisticBernoulli)
    monkeypatch.setattr(LogisticBernoulli, "_registry_name", "_test-logistic", raising=False)


def test_train_gradient_model_writes_resumable_checkpoint(tmp_path, monkeypatch):
    _register_test_model(monkeypatch)
    out = tmp_path / "g"
    args = ["train", "_test-logistic", "--data", "bars-stripes4", "--out", str(out), "--epochs",
            "2", "--lr", "0.05", "--quiet", "--no-samples", "--backend", "numpy"]
    assert main(args) == 0
    m = json.loads((out / "metrics.json").read_text())
    assert m["training"] == "iterative" and len(m["history"]["train_loss"]) == 2
    # the flags became the model's hyper-parameters, recorded as used
    assert m["params"]["max_epochs"] == 2 and m["params"]["learning_rate"] == 0.05
    assert (out / "checkpoint.npz").exists()
    args[args.index("2")] = "3"
    assert main(args + ["--resume"]) == 0
    m = json.loads((out / "metrics.json").read_text())
    assert len(m["history"]["train_loss"]) == 3


def test_train_cosine_lr_schedule(tmp_path, monkeypatch):
    _register_test_model(monkeypatch)
    out = tmp_path / "c"
    assert main(["train", "_test-logistic", "--data", "bars-stripes4", "--out", str(out),
                 "--epochs", "3", "--lr", "0.05", "--lr-schedule", "cosine", "--quiet",
                 "--no-samples", "--backend", "numpy"]) == 0
    lr = json.loads((out / "metrics.json").read_text())["history"]["lr"]
    assert lr[0] < 0.05 and lr[0] > lr[1] > lr[2] and lr[2] < 0.05 * 0.02  # decays to ~0


def test_info_prints_backend_table(capsys):
    assert main(["info"]) == 0
    text = capsys.readouterr().out
    assert text.startswith("minigen ")
    for name in ("numpy", "numba", "cupy"):
        assert any(line.startswith(name) for line in text.splitlines())
    assert "numba threads:" in text
    assert main(["info", "--warm"]) == 0
    assert "warm-up" in capsys.readouterr().out


def test_bench_hook_passes_arguments_on(capsys, monkeypatch):
    from minigen import bench_cli

    seen = []
    monkeypatch.setattr(bench_cli, "main", lambda argv: seen.append(argv) or 0)
    assert main(["bench", "--help", "x"]) == 0
    assert seen == [["--help", "x"]]
    assert "bench" in build_parser().format_help()


def test_python_dash_m_bench_help_in_a_fresh_process(tmp_path):
    # `minigen bench` reaches minigen.bench_cli, which builds on minigen.cli_args: no
    # import circle, whichever module a fresh process imports first
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    for argv in (["-m", "minigen", "bench", "--help"],
                 ["-c", "import minigen.bench_cli as b; b.build_parser().print_help()"]):
        out = subprocess.run([sys.executable, *argv], capture_output=True, text=True,
                             env=env, cwd=tmp_path, timeout=120)
        assert out.returncode == 0, out.stderr
        assert "usage: minigen bench" in out.stdout and "--repeat" in out.stdout


def test_no_import_circle_through_the_command_modules():
    """Neither minigen.cli nor minigen.bench_cli imports the other, directly or through
    other modules (function-level imports included); no command module is on a circle."""
    grimp = pytest.importorskip("grimp")
    graph = grimp.build_graph("minigen")
    assert graph.find_shortest_chain(importer="minigen.bench_cli", imported="minigen.cli") is None
    for module in ("minigen.cli", "minigen.cli_args", "minigen.cli_data", "minigen.cli_train",
                   "minigen.bench_cli", "minigen.tour", "minigen.catalog"):
        above = graph.find_upstream_modules(module)
        assert not above & graph.find_downstream_modules(module), module


@pytest.mark.parametrize(
    "argv,msg",
    [
        (["train", "nope", "--data", "digits", "--out", "X"], "unknown model 'nope'"),
        (["train", "baseline", "--data", "nodata", "--out", "X"], "unknown dataset 'nodata'"),
        (["train", "baseline", "--data", "digits", "--out", "X", "--param", "alpha"],
         "KEY=VALUE"),
        (["train", "baseline", "--data", "digits", "--out", "X", "--param", "beta=1"],
         "bad --param"),
        (["eval", "missing.npz", "--data", "digits"], "does not exist"),
        (["sample", "missing.npz", "--out", "x.png"], "does not exist"),
    ],
)
def test_bad_input_exit_2(argv, msg, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    assert msg in capsys.readouterr().err


def test_train_out_is_an_existing_file_exit_2(tmp_path, capsys):
    afile = tmp_path / "afile"
    afile.write_text("")
    argv = ["train", "baseline", "--data", "digits", "--out", str(afile), "--quiet"]
    assert main(argv) == 2  # used to be a raw FileExistsError traceback
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "--out" in err and "afile" in err


def test_sample_png_of_a_model_fitted_on_one_channel_images(tmp_path):
    """(n, H, W, 1) samples used to crash inside matplotlib ("must be 3 or 4")."""
    from minigen.models.baseline import FactorizedBernoulli

    X = (np.random.default_rng(0).random((20, 4, 4, 1)) < 0.5).astype(float)
    ckpt = FactorizedBernoulli().fit(X).save(tmp_path / "m.npz")
    png = tmp_path / "s.png"
    assert main(["sample", str(ckpt), "-n", "4", "--out", str(png)]) == 0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_corrupt_checkpoint_is_a_clean_error(tmp_path, capsys):
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"not a zip file at all")
    assert main(["eval", str(bad), "--data", "digits"]) == 1  # ran, and the file failed it
    assert "truncated or corrupt" in capsys.readouterr().err


def test_parser_requires_command():
    with pytest.raises(SystemExit):
        build_parser().parse_args([])


def test_python_dash_m_entry_point(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-m", "minigen", "info"], capture_output=True,
                         text=True, env=env, cwd=tmp_path, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "numpy" in out.stdout and "cupy" in out.stdout


def test_train_closed_form_model(tmp_path, capsys):
    out = tmp_path / "mf"
    argv = ["train", "baseline-bernoulli", "--data", "bars-stripes4", "--out", str(out),
            "--quiet", "--param", "alpha=0.5", "--no-samples"]
    assert main(argv) == 0
    m = json.loads((out / "metrics.json").read_text())
    assert m["training"] == "closed form" and len(m["history"]["train_loss"]) == 1
    assert m["params"] == {"alpha": 0.5} and m["samples_png"] is None
    # a training flag the closed-form fit would ignore is refused, not dropped
    assert main(argv[:-1] + ["--epochs", "3", "--out", str(tmp_path / "x")]) == 2
    assert "--epochs would be ignored" in capsys.readouterr().err
    # uniform over 30 patterns: the factorized model cannot reach the entropy log 30
    assert m["nll"]["test"]["nats"] > np.log(30)


def test_eval_non_finite_checkpoint_exit_1(tmp_path, capsys):
    from minigen.io import load_checkpoint, save_checkpoint
    from minigen.models.baseline import FactorizedBernoulli

    X = (np.random.default_rng(0).random((50, 8, 8)) < 0.3).astype(float)
    arrays, meta = load_checkpoint(FactorizedBernoulli().fit(X).save(tmp_path / "m.npz"))
    arrays["param/p"][5] = np.nan  # used to load and print "nll_nats": NaN with exit 0
    save_checkpoint(tmp_path / "nan.npz", arrays, meta)
    for argv in (["eval", str(tmp_path / "nan.npz"), "--data", "digits"],
                 ["sample", str(tmp_path / "nan.npz"), "--out", str(tmp_path / "s.npy")]):
        assert main(argv) == 1
        captured = capsys.readouterr()
        assert captured.out == "" and len(captured.err.strip().splitlines()) == 1
        assert "nan.npz" in captured.err and "non-finite" in captured.err


# ------------------------------------------------------------ audit 4 findings 1, 2, 3, 5, 7, 11
def test_sample_png_of_a_2d_model_matches_train_picture(tmp_path):
    """`sample` on a 2-D (ring8) model used to fail in sample_grid ("non-square width");
    it now draws what `train` writes to samples.png (points on the density)."""
    out = tmp_path / "mg"
    assert main(["train", "made-gaussian", "--data", "ring8", "--epochs", "1", "--out",
                 str(out), "--quiet", "--backend", "numpy"]) == 0
    png = tmp_path / "s.png"
    assert main(["sample", str(out / "model.npz"), "-n", "64", "--seed", "0", "--out", str(png),
                 "--backend", "numpy"]) == 0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert png.read_bytes() == (out / "samples.png").read_bytes()  # same samples, same picture


def test_eval_and_sample_of_a_flat_input_model_on_image_data(tmp_path, capsys):
    """`bm` takes flat rows: eval used to pass bars-stripes4 as (n, 4, 4) and fail."""
    out = tmp_path / "bm"
    assert main(["train", "bm", "--data", "bars-stripes4", "--epochs", "1", "--out", str(out),
                 "--quiet", "--no-samples"]) == 0
    test_nats = json.loads((out / "metrics.json").read_text())["nll"]["test"]["nats"]
    capsys.readouterr()
    assert main(["eval", str(out / "model.npz"), "--data", "bars-stripes4"]) == 0
    assert json.loads(capsys.readouterr().out)["nll_nats"] == pytest.approx(test_nats, rel=1e-12)
    png = tmp_path / "bm.png"
    assert main(["sample", str(out / "model.npz"), "-n", "4", "--out", str(png)]) == 0


def test_model_input_helper_flattens_unless_the_model_takes_images():
    from minigen.cli_data import model_input
    from minigen.models.baseline import FactorizedBernoulli
    from minigen.models.ebm import BoltzmannMachine

    X = np.zeros((3, 4, 4))
    assert model_input(BoltzmannMachine, X).shape == (3, 16)
    assert model_input(BoltzmannMachine(), X).shape == (3, 16)
    assert model_input(FactorizedBernoulli(), X).shape == (3, 4, 4)


def test_gbrbm_that_cannot_be_scored_is_refused_before_training(tmp_path, capsys):
    out = tmp_path / "g"
    assert main(["train", "gbrbm", "--data", "ring8", "--epochs", "1", "--out", str(out),
                 "--param", "n_components=64"]) == 2
    err = capsys.readouterr().err
    assert "n_components <= 24" in err and "--param" in err
    assert len(err.strip().splitlines()) == 1
    assert not out.exists()  # nothing trained, nothing half-written
    assert main(["train", "gbrbm", "--data", "ring8", "--epochs", "1", "--out", str(out),
                 "--param", "n_components=4", "--quiet", "--no-samples"]) == 0


def _subparsers():
    import argparse

    parser = build_parser()
    return next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices


def test_help_shows_defaults_and_every_option_has_help(capsys):
    subs = _subparsers()
    for name, p in subs.items():
        if name == "bench":  # its own parser, checked below
            continue
        for a in p._actions:
            assert a.help, f"minigen {name} {a.option_strings or a.dest} has no help"
    text = subs["train"].format_help()
    # training flags default to the model's own settings (the model table lists them)
    for expected in ("default: the model's", "(default: 0)"):
        assert expected in text
    assert "(default: None)" not in text and "(default: False)" not in text
    assert "(default: test)" in subs["eval"].format_help()
    assert "(default: 64)" in subs["sample"].format_help()
    assert "(default: runs/tour)" in subs["tour"].format_help()
    with pytest.raises(SystemExit) as exc:
        main(["bench", "--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    assert "(default: 5)" in out and "(default: default)" in out


@pytest.mark.parametrize(
    "argv",
    [
        ["bench", "--repeat", "0", "--size", "small", "multinomial_threshold"],
        ["bench", "--repeat", "-1", "multinomial_threshold"],
        ["train", "baseline", "--data", "digits", "--out", "X", "--epochs", "0"],
        ["train", "baseline", "--data", "digits", "--out", "X", "--batch-size", "-3"],
        ["train", "baseline", "--data", "digits", "--out", "X", "--patience", "0"],
        ["sample", "m.npz", "--out", "x.png", "-n", "0"],
        ["sample", "m.npz", "--out", "x.png", "--nrow", "0"],
    ],
)
def test_positive_int_options_reject_below_one(argv, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exc:  # bench --repeat 0 used to be a StatisticsError
        main(argv)
    assert exc.value.code == 2
    assert "must be an integer >= 1" in capsys.readouterr().err


def test_positive_int_type():
    import argparse

    from minigen.cli_args import positive_int

    assert positive_int("3") == 3
    for bad in ("0", "-2", "1.5", "x"):
        with pytest.raises(argparse.ArgumentTypeError):
            positive_int(bad)


@pytest.mark.parametrize("name,what", [("samples", "no file extension"),
                                       ("s.xyz", "extension '.xyz'")])
def test_sample_out_without_a_known_extension_exit_2(tmp_path, capsys, name, what):
    from minigen.models.baseline import FactorizedBernoulli

    X = (np.random.default_rng(0).random((20, 16)) < 0.5).astype(float)
    ckpt = FactorizedBernoulli().fit(X).save(tmp_path / "m.npz")
    assert main(["sample", str(ckpt), "--out", str(tmp_path / name)]) == 2
    err = capsys.readouterr().err
    assert what in err and ".npy" in err and ".png" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / name).exists()


def test_resume_of_a_closed_form_model_says_so(tmp_path, capsys):
    argv = ["train", "baseline", "--data", "bars-stripes4", "--out", str(tmp_path / "b"),
            "--quiet", "--resume"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "closed form" in err and "does not exist" not in err


def test_resume_with_another_lr_schedule_exit_2(tmp_path, monkeypatch, capsys):
    _register_test_model(monkeypatch)
    argv = ["train", "_test-logistic", "--data", "bars-stripes4", "--out", str(tmp_path / "r"),
            "--epochs", "1", "--quiet", "--no-samples", "--backend", "numpy"]
    assert main(argv) == 0
    argv[argv.index("1")] = "2"
    assert main(argv + ["--resume", "--lr-schedule", "cosine"]) == 2
    assert "--lr-schedule 'constant' (now 'cosine')" in capsys.readouterr().err
    assert main(argv + ["--resume", "--lr-schedule", "constant"]) == 0


# ------------------------------------------------------------ issue 16: exit statuses
def test_help_documents_the_exit_statuses(capsys):
    for argv in (["--help"], ["train", "--help"]):
        with pytest.raises(SystemExit):
            main(argv)
        text = " ".join(capsys.readouterr().out.split())
        assert "exit status: 0 success; 1 the command ran and failed" in text
        assert "2 usage" in text


def _bern_run(tmp_path):
    out = tmp_path / "b"
    assert main(["train", "baseline-bernoulli", "--data", "bars-stripes4", "--out", str(out),
                 "--quiet", "--no-samples"]) == 0
    return out


@pytest.mark.parametrize("case", ["missing", "crafted", "diverged", "disk full", "no memory"])
def test_failures_are_one_line_with_the_documented_status(tmp_path, capsys, monkeypatch, case):
    from minigen.io import load_checkpoint, save_checkpoint

    if case == "missing":
        argv, status, words = ["eval", str(tmp_path / "nope.npz")], 2, "does not exist"
    elif case == "crafted":  # the n_features blow-up, from the command line
        arrays, meta = load_checkpoint(_bern_run(tmp_path) / "model.npz")
        save_checkpoint(tmp_path / "big.npz", arrays, {**meta, "n_features": 10**12})
        argv, status, words = ["eval", str(tmp_path / "big.npz")], 1, "stores only"
    elif case == "diverged":
        argv = ["train", "made", "--data", "bars-stripes4", "--out", str(tmp_path / "d"),
                "--lr", "1e300", "--epochs", "2", "--quiet", "--no-samples"]
        status, words = 1, "training diverged"
    elif case == "disk full":
        import errno

        import minigen.io as mio

        def full(fh, host):
            raise OSError(errno.ENOSPC, "No space left on device")

        monkeypatch.setattr(mio, "_write_zip", full)
        argv = ["train", "made", "--data", "bars-stripes4", "--out", str(tmp_path / "f"),
                "--epochs", "2", "--quiet", "--no-samples"]
        status, words = 1, "No space left on device while writing the checkpoint"
    else:
        argv = ["sample", str(_bern_run(tmp_path) / "model.npz"), "-n", str(10**13),
                "--out", str(tmp_path / "s.npy")]
        status, words = 1, "out of memory"
    capsys.readouterr()
    assert main(argv) == status
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and words in err and "Traceback" not in err


def test_discovery_models_command_and_help_lists(capsys):
    from minigen.registry import MODEL_REGISTRY

    assert main(["models"]) == 0
    out = capsys.readouterr().out
    assert len(MODEL_REGISTRY) > 20
    for name in MODEL_REGISTRY:  # every registered model, one row each
        assert f"\n{name} " in out, name
    assert main(["models", "rbm"]) == 0
    out = capsys.readouterr().out
    assert "n_components = 64  [int >= 1]" in out and "learning_rate = 0.05" in out
    assert main(["models", "nope"]) == 2
    assert "known models" in capsys.readouterr().err
    text = build_parser()._subparsers._group_actions[0].choices["train"].format_help()
    assert "made-continuous" in text and "fashion-mnist" in text and ".npz" in text


@pytest.mark.parametrize("param, expected", [
    ("hiden_sizes=[8]", "unknown hyper-parameter(s) hiden_sizes; valid: hidden_sizes (tuple "
                        "of int >= 1)"),
    ("hidden_sizes=64", "hidden_sizes must be a sequence of ints >= 1, e.g. [64, 64]"),
    ("n_masks=0", "n_masks must be an int >= 1, got 0"),
])
def test_bad_param_names_the_valid_keys_and_types(tmp_path, capsys, param, expected):
    argv = ["train", "made", "--data", "bars-stripes4", "--out", str(tmp_path / "r"),
            "--param", param, "--quiet", "--no-samples"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert expected in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "r").exists()


def test_round_robin_rotates_the_row_that_follows_each_other():
    """A row visited always right after the same one pays that row's after-effects (on a
    VM, slow calls for a while after other work): each row must follow several others."""
    from minigen.bench_cli import time_round_robin

    order = []
    calls = {k: (lambda k=k: order.append(k)) for k in "abc"}
    out = time_round_robin(calls, repeat=9, block=3)
    assert set(out) == set("abc")
    visits = order[::4]  # a visit: one untimed call, then 3 timed ones
    assert len(visits) == 9 and all(visits.count(k) == 3 for k in "abc")
    before = {k: {visits[i - 1] for i in range(1, len(visits)) if visits[i] == k}
              for k in "abc"}
    assert all(len(v) >= 2 for v in before.values()), before
