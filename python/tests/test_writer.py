"""shardmesh.write_dataset: schema inference, explicit schemas, round trips, errors."""
import os
import numpy as np
import pytest

import shardmesh


def make_samples(n):
    rng = np.random.default_rng(7)
    for i in range(n):
        yield {
            "id": i,
            "score": i / 7.0,
            "name": f"sample-{i}",
            "blob": bytes([i % 256]) * (i % 5),
            "image": rng.integers(0, 255, size=(3, 2), dtype=np.uint8),
            "vector": rng.standard_normal(4).astype(np.float32),
        }


def test_inferred_schema_round_trips_through_dataset_and_loader(tmp_path):
    samples = list(make_samples(50))
    assert shardmesh.write_dataset(tmp_path / "d", samples, samples_per_shard=20,
                                   block_bytes=256) == 50
    dataset = shardmesh.Dataset(str(tmp_path / "d"))
    assert dataset.num_samples == 50 and dataset.num_shards == 3 and dataset.num_blocks > 3
    assert [f["name"] for f in dataset.schema] == list(samples[0])
    types = {f["name"]: f["type"] for f in dataset.schema}
    assert types == {"id": "int64", "score": "float64", "name": "string", "blob": "bytes",
                     "image": "tensor", "vector": "tensor"}
    image = next(f for f in dataset.schema if f["name"] == "image")
    assert image["dtype"] == "uint8" and tuple(image["shape"]) == (3, 2)
    for i in (0, 17, 49):
        got = dataset[i]
        assert got["id"] == i and got["score"] == samples[i]["score"]
        assert got["name"] == samples[i]["name"] and got["blob"] == samples[i]["blob"]
        np.testing.assert_array_equal(got["image"], samples[i]["image"])
        np.testing.assert_array_equal(got["vector"], samples[i]["vector"])

    batch = shardmesh.Loader(dataset, batch_size=50, return_index=True).next_batch()
    order = batch["__index__"]
    assert sorted(order.tolist()) == list(range(50))
    np.testing.assert_array_equal(batch["id"], order)
    assert batch["name"] == [f"sample-{i}" for i in order]
    assert batch["blob"] == [samples[i]["blob"] for i in order]
    np.testing.assert_array_equal(batch["image"], np.stack([samples[i]["image"] for i in order]))
    assert batch["score"].dtype == np.float64


def test_explicit_schema_with_label_and_variable_shape(tmp_path):
    schema = {"tokens": ("tensor", "int32", [-1]), "label": "int64"}
    samples = [{"tokens": np.arange(i % 4 + 1), "label": i % 3} for i in range(30)]
    shardmesh.write_dataset(tmp_path / "d", samples, schema=schema, label_field="label")
    dataset = shardmesh.Dataset(str(tmp_path / "d"))
    assert dataset.label_field == "label"
    got = dataset[6]["tokens"]
    assert got.dtype == np.int32 and got.tolist() == [0, 1, 2]
    batch = shardmesh.Loader(dataset, batch_size=30, return_index=True).next_batch()
    assert [t.tolist() for t in batch["tokens"]] == \
        [list(range(i % 4 + 1)) for i in batch["__index__"]]
    # Dataset.schema is itself accepted as a schema.
    shardmesh.write_dataset(tmp_path / "copy", (dataset[i] for i in range(30)),
                            schema=dataset.schema)
    assert shardmesh.Dataset(str(tmp_path / "copy"))[29]["tokens"].tolist() == [0, 1]


def test_bad_values_name_the_sample_and_field(tmp_path):
    samples = [{"x": np.zeros(3, np.float32), "y": 1}, {"x": np.zeros(4, np.float32), "y": 2}]
    with pytest.raises(shardmesh.InvalidArgumentError, match="sample 1, field 'x'"):
        shardmesh.write_dataset(tmp_path / "a", samples)
    with pytest.raises(shardmesh.InvalidArgumentError, match="sample 1, field 'y': missing"):
        shardmesh.write_dataset(tmp_path / "b", [{"y": 1}, {"z": 2}])
    with pytest.raises(shardmesh.InvalidArgumentError, match="field 'y'"):
        shardmesh.write_dataset(tmp_path / "c", [{"y": 1}, {"y": "one"}])
    with pytest.raises(shardmesh.InvalidArgumentError, match="field 'obj'"):
        shardmesh.write_dataset(tmp_path / "d", [{"obj": object()}])
    with pytest.raises(shardmesh.InvalidArgumentError, match="no samples"):
        shardmesh.write_dataset(tmp_path / "e", [])


