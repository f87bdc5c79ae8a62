"""PyTorch integration: ShardMeshDataset, an IterableDataset of ready-made batches.

    ds = ShardMeshDataset("data/train", batch_size=256, seed=0)   # rank from torchrun/SLURM
    dl = torch.utils.data.DataLoader(ds, batch_size=None, num_workers=2)
    for epoch in range(3):
        ds.set_epoch(epoch)
        for batch in dl:              # {field: tensor}; lists for strings, bytes and
            ...                       # variable-shape tensors (a list of tensors)

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
iteration. With persistent_workers=True it does not: the workers keep their first copy and
every epoch repeats that epoch's order (a worker warns when it starts the same epoch again;
torch's DistributedSampler does not have this problem, as it lives in the main process). Use
persistent_workers=False with ShardMeshDataset.
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


def _tensor_of(array):
    """A tensor sharing `array`'s memory (uint32, which torch 1.13 lacks, is widened to
    int64)."""
    if array.dtype == np.uint32:
        array = array.astype(np.int64)
    if array.flags.writeable:
        return torch.from_numpy(array)
    # A zero-copy view into a decoded block: torch warns that it cannot mark the tensor
    # read-only. The block is private to this batch, so nothing else sees writes; silence the
    # warning instead of copying.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return torch.from_numpy(array)


def to_torch(batch, shared=False):
    """{field: tensor} from a shardmesh batch: arrays become tensors without a copy (uint32
    is widened to int64); variable-shape tensor fields become lists of tensors; strings and
    bytes stay lists. shared=True (for DataLoader workers) copies each stacked array once into
    one shared-memory buffer instead (see _batch_transport.shared_batch)."""
    if shared:
        batch = shared_batch(batch)
    out = {}
    for name, value in batch.items():
        if isinstance(value, np.ndarray):
            out[name] = _tensor_of(value)
        elif isinstance(value, list) and value and isinstance(value[0], np.ndarray):
            out[name] = [_tensor_of(v) for v in value]
        else:
            out[name] = value
    if shared:
        batch.clear()
        batch.update(out)
        return batch
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


class _Stream:
    """One iteration over a ShardMeshDataset: its loader and how far it got."""

    def __init__(self, loader, key, worker, offset, next_batch):
        self.loader = loader
        self.key = key              # (pid, world_size', rank') the loader was built for
        self.worker = worker        # (worker_id, num_workers)
        self.offset = offset
        self.next_batch = next_batch
        # The stream state before the batch being read, until it is handed over: a Ctrl-C in
        # between (raised at the first Python call after the read) repeats that batch on
        # resume instead of losing it.
        self.before_read = None


class ShardMeshDataset(IterableDataset):
    """This rank's share of a shardmesh dataset as batches of tensors (use batch_size=None in
    DataLoader: batching happens here). Arguments are shardmesh.Loader's, plus num_workers:
    the DataLoader's, used by len() only (iteration reads the real one from get_worker_info).
    The dataset and the arguments are checked here: NotFoundError, CorruptionError,
    InvalidArgumentError or TypeError as shardmesh.Loader raises them.

    Every iter() is a stream of its own, as with any IterableDataset: a second iterator
    started while one runs (say, to peek at a batch) gets its own loader and leaves the first
    untouched. state_dict() describes the iteration that delivered a batch last."""

    def __init__(self, source, world_size=None, rank=None, batch_size=256, seed=0, epoch=0,
                 strategy="round-robin", drop_last=False, drop_last_batch=False,
                 return_index=False, num_workers=0, **loader_kwargs):
        super().__init__()
        self.world_size, self.rank = shardmesh.world_from_env(world_size, rank)
        # Absolute: DataLoader workers reopen it, maybe after the trainer changed directory.
        self.source = os.path.abspath(shardmesh._path_arg(source)) \
            if not isinstance(source, shardmesh.Dataset) else os.path.abspath(source.path)
        self.batch_size = batch_size
        self.strategy = strategy
        self.drop_last = drop_last
        self.drop_last_batch = drop_last_batch
        self.num_workers = shardmesh._int_arg("num_workers", num_workers)
        self._loader_kwargs = dict(seed=seed, strategy=strategy, drop_last=drop_last,
                                   drop_last_batch=drop_last_batch, batch_size=batch_size,
                                   return_index=return_index, **loader_kwargs)
        self._epoch = epoch
        self._check_split(num_workers)
        self._resume = None
        self._idle = None      # a finished stream's loader, reused by the next iteration
        self._current = None   # the _Stream that delivered last (None: the epoch's start)
        # Fail here, in the process that made the mistake, rather than in a DataLoader worker
        # at the first batch: build this rank's loader once, then drop it (kept, its prefetch
        # thread would run beside the workers and be inherited by every forked one).
        first = self._new_loader(epoch, self.world_size, self.rank)
        self._dataset_samples = first.loader.dataset.num_samples
        del first

    def _check_split(self, num_workers):
        """InvalidArgumentError when this rank's share cannot be split among `num_workers`
        DataLoader workers: ranges and throughputs are given per rank, and the workers' streams
        are sub-ranks (which would need one entry each)."""
        per_rank = {"range": "ranges", "adaptive": "throughputs"}.get(self.strategy)
        if num_workers > 1 and per_rank and self._loader_kwargs.get(per_rank):
            raise shardmesh.InvalidArgumentError(
                f"ShardMeshDataset: strategy '{self.strategy}' takes {per_rank} per rank, which "
                f"cannot be split among num_workers={num_workers} DataLoader workers; use "
                "num_workers=0 or another strategy")

    # -- pickling (spawned DataLoader workers): the C++ loaders stay behind.
    def __getstate__(self):
        state = self.__dict__.copy()
        state["_idle"] = None
        state["_current"] = None
        return state

    def _new_loader(self, epoch, world_size, rank):
        loader = shardmesh.Loader(self.source, world_size=world_size, rank=rank, epoch=epoch,
                                  **self._loader_kwargs)
        return _Stream(loader, (os.getpid(), world_size, rank), (0, 1), 0, 0)

    def _take_loader(self, epoch, world_size, rank):
        """The idle loader when it fits this stream (set to the start of `epoch`), else a new
        one."""
        idle = self._idle
        self._idle = None
        if idle is not None and idle.key != (os.getpid(), world_size, rank):
            idle = None
        if idle is None:
            return self._new_loader(epoch, world_size, rank).loader
        if idle.loader.epoch != epoch or idle.loader.position != 0:
            idle.loader.set_epoch(epoch)
        return idle.loader

    def __iter__(self):
        info = get_worker_info()
        worker_id, num_workers = (0, 1) if info is None else (info.id, info.num_workers)
        self._check_split(num_workers)
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
        if info is not None and not resume:
            self._warn_if_repeated_in_worker(epoch)
        self._current = None  # the loader taken below may be the one it describes
        loader = self._take_loader(epoch, world_size, rank)
        delivered = 0
        if resume:
            if resume.get("stream_state") is not None:
                try:
                    loader.load_state_dict(resume["stream_state"])
                except BaseException:
                    self._resume = resume  # still pending: state_dict() keeps showing it
                    raise
                delivered = resume["next_batch"]
            else:  # state_after_batches: read past this stream's part of the first n batches
                for _ in range(batches_before(resume["next_batch"], stream, num_workers)):
                    if not loader._skip_batch():
                        break
                    delivered += 1
        current = _Stream(loader, (os.getpid(), world_size, rank), (worker_id, num_workers),
                          offset, delivered)
        self._current = current
        in_worker = info is not None
        try:
            while True:
                if not in_worker:  # 1 us; a worker's position is state_after_batches' business
                    current.before_read = loader.state_dict()["stream_state"]
                batch = loader.next_batch()
                if batch is None:
                    current.before_read = None
                    return
                out = to_torch(batch, shared=in_worker)
                self._current = current
                # No call between these stores and the yield: nothing to interrupt them.
                current.before_read = None
                current.next_batch += 1
                yield out
        finally:
            # Finished, abandoned or closed: the next iteration may reuse this loader (it keeps
            # its position until then, for state_dict).
            self._idle = current

    def _warn_if_repeated_in_worker(self, epoch):
        """A DataLoader worker that starts an epoch it already read is a persistent worker
        (a fresh worker has another pid): set_epoch() in the main process cannot reach it."""
        started = self.__dict__.setdefault("_worker_epochs", set())
        if (os.getpid(), epoch) in started:
            warnings.warn(
                f"ShardMeshDataset: DataLoader worker {os.getpid()} starts epoch {epoch} again; "
                "with persistent_workers=True, set_epoch() in the main process does not reach "
                "the workers and every epoch repeats this order. Use persistent_workers=False.",
                RuntimeWarning, stacklevel=3)
        started.add((os.getpid(), epoch))

    def set_epoch(self, epoch):
        """Epoch of the next iteration, from its start (every rank must use the same). A
        pending load_state_dict() of the same epoch is kept, so the usual loop
        `for epoch in range(state["epoch"], n): ds.set_epoch(epoch); ...` resumes; one of
        another epoch is dropped."""
        epoch = shardmesh._int_arg("epoch", epoch)
        if self._resume is not None and self._resume["epoch"] != epoch:
            self._resume = None
        self._epoch = epoch
        self._current = None

    def num_batches(self, num_workers=None):
        """Batches this rank delivers per epoch over `num_workers` DataLoader workers together
        (default: the constructor's num_workers): equal on every rank."""
        k = max(1, self.num_workers if num_workers is None else num_workers)
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
        """Where this process's stream stands: a picklable dict (see the module docstring).
        Before any batch of the current epoch, its start."""
        if self._resume is not None:
            return dict(self._resume)
        current = self._current
        if current is None and self.num_workers > 0 and get_worker_info() is None:
            warnings.warn(
                "ShardMeshDataset.state_dict() in the main process with num_workers > 0: the "
                "batches are read in the DataLoader's workers, whose positions are not seen "
                "here; this state is the start of the epoch. Save "
                "state_after_batches(batches_consumed) instead.", RuntimeWarning, stacklevel=2)
        if current is None:
            worker_id, num_workers = (0, 1)
            return {"epoch": self._epoch, "next_batch": 0, "offset": 0, "stream_state": None,
                    "worker_id": worker_id, "num_workers": num_workers}
        stream_state = None
        epoch = self._epoch
        if current.key[0] == os.getpid():
            stream_state = current.before_read or current.loader.state_dict()["stream_state"]
            epoch = current.loader.epoch
        worker_id, num_workers = current.worker
        return {"epoch": epoch, "next_batch": current.next_batch, "offset": current.offset,
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
        consumed_batches = shardmesh._int_arg("consumed_batches", consumed_batches)
        epoch = self._epoch if epoch is None else shardmesh._int_arg("epoch", epoch)
        return {"epoch": epoch, "next_batch": consumed_batches, "offset": consumed_batches,
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
        """The epoch the next iteration reads (every worker of the mesh must use the same)."""
        self._epoch = shardmesh._int_arg("epoch", epoch)

    def commit(self):
        """After each optimizer step: a failover replays at most what was delivered since."""
        self.loader.commit()

    def state_dict(self):
        """{"epoch", "stream_state", "position"}: informational, the mesh resumes from its own
        replicated checkpoints."""
        state = self.loader.state_dict()
        state["epoch"] = self._epoch
        return state

    def load_state_dict(self, state):
        """Takes the epoch to read from `state` (a state_dict()); the position comes from the
        mesh's own checkpoints."""
        if not isinstance(state, dict) or "epoch" not in state:
            raise shardmesh.InvalidArgumentError(
                "MeshDataset.load_state_dict: expected a dict from state_dict()")
        self._epoch = int(state["epoch"])

    def leave(self):
        """Leaves the mesh gracefully (peers see a leave, not a death)."""
        self.loader.close()
