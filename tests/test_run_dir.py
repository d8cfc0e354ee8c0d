"""A run directory is owned by one run (issue 16, items 2 and 3).

``minigen train`` locks ``--out``; refuses to overwrite a run without ``--force``;
``--resume`` checks the flags against the checkpoint, starts fresh when there is none
yet, and rewrites a finished run's files without training. Acceptance: 4 concurrent
runs into one ``--out`` (exactly one runs), and 20 ``kill -9`` at random moments of a
``--patience 1`` run, each followed by ``--resume``, end in a ``model.npz`` bitwise
equal to an uninterrupted run's.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from minigen.cli import main
from minigen.io import load_checkpoint
from minigen.rundir import LOCK_NAME, RunDirBusy, RunLock

ROOT = Path(__file__).resolve().parents[1]
#: a small MADE on bars-and-stripes that stops early after ~35 epochs (~0.5 s of training)
RUN = ["train", "made", "--data", "bars-stripes4", "--param", "hidden_sizes=[16]",
       "--epochs", "300", "--patience", "1", "--lr", "0.01", "--quiet", "--no-samples",
       "--backend", "numpy"]


def _env():
    return {**os.environ, "PYTHONPATH": str(ROOT), "MINIGEN_BACKEND": "numpy",
            "OPENBLAS_NUM_THREADS": "1"}


def _spawn(args):
    return subprocess.Popen([sys.executable, "-m", "minigen", *args], env=_env(), cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _run(args, timeout=120):
    return subprocess.run([sys.executable, "-m", "minigen", *args], env=_env(), cwd=ROOT,
                          capture_output=True, text=True, timeout=timeout)


def _one_line_error(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


# ------------------------------------------------------------------ the lock
def test_a_second_writer_is_refused_while_the_lock_is_held(tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    with RunLock(out):
        proc = _run([*RUN, "--out", str(out), "--seed", "1"])
        assert proc.returncode == 1
        line = _one_line_error(proc.stderr)
        assert "in use by another minigen train" in line and f"pid {os.getpid()}" in line
        with pytest.raises(RunDirBusy):  # also within one process
            with RunLock(out):
                pass
    assert not (out / "model.npz").exists()  # the refused run wrote nothing
    assert _run([*RUN, "--out", str(out), "--seed", "1"]).returncode == 0  # released


def test_the_lock_of_a_killed_run_is_released(tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; sys.path.insert(0, sys.argv[2]);"
         "from minigen.rundir import RunLock; l = RunLock(sys.argv[1]).__enter__();"
         "print('locked', flush=True); time.sleep(60)", str(out), str(ROOT)],
        stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "locked"
    with pytest.raises(RunDirBusy, match=f"pid {holder.pid}"):
        RunLock(out).__enter__()
    holder.send_signal(signal.SIGKILL)
    holder.wait()
    with RunLock(out):  # the kernel dropped the dead process's lock
        pass


def _consistent_run(out: Path) -> int:
    """The seed of the one run whose files ``out`` holds (asserting they agree)."""
    metrics = json.loads((out / "metrics.json").read_text())
    seed = metrics["seed"]
    model, mmeta = load_checkpoint(out / "model.npz")
    ckpt, cmeta = load_checkpoint(out / "checkpoint.npz")
    assert mmeta["seed"] == seed and mmeta["params"]["random_state"] == seed
    assert cmeta["params"]["random_state"] == seed and cmeta["training"]["finished"]
    assert metrics["params"]["random_state"] == seed
    for k, v in model.items():  # the final checkpoint is the model that was saved
        if k.startswith("param/"):
            np.testing.assert_array_equal(ckpt[k], v)
    assert len(metrics["history"]["train_loss"]) == cmeta["training"]["epoch"]
    return seed


def test_four_concurrent_runs_into_one_out(tmp_path):
    out = tmp_path / "run"
    procs = [_spawn([*RUN, "--out", str(out), "--seed", str(seed)]) for seed in (1, 2, 3, 4)]
    results = [(p.wait(timeout=300), *p.communicate()) for p in procs]
    ok = [i for i, (rc, _, _) in enumerate(results) if rc == 0]
    assert len(ok) == 1, [r[2] for r in results]
    for i, (rc, _, err) in enumerate(results):
        if i != ok[0]:
            assert rc != 0
            line = _one_line_error(err)
            assert "in use by another minigen train" in line or "already holds a run" in line
    assert _consistent_run(out) == ok[0] + 1
    assert sorted(p.name for p in out.iterdir()) == sorted(
        [LOCK_NAME, "checkpoint.npz", "metrics.json", "model.npz"])


# ------------------------------------------------------------------ overwrite, resume
def test_a_finished_run_is_not_overwritten_without_force(tmp_path, capsys):
    out = tmp_path / "run"
    assert main([*RUN, "--out", str(out), "--seed", "1"]) == 0
    before = (out / "model.npz").read_bytes()
    capsys.readouterr()
    assert main([*RUN, "--out", str(out), "--seed", "2"]) == 2
    err = capsys.readouterr().err
    assert "already holds a run" in err and "--force" in err and "--resume" in err
    assert (out / "model.npz").read_bytes() == before
    assert main([*RUN, "--out", str(out), "--seed", "2", "--force"]) == 0
    assert _consistent_run(out) == 2
    assert main([*RUN, "--out", str(out), "--seed", "2", "--force", "--resume"]) == 2
    assert "give one of them" in capsys.readouterr().err


@pytest.mark.parametrize("flag,value,shown", [
    ("--seed", "2", "--seed 1 (now 2)"),
    ("--lr", "0.02", "--lr 0.01 (now 0.02)"),
    ("--data-seed", "5", "--data-seed 0 (now 5)"),
    ("--data", "checkerboard", "--data bars-stripes4 (now checkerboard)"),
])
def test_resume_refuses_other_flags(tmp_path, capsys, flag, value, shown):
    out = tmp_path / "run"
    args = [*RUN, "--out", str(out), "--seed", "1", "--epochs", "2"]
    assert main(args) == 0
    before = (out / "checkpoint.npz").read_bytes()
    capsys.readouterr()
    i = args.index(flag) if flag in args else None
    changed = args[:i] + [flag, value] + args[i + 2:] if i is not None else [*args, flag, value]
    assert main([*changed, "--resume"]) == 2
    assert shown in _one_line_error(capsys.readouterr().err)
    assert (out / "checkpoint.npz").read_bytes() == before


def test_resume_refuses_another_batch_size(tmp_path, capsys):
    out = tmp_path / "run"
    args = [*RUN, "--out", str(out), "--seed", "1", "--epochs", "2"]
    assert main([*args, "--batch-size", "8"]) == 0
    capsys.readouterr()
    assert main([*args, "--batch-size", "16", "--resume"]) == 2
    assert "--batch-size 8 (now 16)" in capsys.readouterr().err


def test_resume_without_a_checkpoint_starts_fresh_and_says_so(tmp_path, capsys):
    out = tmp_path / "run"
    assert main([*RUN, "--out", str(out), "--seed", "1", "--resume"]) == 0
    err = capsys.readouterr().err
    assert "no checkpoint" in err and "starting a fresh run" in err
    fresh = tmp_path / "fresh"
    assert main([*RUN, "--out", str(fresh), "--seed", "1"]) == 0
    assert (out / "model.npz").read_bytes() == (fresh / "model.npz").read_bytes()


@pytest.mark.parametrize("lost", [("model.npz", "metrics.json"), ("metrics.json",), ()])
def test_resume_of_a_finished_early_stopped_run_rewrites_the_same_files(tmp_path, lost):
    """A kill between the final checkpoint and model.npz (or metrics.json) used to make
    --resume train further and write another model (test NLL 18.5234 -> 18.4675)."""
    out = tmp_path / "run"
    args = [*RUN, "--out", str(out), "--seed", "1"]
    assert main(args) == 0
    tr = load_checkpoint(out / "checkpoint.npz")[1]["training"]
    assert tr["finished"] and tr["history"]["stopped_early"] and tr["epoch"] < 300
    model, metrics = (out / "model.npz").read_bytes(), (out / "metrics.json").read_bytes()
    ckpt = (out / "checkpoint.npz").read_bytes()
    for name in lost:
        (out / name).unlink()
    assert main([*args, "--resume"]) == 0
    assert (out / "model.npz").read_bytes() == model
    assert (out / "metrics.json").read_bytes() == metrics
    assert (out / "checkpoint.npz").read_bytes() == ckpt  # not trained, not rewritten


def test_resume_of_a_complete_run_with_the_same_epochs_does_not_train(tmp_path):
    out = tmp_path / "run"
    args = [*RUN[:RUN.index("--patience")], *RUN[RUN.index("--lr"):], "--out", str(out),
            "--seed", "1", "--epochs", "3"]
    assert main(args) == 0
    model, metrics = (out / "model.npz").read_bytes(), (out / "metrics.json").read_bytes()
    (out / "model.npz").unlink()
    assert main([*args, "--resume"]) == 0
    assert (out / "model.npz").read_bytes() == model
    assert (out / "metrics.json").read_bytes() == metrics


# ------------------------------------------------------------------ 20 kills
def _kill_after_next_checkpoint(args, ckpt, rng, timeout=120):
    """Start ``minigen train``; once it writes a checkpoint newer than the one there,
    kill -9 it within 50 ms. Returns True when the kill landed while it was training
    (the process had not exited and no model.npz was written)."""
    before = ckpt.stat().st_mtime_ns if ckpt.exists() else None
    proc = _spawn(args)
    t_end = time.monotonic() + timeout
    while proc.poll() is None and time.monotonic() < t_end:
        if ckpt.exists() and ckpt.stat().st_mtime_ns != before:
            break
        time.sleep(0.005)
    time.sleep(rng.uniform(0.0, 0.05))
    running = proc.poll() is None
    proc.send_signal(signal.SIGKILL)
    proc.communicate()
    return running and not (ckpt.parent / "model.npz").exists()


def test_twenty_kills_then_resume_is_bitwise_the_uninterrupted_run(tmp_path):
    # a run of ~100 epochs (early-stopped), each kill placed just after a new checkpoint:
    # every kill lands mid-training, at a different epoch
    run = [*RUN[:RUN.index("--lr")], "--lr", "0.003", *RUN[RUN.index("--lr") + 2:]]
    rng = np.random.default_rng(16)
    ref = tmp_path / "ref"
    done = _run([*run, "--out", str(ref), "--seed", "7"])
    assert done.returncode == 0, done.stderr
    assert load_checkpoint(ref / "checkpoint.npz")[1]["training"]["history"]["stopped_early"]

    out = tmp_path / "killed"
    args = [*run, "--out", str(out), "--seed", "7", "--resume"]
    ckpt = out / "checkpoint.npz"
    landed, epochs = 0, set()
    for _ in range(20):
        if _kill_after_next_checkpoint(args, ckpt, rng):
            landed += 1
            epochs.add(load_checkpoint(ckpt)[1]["training"]["epoch"])
    final = _run(args)
    assert final.returncode == 0, final.stderr
    assert (out / "model.npz").read_bytes() == (ref / "model.npz").read_bytes()
    # all 20 should land in training; a loaded machine may let a few runs finish first
    assert landed >= 15 and len(epochs) >= 10, (landed, sorted(epochs))
    leftovers = sorted(p.name for p in out.iterdir()
                       if p.name not in (LOCK_NAME, "checkpoint.npz", "metrics.json",
                                         "model.npz"))
    assert leftovers == []


def test_a_diverged_run_prints_one_line_and_no_warnings(tmp_path):
    proc = _run(["train", "made", "--data", "bars-stripes4", "--out", str(tmp_path / "d"),
                 "--lr", "1e300", "--epochs", "2", "--quiet", "--no-samples"])
    assert proc.returncode == 1
    assert "training diverged" in _one_line_error(proc.stderr)  # no RuntimeWarning lines


_KILLED_BEFORE = r"""
import os, signal, sys
sys.path.insert(0, {root!r})
import minigen.base, minigen.cli_train
from minigen.cli import main
target = {target!r}
real_save, real_write = minigen.base.GenerativeModel.save, minigen.cli_train.write_atomic

