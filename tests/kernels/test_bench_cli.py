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
