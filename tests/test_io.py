"""Checkpoints: round trip, atomic write, and every corruption gives CheckpointError."""

import json
import os
import zipfile

import numpy as np
import pytest

from minigen.io import (
    FORMAT_VERSION,
    METADATA_KEY,
    CheckpointError,
    load_checkpoint,
    save_checkpoint,
)


@pytest.fixture
def ckpt(tmp_path):
    arrays = {"param/W": np.arange(12.0).reshape(3, 4), "t": np.array(3), "f32": np.ones(5, "f4")}
    path = save_checkpoint(tmp_path / "c.npz", arrays, {"model": "x", "epoch": 2})
    return path, arrays


def test_roundtrip_exact(ckpt):
    path, arrays = ckpt
    got, meta = load_checkpoint(path)
    assert set(got) == set(arrays)
    for k in arrays:
        assert got[k].dtype == arrays[k].dtype and got[k].tobytes() == arrays[k].tobytes()
    assert meta["model"] == "x" and meta["epoch"] == 2 and meta["format_version"] == FORMAT_VERSION


def test_suffix_added_and_no_temp_left(tmp_path):
    p = save_checkpoint(tmp_path / "model", {"a": np.zeros(2)})
    assert p.name == "model.npz" and p.exists()
    assert [q.name for q in tmp_path.iterdir()] == ["model.npz"]


def test_overwrite_is_atomic_replacement(ckpt):
    path, _ = ckpt
    save_checkpoint(path, {"b": np.ones(1)}, {"epoch": 9})
    got, meta = load_checkpoint(path)
    assert list(got) == ["b"] and meta["epoch"] == 9


def test_missing_file(tmp_path):
    with pytest.raises(CheckpointError, match="does not exist"):
        load_checkpoint(tmp_path / "nope.npz")


@pytest.mark.parametrize("keep", [0.0, 0.3, 0.9])
def test_truncated_file(ckpt, keep):
    path, _ = ckpt
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])
    with pytest.raises(CheckpointError, match="truncated or corrupt"):
        load_checkpoint(path)


def test_flipped_bytes(ckpt):
    path, _ = ckpt
    data = bytearray(path.read_bytes())
    # flip bytes inside the first member's stored data (zip CRC check catches it)
    for i in range(60, 90):
        data[i] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(CheckpointError):
        load_checkpoint(path)


def _rewrite_metadata(path, blob: bytes):
    arrays = dict(np.load(path, allow_pickle=False))
    arrays[METADATA_KEY] = np.frombuffer(blob, dtype=np.uint8)
    np.savez(path, **arrays)


def test_wrong_format_version(ckpt):
    path, _ = ckpt
    _rewrite_metadata(path, json.dumps({"format_version": 999}).encode())
    with pytest.raises(CheckpointError, match="format version 999"):
        load_checkpoint(path)


def test_unreadable_metadata(ckpt):
    path, _ = ckpt
    _rewrite_metadata(path, b"\xff\xfe{not json")
    with pytest.raises(CheckpointError, match="unreadable metadata"):
        load_checkpoint(path)


def test_not_a_minigen_file(tmp_path):
    p = tmp_path / "plain.npz"
    np.savez(p, a=np.zeros(3))
    with pytest.raises(CheckpointError, match="no minigen metadata"):
        load_checkpoint(p)


def test_pickled_content_refused(tmp_path):
    p = tmp_path / "obj.npz"
    np.savez(p, a=np.array([{"x": 1}], dtype=object), **{METADATA_KEY: np.zeros(1, np.uint8)})
    with pytest.raises(CheckpointError):
        load_checkpoint(p)
    with pytest.raises(TypeError, match="never pickle"):
        save_checkpoint(tmp_path / "o.npz", {"a": np.array([None], dtype=object)})


def test_bad_arguments(tmp_path):
    with pytest.raises(TypeError, match="arrays must be a dict"):
        save_checkpoint(tmp_path / "x.npz", [np.zeros(2)])
    with pytest.raises(ValueError, match="reserved"):
        save_checkpoint(tmp_path / "x.npz", {METADATA_KEY: np.zeros(2)})
    with pytest.raises(TypeError, match="JSON"):
        save_checkpoint(tmp_path / "x.npz", {"a": np.zeros(1)}, {"bad": object()})
    assert not any(q.suffix == ".tmp" for q in tmp_path.iterdir())


