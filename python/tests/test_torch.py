"""shardmesh.torch.ShardMeshDataset: tensors, DataLoader workers, epochs and resume."""
import copy
import multiprocessing
import os
import pickle
import subprocess
import sys
import warnings
from multiprocessing.reduction import ForkingPickler

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

import shardmesh
import shardmesh.torch as smt
from shardmesh import _batch_transport as bt
from conftest import GEN_SAMPLES, loader_ids

# 3 workers on a 2-core machine are what the split tests need, not a performance mistake.
pytestmark = pytest.mark.filterwarnings("ignore:This DataLoader will create")


def ids_of(iterable):
    ids = []
    for batch in iterable:
        ids.extend(batch["__index__"].tolist())
    return ids


def test_batches_are_dicts_of_tensors(gen_dataset):
    ds = smt.ShardMeshDataset(gen_dataset, world_size=1, rank=0, batch_size=64)
    batch = next(iter(DataLoader(ds, batch_size=None)))
    assert batch["features"].dtype == torch.float32 and batch["features"].shape == (64, 8)
    assert batch["tokens"].dtype == torch.int64 and batch["tokens"].shape == (64, 4)
    assert batch["label"].dtype == torch.int64 and batch["label"].shape == (64,)


def test_to_torch_shares_memory_with_numpy():
    array = np.arange(6, dtype=np.float32)
    tensor = smt.to_torch({"a": array})["a"]
    array[0] = 42
    assert tensor[0].item() == 42


def test_to_torch_for_workers_copies_once_into_one_shared_buffer():
    block = np.arange(40, dtype=np.uint32).reshape(10, 4)
    strided = block[:, 1:3]  # a view at a stride wider than its rows, like a block's field
    batch = {"t": strided, "f": np.ones(3, np.float16), "s": ["a"], "b": np.ones(2, bool)}
    out = smt.to_torch(batch, shared=True)
    assert out["t"].dtype == torch.int64
    assert out["t"].tolist() == strided.astype(np.int64).tolist()
    assert out["f"].dtype == torch.float16 and out["b"].dtype == torch.bool
    assert out["s"] == ["a"]
    buffers = {bt.buffer_of(out[k]) for k in ("t", "f", "b")}
    assert len(buffers) == 1 and None not in buffers
    name, base, _ = buffers.pop()
    assert os.path.exists(os.path.join(bt.SHM_DIR, name))
    # The values span a 64-byte header, the values (160 + 6 + 2 bytes) and at most 64 bytes of
    # alignment per field: not the span of the block the strided view covers (320 bytes once
    # widened).
    end = max(out[k].data_ptr() + out[k].numel() * out[k].element_size() for k in ("t", "f", "b"))
    assert end - base <= 64 + 160 + 6 + 2 + 2 * 64


def test_worker_batches_reach_the_main_process_by_name_without_descriptors():
    """What DataLoader's queue does to a worker's batch: ForkingPickler would send a shared
    storage by file descriptor, fetched through a handshake with the worker; a batch travels
    as its buffer's name instead, and the name is unlinked once the main process mapped it."""
    out = smt.to_torch({"x": np.arange(12, dtype=np.float32).reshape(3, 4),
                        "y": np.arange(3, dtype=np.uint32), "s": ["a", "b", "c"]}, shared=True)
    name = bt.buffer_of(out["x"])[0]
    payload = bytes(ForkingPickler.dumps(out))
    assert b"rebuild_storage_fd" not in payload and name.encode() in payload
    assert len(payload) < 1024
    got = pickle.loads(payload)
    assert not os.path.exists(os.path.join(bt.SHM_DIR, name))
    assert type(got) is dict and list(got) == ["x", "y", "s"]
    assert got["x"].tolist() == np.arange(12, dtype=np.float32).reshape(3, 4).tolist()
    assert got["y"].dtype == torch.int64 and got["y"].tolist() == [0, 1, 2]
    assert got["s"] == ["a", "b", "c"]
    # A tensor added by user code in the worker travels the usual way.
    out = smt.to_torch({"x": np.ones(4, np.float32)}, shared=True)
    out["extra"] = torch.ones(2)
    got = pickle.loads(ForkingPickler.dumps(out))
    assert got["x"].tolist() == [1.0] * 4 and got["extra"].tolist() == [1.0, 1.0]


def test_worker_buffers_are_recycled_only_after_the_main_process_copied_them():
    def batch(value):
        return smt.to_torch({"x": np.full((64, 16), value, np.float32)}, shared=True)

    first = batch(1.0)
    kept = batch(2.0)  # built but never sent: its buffer stays in use
    assert bt.buffer_of(kept["x"]) != bt.buffer_of(first["x"])
    first_buffer = bt.buffer_of(first["x"])
    received = pickle.loads(ForkingPickler.dumps(first))
    # Copied out by the main process, but still held here: not reused, so the worker's batch
    # keeps its values (sending it again sends them again).
    other = batch(4.0)
    assert bt.buffer_of(other["x"]) != first_buffer
    assert pickle.loads(ForkingPickler.dumps(first))["x"].eq(1.0).all()
    del first, other
    # Copied out and dropped here: the next batch reuses it, and the received tensors do not
    # change.
    again = batch(3.0)
    assert bt.buffer_of(again["x"]) == first_buffer
    second = pickle.loads(ForkingPickler.dumps(again))  # the same buffer, from the cache
    assert received["x"].eq(1.0).all() and kept["x"].eq(2.0).all() and second["x"].eq(3.0).all()


