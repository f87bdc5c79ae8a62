"""PyTorch integration: ShardMeshDataset, an IterableDataset of ready-made batches.

    ds = ShardMeshDataset("data/train", batch_size=256, seed=0)   # rank from torchrun/SLURM
    dl = torch.utils.data.DataLoader(ds, batch_size=None, num_workers=2)
    for epoch in range(3):
        ds.set_epoch(epoch)
        for batch in dl:              # {field: tensor (or list for strings/bytes)}
            ...

Workers: with num_workers=k, worker w of rank r reads its own stream, the static plan of
world size W*k at sub-rank r + w*W (r*k + w for the "contiguous" strategy), so each worker
decodes only its own blocks. Sub-ranks are a bijection of (rank, worker) onto [0, W*k) and
every static plan is disjoint and complete, hence: every sample of the epoch is delivered by
exactly one worker of one rank (plus the padding of drop_last=False, which now fills W*k
streams to ceil(N/(W*k)) each, or with drop_last=True fewer than W*k samples skipped), and
every rank delivers the same number of batches, k * batches-per-stream. For "round-robin" and
"hash" a rank's workers together read the partitions the rank reads alone, and for
"contiguous" the same stretch of blocks, so locality is kept; what changes with k is only the
last few samples moved by balancing and padding, and the order within the rank (DataLoader
interleaves its workers' batches). Consequences:
  * every rank must use the same num_workers (a rank with another k would read other
    sub-ranks' samples: duplicates and gaps);
  * num_workers=0 and num_workers=k deliver the same epoch but split differently among ranks;
  * a final short batch can occur once per worker (drop_last_batch drops each of them);
  * len(ds) counts batches for the num_workers given to the constructor (default 0): pass the
    DataLoader's value there when len() matters;
  * partitions should be a multiple of W*k (default 64) to avoid decode amplification.
set_epoch() reaches workers because DataLoader hands them a fresh copy of the dataset at every
iteration; with persistent_workers=True it does not (the same holds for torch's samplers).
len() assumes equal per-rank counts, which the "adaptive" strategy does not give.

Resuming (torchdata's StatefulDataLoader conventions): state_dict() returns a picklable dict
{"epoch", "next_batch", "offset", "stream_state", "worker_id", "num_workers"} describing where
this process's stream stands (next_batch: batches this stream delivered in the epoch).
load_state_dict() makes the next iteration continue from it. With num_workers=0, call them on
the dataset itself. With workers, StatefulDataLoader calls them inside every worker and keeps
one state per worker; resume with the same num_workers (InvalidArgumentError otherwise). With a
plain DataLoader and workers, the main process never sees the workers' positions: count the
batches you consumed and call load_state_dict(ds.state_after_batches(n)), which resumes after
the first n batches of the epoch; the resumed run must use the num_workers of the interrupted
one. DataLoader takes batch j from stream j % k, so each stream reads past its own share of the
n batches (decoding only its own blocks), and worker w resumes stream (w + n) % k, so that the
first batch DataLoader asks for is the one that would have come next: the rest of the epoch
arrives in the order it would have had.

Worker batches travel to the main process in named shared-memory buffers that the workers
recycle (every array copied into one once, in the worker; see _batch_transport.py): a batch
pickles as a buffer name and its fields' layouts, and arrives as a plain dict of tensors.

commit() does nothing in static mode: a static stream's position is its state_dict(), which
the trainer saves with its own checkpoint. In mesh mode (MeshDataset below) commit() publishes
the worker's position to the mesh, which is what a failover resumes from.

MeshDataset: the same batches of tensors from a mesh-mode data worker running in this process
(shardmesh.MeshLoader; config keys as for `shardmesh worker`). Use it with num_workers=0: the
mesh worker is one member per process and reads ahead on its own C++ threads.
"""
import os
import warnings

import numpy as np
import torch
from torch.utils.data import IterableDataset, get_worker_info

import shardmesh
from shardmesh._batch_transport import shared_batch

# Loaders inherited through fork() whose threads did not survive it: destroying them would
# join threads that do not exist in this process, so they are kept until exit.
_ORPHANED_LOADERS = []


