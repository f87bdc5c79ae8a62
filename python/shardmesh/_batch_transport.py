"""How a DataLoader worker's batch reaches the main process: named shared-memory buffers.

A worker copies every array of a batch (each array of a variable-shape field's list too) once
into one buffer of its pool: a file in /dev/shm mapped into the worker. DataLoader pickles
the batch (ForkingPickler) to the main process; a SharedBatch pickles as the buffer's name plus the views' layouts, a few hundred bytes and no
file descriptor. torch's own path for shared tensors sends a descriptor per storage, and the
receiver fetches it with a connect/read handshake with the sender's resource-sharer thread: on
the 2-core test machines that handshake was two thirds of the main process's time per batch.

The main process maps a buffer by name the first time it sees it, then unlinks the name (the
memory lives while a mapping does), copies the batch out and hands the buffer back to its
worker by clearing the buffer's first byte; the worker then reuses it for a later batch, which
the main process finds in its cache of mappings. So after warm-up a batch costs one copy in the
worker, one copy in the main process, and no system call for memory on either side.

Lifetimes:
  * a pooled buffer is in use from acquire_buffer until the last tensor viewing it in the
    worker is gone and, if the batch was sent, the main process copied it out: a batch never
    sent as built (user code dropped it, or made new tensors of it, as a wrapper yielding
    (x, y) to DataLoader's collate does) frees it, and a batch kept in the worker keeps its
    values (it may be sent again); beyond _POOL_LIMIT buffers in use a worker makes
    unpooled buffers, which the main process views without copying, and which are unlinked
    when sent or, unsent, when their last tensor is gone;
  * names the main process never mapped are unlinked by the worker when it exits normally;
    a worker stopped by a signal (DataLoader terminates workers that do not exit after an
    error elsewhere) cannot, so every name carries the pid of the process that started the
    worker (multiprocessing's parent_process(): the trainer, also under the forkserver start
    method, where the OS parent is the server) and the pid namespace (pids repeat across
    containers sharing /dev/shm), and that process unlinks what its workers left when it
    exits, after they are gone (also a trainer that was itself forked by multiprocessing);
  * the main process's cache keeps pooled mappings; past _CACHE_LIMIT it drops those of workers
    that have exited (they will never send them again).
"""
import copy
import itertools
import mmap
import multiprocessing
import os
import threading
import weakref
from multiprocessing import util as mp_util

import numpy as np
import torch

SHM_DIR = "/dev/shm"


def _pid_namespace():
    try:
        return os.stat("/proc/self/ns/pid").st_ino
    except OSError:
        return 0


_PID_NAMESPACE = _pid_namespace()
_HEADER_BYTES = 64
_POOL_LIMIT = 16
_CACHE_LIMIT = 64
# The main process's copy must complete before the worker can see the buffer free. x86's
# ordering gives that; on weaker CPUs a lock release followed by an acquire does.
_FENCE = threading.Lock()


def torch_dtype(dtype):
    """The torch dtype a NumPy array of `dtype` becomes (uint32, which torch 1.13 lacks, is
    widened to int64)."""
    return torch.from_numpy(np.empty(0, np.int64 if dtype == np.uint32 else dtype)).dtype


def _starter_pid():
    """The pid of the process that started this one through multiprocessing (the trainer of
    a DataLoader worker, whichever the start method), else the OS parent."""
    parent = multiprocessing.parent_process()
    return parent.pid if parent is not None and parent.pid is not None else os.getppid()


def _map(path, nbytes, create):
    flags = os.O_RDWR | (os.O_CREAT | os.O_EXCL if create else 0)
    fd = os.open(path, flags, 0o600)
    try:
        if create:
            os.ftruncate(fd, nbytes)
        return mmap.mmap(fd, nbytes)
    finally:
        os.close(fd)


