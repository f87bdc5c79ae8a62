"""shardmesh.torch.ShardMeshDataset: tensors, DataLoader workers, epochs and resume."""
import pickle

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

import shardmesh
import shardmesh.torch as smt
from conftest import GEN_SAMPLES, loader_ids


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


@pytest.mark.parametrize("num_workers", [0, 2])
@pytest.mark.parametrize("world_size", [1, 2, 3, 4])
def test_workers_split_each_rank_without_duplicates(gen_dataset, world_size, num_workers):
    union = []
    for rank in range(world_size):
        ds = smt.ShardMeshDataset(gen_dataset, world_size=world_size, rank=rank, seed=6,
                                  batch_size=64, return_index=True)
        got = ids_of(DataLoader(ds, batch_size=None, num_workers=num_workers))
        reference = loader_ids(shardmesh.Loader(gen_dataset, world_size=world_size, rank=rank,
                                                seed=6, batch_size=64, return_index=True))
        # DataLoader takes batches from its workers in turn, so even the order is the rank's.
        assert got == reference
        assert len(ds) == -(-len(reference) // 64)
        union.extend(got)
    assert sorted(union) == list(range(GEN_SAMPLES))


def test_set_epoch_reaches_workers(gen_dataset):
    ds = smt.ShardMeshDataset(gen_dataset, world_size=2, rank=0, seed=6, batch_size=100,
                              return_index=True)
    dl = DataLoader(ds, batch_size=None, num_workers=2)
    epoch0 = ids_of(dl)
    ds.set_epoch(1)
    epoch1 = ids_of(dl)
    # A rank's share changes with the epoch (the whole order is reshuffled), so compare with
    # the loader's own epoch 1.
    assert epoch1 != epoch0
    assert epoch1 == loader_ids(shardmesh.Loader(gen_dataset, world_size=2, rank=0, seed=6,
                                                 epoch=1, batch_size=100, return_index=True))


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


def test_state_after_batches_resumes_with_workers(gen_dataset):
    kwargs = dict(world_size=2, rank=0, seed=8, batch_size=64, return_index=True)
    full = ids_of(smt.ShardMeshDataset(gen_dataset, **kwargs))
    ds = smt.ShardMeshDataset(gen_dataset, **kwargs)
    ds.load_state_dict(ds.state_after_batches(7))
    rest = ids_of(DataLoader(ds, batch_size=None, num_workers=2))
    assert rest == full[7 * 64:]


class FakeWorkerInfo:
    def __init__(self, worker_id, num_workers):
        self.id = worker_id
        self.num_workers = num_workers


def test_per_worker_states_resume_exactly_the_rest(gen_dataset, monkeypatch):
    """What StatefulDataLoader does: snapshot every worker's state, restart each worker from
    its own state. Delivered-before plus delivered-after is the rank's share, once each."""
    kwargs = dict(world_size=3, rank=2, seed=1, batch_size=32, return_index=True)
    full = ids_of(smt.ShardMeshDataset(gen_dataset, **kwargs))
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
    assert ids_of(DataLoader(ds, batch_size=None, num_workers=2)) == in_process
    assert ids_of(ds) == in_process  # the parent's loader still works afterwards
