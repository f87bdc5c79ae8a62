"""PyTorch integration: ShardMeshDataset, an IterableDataset of ready-made batches.

    ds = ShardMeshDataset("data/train", batch_size=256, seed=0)   # rank from torchrun/SLURM
    dl = torch.utils.data.DataLoader(ds, batch_size=None, num_workers=2)
    for epoch in range(3):
        ds.set_epoch(epoch)
        for batch in dl:              # {field: tensor (or list for strings/bytes)}
            ...

Workers: with num_workers=k, worker w delivers batches w, w+k, w+2k, ... of the rank's batch
sequence, so the union over workers is exactly the rank's share, without duplicates, and
DataLoader (which takes batches from its workers in turn) yields them in the same order as
num_workers=0. Each worker runs its own C++ loader over the rank's stream and passes over the
other workers' batches without converting them; the cost is that every worker decodes the
rank's blocks (k times the decode work, spread over k processes). The C++ loader already
decodes in background threads with the GIL released, so num_workers=0 is usually the fastest
choice; workers help when the per-batch Python work is heavy. set_epoch() reaches workers
because DataLoader hands them a fresh copy of the dataset at every iteration; with
persistent_workers=True it does not (the same holds for torch's own samplers).
len() assumes equal per-rank counts, which the "adaptive" strategy does not give.

Resuming (torchdata's StatefulDataLoader conventions): state_dict() returns a picklable dict
{"epoch", "next_batch", "offset", "stream_state", "worker_id", "num_workers"} describing where this
process's stream stands; load_state_dict() makes the next iteration continue from it. With
num_workers=0, call them on the dataset itself. With workers, StatefulDataLoader calls them
inside every worker and keeps one state per worker; resume with the same num_workers. With
a plain DataLoader and workers, the main process never sees the workers' positions: count
the batches you consumed and call load_state_dict(ds.state_after_batches(n)), which resumes
after the first n batches of the epoch for any number of workers (each worker reads past the
first n batches again, without converting them).

commit() is a no-op placeholder: static mode has no mesh to commit a cursor to yet (the
checkpoint replication of mesh mode will give it a meaning). It exists so training loops can
be written against the final API now.
"""
import os
import warnings

import numpy as np
import torch
from torch.utils.data import IterableDataset, get_worker_info

import shardmesh

# Loaders inherited through fork() whose threads did not survive it: destroying them would
# join threads that do not exist in this process, so they are kept until exit.
_ORPHANED_LOADERS = []


def to_torch(batch):
    """{field: tensor} from a shardmesh batch: arrays become tensors without a copy (uint32,
    which torch 1.13 lacks, is widened to int64); lists stay lists."""
    out = {}
    for name, value in batch.items():
        if isinstance(value, np.ndarray):
            if value.dtype == np.uint32:
                value = value.astype(np.int64)
            if value.flags.writeable:
                out[name] = torch.from_numpy(value)
            else:
                # A zero-copy view into a decoded block: torch warns that it cannot mark the
                # tensor read-only. The block is private to this batch, so nothing else sees
                # writes; silence the warning instead of copying.
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", UserWarning)
                    out[name] = torch.from_numpy(value)
        else:
            out[name] = value
    return out