def to_torch(batch, shared=False):
    """{field: tensor} from a shardmesh batch: arrays become tensors without a copy (uint32,
    which torch 1.13 lacks, is widened to int64); lists stay lists. shared=True (for DataLoader
    workers) copies each array once into one shared-memory buffer instead (see
    _batch_transport.shared_batch)."""
    if shared:
        return shared_batch(batch)
    out = {}
    for name, value in batch.items():
        if not isinstance(value, np.ndarray):
            out[name] = value
        else:
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
    return out


def worker_stream(world_size, rank, worker_id, num_workers, strategy):
    """(world_size', rank') of the stream worker `worker_id` of `num_workers` reads for `rank`
    of `world_size`: a bijection of (rank, worker) onto [0, world_size * num_workers). The
    layout keeps a rank's workers on the rank's own partitions (see the module docstring)."""
    if strategy == "contiguous":
        return world_size * num_workers, rank * num_workers + worker_id
    return world_size * num_workers, worker_id * world_size + rank


def batches_before(consumed_batches, stream, num_workers):
    """How many of the first `consumed_batches` batches of a rank came from `stream`, when
    DataLoader takes batch j from stream j % num_workers (equal per-stream counts)."""
    return (consumed_batches - stream + num_workers - 1) // num_workers


class ShardMeshDataset(IterableDataset):
    """This rank's share of a shardmesh dataset as batches of tensors (use batch_size=None in
    DataLoader: batching happens here). Arguments are shardmesh.Loader's, plus num_workers:
    the DataLoader's, used by len() only (iteration reads the real one from get_worker_info)."""

    def __init__(self, source, world_size=None, rank=None, batch_size=256, seed=0, epoch=0,
                 strategy="round-robin", drop_last=False, drop_last_batch=False,
                 return_index=False, num_workers=0, **loader_kwargs):
        super().__init__()
        self.world_size, self.rank = shardmesh.world_from_env(world_size, rank)
        self.source = os.fspath(source) if not isinstance(source, shardmesh.Dataset) \
            else source.path
        self.batch_size = batch_size
        self.strategy = strategy
        self.drop_last = drop_last
        self.drop_last_batch = drop_last_batch
        self.num_workers = num_workers
        self._loader_kwargs = dict(seed=seed, strategy=strategy, drop_last=drop_last,
                                   drop_last_batch=drop_last_batch, batch_size=batch_size,
                                   return_index=return_index, **loader_kwargs)
        self._epoch = epoch
        self._resume = None
        self._loader = None
        self._loader_key = None
        self._next_batch = 0
        self._offset = 0
        self._worker = (0, 1)
        self._dataset_samples = None

    # -- pickling (spawned DataLoader workers): the C++ loader stays behind.
    def __getstate__(self):
        state = self.__dict__.copy()
        state["_loader"] = None
        state["_loader_key"] = None
        return state

    def _get_loader(self, epoch, world_size, rank):
        key = (os.getpid(), world_size, rank)
        if self._loader is not None and self._loader_key != key:
            if self._loader_key[0] != os.getpid():
                _ORPHANED_LOADERS.append(self._loader)  # forked copy: see _ORPHANED_LOADERS
            self._loader = None
        if self._loader is None:
            self._loader = shardmesh.Loader(self.source, world_size=world_size, rank=rank,
                                            epoch=epoch, **self._loader_kwargs)
            self._loader_key = key
        elif self._loader.epoch != epoch or self._loader.position != 0:
            self._loader.set_epoch(epoch)
        return self._loader

    def __iter__(self):
        info = get_worker_info()
        worker_id, num_workers = (0, 1) if info is None else (info.id, info.num_workers)
        resume, self._resume = self._resume, None
        if resume and resume.get("stream_state") is not None \
                and resume.get("num_workers", 1) != num_workers:
            raise shardmesh.InvalidArgumentError(
                f"ShardMeshDataset.load_state_dict: the state was taken with num_workers="
                f"{resume.get('num_workers', 1)}, this iteration has {num_workers} (per-worker "
                "states resume only with the same number of workers; use state_after_batches "
                "to change it)")
        epoch = resume["epoch"] if resume else self._epoch
        offset = resume.get("offset", 0) if resume else 0
        stream = (worker_id + offset) % num_workers
        world_size, rank = worker_stream(self.world_size, self.rank, stream, num_workers,
                                         self.strategy)
        self._worker = (worker_id, num_workers)
        self._offset = offset
        loader = self._get_loader(epoch, world_size, rank)
        delivered = 0
        if resume:
            if resume.get("stream_state") is not None:
                loader.load_state_dict(resume["stream_state"])
                delivered = resume["next_batch"]
            else:  # state_after_batches: read past this stream's part of the first n batches
                for _ in range(batches_before(resume["next_batch"], stream, num_workers)):
                    if not loader._skip_batch():
                        break
                    delivered += 1
        self._next_batch = delivered
        in_worker = info is not None
        while True:
            batch = loader.next_batch()
            if batch is None:
                return
            self._next_batch += 1
            yield to_torch(batch, shared=in_worker)

    def set_epoch(self, epoch):
        """Epoch of the next iteration (every rank must use the same); drops a pending resume."""
        self._epoch = epoch
        self._resume = None

    def num_batches(self, num_workers=None):
        """Batches this rank delivers per epoch over `num_workers` DataLoader workers together
        (default: the constructor's num_workers): equal on every rank."""
        k = max(1, self.num_workers if num_workers is None else num_workers)
        if self._dataset_samples is None:
            self._dataset_samples = shardmesh.Dataset(self.source).num_samples
        streams = self.world_size * k
        per_stream = self._dataset_samples // streams
        if not self.drop_last and self._dataset_samples % streams:
            per_stream += 1
        if self.drop_last_batch:
            return k * (per_stream // self.batch_size)
        return k * -(-per_stream // self.batch_size)

    def __len__(self):
        """num_batches() for the constructor's num_workers."""
        return self.num_batches()

    def state_dict(self):
        """Where this process's stream stands: a picklable dict (see the module docstring)."""
        if self._resume is not None:
            return dict(self._resume)
        worker_id, num_workers = self._worker
        stream_state = None
        if self._loader is not None and self._loader_key[0] == os.getpid():
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
        """A state that resumes after the first `consumed_batches` batches this rank delivered
        in `epoch` (default: the current one), with the num_workers of the interrupted run."""
        return {"epoch": self._epoch if epoch is None else epoch,
                "next_batch": int(consumed_batches), "offset": int(consumed_batches),
                "stream_state": None}

    def commit(self):
        """Nothing to do in static mode (see the module docstring); kept so a training loop
        can switch between ShardMeshDataset and MeshDataset unchanged."""
        return None


class MeshDataset(IterableDataset):
    """This mesh worker's share of each epoch as batches of tensors.

    MeshDataset(config=None, batch_size=256, return_index=False, **keys): starts a
    shardmesh.MeshLoader (joins the mesh). Iterating yields the current epoch (set_epoch, or
    the epoch a restored checkpoint names); commit() after each optimizer step makes a
    failover replay at most the samples delivered since. state_dict() gives {"epoch",
    "stream_state", "position"} (informational: the mesh resumes from its own replicated
    checkpoints); load_state_dict() takes the epoch from it. leave() leaves the mesh."""

    def __init__(self, config=None, batch_size=256, return_index=False, **keys):
        super().__init__()
        self.loader = shardmesh.MeshLoader(config, batch_size=batch_size,
                                           return_index=return_index, **keys)
        self._epoch = self.loader.first_epoch

    def __getstate__(self):
        raise shardmesh.InvalidArgumentError(
            "MeshDataset cannot be sent to DataLoader worker processes: use num_workers=0 "
            "(the mesh worker reads ahead on its own threads)")

    def __iter__(self):
        if get_worker_info() is not None:
            raise shardmesh.InvalidArgumentError(
                "MeshDataset runs in the main process only: use num_workers=0")
        for batch in self.loader.epoch(self._epoch):
            yield to_torch(batch)

    def set_epoch(self, epoch):
        self._epoch = int(epoch)

    def commit(self):
        self.loader.commit()

    def state_dict(self):
        state = self.loader.state_dict()
        state["epoch"] = self._epoch
        return state

    def load_state_dict(self, state):
        if not isinstance(state, dict) or "epoch" not in state:
            raise shardmesh.InvalidArgumentError(
                "MeshDataset.load_state_dict: expected a dict from state_dict()")
        self._epoch = int(state["epoch"])

    def leave(self):
        self.loader.close()