def save(self, path, **kw):  # the final checkpoint is on disk when the CLI saves model.npz
    if target == "model.npz" and str(path).endswith("model.npz"):
        os.kill(os.getpid(), signal.SIGKILL)
    return real_save(self, path, **kw)

def write_atomic(path, write):
    if str(path).endswith(target):
        os.kill(os.getpid(), signal.SIGKILL)
    return real_write(path, write)

minigen.base.GenerativeModel.save = save
minigen.cli_train.write_atomic = write_atomic  # patched where `minigen train` looks it up
sys.exit(main(sys.argv[1:]))
"""


@pytest.mark.parametrize("target", ["model.npz", "metrics.json"])
def test_kill_between_the_final_checkpoint_and_the_run_files(tmp_path, target):
    """kill -9 just before model.npz (or metrics.json) is written, then --resume: the same
    files as the uninterrupted run, and no further training (issue 16: test NLL 18.5234
    -> 18.4675 before)."""
    ref, out = tmp_path / "ref", tmp_path / "killed"
    args = [*RUN, "--seed", "3"]
    assert _run([*args, "--out", str(ref)]).returncode == 0
    code = _KILLED_BEFORE.format(root=str(ROOT), target=target)
    killed = subprocess.run([sys.executable, "-c", code, *args, "--out", str(out)], env=_env(),
                            cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert killed.returncode == -signal.SIGKILL
    assert load_checkpoint(out / "checkpoint.npz")[1]["training"]["finished"]
    assert not (out / target).exists()
    ckpt = (out / "checkpoint.npz").read_bytes()
    assert _run([*args, "--out", str(out), "--resume"]).returncode == 0
    assert (out / "model.npz").read_bytes() == (ref / "model.npz").read_bytes()
    assert (out / "checkpoint.npz").read_bytes() == ckpt  # restored, not trained further
    ref_m, out_m = (json.loads((d / "metrics.json").read_text()) for d in (ref, out))
    assert out_m["nll"] == ref_m["nll"] and out_m["history"]["train_loss"] == \
        ref_m["history"]["train_loss"]
