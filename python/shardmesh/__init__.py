"""shardmesh: a brokerless streaming data loader, from Python.

    import shardmesh
    loader = shardmesh.Loader("data/train", batch_size=256)   # rank/world size from torchrun
    for epoch in range(3):
        loader.set_epoch(epoch)
        for batch in loader:          # {field: numpy array (tensors stacked) or list}
            ...

Errors are shardmesh.Error subclasses carrying the C++ message (NotFoundError is also a
FileNotFoundError, InvalidArgumentError a ValueError, CorruptionError names the file and block).
PyTorch integration: shardmesh.torch.ShardMeshDataset. Mesh mode (this process joins a mesh
of data workers): shardmesh.MeshLoader.
"""
import os as _os

import numpy as _np

from . import _shardmesh
from ._shardmesh import (AlreadyExistsError, CorruptionError, Dataset, DeadlineExceededError,
                         Error, FailedPreconditionError, InvalidArgumentError, IoError,
                         NotFoundError, PermissionDeniedError, ResourceExhaustedError,
                         UnavailableError)
from .mesh import MeshLoader

__all__ = [
    "Dataset", "Loader", "MeshLoader", "write_dataset", "infer_schema", "world_from_env", "Error",
    "AlreadyExistsError", "CorruptionError", "DeadlineExceededError", "FailedPreconditionError",
    "InvalidArgumentError", "IoError", "NotFoundError", "PermissionDeniedError",
    "ResourceExhaustedError", "UnavailableError",
]


_LAUNCHERS = (("WORLD_SIZE", "RANK"), ("SLURM_NTASKS", "SLURM_PROCID"))


def _int_arg(name, value, minimum=0, maximum=(1 << 64) - 1):
    """`value` as an int in [minimum, maximum]: TypeError naming `name` for a non-integer
    (floats and strings are not truncated or parsed), InvalidArgumentError for one out of
    range."""
    if isinstance(value, bool) or not isinstance(value, (int, _np.integer)):
        raise TypeError(f"{name} must be an integer, got {type(value).__name__} {value!r}")
    value = int(value)
    if not minimum <= value <= maximum:
        raise InvalidArgumentError(f"{name} must be in [{minimum}, {maximum}], got {value}")
    return value


def _bool_arg(name, value):
    """`value` as a bool: TypeError naming `name` for anything but a bool (a string such as
    "no" would be true, an int a likely mix-up with another argument)."""
    if not isinstance(value, (bool, _np.bool_)):
        raise TypeError(f"{name} must be True or False, got {type(value).__name__} {value!r}")
    return bool(value)


def _path_arg(value):
    """The file system's bytes for a str, bytes or os.PathLike path (any name the OS allows,
    also one that is not UTF-8)."""
    return _os.fsencode(value)


def _sequence_arg(name, value, what, convert):
    """`value` (None or a sequence) as a list of convert(i, item); TypeError naming `name` when
    it is not a sequence (a str is not one here). The loader checks counts and values."""
    if value is None:
        return []
    if isinstance(value, (str, bytes)) or not hasattr(value, "__iter__"):
        raise TypeError(f"{name} must be a sequence of {what}, got {type(value).__name__}")
    return [convert(i, item) for i, item in enumerate(value)]


def _throughput(i, t):
    if isinstance(t, bool) or not isinstance(t, (int, float, _np.integer, _np.floating)):
        raise TypeError(f"throughputs[{i}] must be a number, got {type(t).__name__} {t!r}")
    return float(t)


def _range(i, r):
    if isinstance(r, (str, bytes)) or not hasattr(r, "__len__") or len(r) != 2:
        raise TypeError(f"ranges[{i}] must be a (begin, end) pair, got {r!r}")
    return (_int_arg(f"ranges[{i}][0]", r[0]), _int_arg(f"ranges[{i}][1]", r[1]))