class _Buffer:
    """A named shared-memory buffer mapped in this process. `flag` views its first byte (1 in
    flight, 0 once the main process copied it out or nothing will); `use` counts its uses,
    `sent` says whether the current one was pickled to the main process and `leased` whether
    a tensor of it is still alive here. A pooled buffer is reused when neither holds."""

    __slots__ = ("name", "nbytes", "pooled", "mapping", "flag", "address", "use", "sent",
                 "leased")

    def __init__(self, name, nbytes, pooled, mapping):
        self.name, self.nbytes, self.pooled, self.mapping = name, nbytes, pooled, mapping
        self.flag = np.frombuffer(mapping, dtype=np.uint8, count=1)
        self.address = self.flag.ctypes.data
        self.use, self.sent, self.leased = 0, False, False


class _WorkerPool:
    """This process's buffers, by name and by address. Reset in a forked child."""

    def __init__(self):
        self.pid = os.getpid()
        # Leases may end on DataLoader's queue feeder thread, or in this thread while it holds
        # the lock (a garbage collection run by an allocation below): reentrant.
        self.lock = threading.RLock()
        self.by_address = {}  # base address -> _Buffer (pooled and unpooled alike)
        self.pooled = []
        self.names = set()    # every name this process created (unlinked at exit if still there)
        self.counter = itertools.count()
        mp_util.Finalize(self, _unlink_all, args=(self.names,), exitpriority=10)


def _unlink_all(names):
    for name in list(names):
        try:
            os.unlink(os.path.join(SHM_DIR, name))
        except OSError:
            pass


_POOL = None


def _pool():
    global _POOL
    if _POOL is None or _POOL.pid != os.getpid():
        _POOL = _WorkerPool()
    return _POOL


def _lease_ended(pool, buffer, use):
    """Every tensor of `buffer`'s use `use` is gone. Unless that use was sent (the main process
    then frees or unlinks it), nothing will ever read it: user code dropped the batch or made
    new tensors of it (a wrapper yielding (x, y) to DataLoader's collate). A pooled buffer is
    free again; an unpooled one is unlinked and forgotten. Nothing happens in a process forked
    after the lease was made: the buffer is its parent's."""
    if pool.pid != os.getpid():
        return
    with pool.lock:
        if buffer.use != use:
            return
        buffer.leased = False
        if buffer.sent:
            return
        if buffer.pooled:
            buffer.flag[0] = 0
            return
        pool.by_address.pop(buffer.address, None)
        pool.names.discard(buffer.name)
    try:
        os.unlink(os.path.join(SHM_DIR, buffer.name))
    except OSError:
        pass


def _lease(pool, buffer):
    """A uint8 tensor over `buffer` for one use. Its storage holds a NumPy array of its own
    (torch.frombuffer keeps the exporting object alive), so the array dies exactly when the
    last tensor viewing this use does, whatever views user code derived from it."""
    buffer.use += 1
    buffer.sent, buffer.leased = False, True
    buffer.flag[0] = 1
    lease = np.frombuffer(buffer.mapping, dtype=np.uint8)
    # Not run at interpreter exit: the worker's exit handler unlinks what is left.
    weakref.finalize(lease, _lease_ended, pool, buffer, buffer.use).atexit = False
    return torch.frombuffer(lease, dtype=torch.uint8)