def test_past_the_pool_limit_batches_get_buffers_of_their_own_that_are_not_leaked():
    held = [smt.to_torch({"x": np.full(8, i, np.int64)}, shared=True)
            for i in range(bt._POOL_LIMIT + 3)]  # never sent: every pooled buffer in flight
    extra = held[-1]
    name = bt.buffer_of(extra["x"])[0]
    got = pickle.loads(ForkingPickler.dumps(extra))
    assert got["x"].tolist() == [bt._POOL_LIMIT + 2] * 8
    assert not os.path.exists(os.path.join(bt.SHM_DIR, name))
    assert bt.buffer_of(extra["x"]) is None  # sent: the worker no longer tracks it


def _worker_buffers(pid):
    """Names in /dev/shm of buffers made by `pid` (a worker of this process, or this one)."""
    return [n for n in os.listdir(bt.SHM_DIR)
            if n.startswith("shardmesh-batch-") and bt._pid_of(n) == pid]


def test_batches_dropped_or_remade_in_the_worker_free_their_buffers():
    """User code in a worker that drops a batch, or makes new tensors of it (collate stacking
    an (x, y) pair), never sends the buffer: it is freed when its last tensor goes, not held
    until the worker exits (which filled /dev/shm with one buffer per batch)."""
    before = set(_worker_buffers(os.getpid()))  # earlier tests' buffers, free or not
    for i in range(3 * bt._POOL_LIMIT):
        batch = smt.to_torch({"x": np.full((4, 4), i, np.float32),
                              "y": np.arange(4, dtype=np.uint32)}, shared=True)
        x, y = batch["x"], batch["y"][1:]  # views user code derived
        del batch
        stacked = torch.stack([x, x])      # what default_collate does with a tuple
        assert stacked[1, 3, 3].item() == i and y.tolist() == [1, 2, 3]
        del x, y, stacked
    assert len(set(_worker_buffers(os.getpid())) - before) <= 1  # one reused, if none was free
    # A view that outlives its batch keeps the buffer from being reused under it.
    batch = smt.to_torch({"x": np.full(8, 7, np.int64)}, shared=True)
    kept = batch["x"][2:]
    del batch
    other = smt.to_torch({"x": np.full(8, 9, np.int64)}, shared=True)
    assert bt.buffer_of(other["x"]) != bt.buffer_of(kept) and kept.tolist() == [7] * 6
    # Past the pool limit, unsent unpooled buffers are unlinked when dropped.
    held = [smt.to_torch({"x": np.full(8, i, np.int64)}, shared=True)
            for i in range(bt._POOL_LIMIT + 2)]
    count = len(_worker_buffers(os.getpid()))
    for i in range(20):
        smt.to_torch({"x": np.full(8, i, np.int64)}, shared=True)
    assert len(_worker_buffers(os.getpid())) == count and len(held) == bt._POOL_LIMIT + 2


class _PairsOf(torch.utils.data.IterableDataset):
    """A user's wrapper: (features, label) pairs of a ShardMeshDataset's batches."""

    def __init__(self, dataset):
        self.dataset = dataset

    def __iter__(self):
        for batch in self.dataset:
            yield batch["features"], batch["label"]


class _EachTwice(torch.utils.data.IterableDataset):
    """A user's wrapper that yields every batch twice (say, for two augmentations)."""

    def __init__(self, dataset):
        self.dataset = dataset

    def __iter__(self):
        for batch in self.dataset:
            yield batch
            yield batch


def test_a_batch_sent_twice_arrives_twice_with_its_own_values(gen_dataset):
    """The worker's copy of a sent batch must not be recycled while the worker holds it: a
    second send then carried the next batch's values (296 of 3000 pairs over 5 epochs)."""
    ds = smt.ShardMeshDataset(gen_dataset, world_size=1, rank=0, batch_size=5,
                              return_index=True)
    for epoch in range(2):
        ds.set_epoch(epoch)
        got = [b["__index__"].tolist() for b in DataLoader(_EachTwice(ds), batch_size=None,
                                                           num_workers=1)]
        assert len(got) == 2 * GEN_SAMPLES // 5
        differ = sum(got[i] != got[i + 1] for i in range(0, len(got), 2))
        assert differ == 0, f"epoch {epoch}: {differ} second copies differ from the first"
        assert sorted(i for batch in got[::2] for i in batch) == list(range(GEN_SAMPLES))