def world_from_env(world_size=None, rank=None, environ=None):
    """(world_size, rank): the given values, else torchrun's WORLD_SIZE/RANK, else SLURM's
    SLURM_NTASKS/SLURM_PROCID, else (1, 0). A value missing from the arguments is read from
    the launcher that set the other one (never one from torchrun and one from SLURM). Raises
    TypeError for a non-integer argument and InvalidArgumentError, naming where each value came
    from, for a rank outside [0, world_size), an unparsable variable, or a launcher that set
    one variable of its pair without the other."""
    env = _os.environ if environ is None else environ

    def is_set(name):
        return env.get(name, "") != ""

    def read(name):
        try:
            return int(env[name])
        except ValueError:
            raise InvalidArgumentError(
                f"environment variable {name}={env[name]!r} is not an integer") from None

    ws_from, rank_from = "world_size", "rank"
    explicit_world_size = world_size is not None
    if world_size is not None:
        world_size = _int_arg("world_size", world_size, 1, (1 << 32) - 1)
    if rank is not None:
        rank = _int_arg("rank", rank, 0, (1 << 32) - 1)
    if world_size is None or rank is None:
        # The launcher whose variable pair is (partly) set; with an explicit world size only
        # its rank variable counts, and the reverse.
        for ws_name, rank_name in _LAUNCHERS:
            wanted = [n for n, missing in ((ws_name, world_size is None),
                                           (rank_name, rank is None)) if missing]
            if not any(is_set(n) for n in wanted):
                continue
            if (ws_name == "SLURM_NTASKS" and world_size is None and rank is None
                    and not is_set(ws_name) and env.get(rank_name) == "0"):
                # A plain sbatch script: the batch step has SLURM_PROCID=0 but no SLURM_NTASKS
                # without --ntasks. One process: (1, 0).
                break
            if world_size is None and rank is None and is_set(ws_name) != is_set(rank_name):
                have, lack = (ws_name, rank_name) if is_set(ws_name) else (rank_name, ws_name)
                raise InvalidArgumentError(
                    f"environment variable {have} is set but {lack} is not: set both, or pass "
                    "world_size and rank")
            if world_size is None:
                world_size, ws_from = read(ws_name), ws_name
            if rank is None:
                rank, rank_from = read(rank_name), rank_name
            break
    if world_size is None:
        world_size = 1
    if rank is None:
        if explicit_world_size and world_size > 1:
            # Every process would be rank 0 and read the same share.
            raise InvalidArgumentError(
                f"world_size={world_size} was given without rank, and neither RANK nor "
                "SLURM_PROCID is set: pass rank too")
        rank = 0
    if world_size < 1:
        raise InvalidArgumentError(f"world_size ({ws_from}) is {world_size}, must be >= 1")
    if not 0 <= rank < world_size:
        raise InvalidArgumentError(
            f"rank {rank} ({rank_from}) is not in [0, world_size={world_size}) ({ws_from})")
    return world_size, rank


