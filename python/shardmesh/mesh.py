"""Mesh mode from Python: this process joins a shardmesh mesh as a data worker.

    loader = shardmesh.MeshLoader("configs/worker.toml", batch_size=256)   # or keyword keys
    for epoch in range(loader.first_epoch, 3):
        for batch in loader.epoch(epoch):      # this worker's share, mostly local reads
            train_step(batch)
            loader.commit()                    # after the optimizer step
    loader.leave()

Configuration: the keys of `shardmesh worker` (README, "Worker config reference"), from the TOML
file, then SHARDMESH_<KEY> environment variables, then keyword arguments (a list value for a
list key such as seeds). `name`, `data_dir` and (on at least one worker) `dataset` are needed;
`epochs`, `ids_out` and `metrics_port` are `shardmesh worker`'s own and are ignored here.

What the mesh guarantees (README, "Mesh mode"): every sample of an epoch is delivered by
exactly one live worker; when a worker dies, the others take its partitions over from its
last commit, so only samples it delivered after that commit are delivered again. Commit after
each step, or pass commit_every=N: next_batch() then commits the batches returned before it
once N samples are owed (asking for a batch means the trainer is done with the earlier ones;
the batch being returned is never covered). By default it commits only when asked, plus at
the end of its share. A restarted worker resumes from its newest valid
checkpoint in checkpoint_dir (first_epoch says which epoch).
"""
import os as _os

from . import _shardmesh


class MeshLoader:
    """A mesh-mode data worker in this process (see the module docstring).

    MeshLoader(config=None, batch_size=256, return_index=False, **keys)

    Starting joins the mesh through `seeds`, fetches the dataset catalog from a peer when this
    worker has no `dataset`, and starts placing shards. epoch(e) (or start_epoch + iteration)
    waits until min_members are live and the view has been stable for `settle`, then yields
    batches {field: array or list} of this worker's share until every partition of the epoch
    is done anywhere in the mesh. The GIL is released while C++ reads or waits; Ctrl-C (SIGINT,
main thread) ends a wait in start_epoch or next_batch with KeyboardInterrupt at once. Errors are
    shardmesh.Error subclasses with the CLI's messages (a bad key names it and its source).
    """

    def __init__(self, config=None, batch_size=256, return_index=False, **keys):
        from . import _bool_arg, _int_arg  # checked by name before anything starts
        batch_size = _int_arg("batch_size", batch_size, 1)
        return_index = _bool_arg("return_index", return_index)
        path = "" if config is None else _os.fspath(config)
        self._job = _shardmesh._MeshJob(path, keys)
        self.batch_size = batch_size
        self.return_index = return_index

    # -- epochs
    def start_epoch(self, epoch):
        """Starts reading `epoch` (waits for the membership to settle). While this worker
        still reads the running epoch, start_epoch of that epoch continues it and of another
        one raises FailedPreconditionError (read it to its end, or leave())."""
        from . import _int_arg
        self._job.start_epoch(_int_arg("epoch", epoch))

    def next_batch(self):
        """The next batch of the current epoch, or None once this worker's share is done."""
        return self._job.next_batch(self.batch_size, self.return_index)

    def __iter__(self):
        """This worker's remaining batches of the current epoch. The iterator is C++: a Ctrl-C
        during a read is raised in the loop body once the batch arrived, never instead of it."""
        return self._job._batches(self.batch_size, self.return_index)

    def __next__(self):
        batch = self.next_batch()
        if batch is None:
            raise StopIteration
        return batch

    def epoch(self, epoch):
        """start_epoch(epoch), then an iterator over this worker's batches of it."""
        self.start_epoch(epoch)
        return iter(self)

    def commit(self):
        """Marks everything delivered so far as consumed and replicates it to the mesh in the
        background (returns at once)."""
        self._job.commit()

    def wait_for_placement(self, timeout=None):
        """True once this worker holds every shard it owns and min_members are live; False
        after `timeout` seconds (default: the placement_timeout key; reading works anyway,
        from peers)."""
        return self._job.wait_for_placement(None if timeout is None else float(timeout))

    def leave(self, drain=0.2):
        """Leaves the mesh gracefully (peers see a leave, not a death). The loader is unusable
        afterwards. Dropping the object without leave() looks like a crash to the peers."""
        self._job.leave(float(drain))

    def close(self):
        """leave() unless already left; what `with MeshLoader(...) as loader:` calls at exit."""
        if self._job.alive:
            self.leave()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    # -- state
    def state_dict(self):
        """{"stream_state": bytes, "epoch", "position"}: the epoch's cursors as this worker
        knows them; position is their sum, the samples of the epoch the whole mesh has consumed
        as far as this worker knows. Informational: the mesh resumes from its own replicated
        checkpoints."""
        return self._job.state_dict()

    def stats(self):
        """Counters: samples delivered (local/remote), bytes, healed blocks, partitions owned
        and taken over, commits, checkpoints persisted, epoch and samples remaining."""
        return self._job.stats()

    @property
    def first_epoch(self):
        """The epoch to start with: the restored checkpoint's, else 0."""
        return self._job.first_epoch

    @property
    def restored_from(self):
        """The checkpoint file this worker resumed from ("" when it started fresh)."""
        return self._job.restored_from

    @property
    def name(self):
        """This worker's member name in the mesh (the config's `name`)."""
        return self._job.name

    @property
    def endpoint(self):
        """The endpoint this worker's inbox is bound to (tcp://host:port)."""
        return self._job.endpoint

    @property
    def num_samples(self):
        """Samples in the whole dataset (every worker's share together)."""
        return self._job.num_samples

    def __repr__(self):
        return f"<shardmesh.MeshLoader {self.name} at {self.endpoint} epoch {self._job.epoch}>"
