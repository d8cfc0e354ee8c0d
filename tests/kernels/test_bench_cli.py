"""``minigen bench`` prints its table; ``minigen.kernels.warm_up`` compiles the families."""

import pytest

from minigen import bench_cli


def test_bench_table_numpy(capsys):
    assert bench_cli.main(["multinomial_threshold", "philox_normals", "--size", "small",
                           "--repeat", "1", "--backends", "numpy"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split() == ["kernel", "size", "timing", "median", "vs", "NumPy", "expr",
                              "public/kernel"]
    rows = [r.split() for r in out[2:]]
    assert ["multinomial_threshold", "10000x64", "NumPy", "expression"] == rows[0][:4]
    assert rows[0][-2:] == ["1.0x", "-"]
    assert ["multinomial_threshold", "10000x64", "public", "numpy"] == rows[1][:4]


def test_bench_times_the_public_function_beside_the_kernel(capsys, monkeypatch):
    """The "public" row calls minigen.kernels.<name> (the wrapper), the "kernel" row the
    backend's kernel alone, and public/kernel is their ratio."""
    pytest.importorskip("numba")
    import minigen.kernels as K

    calls = []
    real = K.multinomial_threshold

    def spy(*args, **kwargs):
        calls.append(kwargs)
        return real(*args, **kwargs)

    monkeypatch.setattr(K, "multinomial_threshold", spy)
    assert bench_cli.main(["multinomial_threshold", "--size", "small", "--repeat", "2",
                           "--backends", "numba"]) == 0
    rows = [r.split() for r in capsys.readouterr().out.splitlines()[2:]]
    assert [r[2:4] for r in rows] == [["NumPy", "expression"], ["public", "numba"],
                                      ["kernel", "numba"]]
    assert len(calls) == 3  # warm-up + 2 timed: the public row is the wrapper
    assert float(rows[1][-1]) > 0 and rows[2][-1] == "-"


def test_bench_unknown_kernel():
    with pytest.raises(SystemExit, match="unknown kernel"):
        bench_cli.main(["nope"])


def test_warm_up_lists_families():
    pytest.importorskip("numba")
    from minigen.kernels import warm_up

    spent = warm_up()
    assert {"philox", "multinomial"} <= set(spent)


def test_every_registered_kernel_runs_on_each_cpu_backend(capsys):
    backends = ["numpy"] + (["numba"] if _has_numba() else [])
    assert bench_cli.main(["--size", "small", "--repeat", "1", "--backends", *backends]) == 0
    rows = [r.split() for r in capsys.readouterr().out.splitlines()[2:]]
    assert {"multinomial_threshold", "multinomial_threshold_seed", "categorical_from_logits",
            "rbm_gibbs", "bm_gibbs_sweep", "langevin_step", "mala_step", "langevin_run_gmm",
            "affine_coupling", "affine_coupling_backward", "additive_coupling",
            "actnorm", "spline_coupling", "spline_coupling_backward"} <= set(bench_cli.CASES)
    for name in bench_cli.CASES:
        for b in backends:
            (row,) = [r for r in rows if r[0] == name and r[2:4] == ["public", b]]
            assert row[-2].endswith("x") and "ms" in row, row


def _has_numba():
    try:
        import numba  # noqa: F401
    except ImportError:
        return False
    return True