def test_a_wrapper_yielding_pairs_through_collate_leaves_no_buffers_behind(gen_dataset):
    ds = smt.ShardMeshDataset(gen_dataset, world_size=1, rank=0, batch_size=10)
    loader = DataLoader(_PairsOf(ds), num_workers=1)  # batch_size=1: collate stacks each pair
    worker_buffers, count = set(), 0
    for features, label in loader:
        assert features.shape == (1, 10, 8) and label.shape == (1, 10)
        count += 1
        if count % 50 == 0:
            worker_buffers.update(n for n in os.listdir(bt.SHM_DIR)
                                  if n.startswith(f"shardmesh-batch-{bt._PID_NAMESPACE}-"
                                                  f"{os.getpid()}-"))
    assert count == GEN_SAMPLES // 10
    # One buffer recycled, not one per batch (300 before the fix).
    assert 1 <= len(worker_buffers) <= 2, sorted(worker_buffers)


def test_a_forked_child_leaves_its_parents_buffers_alone():
    kept = smt.to_torch({"x": np.full(8, 5, np.int64)}, shared=True)  # in use here
    name = bt.buffer_of(kept["x"])[0]
    pid = os.fork()
    if pid == 0:  # drops its copy of the batch, then exits the usual way
        del kept
        import gc
        gc.collect()
        os._exit(0)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    pooled = [b for b in bt._pool().pooled if b.name == name][0]
    assert pooled.flag[0] == 1 and pooled.leased  # the flag is shared: the child left it
    assert kept["x"].tolist() == [5] * 8


def test_a_shallow_copy_stays_a_batch_of_this_process():
    batch = smt.to_torch({"x": np.arange(4, dtype=np.float32)}, shared=True)
    name = bt.buffer_of(batch["x"])[0]
    copied = copy.copy(batch)  # newer torch's default_convert and pin_memory do this
    assert type(copied) is bt.SharedBatch and copied["x"].data_ptr() == batch["x"].data_ptr()
    pooled = [b for b in bt._pool().pooled if b.name == name][0]
    assert not pooled.sent  # not sent to this process by way of __reduce__
    deep = copy.deepcopy(batch)
    assert type(deep) is dict and deep["x"].tolist() == [0, 1, 2, 3]
    assert deep["x"].data_ptr() != batch["x"].data_ptr()


def _build_batches_and_exit(queue):
    batches = [smt.to_torch({"x": np.ones(16, np.float32)}, shared=True) for _ in range(3)]
    queue.put([bt.buffer_of(b["x"])[0] for b in batches])


def test_a_worker_unlinks_the_buffers_it_never_sent_when_it_exits():
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    process = context.Process(target=_build_batches_and_exit, args=(queue,))
    process.start()
    names = queue.get(timeout=30)
    process.join(timeout=30)
    assert process.exitcode == 0 and len(names) == 3
    assert not any(os.path.exists(os.path.join(bt.SHM_DIR, n)) for n in names)


def test_worker_batches_carry_the_right_values_when_all_are_kept(gen_dataset):
    """Every batch of 2 workers kept until the end of the epoch, then compared field by field
    with the in-process loader: recycled buffers must never show through."""
    reference = {}
    for b in shardmesh.Loader(gen_dataset, world_size=1, rank=0, seed=9, batch_size=100,
                              return_index=True):
        for row, index in enumerate(b["__index__"].tolist()):
            reference[index] = (b["features"][row].copy(), b["tokens"][row].astype(np.int64))
    ds = smt.ShardMeshDataset(gen_dataset, world_size=1, rank=0, seed=9, batch_size=100,
                              return_index=True)
    batches = list(DataLoader(ds, batch_size=None, num_workers=2))
    seen = []
    for b in batches:
        for row, index in enumerate(b["__index__"].tolist()):
            features, tokens = reference[index]
            assert np.array_equal(b["features"][row].numpy(), features)
            assert np.array_equal(b["tokens"][row].numpy(), tokens)
            seen.append(index)
    assert sorted(seen) == list(range(GEN_SAMPLES))


def worker_reference(dataset, world_size, rank, num_workers, batch_size, **kwargs):
    """What DataLoader(num_workers=k) should yield for `rank`: each worker's stream read by a
    plain Loader, batches taken from the workers in turn (DataLoader's order)."""
    k = max(1, num_workers)
    streams = []
    for worker in range(k):
        w, r = smt.worker_stream(world_size, rank, worker, k, kwargs.get("strategy",
                                                                         "round-robin"))
        loader = shardmesh.Loader(dataset, world_size=w, rank=r, batch_size=batch_size,
                                  return_index=True, **kwargs)
        streams.append([b["__index__"].tolist() for b in loader])
    ids = []
    for step in range(max(len(s) for s in streams)):
        for stream in streams:
            if step < len(stream):
                ids.extend(stream[step])
    return ids