def test_infer_schema_maps_python_types():
    schema = shardmesh.infer_schema({"a": 1, "b": 2.0, "c": "s", "d": b"x",
                                     "e": np.ones((2, 3), np.float16)})
    assert schema == {"a": "int64", "b": "float64", "c": "string", "d": "bytes",
                      "e": ("tensor", "float16", [2, 3])}


def test_scalar_fields_round_trip_and_numpy_integers_make_label_fields(tmp_path):
    """NumPy integer scalars (an element of a label array) are int64 fields; bools and other
    NumPy scalars are 0-d tensors, and 0-d schema entries are written as such."""
    labels = np.random.default_rng(0).integers(0, 3, 20)
    samples = [{"x": np.full(2, i, np.float32), "y": labels[i], "flag": bool(i % 2),
                "w": np.float32(i / 2)} for i in range(20)]
    assert shardmesh.infer_schema(samples[0]) == {
        "x": ("tensor", "float32", [2]), "y": "int64", "flag": ("tensor", "bool", []),
        "w": ("tensor", "float32", [])}
    shardmesh.write_dataset(tmp_path / "s", samples, label_field="y")
    dataset = shardmesh.Dataset(tmp_path / "s")  # a pathlib.Path, as Loader takes
    assert dataset.label_field == "y"
    for i in (0, 7, 19):
        sample = dataset[i]
        assert sample["y"] == labels[i]
        assert sample["flag"].shape == () and bool(sample["flag"]) == bool(i % 2)
        assert sample["w"].shape == () and float(sample["w"]) == i / 2
    shardmesh.write_dataset(tmp_path / "e", [{"w": 0.5}], schema={"w": ("float32", [])})
    assert float(shardmesh.Dataset(tmp_path / "e")[0]["w"]) == 0.5


def test_a_field_outside_the_schema_or_a_sample_that_is_not_a_dict_is_refused(tmp_path):
    with pytest.raises(shardmesh.InvalidArgumentError, match="sample 1: 'z' not in the schema"):
        shardmesh.write_dataset(tmp_path / "a", [{"a": 1}, {"a": 2, "z": 5}])
    with pytest.raises(shardmesh.InvalidArgumentError, match="sample 1 is of type int"):
        shardmesh.write_dataset(tmp_path / "b", [{"a": 1}, 3])
    with pytest.raises(shardmesh.InvalidArgumentError, match="sample 0 is of type list"):
        shardmesh.write_dataset(tmp_path / "c", [[1, 2]])


def test_a_failed_write_removes_its_shards_at_once_not_when_the_error_is_collected(tmp_path):
    """A kept exception (a notebook's last traceback) must not let the failed writer delete,
    later, the shards of a good dataset written to the same directory meanwhile."""
    def samples(bad):
        for i in range(60):
            yield {"x": "oops" if bad and i == 50 else i}
    target = tmp_path / "w"
    with pytest.raises(shardmesh.InvalidArgumentError) as kept:
        shardmesh.write_dataset(target, samples(True), samples_per_shard=10)
    assert sorted(os.listdir(target)) == []
    assert shardmesh.write_dataset(target, samples(False), samples_per_shard=10) == 60
    del kept
    import gc
    gc.collect()
    assert len(shardmesh.Dataset(target)) == 60


