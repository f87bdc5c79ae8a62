"""C++ Status errors arrive as shardmesh exceptions with the C++ message, naming the file."""
import errno
import os
import shutil

import pytest

import shardmesh
from conftest import generate


@pytest.fixture
def fresh_dataset(cli, tmp_path):
    return generate(cli, tmp_path / "data")


def shard_path(dataset, shard=0):
    return os.path.join(dataset, f"shard-{shard:05d}.smd")


def test_missing_directory_is_a_file_not_found_error_naming_it(tmp_path):
    missing = str(tmp_path / "nowhere")
    for open_it in (shardmesh.Dataset, shardmesh.Loader):
        with pytest.raises(shardmesh.NotFoundError) as info:
            open_it(missing)
        assert isinstance(info.value, FileNotFoundError)
        assert isinstance(info.value, shardmesh.Error)
        assert missing in str(info.value)
        assert info.value.code == "not found"
        assert info.value.errno == errno.ENOENT


def test_missing_shard_file_names_the_file(fresh_dataset):
    os.remove(shard_path(fresh_dataset, 1))
    with pytest.raises(shardmesh.NotFoundError, match="shard-00001.smd"):
        shardmesh.Dataset(fresh_dataset)


def test_truncated_shard_is_a_corruption_error_naming_the_file(fresh_dataset):
    path = shard_path(fresh_dataset, 2)
    size = os.path.getsize(path)
    with open(path, "r+b") as f:
        f.truncate(size - 100)
    with pytest.raises(shardmesh.CorruptionError, match="shard-00002.smd"):
        shardmesh.Dataset(fresh_dataset)


def test_damaged_block_fails_the_epoch_naming_file_and_block(fresh_dataset):
    path = shard_path(fresh_dataset, 0)
    with open(path, "r+b") as f:
        f.seek(200)  # inside the first block's compressed bytes
        byte = f.read(1)
        f.seek(200)
        f.write(bytes([byte[0] ^ 0xFF]))
    loader = shardmesh.Loader(fresh_dataset, batch_size=3000)  # opening checks no block bytes
    with pytest.raises(shardmesh.CorruptionError) as info:
        for _ in loader:
            pass
    assert "shard-00000.smd" in str(info.value) and "block" in str(info.value)
    with pytest.raises(shardmesh.CorruptionError, match="shard-00000.smd"):
        shardmesh.Dataset(fresh_dataset, verify=True)


def test_a_batch_cut_short_by_an_error_is_delivered_then_the_error_raised(fresh_dataset):
    """The samples taken before a damaged block count as delivered: they must reach the caller
    (even with drop_last_batch), and state_dict must not skip past them."""
    reference = shardmesh.Loader(fresh_dataset, batch_size=3000, return_index=True)
    order = reference.next_batch()["__index__"].tolist()
    path = shard_path(fresh_dataset, 0)
    with open(path, "r+b") as f:
        f.seek(200)  # inside the first block of shard 0, i.e. samples 0, 1, ...
        byte = f.read(1)
        f.seek(200)
        f.write(bytes([byte[0] ^ 0xFF]))
    loader = shardmesh.Loader(fresh_dataset, batch_size=3000, drop_last_batch=True,
                              return_index=True)
    batch = loader.next_batch()
    taken = batch["__index__"].tolist()
    assert 0 < len(taken) < len(order) and taken == order[:len(taken)]
    assert loader.state_dict()["position"] == len(taken)
    with pytest.raises(shardmesh.CorruptionError, match="shard-00000.smd"):
        loader.next_batch()


def test_damaged_manifest_is_a_corruption_error(fresh_dataset):
    with open(os.path.join(fresh_dataset, "manifest.json"), "w") as f:
        f.write("{ not json")
    with pytest.raises(shardmesh.Error, match="manifest"):
        shardmesh.Dataset(fresh_dataset)


def test_bad_arguments_are_value_errors(fresh_dataset):
    with pytest.raises(shardmesh.InvalidArgumentError, match="strategy|bogus") as info:
        shardmesh.Loader(fresh_dataset, strategy="bogus")
    assert isinstance(info.value, ValueError)
    with pytest.raises(ValueError):
        shardmesh.Loader(fresh_dataset, world_size=2, rank=2)
    with pytest.raises(ValueError, match="batch_size"):
        shardmesh.Loader(fresh_dataset, batch_size=0)


@pytest.mark.parametrize("argument,value,error", [
    ("batch_size", -1, shardmesh.InvalidArgumentError), ("seed", -1, shardmesh.InvalidArgumentError),
    ("epoch", 2**64, shardmesh.InvalidArgumentError), ("partitions", 0, shardmesh.InvalidArgumentError),
    ("world_size", 2.7, TypeError), ("world_size", "2", TypeError), ("rank", 0.0, TypeError),
    ("batch_size", 8.0, TypeError), ("strategy", 3, TypeError)])
def test_integer_arguments_are_checked_by_name(fresh_dataset, argument, value, error):
    """No truncation of floats, no parsing of strings, no pybind signature dump: the error
    names the argument."""
    kwargs = {"world_size": 1, "rank": 0, argument: value}
    with pytest.raises(error, match=argument):
        shardmesh.Loader(fresh_dataset, **kwargs)


def test_set_epoch_checks_its_argument(fresh_dataset):
    loader = shardmesh.Loader(fresh_dataset, world_size=1, rank=0)
    with pytest.raises(shardmesh.InvalidArgumentError, match="epoch"):
        loader.set_epoch(-1)
    with pytest.raises(TypeError, match="epoch"):
        loader.set_epoch("1")


def test_strategy_range_without_ranges_is_refused_with_a_reason(fresh_dataset):
    with pytest.raises(shardmesh.InvalidArgumentError, match="needs ranges="):
        shardmesh.Loader(fresh_dataset, world_size=1, rank=0, strategy="range")


def test_damaged_state_bytes_are_a_corruption_error(fresh_dataset):
    loader = shardmesh.Loader(fresh_dataset)
    state = loader.state_dict()["stream_state"]
    damaged = state[:-1] + bytes([state[-1] ^ 1])
    with pytest.raises(shardmesh.CorruptionError, match="checksum"):
        loader.load_state_dict(damaged)
    with pytest.raises(shardmesh.InvalidArgumentError):
        loader.load_state_dict({"position": 3})


def test_writing_over_a_dataset_is_refused_unless_overwrite(fresh_dataset):
    with pytest.raises(shardmesh.AlreadyExistsError) as info:
        shardmesh.write_dataset(fresh_dataset, [{"x": 1}])
    assert isinstance(info.value, FileExistsError)
    assert shardmesh.write_dataset(fresh_dataset, [{"x": 1}], overwrite=True) == 1
    shutil.rmtree(fresh_dataset)