def test_is_a_zip_of_npy(ckpt):
    path, _ = ckpt
    with zipfile.ZipFile(path) as z:
        assert f"{METADATA_KEY}.npy" in z.namelist()


@pytest.mark.parametrize("blob", [b"[1, 2]", b'"text"', b"3", b"null"])
def test_metadata_not_a_json_object(ckpt, blob):
    path, _ = ckpt
    _rewrite_metadata(path, blob)
    with pytest.raises(CheckpointError, match=r"c\.npz.*metadata of type .* JSON object"):
        load_checkpoint(path)


def test_pathologically_nested_metadata(ckpt):
    path, _ = ckpt
    _rewrite_metadata(path, b"[" * 200_000 + b"]" * 200_000)  # RecursionError in json
    with pytest.raises(CheckpointError, match="unreadable metadata"):
        load_checkpoint(path)


def test_format_version_is_reserved(tmp_path):
    with pytest.raises(ValueError, match="'format_version' is reserved"):
        save_checkpoint(tmp_path / "x.npz", {"a": np.zeros(1)}, {"format_version": 999})
    with pytest.raises(TypeError, match="metadata must be a dict"):
        save_checkpoint(tmp_path / "x.npz", {"a": np.zeros(1)}, [("k", 1)])
    assert not list(tmp_path.iterdir())
    # rewriting loaded metadata (which carries the current version) still works
    p = save_checkpoint(tmp_path / "x.npz", {"a": np.zeros(1)}, {"format_version": FORMAT_VERSION})
    assert load_checkpoint(p)[1]["format_version"] == FORMAT_VERSION


# ------------------------------------------------------------ issue 16: sizes before data
def _zip_with(path, members: dict):
    """A zip of raw ``name -> bytes`` members (crafted files)."""
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return path


def _npy_bytes(a) -> bytes:
    import io

    buf = io.BytesIO()
    np.save(buf, a)
    return buf.getvalue()


def _meta_bytes(meta=None) -> bytes:
    blob = json.dumps({"format_version": FORMAT_VERSION, **(meta or {})}).encode()
    return _npy_bytes(np.frombuffer(blob, np.uint8))


def test_header_declaring_more_than_its_member_holds(tmp_path):
    import io

    from numpy.lib import format as npy_format

    buf = io.BytesIO()
    npy_format.write_array_header_1_0(buf, {"descr": "<f8", "fortran_order": False,
                                            "shape": (2**40,)})
    p = _zip_with(tmp_path / "h.npz", {"a.npy": buf.getvalue() + bytes(512),
                                       f"{METADATA_KEY}.npy": _meta_bytes()})
    with pytest.raises(CheckpointError, match=r"h\.npz.*'a' declares shape \(1099511627776,\)"):
        load_checkpoint(p)


def test_compressed_member_may_not_expand_beyond_the_cap(tmp_path):
    p = tmp_path / "z.npz"
    np.savez_compressed(p, a=np.zeros(2**21), **{METADATA_KEY: np.frombuffer(
        json.dumps({"format_version": FORMAT_VERSION}).encode(), np.uint8)})
    with pytest.raises(CheckpointError, match=r"'a' expands from \d+ to 16777344 bytes"):
        load_checkpoint(p)
    # a compressed file of ordinary (incompressible) numbers still loads
    np.savez_compressed(p, a=np.random.default_rng(0).random(1000), **{
        METADATA_KEY: np.frombuffer(json.dumps({"format_version": FORMAT_VERSION}).encode(),
                                    np.uint8)})
    assert load_checkpoint(p)[0]["a"].shape == (1000,)


def test_one_changed_byte_in_an_npy_header(ckpt):
    path, _ = ckpt
    data = bytearray(path.read_bytes())
    i = data.index(b"'shape': (3, 4), }")
    data[i + len(b"'shape': (3, 4), ")] = ord(" ")  # the closing brace: tokenize.TokenError
    path.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match=r"c\.npz.*unreadable \.npy header for 'param/W'"):
        load_checkpoint(path)