class Loader(_shardmesh._Loader):
    """This rank's share of each epoch of a dataset, in batches (static mode).

    Loader(path_or_dataset, world_size=None, rank=None, strategy="round-robin", seed=0,
           epoch=0, batch_size=256, drop_last=False, prefetch_threads=1, ...)

    world_size/rank default to torchrun's WORLD_SIZE/RANK, then SLURM_NTASKS/SLURM_PROCID,
    then 1/0. Every rank must pass the same seed. Strategies: round-robin, contiguous, hash,
    stratified, adaptive (whole partitions in proportion to `throughputs`, one positive number
    per rank in rank order, equal when omitted) and range (`ranges`: one (begin, end) pair of
    global sample indices per rank, disjoint and covering the dataset). Every rank must pass
    the same throughputs or ranges. Integer arguments that are not ints raise TypeError, ones
    out of range InvalidArgumentError, both naming the argument.

    drop_last: like DistributedSampler's; False pads every rank to ceil(N/W) samples with
    samples from the start of the epoch, True gives floor(N/W) (a few samples skipped).
    drop_last_batch: like DataLoader's drop_last; skip a final batch shorter than batch_size.
    prefetch_threads / prefetch_blocks / prefetch_bytes: background decode threads (0: the
    caller decodes each block itself), decoded blocks kept ready, and the memory budget for
    decoded blocks (bytes).
    partitions: canonical partitions (a multiple of the world size avoids decode
    amplification); shuffle_window_blocks: blocks whose samples are shuffled together.
    return_index: add "__index__" (global sample indices, int64) to every batch and sample.

    Iterating yields the rest of the current epoch as dicts: fixed-shape tensor fields as one
    [batch, *shape] array, int64 and float64 fields as arrays, strings and bytes as lists,
    variable-shape tensors as lists of arrays. Once an epoch is exhausted, iterating again
    replays it unless set_epoch() chose another (as with DistributedSampler). len() is the
    number of batches; num_samples this rank's sample count. The GIL is released while C++
    reads, decodes or waits. Not for concurrent use from several threads (calls are serialised).
    """

    def __init__(self, source, world_size=None, rank=None, strategy="round-robin", seed=0,
                 epoch=0, batch_size=256, drop_last=False, drop_last_batch=False,
                 prefetch_threads=1, prefetch_blocks=8, prefetch_bytes=512 << 20, partitions=64,
                 shuffle_window_blocks=1, return_index=False, throughputs=None, ranges=None):
        world_size, rank = world_from_env(world_size, rank)
        if not isinstance(source, Dataset):
            source = _path_arg(source)
        drop_last = _bool_arg("drop_last", drop_last)
        drop_last_batch = _bool_arg("drop_last_batch", drop_last_batch)
        return_index = _bool_arg("return_index", return_index)
        u32 = (1 << 32) - 1
        seed = _int_arg("seed", seed)
        epoch = _int_arg("epoch", epoch)
        batch_size = _int_arg("batch_size", batch_size, 1)
        prefetch_threads = _int_arg("prefetch_threads", prefetch_threads, 0, u32)
        prefetch_blocks = _int_arg("prefetch_blocks", prefetch_blocks, 1, u32)
        prefetch_bytes = _int_arg("prefetch_bytes", prefetch_bytes, 1)
        partitions = _int_arg("partitions", partitions, 1, u32)
        shuffle_window_blocks = _int_arg("shuffle_window_blocks", shuffle_window_blocks, 1, u32)
        if not isinstance(strategy, str):
            raise TypeError(f"strategy must be a str, got {type(strategy).__name__}")
        throughputs = _sequence_arg("throughputs", throughputs, "numbers", _throughput)
        ranges = _sequence_arg("ranges", ranges, "(begin, end) pairs", _range)
        if strategy == "range" and not ranges:
            raise InvalidArgumentError(
                "strategy 'range' needs ranges=[(begin, end), ...], one pair per rank")
        super().__init__(source, world_size, rank, strategy, seed, epoch, batch_size, drop_last,
                         drop_last_batch, prefetch_threads, prefetch_blocks, prefetch_bytes,
                         partitions, shuffle_window_blocks, return_index, throughputs, ranges)
        self.world_size = world_size
        self.rank = rank

    def set_epoch(self, epoch):
        """Starts epoch `epoch` from its beginning (new order, prefetch restarted). This
        replaces a position restored by load_state_dict, also for the same epoch: to resume,
        call load_state_dict after set_epoch, or skip set_epoch for the resumed epoch."""
        super().set_epoch(_int_arg("epoch", epoch))

    def __iter__(self):
        """The rest of the current epoch (all of it again once exhausted), batch by batch.
        __next__ is C++: a Ctrl-C during a read is raised in the loop body once the batch
        arrived, never instead of it (a state_dict taken then resumes after that batch)."""
        self._begin_iteration()
        return self

    def __repr__(self):
        return (f"<shardmesh.Loader rank {self.rank}/{self.world_size} epoch {self.epoch} "
                f"position {self.position}/{self.num_samples} batch_size {self.batch_size}>")


_SCALAR_TYPES = ((bool, None), (int, "int64"), (float, "float64"), (str, "string"),
                 (bytes, "bytes"))


def _shape_arg(name, shape):
    """A schema shape as a list of ints (-1: any length): 2.9 was truncated to 2 and the string
    "12" read as (1, 2)."""
    if isinstance(shape, (str, bytes)) or not hasattr(shape, "__iter__"):
        raise InvalidArgumentError(f"field '{name}': shape must be a list of integers, "
                                   f"got {shape!r}")
    dims = []
    for d in shape:
        if isinstance(d, bool) or not isinstance(d, (int, _np.integer)) or d < -1:
            raise InvalidArgumentError(f"field '{name}': shape must be a list of integers "
                                       f"(-1: any length), got {list(shape)!r}")
        dims.append(int(d))
    return dims