@pytest.mark.parametrize("dtype,value,why", [
    ("uint32", 2 ** 40, "cannot hold exactly"),      # NumPy stored 0
    ("uint32", [5, 2 ** 32 + 7], "cannot hold exactly"),  # stored [5, 7]
    ("int8", [300], "cannot hold exactly"),           # stored 44
    ("uint8", [-1], "cannot hold exactly"),           # stored 255
    ("int32", [1.7, -2.5], "cannot hold exactly"),    # stored [1, -2]
    ("float16", [1e6], "beyond the range of float16"),  # stored inf
    ("float32", np.array([1e300]), "beyond the range of float32"),
    ("float32", ["ab"], "expected numbers"),         # NumPy's ValueError named no field
    # Same width, other sign: a round trip wraps back and hid the change.
    ("uint32", np.array([-1, 2], np.int32), "cannot hold exactly"),  # stored 4294967295
    ("int8", np.array([255], np.uint8), "cannot hold exactly"),       # stored -1
    ("int64", np.array([2 ** 63], np.uint64), "cannot hold exactly"),  # stored -2**63
    ("bool", np.array([2]), "cannot hold exactly"),
])
def test_values_a_tensor_dtype_cannot_hold_are_refused_not_cast(tmp_path, dtype, value, why):
    shape = list(np.shape(value))
    with pytest.raises(shardmesh.InvalidArgumentError, match=f"sample 0, field 't': .*{why}"):
        shardmesh.write_dataset(str(tmp_path / "d"), [{"t": value}],
                                schema={"t": (dtype, shape)})
    # Narrowing floats rounds, as features expect, and whole floats fit an integer dtype.
    shardmesh.write_dataset(str(tmp_path / "ok"), [{"f": [0.1, 1e30], "i": [3.0, -2.0]}],
                            schema={"f": ("float32", [2]), "i": ("int8", [2])})
    sample = shardmesh.Dataset(str(tmp_path / "ok"))[0]
    assert sample["f"][0] == np.float32(0.1) and list(sample["i"]) == [3, -2]


def test_text_that_is_not_utf8_bools_and_bad_shapes_are_refused(tmp_path):
    # Bytes that are not UTF-8 were written to a string field; every read of them then failed.
    with pytest.raises(shardmesh.InvalidArgumentError, match="sample 1, field 's': text that "
                       "is not valid UTF-8"):
        shardmesh.write_dataset(str(tmp_path / "a"), [{"s": "ok"}, {"s": b"caf\xe9"}],
                                schema={"s": "string"})
    for flag in (True, np.True_):
        with pytest.raises(shardmesh.InvalidArgumentError, match="a bool is not a number"):
            shardmesh.write_dataset(str(tmp_path / "b"), [{"x": flag}], schema={"x": "int64"})
    for shape in [[2.9], "12"]:
        with pytest.raises(shardmesh.InvalidArgumentError, match="shape must be a list"):
            shardmesh.write_dataset(str(tmp_path / "c"), [{"v": [1, 2]}],
                                    schema={"v": ("float32", shape)})
    with pytest.raises(TypeError, match="samples_per_shard must be an integer"):
        shardmesh.write_dataset(str(tmp_path / "e"), [{"x": 1}], samples_per_shard=1e5)
    # A NumPy string scalar is a string field, not a '<U2' tensor.
    shardmesh.write_dataset(str(tmp_path / "f"), [{"s": np.str_("hi")}])
    assert shardmesh.Dataset(str(tmp_path / "f"))[0]["s"] == "hi"


def test_a_dataset_pickles_as_its_directory_and_prints_any_path(tmp_path):
    import pickle
    path = os.fsencode(str(tmp_path)) + b"/p\xff dir"
    shardmesh.write_dataset(path, make_samples(10))
    ds = shardmesh.Dataset(path)
    again = pickle.loads(pickle.dumps(ds))
    assert again.num_samples == 10 and again[3]["id"] == 3
    assert "p\\xFF dir" in repr(ds)
    with pytest.raises(IndexError, match=r"sample -11 out of range for .*p\\xFF dir"):
        ds[-11]
    with pytest.raises(IndexError, match="out of range"):
        ds[2 ** 70]
    # A relative path is pickled absolute: the unpickling process may run elsewhere.
    cwd = os.getcwd()
    try:
        os.chdir(tmp_path)
        relative = shardmesh.Dataset(b"p\xff dir")
        blob = pickle.dumps(relative)
    finally:
        os.chdir(cwd)
    assert pickle.loads(blob)[4]["id"] == 4


def test_indices_are_integers_and_return_index_keeps_a_field_named_index(tmp_path):
    path = str(tmp_path / "d")
    shardmesh.write_dataset(path, ({"__index__": i, "x": i} for i in range(5)))
    ds = shardmesh.Dataset(path)
    assert ds[np.int64(2)]["x"] == 2
    for flag in (True, np.True_):
        with pytest.raises(TypeError, match="integers, not bool"):
            ds[flag]
    assert ds.label_field is None
    with pytest.raises(shardmesh.InvalidArgumentError, match="field '__index__'"):
        shardmesh.Loader(path, return_index=True)