def test_a_plain_npy_or_a_directory_is_not_a_checkpoint(tmp_path):
    np.save(tmp_path / "a.npy", np.zeros(3))
    with pytest.raises(CheckpointError, match=r"a\.npy' is a plain \.npy array file"):
        load_checkpoint(tmp_path / "a.npy")
    with pytest.raises(CheckpointError, match="is a directory"):
        load_checkpoint(tmp_path)
    p = _zip_with(tmp_path / "other.npz", {"notes.txt": b"hello"})
    with pytest.raises(CheckpointError, match="'notes.txt' that is not a .npy array"):
        load_checkpoint(p)


def test_member_count_total_and_metadata_caps(tmp_path, monkeypatch):
    import minigen.io as mio

    path = save_checkpoint(tmp_path / "c.npz", {f"a{i}": np.zeros(4) for i in range(5)})
    monkeypatch.setattr(mio, "MAX_MEMBERS", 4)
    with pytest.raises(CheckpointError, match="lists 6 members"):
        load_checkpoint(path)
    monkeypatch.setattr(mio, "MAX_MEMBERS", 100)
    monkeypatch.setenv("MINIGEN_MAX_CHECKPOINT_BYTES", "100")
    with pytest.raises(CheckpointError, match="more than 100 bytes of arrays"):
        load_checkpoint(path)
    monkeypatch.setenv("MINIGEN_MAX_CHECKPOINT_BYTES", "lots")
    with pytest.raises(ValueError, match="MINIGEN_MAX_CHECKPOINT_BYTES must be an int"):
        load_checkpoint(path)
    monkeypatch.delenv("MINIGEN_MAX_CHECKPOINT_BYTES")
    monkeypatch.setattr(mio, "MAX_METADATA_BYTES", 10)
    with pytest.raises(CheckpointError, match="metadata entry of shape"):
        load_checkpoint(path)


def test_same_content_gives_the_same_bytes(tmp_path, monkeypatch):
    import time

    arrays = {"a": np.arange(5.0)}
    a = save_checkpoint(tmp_path / "a.npz", arrays, {"k": 1}).read_bytes()
    later = time.time() + 10 * 86400
    monkeypatch.setattr(time, "time", lambda: later)
    monkeypatch.setattr(time, "localtime", lambda t=None: time.gmtime(later))
    b = save_checkpoint(tmp_path / "b.npz", arrays, {"k": 1}).read_bytes()
    assert a == b
    np.testing.assert_array_equal(np.load(tmp_path / "a.npz")["a"], arrays["a"])  # numpy reads it


def test_orphaned_temporaries_are_removed_on_the_next_write(tmp_path):
    dead = subprocess_pid_that_exited()
    orphan = tmp_path / f".c.npz.{dead}-abcd.tmp"
    legacy = tmp_path / ".c.npz.k3j4h5.tmp"  # an older name without a pid: kept until old
    mine = tmp_path / f".c.npz.{os.getpid()}-live.tmp"  # a write of this process
    for p in (orphan, legacy, mine):
        p.write_bytes(b"x" * 100)
    save_checkpoint(tmp_path / "c.npz", {"a": np.zeros(1)})
    assert not orphan.exists() and legacy.exists() and mine.exists()
    os.utime(legacy, (0, 0))
    save_checkpoint(tmp_path / "c.npz", {"a": np.zeros(1)})
    assert not legacy.exists() and mine.exists()


def subprocess_pid_that_exited() -> int:
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    return int(proc.stdout)


def test_disk_full_during_a_write(ckpt, monkeypatch):
    import errno

    import minigen.io as mio

    path, arrays = ckpt
    before = path.read_bytes()

    def full(fh, host):
        fh.write(b"PK partial")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(mio, "_write_zip", full)
    with pytest.raises(OSError, match=r"No space left on device while writing the checkpoint: "
                                      r"'.*c\.npz'") as info:
        save_checkpoint(path, arrays)
    assert info.value.errno == errno.ENOSPC
    assert path.read_bytes() == before  # the previous checkpoint is intact
    assert [p.name for p in path.parent.iterdir()] == ["c.npz"]  # no temporary left


def test_writing_into_a_file_is_a_clear_error(tmp_path):
    (tmp_path / "f").write_text("")
    with pytest.raises(NotADirectoryError, match="'.*f'"):
        save_checkpoint(tmp_path / "f" / "c.npz", {"a": np.zeros(1)})