class ShardMeshDataset(IterableDataset):
    """This rank's share of a shardmesh dataset as batches of tensors (use batch_size=None in
    DataLoader: batching happens here). Arguments are shardmesh.Loader's."""

    def __init__(self, source, world_size=None, rank=None, batch_size=256, seed=0, epoch=0,
                 strategy="round-robin", drop_last=False, drop_last_batch=False,
                 return_index=False, **loader_kwargs):
        super().__init__()
        self.world_size, self.rank = shardmesh.world_from_env(world_size, rank)
        self.source = os.fspath(source) if not isinstance(source, shardmesh.Dataset) \
            else source.path
        self.batch_size = batch_size
        self.drop_last_batch = drop_last_batch
        self._loader_kwargs = dict(seed=seed, strategy=strategy, drop_last=drop_last,
                                   drop_last_batch=drop_last_batch, batch_size=batch_size,
                                   return_index=return_index, **loader_kwargs)
        self._epoch = epoch
        self._resume = None
        self._loader = None
        self._loader_pid = None
        self._next_batch = 0
        self._offset = 0
        self._worker = (0, 1)
        self._num_samples = None

    # -- pickling (spawned DataLoader workers): the C++ loader stays behind.
    def __getstate__(self):
        state = self.__dict__.copy()
        state["_loader"] = None
        state["_loader_pid"] = None
        return state

    def _get_loader(self, epoch):
        if self._loader is not None and self._loader_pid != os.getpid():
            _ORPHANED_LOADERS.append(self._loader)  # forked copy: see _ORPHANED_LOADERS
            self._loader = None
        if self._loader is None:
            self._loader = shardmesh.Loader(self.source, world_size=self.world_size,
                                            rank=self.rank, epoch=epoch, **self._loader_kwargs)
            self._loader_pid = os.getpid()
        elif self._loader.epoch != epoch or self._loader.position != 0:
            self._loader.set_epoch(epoch)
        return self._loader

    def __iter__(self):
        info = get_worker_info()
        worker_id, num_workers = (0, 1) if info is None else (info.id, info.num_workers)
        self._worker = (worker_id, num_workers)
        resume, self._resume = self._resume, None
        epoch = resume["epoch"] if resume else self._epoch
        loader = self._get_loader(epoch)
        batch_index = 0
        # Batch b goes to worker (b - offset) % num_workers. A fresh epoch starts the cycle at
        # batch 0; state_after_batches(n) at batch n, because DataLoader asks worker 0 first.
        offset = 0
        if resume:
            batch_index = resume["next_batch"]
            offset = resume.get("offset", 0)
            if resume.get("stream_state") is not None:
                loader.load_state_dict(resume["stream_state"])
            else:
                for _ in range(batch_index):  # state_after_batches: read past n batches
                    if not loader._skip_batch():
                        break
        self._next_batch = batch_index
        self._offset = offset
        while True:
            if (batch_index - offset) % num_workers != worker_id:
                if not loader._skip_batch():
                    return
                batch_index += 1
                continue
            batch = loader.next_batch()
            if batch is None:
                return
            batch_index += 1
            self._next_batch = batch_index
            yield to_torch(batch)

    def set_epoch(self, epoch):
        """Epoch of the next iteration (every rank must use the same); drops a pending resume."""
        self._epoch = epoch
        self._resume = None

    def __len__(self):
        """Batches this rank delivers per epoch (over all DataLoader workers together)."""
        if self._num_samples is None:
            n = shardmesh.Dataset(self.source).num_samples
            per_rank = n // self.world_size
            if not self._loader_kwargs["drop_last"] and n % self.world_size:
                per_rank += 1
            self._num_samples = per_rank
        if self.drop_last_batch:
            return self._num_samples // self.batch_size
        return -(-self._num_samples // self.batch_size)

    def state_dict(self):
        """Where this process's stream stands: a picklable dict (see the module docstring)."""
        if self._resume is not None:
            return dict(self._resume)
        worker_id, num_workers = self._worker
        stream_state = None
        if self._loader is not None and self._loader_pid == os.getpid():
            stream_state = self._loader.state_dict()["stream_state"]
            epoch = self._loader.epoch
        else:
            epoch = self._epoch
        return {"epoch": epoch, "next_batch": self._next_batch, "offset": self._offset,
                "stream_state": stream_state, "worker_id": worker_id,
                "num_workers": num_workers}

    def load_state_dict(self, state):
        """The next iteration continues from `state` (from state_dict or state_after_batches).
        Raises InvalidArgumentError when it is not such a dict."""
        if not isinstance(state, dict) or "epoch" not in state or "next_batch" not in state:
            raise shardmesh.InvalidArgumentError(
                "ShardMeshDataset.load_state_dict: expected a dict from state_dict()")
        self._resume = dict(state)
        self._epoch = state["epoch"]

    def state_after_batches(self, consumed_batches, epoch=None):
        """A state that resumes after the first `consumed_batches` batches of `epoch` (default:
        the current one), whatever the number of DataLoader workers."""
        return {"epoch": self._epoch if epoch is None else epoch,
                "next_batch": int(consumed_batches), "offset": int(consumed_batches),
                "stream_state": None}

    def commit(self):
        """No-op placeholder: static mode has nothing to commit to (see the module docstring)."""
        return None