def _normalize_field(name, spec):
    """(name, type, dtype, shape) from 'int64' | 'float64' | 'string' | 'bytes' |
    ('tensor', dtype, shape) | (dtype, shape) | {'type':..., 'dtype':..., 'shape':...}."""
    if isinstance(spec, dict):
        ftype = spec.get("type", "tensor")
        if ftype != "tensor":
            return (name, ftype, "", [])
        return (name, "tensor", str(_np.dtype(spec["dtype"])), _shape_arg(name, spec["shape"]))
    if isinstance(spec, str):
        return (name, spec, "", [])
    spec = tuple(spec)
    if len(spec) == 3 and spec[0] == "tensor":
        spec = spec[1:]
    if len(spec) != 2:
        raise InvalidArgumentError(f"field '{name}': cannot read the schema entry {spec!r}")
    return (name, "tensor", str(_np.dtype(spec[0])), _shape_arg(name, spec[1]))


def infer_schema(sample):
    """A schema {name: spec} for a sample dict: int and NumPy integer scalars -> 'int64',
    float -> 'float64', str -> 'string', bytes -> 'bytes', bool -> a 0-d bool tensor, NumPy
    arrays and other NumPy scalars -> tensors of their dtype and shape (0-d for scalars).
    Raises InvalidArgumentError for anything else."""
    schema = {}
    for name, value in sample.items():
        if isinstance(value, (str, bytes)):  # np.str_ and np.bytes_ too, not '<U2' tensors
            schema[name] = "string" if isinstance(value, str) else "bytes"
            continue
        if isinstance(value, _np.integer) and not isinstance(value, _np.bool_):
            schema[name] = "int64"  # an element of an int array: usable as a label field
            continue
        if isinstance(value, (_np.ndarray, _np.generic)):
            schema[name] = ("tensor", str(value.dtype), list(_np.shape(value)))
            continue
        for py_type, field_type in _SCALAR_TYPES:
            if isinstance(value, py_type):
                if field_type is None:  # bool is an int, but a tensor of bool says what it is
                    schema[name] = ("tensor", "bool", [])
                else:
                    schema[name] = field_type
                break
        else:
            raise InvalidArgumentError(
                f"field '{name}': cannot infer a type for a {type(value).__name__} "
                "(use int, float, str, bytes or a NumPy array, or pass schema=)")
    return schema


def write_dataset(path, samples, schema=None, label_field=None, samples_per_shard=100000,
                  block_bytes=256 * 1024, overwrite=False):
    """Writes `samples` (an iterable of dicts) as a shardmesh dataset in directory `path`.

    schema: {name: spec} in field order (see infer_schema for specs; a list of dicts as
    Dataset.schema returns is accepted too); inferred from the first sample when None.
    label_field: name of an int64 field used for label histograms and stratified splits.
    samples_per_shard: samples per shard file; block_bytes: target uncompressed block size.
    Returns the number of samples written. Raises AlreadyExistsError when `path` holds a dataset
    and not overwrite, InvalidArgumentError naming the sample and field for a bad value.
    """
    iterator = iter(samples)
    first = next(iterator, None)
    if first is None:
        raise InvalidArgumentError(f"{path}: no samples to write")
    if not isinstance(first, dict):
        raise InvalidArgumentError(
            f"{path}: sample 0 is of type {type(first).__name__}, expected a dict of fields")
    if schema is None:
        schema = infer_schema(first)
    if isinstance(schema, dict):
        fields = [_normalize_field(name, spec) for name, spec in schema.items()]
    else:
        fields = [_normalize_field(f["name"], f) for f in schema]
    if label_field is not None and not isinstance(label_field, str):
        raise TypeError(f"label_field must be a str or None, got {type(label_field).__name__}")
    samples_per_shard = _int_arg("samples_per_shard", samples_per_shard, 1, (1 << 64) - 1)
    block_bytes = _int_arg("block_bytes", block_bytes, 1, 512 << 20)
    writer = _shardmesh._Writer(_path_arg(path), fields, label_field, samples_per_shard,
                                block_bytes, _bool_arg("overwrite", overwrite))
    try:
        writer.add(first)
        for index, sample in enumerate(iterator, 1):
            if not isinstance(sample, dict):
                raise InvalidArgumentError(
                    f"{path}: sample {index} is of type {type(sample).__name__}, expected a "
                    "dict of fields")
            writer.add(sample)
        return writer.finish()
    except BaseException:
        # Now, not when a kept traceback finally lets the writer go (by then a later, good
        # write may own the same file names).
        writer.abandon()
        raise
