"""Checkpoints: round trip, atomic write, and every corruption gives CheckpointError."""

import json
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