@pytest.mark.parametrize("num_workers", [0, 2, 3])
@pytest.mark.parametrize("world_size", [1, 2, 3, 4])
def test_workers_split_each_rank_without_duplicates(gen_dataset, world_size, num_workers):
    """Every sample of the epoch once over all ranks and workers; the only repeats are the
    padding that fills the W*k streams to equal length, and every rank gets as many batches."""
    k = max(1, num_workers)
    union, batch_counts = [], []
    for rank in range(world_size):
        ds = smt.ShardMeshDataset(gen_dataset, world_size=world_size, rank=rank, seed=6,
                                  batch_size=64, return_index=True, num_workers=num_workers)
        batches = [b["__index__"].tolist() for b in
                   DataLoader(ds, batch_size=None, num_workers=num_workers)]
        got = [i for b in batches for i in b]
        assert got == worker_reference(gen_dataset, world_size, rank, num_workers, 64, seed=6)
        assert len(ds) == len(batches)
        batch_counts.append(len(batches))
        union.extend(got)
    per_stream = -(-GEN_SAMPLES // (world_size * k))
    assert len(union) == world_size * k * per_stream
    assert sorted(set(union)) == list(range(GEN_SAMPLES))
    assert len(set(batch_counts)) == 1


@pytest.mark.parametrize("strategy", ["contiguous", "hash"])
def test_workers_split_other_strategies_disjoint_and_complete(gen_dataset, strategy):
    union = []
    for rank in range(2):
        ds = smt.ShardMeshDataset(gen_dataset, world_size=2, rank=rank, seed=4, batch_size=50,
                                  strategy=strategy, return_index=True)
        union.extend(ids_of(DataLoader(ds, batch_size=None, num_workers=3)))
    assert sorted(union) == list(range(GEN_SAMPLES))  # 3000 = 2 * 3 * 500: no padding


def test_workers_with_drop_last_skip_fewer_than_one_sample_per_stream(gen_dataset):
    union = []
    for rank in range(3):  # 3000 over 3 * 3 streams: 333 each, 3 dropped
        ds = smt.ShardMeshDataset(gen_dataset, world_size=3, rank=rank, seed=5, batch_size=64,
                                  drop_last=True, return_index=True)
        union.extend(ids_of(DataLoader(ds, batch_size=None, num_workers=3)))
    assert len(union) == len(set(union)) == 9 * 333


@pytest.fixture(scope="module")
def even_dataset(tmp_path_factory):
    """64 shards of one 50-sample block each: 64 equal partitions, no balancing needed."""
    path = tmp_path_factory.mktemp("even") / "data"
    rng = np.random.default_rng(0)
    shardmesh.write_dataset(path, ({"x": rng.standard_normal(16).astype(np.float32), "y": i}
                                   for i in range(3200)), samples_per_shard=50)
    return str(path)


@pytest.mark.parametrize("strategy", ["round-robin", "contiguous", "hash"])
@pytest.mark.parametrize("world_size,num_workers", [(1, 2), (2, 2), (2, 4), (4, 2)])
def test_a_ranks_workers_decode_the_ranks_blocks_once(even_dataset, strategy, world_size,
                                                      num_workers):
    """When W*k divides the partitions, a rank's workers together read the samples the rank
    reads with num_workers=0 and decode each of its blocks once (not k times)."""
    for rank in range(world_size):
        alone = shardmesh.Loader(even_dataset, world_size=world_size, rank=rank, seed=3,
                                 strategy=strategy, return_index=True)
        alone_ids = loader_ids(alone)
        split_ids, decoded = [], 0
        for worker in range(num_workers):
            w, r = smt.worker_stream(world_size, rank, worker, num_workers, strategy)
            stream = shardmesh.Loader(even_dataset, world_size=w, rank=r, seed=3,
                                      strategy=strategy, return_index=True)
            split_ids.extend(loader_ids(stream))
            decoded += stream.stats()["blocks_decoded"]
        assert sorted(split_ids) == sorted(alone_ids)
        assert decoded == alone.stats()["blocks_decoded"] == 64 // world_size


def test_set_epoch_reaches_workers(gen_dataset):
    ds = smt.ShardMeshDataset(gen_dataset, world_size=2, rank=0, seed=6, batch_size=100,
                              return_index=True)
    dl = DataLoader(ds, batch_size=None, num_workers=2)
    epoch0 = ids_of(dl)
    ds.set_epoch(1)
    epoch1 = ids_of(dl)
    # A rank's share changes with the epoch (the whole order is reshuffled), so compare with
    # the workers' streams of epoch 1.
    assert epoch1 != epoch0
    assert epoch1 == worker_reference(gen_dataset, 2, 0, 2, 100, seed=6, epoch=1)


def test_state_dict_resume_in_process(gen_dataset):
    kwargs = dict(world_size=2, rank=1, seed=8, epoch=3, batch_size=64, return_index=True)
    full = ids_of(smt.ShardMeshDataset(gen_dataset, **kwargs))
    ds = smt.ShardMeshDataset(gen_dataset, **kwargs)
    head = []
    for i, batch in enumerate(ds):
        head.extend(batch["__index__"].tolist())
        if i == 4:
            state = pickle.loads(pickle.dumps(ds.state_dict()))
            break
    assert state["epoch"] == 3 and state["next_batch"] == 5
    resumed = smt.ShardMeshDataset(gen_dataset, **kwargs)
    resumed.load_state_dict(state)
    assert head + ids_of(resumed) == full


@pytest.mark.parametrize("num_workers,consumed", [(0, 7), (2, 7), (3, 7), (3, 9), (2, 0)])
def test_state_after_batches_resumes_with_workers(gen_dataset, num_workers, consumed):
    """A plain DataLoader restarted after n batches yields exactly the rest, in order."""
    kwargs = dict(world_size=2, rank=0, seed=8, batch_size=64, return_index=True)
    full = [b["__index__"].tolist() for b in
            DataLoader(smt.ShardMeshDataset(gen_dataset, **kwargs), batch_size=None,
                       num_workers=num_workers)]
    ds = smt.ShardMeshDataset(gen_dataset, **kwargs)
    ds.load_state_dict(ds.state_after_batches(consumed))
    rest = [b["__index__"].tolist() for b in
            DataLoader(ds, batch_size=None, num_workers=num_workers)]
    assert rest == full[consumed:]


class FakeWorkerInfo:
    def __init__(self, worker_id, num_workers):
        self.id = worker_id
        self.num_workers = num_workers


def test_per_worker_states_resume_exactly_the_rest(gen_dataset, monkeypatch):
    """What StatefulDataLoader does: snapshot every worker's state, restart each worker from
    its own state. Delivered-before plus delivered-after is the rank's share, once each."""
    kwargs = dict(world_size=3, rank=2, seed=1, batch_size=32, return_index=True)
    full = worker_reference(gen_dataset, 3, 2, 2, 32, seed=1)
    delivered, states = [], []
    for worker_id, stop_after in [(0, 3), (1, 5)]:
        monkeypatch.setattr(smt, "get_worker_info", lambda w=worker_id: FakeWorkerInfo(w, 2))
        ds = smt.ShardMeshDataset(gen_dataset, **kwargs)
        iterator = iter(ds)
        for _ in range(stop_after):
            delivered.extend(next(iterator)["__index__"].tolist())
        states.append(pickle.loads(pickle.dumps(ds.state_dict())))
    for worker_id, state in enumerate(states):
        assert state["worker_id"] == worker_id and state["num_workers"] == 2
        monkeypatch.setattr(smt, "get_worker_info", lambda w=worker_id: FakeWorkerInfo(w, 2))
        ds = smt.ShardMeshDataset(gen_dataset, **kwargs)
        ds.load_state_dict(state)
        delivered.extend(ids_of(ds))
    assert sorted(delivered) == sorted(full) and len(delivered) == len(full)


def test_per_worker_states_resume_with_real_workers(gen_dataset):
    """The same through DataLoader: states taken inside 2 workers after some batches (as
    StatefulDataLoader's workers report them), then 2 fresh workers each given its own."""
    kwargs = dict(world_size=2, rank=1, seed=3, batch_size=64, return_index=True)
    full = ids_of(DataLoader(smt.ShardMeshDataset(gen_dataset, **kwargs), batch_size=None,
                             num_workers=2))

    class Snapshotting(smt.ShardMeshDataset):
        """Stops after `stop` batches of its stream and ships its state_dict with each batch."""
        stop = {0: 4, 1: 6}

        def __iter__(self):
            worker = torch.utils.data.get_worker_info().id
            for i, batch in enumerate(super().__iter__()):
                if i == self.stop[worker]:
                    return
                batch["state"] = pickle.dumps(self.state_dict())
                yield batch

    head, last_state = [], {}
    for batch in DataLoader(Snapshotting(gen_dataset, **kwargs), batch_size=None,
                            num_workers=2):
        head.extend(batch["__index__"].tolist())
        state = pickle.loads(batch["state"])
        last_state[state["worker_id"]] = state

    class Resuming(smt.ShardMeshDataset):
        def __iter__(self):
            self.load_state_dict(last_state[torch.utils.data.get_worker_info().id])
            return super().__iter__()

    tail = ids_of(DataLoader(Resuming(gen_dataset, **kwargs), batch_size=None, num_workers=2))
    assert len(head) == 10 * 64
    assert sorted(head + tail) == sorted(full) and len(head) + len(tail) == len(full)


def test_per_worker_state_refuses_another_number_of_workers(gen_dataset, monkeypatch):
    kwargs = dict(world_size=1, rank=0, batch_size=64)
    monkeypatch.setattr(smt, "get_worker_info", lambda: FakeWorkerInfo(1, 2))
    ds = smt.ShardMeshDataset(gen_dataset, **kwargs)
    next(iter(ds))
    state = ds.state_dict()
    monkeypatch.setattr(smt, "get_worker_info", lambda: FakeWorkerInfo(1, 3))
    resumed = smt.ShardMeshDataset(gen_dataset, **kwargs)
    resumed.load_state_dict(state)
    with pytest.raises(shardmesh.InvalidArgumentError, match="num_workers=2"):
        next(iter(resumed))


def test_commit_is_a_no_op_and_bad_state_is_refused(gen_dataset):
    ds = smt.ShardMeshDataset(gen_dataset, world_size=1, rank=0)
    assert ds.commit() is None
    with pytest.raises(shardmesh.InvalidArgumentError):
        ds.load_state_dict({"nothing": 1})


def test_workers_forked_from_a_process_with_a_running_loader(gen_dataset):
    """The parent's C++ loader (and its threads) do not survive fork(); workers must build
    their own instead of touching the inherited one."""
    ds = smt.ShardMeshDataset(gen_dataset, world_size=1, rank=0, seed=2, batch_size=128,
                              return_index=True)
    in_process = ids_of(ds)
    assert sorted(ids_of(DataLoader(ds, batch_size=None, num_workers=2))) == sorted(in_process)
    assert ids_of(ds) == in_process  # the parent's loader still works afterwards


def test_spawned_workers_deliver_every_sample_once_through_named_buffers(gen_dataset):
    """Spawned (not forked) workers share nothing with the main process but the buffers'
    names: the epoch still arrives complete, each sample once, and no buffer is left behind."""
    ds = smt.ShardMeshDataset(gen_dataset, world_size=1, rank=0, seed=5, batch_size=50,
                              return_index=True)
    loader = DataLoader(ds, batch_size=None, num_workers=2, multiprocessing_context="spawn")
    assert sorted(ids_of(loader)) == list(range(GEN_SAMPLES))
    # (This process's own buffers, from earlier tests that build batches here, stay until it
    # exits; its workers' are what must be gone. Names of other processes' workers, say a
    # test run beside this one, start with their own starter's pid.)
    assert not [n for n in os.listdir(bt.SHM_DIR)
                if n.startswith(f"shardmesh-batch-{bt._PID_NAMESPACE}-{os.getpid()}-")
                and bt._pid_of(n) != os.getpid()]


_KILLED_WORKER_MAIN = """
import multiprocessing, os, signal, sys
import numpy as np
import shardmesh.torch as smt
from shardmesh import _batch_transport as bt

def worker(queue):
    batches = [smt.to_torch({"x": np.ones(16, np.float32)}, shared=True) for _ in range(3)]
    queue.put([bt.buffer_of(b["x"])[0] for b in batches])
    signal.pause()

if __name__ == "__main__":
    context = multiprocessing.get_context(sys.argv[1])
    queue = context.Queue()
    process = context.Process(target=worker, args=(queue,), daemon=True)
    process.start()
    names = queue.get(timeout=60)
    os.kill(process.pid, signal.SIGKILL)
    process.join(timeout=60)
    assert all(os.path.exists(os.path.join(bt.SHM_DIR, n)) for n in names)
    print(" ".join(names))
"""


@pytest.mark.parametrize("context", ["fork", "spawn", "forkserver"])
def test_buffers_of_a_killed_worker_are_unlinked_when_the_main_process_exits(tmp_path, context):
    """A worker stopped by a signal cannot unlink its buffers; its parent does, at exit."""
    script = tmp_path / "main.py"
    script.write_text(_KILLED_WORKER_MAIN)
    out = subprocess.run([sys.executable, str(script), context], capture_output=True,
                         text=True, timeout=120, env=dict(os.environ))
    assert out.returncode == 0, out.stderr
    names = out.stdout.split()
    assert len(names) == 3
    assert not [n for n in names if os.path.exists(os.path.join(bt.SHM_DIR, n))]


def test_a_second_iterator_leaves_the_first_untouched(gen_dataset):
    """Peeking at a batch with a fresh iterator in the middle of an epoch (num_workers=0)
    must not restart the running stream: each iter() is a stream of its own."""
    kwargs = dict(world_size=1, rank=0, seed=4, batch_size=64, return_index=True)
    full = ids_of(smt.ShardMeshDataset(gen_dataset, **kwargs))
    ds = smt.ShardMeshDataset(gen_dataset, **kwargs)
    dl = DataLoader(ds, batch_size=None)
    got = []
    for i, batch in enumerate(dl):
        got.extend(batch["__index__"].tolist())
        if i == 3:
            peek = next(iter(dl))
            assert peek["__index__"].tolist() == full[:64]
        if i == 5:
            assert ds.state_dict()["next_batch"] == 6  # the stream that delivered last
    assert got == full
    assert len(got) == len(set(got)) == GEN_SAMPLES


def test_state_dict_after_set_epoch_is_the_start_of_that_epoch(gen_dataset):
    kwargs = dict(world_size=2, rank=0, seed=3, batch_size=64, return_index=True)
    ds = smt.ShardMeshDataset(gen_dataset, **kwargs)
    ids_of(ds)  # all of epoch 0
    ds.set_epoch(1)
    state = ds.state_dict()
    assert (state["epoch"], state["next_batch"]) == (1, 0)
    resumed = smt.ShardMeshDataset(gen_dataset, **kwargs)
    resumed.load_state_dict(state)
    assert ids_of(resumed) == ids_of(smt.ShardMeshDataset(gen_dataset, epoch=1, **kwargs))


def test_resume_survives_set_epoch_of_its_own_epoch(gen_dataset):
    """The usual loop `load_state_dict(state); for epoch in range(state["epoch"], n):
    set_epoch(epoch); ...` continues mid-epoch; set_epoch of another epoch drops the resume."""
    kwargs = dict(world_size=2, rank=1, seed=5, batch_size=64, return_index=True)
    full1 = ids_of(smt.ShardMeshDataset(gen_dataset, epoch=1, **kwargs))
    full2 = ids_of(smt.ShardMeshDataset(gen_dataset, epoch=2, **kwargs))
    ds = smt.ShardMeshDataset(gen_dataset, **kwargs)
    ds.set_epoch(1)
    head = []
    for i, batch in enumerate(DataLoader(ds, batch_size=None)):
        head.extend(batch["__index__"].tolist())
        if i == 4:
            state = ds.state_dict()
            break
    resumed = smt.ShardMeshDataset(gen_dataset, **kwargs)
    resumed.load_state_dict(state)
    epochs = {}
    for epoch in range(state["epoch"], 3):
        resumed.set_epoch(epoch)
        epochs[epoch] = ids_of(DataLoader(resumed, batch_size=None))
    assert head + epochs[1] == full1
    assert epochs[2] == full2
    other = smt.ShardMeshDataset(gen_dataset, **kwargs)
    other.load_state_dict(state)
    other.set_epoch(2)
    assert ids_of(other) == full2


def test_constructor_checks_the_dataset_and_the_arguments(gen_dataset, tmp_path):
    with pytest.raises(shardmesh.NotFoundError, match="nonexistent"):
        smt.ShardMeshDataset(tmp_path / "nonexistent", world_size=1, rank=0)
    with pytest.raises(shardmesh.InvalidArgumentError, match="random"):
        smt.ShardMeshDataset(gen_dataset, world_size=1, rank=0, strategy="random")
    with pytest.raises(shardmesh.InvalidArgumentError, match="batch_size"):
        smt.ShardMeshDataset(gen_dataset, world_size=1, rank=0, batch_size=0)
    with pytest.raises(TypeError, match="shufle"):
        smt.ShardMeshDataset(gen_dataset, world_size=1, rank=0, shufle=True)


def test_variable_shape_fields_arrive_as_lists_of_tensors_without_warnings(tmp_path):
    shardmesh.write_dataset(tmp_path / "v", ({"seq": np.arange(i % 5 + 1, dtype=np.int32),
                                             "y": i} for i in range(50)),
                            schema={"seq": ("int32", [-1]), "y": "int64"})
    ds = smt.ShardMeshDataset(tmp_path / "v", world_size=1, rank=0, batch_size=16)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        batches = list(DataLoader(ds, batch_size=None))
    seqs = [s for b in batches for s in b["seq"]]
    assert all(isinstance(s, torch.Tensor) for s in seqs)
    assert sorted(len(s) for s in seqs) == sorted(i % 5 + 1 for i in range(50))


def test_persistent_workers_warn_that_set_epoch_does_not_reach_them(gen_dataset, capfd):
    """A persistent worker keeps its first copy of the dataset, so set_epoch() never reaches
    it: the worker says so on stderr when it starts the same epoch again."""
    ds = smt.ShardMeshDataset(gen_dataset, world_size=1, rank=0, batch_size=500,
                              return_index=True)
    # Spawned: a forked worker would inherit pytest's warning recorder and print nothing.
    dl = DataLoader(ds, batch_size=None, num_workers=1, persistent_workers=True,
                    multiprocessing_context="spawn")
    first = ids_of(dl)
    assert "persistent_workers" not in capfd.readouterr().err
    ds.set_epoch(1)
    assert ids_of(dl) == first  # the documented limitation itself
    assert "starts epoch 0 again" in capfd.readouterr().err


def test_forked_workers_after_a_peek_do_not_destroy_the_parents_loaders(gen_dataset):
    """After two iterations in the parent (one a peek), the dataset holds two loaders; a forked
    worker must keep both (their threads do not exist there) instead of joining them."""
    ds = smt.ShardMeshDataset(gen_dataset, world_size=1, rank=0, batch_size=500,
                              return_index=True)
    first = iter(ds)
    next(first)
    peek = iter(ds)
    next(peek)
    peek.close()
    first.close()
    dl = DataLoader(ds, batch_size=None, num_workers=1, multiprocessing_context="fork",
                    timeout=60)
    assert sorted(ids_of(dl)) == list(range(GEN_SAMPLES))


def test_a_relative_path_still_names_the_dataset_after_a_change_of_directory(
        gen_dataset, tmp_path, monkeypatch):
    monkeypatch.chdir(os.path.dirname(gen_dataset))
    ds = smt.ShardMeshDataset(os.path.basename(gen_dataset), world_size=1, rank=0,
                              batch_size=500)
    monkeypatch.chdir(tmp_path)  # the workers reopen the dataset from here
    assert sum(len(b["label"]) for b in DataLoader(ds, batch_size=None, num_workers=1)) == \
        GEN_SAMPLES


def test_per_rank_ranges_cannot_be_split_among_workers(gen_dataset):
    ranges = [(0, GEN_SAMPLES)]
    with pytest.raises(shardmesh.InvalidArgumentError, match="cannot be split among num_work"):
        smt.ShardMeshDataset(gen_dataset, world_size=1, rank=0, strategy="range", ranges=ranges,
                             num_workers=2)
    ds = smt.ShardMeshDataset(gen_dataset, world_size=1, rank=0, strategy="range",
                              ranges=ranges, batch_size=1000)
    assert sum(len(b["label"]) for b in DataLoader(ds, batch_size=None)) == GEN_SAMPLES
    with pytest.raises(shardmesh.InvalidArgumentError, match="strategy 'range' takes ranges"):
        next(iter(DataLoader(ds, batch_size=None, num_workers=2)))


_INTERRUPTED_DATASET = r"""
import os, signal, sys, threading, time
import numpy as np
import shardmesh.torch as smt

class Stop(Exception):
    pass

def on_signal(signum, frame):
    raise Stop()

signal.signal(signal.SIGUSR1, on_signal)
path = sys.argv[1]
make = lambda: smt.ShardMeshDataset(path, batch_size=7, seed=9, return_index=True)
reference = [i for b in make() for i in b["__index__"].tolist()]
firing = threading.Event()
done = threading.Event()

def fire():
    while not done.is_set():
        if firing.is_set():
            signal.pthread_kill(threading.main_thread().ident, signal.SIGUSR1)
        time.sleep(0.0003)

threading.Thread(target=fire, daemon=True).start()
stops = lost = consumer_window = 0
for trial in range(400):
    if stops >= 20:
        break
    ds, got = make(), []
    try:
        firing.set()
        for batch in ds:
            got.append(batch)
        firing.clear()
        continue
    except Stop:
        firing.clear()
        stops += 1
    state = ds.state_dict()
    if state["next_batch"] == len(got) + 1:
        consumer_window += 1  # stopped in this loop's own code, after the batch was handed over
        continue
    again = make()
    again.load_state_dict(state)
    ids = [i for b in got for i in b["__index__"].tolist()]
    ids += [i for b in again for i in b["__index__"].tolist()]
    lost += ids != reference
done.set()
print(stops, consumer_window, lost)
"""


def test_an_interrupt_while_a_batch_is_read_repeats_nothing_and_loses_nothing(gen_dataset):
    """Ctrl-C between the read and the hand-over (raised at the first Python call after the
    read, in to_torch) lost that batch: state_dict() counted it as delivered. The state from
    before the read is kept until the batch is handed over."""
    out = subprocess.run([sys.executable, "-c", _INTERRUPTED_DATASET, gen_dataset],
                         capture_output=True, text=True, timeout=240,
                         env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    assert out.returncode == 0, out.stderr
    stops, consumer_window, lost = map(int, out.stdout.split())
    assert stops - consumer_window > 0  # interrupted inside the dataset's iteration
    assert lost == 0, f"{lost} of {stops - consumer_window} resumed epochs differ"


def test_two_sample_batches_of_records_of_any_size_become_tensors(tmp_path):
    """Two samples of a block at a constant distance made a zero-copy view whatever the
    distance: 3,191 bytes apart, torch.from_numpy refused it (strides not a multiple of the
    element size) and the epoch died with ValueError."""
    path = str(tmp_path / "ragged")
    shardmesh.write_dataset(path, ({"x": np.full(4, i, np.float32), "s": "a" * (i % 3)}
                                   for i in range(1000)))
    batches = list(smt.ShardMeshDataset(path, batch_size=2, seed=0))
    assert len(batches) == 500
    for batch in batches:
        x = batch["x"]
        assert torch.equal(x[:, 0], x[:, 3])  # each row holds one sample's value
    ids = sorted(int(v) for b in batches for v in b["x"][:, 0].tolist())
    assert ids == list(range(1000))


def test_arguments_of_the_wrapper_are_checked_and_state_dict_warns_with_workers(gen_dataset):
    with pytest.raises(TypeError, match="num_workers must be an integer"):
        smt.ShardMeshDataset(gen_dataset, num_workers="2")
    ds = smt.ShardMeshDataset(gen_dataset, batch_size=100, num_workers=2)
    with pytest.raises(shardmesh.InvalidArgumentError, match="consumed_batches"):
        ds.state_after_batches(-5)
    # The workers' positions are not visible here: say so rather than return the epoch's start.
    with pytest.warns(RuntimeWarning, match="state_after_batches"):
        ds.state_dict()


def test_variable_shape_fields_travel_in_the_shared_buffer_too(tmp_path):
    """A variable-shape field is a list of tensors: each went through torch's own sharing, one
    descriptor and handshake per tensor (90x slower with workers, and a batch of 2,048 ran out
    of descriptors under `ulimit -n 1024` and hung the DataLoader)."""
    out = smt.to_torch({"tok": [np.arange(n, dtype=np.int32) for n in (1, 5, 3)],
                        "x": np.ones(3, np.float32)}, shared=True)
    payload = bytes(ForkingPickler.dumps(out))
    assert b"rebuild_storage_fd" not in payload and len(payload) < 2048
    got = pickle.loads(payload)
    assert [t.tolist() for t in got["tok"]] == [[0], [0, 1, 2, 3, 4], [0, 1, 2]]
    assert got["tok"][1].dtype == torch.int32 and got["x"].tolist() == [1.0] * 3
    path = str(tmp_path / "ragged")
    shardmesh.write_dataset(path, ({"tok": np.arange(i % 7 + 1, dtype=np.int32), "i": i}
                                   for i in range(600)),
                            schema={"tok": ("int32", [-1]), "i": "int64"})
    seen = {}
    ds = smt.ShardMeshDataset(path, batch_size=64, num_workers=2)
    for batch in DataLoader(ds, batch_size=None, num_workers=2):
        for i, tok in zip(batch["i"].tolist(), batch["tok"]):
            seen[i] = tok.tolist()
    assert seen == {i: list(range(i % 7 + 1)) for i in range(600)}
