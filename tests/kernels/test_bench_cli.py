"""``minigen bench`` prints its table; ``minigen.kernels.warm_up`` compiles the families."""

import pytest

from minigen import bench_cli


def test_bench_table_numpy(capsys):
    assert bench_cli.main(["multinomial_threshold", "philox_normals", "--size", "small",
                           "--repeat", "1", "--backends", "numpy"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split() == ["kernel", "size", "backend", "median", "vs", "numpy"]
    assert any(r.startswith("multinomial_threshold") and "1.0x" in r for r in out)


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
    assert {"rbm_gibbs", "bm_gibbs_sweep", "langevin_step", "langevin_run_gmm",
            "affine_coupling", "affine_coupling_backward", "spline_coupling",
            "spline_coupling_backward"} <= set(bench_cli.CASES)
    for name in bench_cli.CASES:
        for b in backends:
            (row,) = [r for r in rows if r[0] == name and b in r]
            assert row[-1].endswith("x") and "ms" in row, row


def _has_numba():
    try:
        import numba  # noqa: F401
    except ImportError:
        return False
    return True