def acquire_buffer(nbytes):
    """A shared uint8 buffer of at least `nbytes` bytes marked in flight (first byte 1): a free
    one of the pool, else a new one (pooled while the pool holds under _POOL_LIMIT). It is free
    again once every tensor viewing it here is gone and the main process copied it out (or it
    was never sent), so a batch kept in the worker never changes under its holder."""
    pool = _pool()
    with pool.lock:
        for buffer in pool.pooled:
            if buffer.nbytes >= nbytes and buffer.flag[0] == 0 and not buffer.leased:
                return _lease(pool, buffer)
        pooled = len(pool.pooled) < _POOL_LIMIT
        # Pooled buffers get headroom so that a later, slightly larger batch still fits.
        size = max(nbytes + nbytes // 8, 4096) if pooled else nbytes
        name = (f"shardmesh-batch-{_PID_NAMESPACE}-{_starter_pid()}-{os.getpid()}-"
                f"{next(pool.counter)}-{os.urandom(4).hex()}")
        pool.names.add(name)
        buffer = _Buffer(name, size, pooled, _map(os.path.join(SHM_DIR, name), size, True))
        pool.by_address[buffer.address] = buffer
        if pooled:
            pool.pooled.append(buffer)
        return _lease(pool, buffer)


def _storage_address(tensor):
    storage = tensor.untyped_storage() if hasattr(tensor, "untyped_storage") \
        else tensor.storage()
    return storage.data_ptr()


def buffer_of(tensor):
    """(name, base address, size in bytes) of the shared buffer `tensor` views in this
    process, or None."""
    address = _storage_address(tensor)
    buffer = _pool().by_address.get(address)
    return (buffer.name, address, buffer.nbytes) if buffer else None


# Main process: pooled buffers mapped so far, by name.
_ATTACHED = {}


def _pid_of(name):
    """The pid of the process that created buffer `name`."""
    return int(name.split("-")[4])


def _unlink_children_leftovers():
    """Buffers this process's children (DataLoader workers) created and nobody unlinked."""
    prefix = f"shardmesh-batch-{_PID_NAMESPACE}-{os.getpid()}-"
    try:
        names = [n for n in os.listdir(SHM_DIR) if n.startswith(prefix)]
    except OSError:
        return
    _unlink_all(names)


# Runs at exit in the last round of multiprocessing's finalizers (negative priority), after
# daemonic children, such as DataLoader workers, were terminated and joined. A child process
# starts with an empty registry, so only the process that imported this module runs it.
def _register_cleanup(_=None):
    mp_util.Finalize(None, _unlink_children_leftovers, exitpriority=-10)


_register_cleanup()
# A multiprocessing child starts with an empty registry: register again there (a trainer
# started by fork that starts DataLoader workers of its own).
mp_util.register_after_fork(_register_cleanup, _register_cleanup)


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    return True


def _attach(name, nbytes, pooled):
    tensor = _ATTACHED.get(name)
    if tensor is not None:
        return tensor
    path = os.path.join(SHM_DIR, name)
    tensor = torch.frombuffer(_map(path, nbytes, create=False), dtype=torch.uint8)
    os.unlink(path)  # mapped on both sides now; nothing else will open it by name
    if pooled:
        _ATTACHED[name] = tensor
        if len(_ATTACHED) > _CACHE_LIMIT:
            for stale in [n for n in _ATTACHED if not _alive(_pid_of(n))]:
                del _ATTACHED[stale]
    return tensor


def _rebuild_batch(keys, buffers, views, others, lists=None):
    """The main process's side of SharedBatch: {field: tensor or list of tensors}. Views of a
    pooled buffer are copied out (one copy of the bytes in use) and the buffer is handed back
    to its worker; unpooled buffers are kept and viewed."""
    lists = lists or {}
    specs = list(views.values()) + [spec for items in lists.values() for spec in items]
    used = [0] * len(buffers)
    for buffer_index, _, _, offset, nbytes in specs:
        used[buffer_index] = max(used[buffer_index], offset + nbytes)
    sources = []
    for (name, nbytes, pooled), end in zip(buffers, used):
        buffer = _attach(name, nbytes, pooled)
        if pooled:
            with _FENCE:
                copy = buffer[:end].clone()
            with _FENCE:
                buffer[0] = 0
            sources.append(copy)
        else:
            sources.append(buffer)

    def view(spec):
        buffer_index, dtype, shape, offset, nbytes = spec
        return sources[buffer_index][offset:offset + nbytes].view(dtype).view(shape)

    out = {}
    for name in keys:
        if name in views:
            out[name] = view(views[name])
        elif name in lists:
            out[name] = [view(spec) for spec in lists[name]]
        else:
            out[name] = others[name]
    return out


class SharedBatch(dict):
    """A batch built in a DataLoader worker whose tensors are views into one named buffer.
    Pickles as the buffer's name and the views' layouts (see the module docstring); unpickles
    as a plain dict of tensors. Values that are not views of such a buffer (strings, tensors
    added by user code) pickle as usual."""

    def __copy__(self):
        # copy.copy would go through __reduce__, i.e. send the batch to this very process
        # (newer torch copies dicts in default_convert and pin_memory).
        return SharedBatch(self)

    def __deepcopy__(self, memo):
        return {copy.deepcopy(k, memo): copy.deepcopy(v, memo) for k, v in self.items()}

    def __reduce__(self):
        pool = _pool()
        buffers, index_of, views, lists, others, sent = [], {}, {}, {}, {}, []

        def buffer_of(value):
            if isinstance(value, torch.Tensor) and value.is_contiguous() \
                    and value.device.type == "cpu":
                return pool.by_address.get(_storage_address(value))
            return None

        def spec_of(value, buffer):
            if buffer.name not in index_of:
                index_of[buffer.name] = len(buffers)
                buffers.append((buffer.name, buffer.nbytes, buffer.pooled))
                sent.append(buffer)
            return (index_of[buffer.name], value.dtype, tuple(value.shape),
                    value.data_ptr() - buffer.address, value.numel() * value.element_size())

        for name, value in self.items():
            buffer = buffer_of(value)
            if buffer is not None:
                views[name] = spec_of(value, buffer)
                continue
            # A variable-shape field: a list of views, sent the same way (one descriptor per
            # tensor through torch's own path was 90x slower, and ran out of descriptors).
            items = [buffer_of(v) for v in value] if isinstance(value, list) and value else []
            if items and all(b is not None for b in items):
                lists[name] = [spec_of(v, b) for v, b in zip(value, items)]
            else:
                others[name] = value
        with pool.lock:
            for buffer in sent:
                buffer.sent = True  # the main process frees a pooled one, unlinks the others
                if not buffer.pooled:
                    pool.names.discard(buffer.name)
                    pool.by_address.pop(buffer.address, None)
        return (_rebuild_batch, (list(self.keys()), buffers, views, others, lists))


def shared_batch(batch):
    """`batch` with every array, and every array of a list of arrays (a variable-shape field),
    copied once into one shared buffer (a recycled one when free). Copying there directly
    makes that the worker's only copy, sized to the values (a strided view into a block would
    otherwise copy the block span it covers), and folds the uint32 widening into it. The
    tensors are valid until the batch is sent: the worker must not keep them (the buffer is
    then reused)."""
    layout, total = {}, _HEADER_BYTES

    def place(value):
        nonlocal total
        dtype = torch_dtype(value.dtype)
        nbytes = value.size * torch.empty(0, dtype=dtype).element_size()
        total = -(-total // 64) * 64  # every view aligned for any dtype
        spec = (dtype, total, nbytes)
        total += nbytes
        return spec

    for name, value in batch.items():
        if isinstance(value, np.ndarray):
            layout[name] = place(value)
        elif isinstance(value, list) and value and \
                all(isinstance(v, np.ndarray) for v in value):
            layout[name] = [place(v) for v in value]
    buffer = acquire_buffer(total)

    def fill(spec, value):
        dtype, offset, nbytes = spec
        tensor = buffer[offset:offset + nbytes].view(dtype).view(value.shape)
        np.copyto(tensor.numpy(), value, casting="unsafe")
        return tensor

    out = SharedBatch()
    for name, value in batch.items():
        spec = layout.get(name)
        if spec is None:
            out[name] = value
        elif isinstance(spec, list):
            out[name] = [fill(s, v) for s, v in zip(spec, value)]
        else:
            out[name] = fill(spec, value)
    return out
