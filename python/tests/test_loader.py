"""shardmesh.Loader against the C++ CLI and Dataset reads: order, values, partitioning,
resume, epochs and zero-copy samples."""
import gc
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

import shardmesh
from conftest import GEN_SAMPLES, cli_ids, loader_ids


@pytest.mark.parametrize("world_size", [1, 2, 3, 4])
def test_batches_match_cli_sample_for_sample(cli, gen_dataset, world_size):
    for rank in range(world_size):
        loader = shardmesh.Loader(gen_dataset, world_size=world_size, rank=rank, seed=5,
                                  epoch=1, batch_size=100, return_index=True)
        expected = cli_ids(cli, gen_dataset, "--world-size", world_size, "--rank", rank,
                           "--seed", 5, "--epoch", 1)
        assert loader_ids(loader) == expected


def test_zero_prefetch_threads_decodes_in_the_caller_in_the_same_order(cli, gen_dataset):
    # No decode thread at all (e.g. inside each DataLoader worker): same sequence.
    loader = shardmesh.Loader(gen_dataset, world_size=2, rank=1, seed=3, batch_size=100,
                              prefetch_threads=0, return_index=True)
    assert loader_ids(loader) == cli_ids(cli, gen_dataset, "--world-size", 2, "--rank", 1,
                                         "--seed", 3, "--prefetch-threads", 0)


@pytest.mark.parametrize("strategy", ["contiguous", "hash", "stratified"])
def test_strategies_match_cli(cli, gen_dataset, strategy):
    loader = shardmesh.Loader(gen_dataset, world_size=3, rank=2, seed=1, strategy=strategy,
                              batch_size=64, return_index=True)
    assert loader_ids(loader) == cli_ids(cli, gen_dataset, "--world-size", 3, "--rank", 2,
                                         "--seed", 1, "--strategy", strategy)


def test_adaptive_throughputs_and_ranges_match_cli(cli, gen_dataset):
    for rank in range(2):
        adaptive = shardmesh.Loader(gen_dataset, world_size=2, rank=rank, strategy="adaptive",
                                    throughputs=[1, 3.0], batch_size=64, return_index=True)
        assert loader_ids(adaptive) == cli_ids(cli, gen_dataset, "--world-size", 2, "--rank",
                                               rank, "--strategy", "adaptive", "--throughputs",
                                               "1,3")
    first = loader_ids(shardmesh.Loader(gen_dataset, world_size=2, rank=0, strategy="adaptive",
                                        throughputs=[1, 3], return_index=True))
    assert 0.15 < len(first) / GEN_SAMPLES < 0.35
    # Ranges are each rank's home; counts are then equalised (rank 1 hands 500 to rank 0).
    ranged = [loader_ids(shardmesh.Loader(gen_dataset, world_size=2, rank=r, strategy="range",
                                          ranges=[(0, 1000), (1000, GEN_SAMPLES)],
                                          return_index=True)) for r in range(2)]
    assert all(1000 <= i < GEN_SAMPLES for i in ranged[1])
    assert sorted(ranged[0] + ranged[1]) == list(range(GEN_SAMPLES))
    assert ranged[1] == cli_ids(cli, gen_dataset, "--world-size", 2, "--rank", 1, "--strategy",
                                "range", "--ranges", f"0:1000,1000:{GEN_SAMPLES}")


def test_bad_throughputs_and_ranges_are_named(gen_dataset):
    def make(**kwargs):
        return shardmesh.Loader(gen_dataset, world_size=2, rank=0, **kwargs)
    with pytest.raises(TypeError, match=r"throughputs\[1\] must be a number"):
        make(strategy="adaptive", throughputs=[1, "2"])
    with pytest.raises(shardmesh.InvalidArgumentError, match="1 values for world_size 2"):
        make(strategy="adaptive", throughputs=[1])
    with pytest.raises(shardmesh.InvalidArgumentError, match="only used by the adaptive"):
        make(throughputs=[1, 2])
    with pytest.raises(shardmesh.InvalidArgumentError, match="needs ranges"):
        make(strategy="range")
    with pytest.raises(TypeError, match=r"ranges\[0\] must be a \(begin, end\) pair"):
        make(strategy="range", ranges=[(0, 1, 2)])
    with pytest.raises(TypeError, match=r"ranges\[1\]\[0\] must be an integer"):
        make(strategy="range", ranges=[(0, 10), (10.0, 20)])
    with pytest.raises(shardmesh.InvalidArgumentError):
        make(strategy="range", ranges=[(0, 1000), (900, GEN_SAMPLES)])


def test_a_state_saved_at_the_end_of_the_epoch_resumes_with_nothing_left(gen_dataset):
    """Iterating right after load_state_dict continues from the restored position, also at the
    end of the epoch (it replayed the whole epoch, as for an exhausted loader)."""
    done = shardmesh.Loader(gen_dataset, world_size=4, rank=1, seed=7, epoch=1, batch_size=100)
    batches = sum(1 for _ in done)
    state = done.state_dict()
    resumed = shardmesh.Loader(gen_dataset, world_size=4, rank=1, seed=7, epoch=1, batch_size=100)
    resumed.load_state_dict(state)
    assert resumed.position == resumed.num_samples
    assert sum(1 for _ in resumed) == 0
    assert sum(1 for _ in resumed) == batches  # exhausted now: iterating again replays it
    # Only the first iteration after the restore is spared the replay: reading with next_batch
    # in between ends that, as for any exhausted epoch.
    mid = shardmesh.Loader(gen_dataset, world_size=4, rank=1, seed=7, epoch=1, batch_size=100)
    mid.load_state_dict(state)
    assert mid.next_batch() is None
    assert sum(1 for _ in mid) == batches


def test_batch_values_equal_dataset_reads(gen_dataset):
    dataset = shardmesh.Dataset(gen_dataset)
    loader = shardmesh.Loader(dataset, world_size=2, rank=1, seed=9, batch_size=128,
                              return_index=True)
    batch = loader.next_batch()
    assert batch["features"].shape == (128, 8) and batch["features"].dtype == np.float32
    assert batch["tokens"].shape == (128, 4) and batch["tokens"].dtype == np.uint32
    assert batch["label"].shape == (128,) and batch["label"].dtype == np.int64
    for row, index in enumerate(batch["__index__"]):
        sample = dataset[int(index)]
        np.testing.assert_array_equal(batch["features"][row], sample["features"])
        np.testing.assert_array_equal(batch["tokens"][row], sample["tokens"])
        assert batch["label"][row] == sample["label"]


@pytest.mark.parametrize("world_size", [1, 2, 3, 4])
def test_ranks_are_disjoint_and_complete(gen_dataset, world_size):
    seen = []
    lengths = set()
    for rank in range(world_size):
        ids = loader_ids(shardmesh.Loader(gen_dataset, world_size=world_size, rank=rank,
                                          seed=2, batch_size=97, return_index=True))
        lengths.add(len(ids))
        seen.extend(ids)
    assert lengths == {GEN_SAMPLES // world_size}
    assert sorted(seen) == list(range(GEN_SAMPLES))


def test_padding_gives_equal_counts_when_world_size_does_not_divide(tmp_path):
    n = 101
    shardmesh.write_dataset(tmp_path / "d", ({"x": i} for i in range(n)), block_bytes=64)
    for drop_last, per_rank in [(False, 26), (True, 25)]:
        seen = []
        for rank in range(4):
            ids = loader_ids(shardmesh.Loader(tmp_path / "d", world_size=4, rank=rank,
                                              drop_last=drop_last, batch_size=8,
                                              return_index=True))
            assert len(ids) == per_rank
            seen.extend(ids)
        if drop_last:
            assert len(set(seen)) == len(seen) == 100
        else:
            assert set(seen) == set(range(n))


def test_state_dict_resume_yields_exactly_the_rest(gen_dataset):
    kwargs = dict(world_size=3, rank=1, seed=4, epoch=2, batch_size=50, return_index=True)
    full = loader_ids(shardmesh.Loader(gen_dataset, **kwargs))
    first = shardmesh.Loader(gen_dataset, **kwargs)
    head = []
    for _ in range(7):
        head.extend(first.next_batch()["__index__"].tolist())
    state = first.state_dict()
    assert state["position"] == 350 and state["epoch"] == 2
    del first
    resumed = shardmesh.Loader(gen_dataset, **kwargs)
    resumed.load_state_dict(state)
    assert head + loader_ids(resumed) == full
    # The encoded stream state alone works too.
    again = shardmesh.Loader(gen_dataset, **kwargs)
    again.load_state_dict(state["stream_state"])
    assert head + loader_ids(again) == full


def test_resume_into_a_different_world_size_is_refused(gen_dataset):
    state = shardmesh.Loader(gen_dataset, world_size=2, rank=0).state_dict()
    other = shardmesh.Loader(gen_dataset, world_size=4, rank=0)
    with pytest.raises(shardmesh.InvalidArgumentError, match="world_size"):
        other.load_state_dict(state)


def test_epochs_reorder_and_iteration_replays_until_set_epoch(gen_dataset):
    loader = shardmesh.Loader(gen_dataset, seed=1, batch_size=500, return_index=True)
    epoch0 = loader_ids(loader)
    assert loader_ids(loader) == epoch0  # exhausted: a new iteration replays epoch 0
    loader.set_epoch(1)
    epoch1 = loader_ids(loader)
    assert epoch1 != epoch0 and sorted(epoch1) == sorted(epoch0)
    assert loader.epoch == 1


def test_len_counts_batches(gen_dataset):
    loader = shardmesh.Loader(gen_dataset, world_size=4, rank=3, batch_size=100)
    assert loader.num_samples == 750
    assert len(loader) == 8
    assert sum(1 for _ in loader) == 8
    short = shardmesh.Loader(gen_dataset, world_size=4, rank=3, batch_size=100,
                             drop_last_batch=True)
    assert len(short) == 7 and sum(1 for _ in short) == 7


def test_next_sample_is_a_zero_copy_view_that_outlives_the_loader(gen_dataset):
    dataset = shardmesh.Dataset(gen_dataset)
    loader = shardmesh.Loader(dataset, seed=3, return_index=True)
    sample = loader.next_sample()
    features = sample["features"]
    assert not features.flags.writeable and not features.flags.owndata
    assert features.base is not None  # the decoded block's owner
    # Fields of one sample share the block, so they lie within a block-sized span.
    tokens = sample["tokens"]
    distance = abs(features.__array_interface__["data"][0] - tokens.__array_interface__["data"][0])
    assert distance < 8 * 1024 * 2
    expected = dataset[sample["__index__"]]
    del loader
    gc.collect()
    np.testing.assert_array_equal(features, expected["features"])
    assert sample["label"] == expected["label"]


def test_next_sample_and_next_batch_share_one_stream(gen_dataset):
    loader = shardmesh.Loader(gen_dataset, batch_size=10, return_index=True)
    reference = loader_ids(shardmesh.Loader(gen_dataset, batch_size=10, return_index=True))
    got = [loader.next_sample()["__index__"]] + loader.next_batch()["__index__"].tolist()
    assert got == reference[:11]


def test_world_size_and_rank_come_from_torchrun_then_slurm():
    assert shardmesh.world_from_env(environ={}) == (1, 0)
    assert shardmesh.world_from_env(environ={"WORLD_SIZE": "8", "RANK": "5"}) == (8, 5)
    assert shardmesh.world_from_env(environ={"SLURM_NTASKS": "4", "SLURM_PROCID": "2"}) == (4, 2)
    assert shardmesh.world_from_env(2, 1, environ={"WORLD_SIZE": "8", "RANK": "5"}) == (2, 1)
    with pytest.raises(shardmesh.InvalidArgumentError, match="rank 4"):
        shardmesh.world_from_env(environ={"WORLD_SIZE": "4", "RANK": "4"})


def test_world_size_and_rank_never_mix_launchers():
    slurm = {"SLURM_NTASKS": "4", "SLURM_PROCID": "2"}
    # An explicit world size takes the rank of the first launcher that sets one, named in
    # the error when it does not fit.
    with pytest.raises(shardmesh.InvalidArgumentError, match="SLURM_PROCID"):
        shardmesh.world_from_env(world_size=1, environ=slurm)
    assert shardmesh.world_from_env(world_size=4, environ=slurm) == (4, 2)
    # torchrun's WORLD_SIZE without its RANK is an error, not SLURM's rank.
    with pytest.raises(shardmesh.InvalidArgumentError, match="WORLD_SIZE is set but RANK"):
        shardmesh.world_from_env(environ={"WORLD_SIZE": "2", **slurm})
    assert shardmesh.world_from_env(environ={"WORLD_SIZE": "2", "RANK": "1", **slurm}) == (2, 1)
    # A plain sbatch batch step sets SLURM_PROCID=0 without SLURM_NTASKS: one process.
    assert shardmesh.world_from_env(environ={"SLURM_PROCID": "0"}) == (1, 0)
    with pytest.raises(shardmesh.InvalidArgumentError, match="SLURM_PROCID is set"):
        shardmesh.world_from_env(environ={"SLURM_PROCID": "3"})
    # A world size without any rank would make every process rank 0.
    with pytest.raises(shardmesh.InvalidArgumentError, match="world_size=4 was given without"):
        shardmesh.world_from_env(world_size=4, environ={})
    assert shardmesh.world_from_env(world_size=1, environ={}) == (1, 0)


def test_arguments_of_the_wrong_kind_are_named(gen_dataset):
    for name in ("drop_last", "drop_last_batch", "return_index"):
        with pytest.raises(TypeError, match=f"{name} must be True or False, got str 'no'"):
            shardmesh.Loader(gen_dataset, world_size=1, rank=0, **{name: "no"})
    # bytes paths are paths, for the loader and the dataset alike.
    loader = shardmesh.Loader(os.fsencode(gen_dataset), world_size=1, rank=0, batch_size=1000)
    assert loader.num_samples == GEN_SAMPLES
    assert shardmesh.Dataset(os.fsencode(gen_dataset)).num_samples == GEN_SAMPLES


def test_a_path_that_is_not_utf8_opens_and_is_named_in_errors(gen_dataset, tmp_path):
    odd = os.path.join(os.fsencode(str(tmp_path)), b"caf\xe9")  # a Latin-1 directory name
    os.symlink(os.fsencode(gen_dataset), odd)
    dataset = shardmesh.Dataset(odd)
    assert dataset.num_samples == GEN_SAMPLES and os.fsencode(dataset.path) == odd
    assert shardmesh.Loader(os.fsdecode(odd), world_size=1, rank=0).num_samples == GEN_SAMPLES
    with pytest.raises(shardmesh.NotFoundError, match=r"caf\\xe9-missing"):
        shardmesh.Dataset(odd + b"-missing")
    # len() near 2^64: ceil(N / batch_size) without wrapping round.
    huge = shardmesh.Loader(gen_dataset, world_size=1, rank=0, batch_size=(1 << 64) - 1)
    assert len(huge) == 1


def test_loader_reads_rank_from_environment(gen_dataset, monkeypatch):
    monkeypatch.setenv("WORLD_SIZE", "3")
    monkeypatch.setenv("RANK", "2")
    loader = shardmesh.Loader(gen_dataset, return_index=True)
    assert (loader.world_size, loader.rank) == (3, 2)
    assert loader.num_samples == 1000


def test_stats_report_the_work_done(gen_dataset):
    loader = shardmesh.Loader(gen_dataset, batch_size=1000)
    for _ in loader:
        pass
    stats = loader.stats()
    assert stats["samples_loaded"] == GEN_SAMPLES
    assert stats["blocks_decoded"] >= shardmesh.Dataset(gen_dataset).num_blocks
    assert stats["bytes_decompressed"] > stats["bytes_read"] > 0


def test_batches_inside_one_block_at_a_regular_stride_are_views(tmp_path):
    # Two samples per block and one partition: a 2-sample batch is often a whole block in
    # order, which can be exposed as a strided view instead of a copy.
    shardmesh.write_dataset(tmp_path / "d", ({"x": np.full(4, i, np.float32), "y": 7}
                                              for i in range(200)), block_bytes=40)
    loader = shardmesh.Loader(str(tmp_path / "d"), batch_size=2, partitions=1,
                              return_index=True)
    views, copies = [], 0
    for batch in loader:
        if batch["x"].flags.writeable:
            copies += 1
        else:
            assert batch["x"].base is not None
            views.append(batch)
    assert views and copies  # both paths taken
    del loader
    gc.collect()
    for batch in views:  # the views keep their blocks alive
        np.testing.assert_array_equal(batch["x"][:, 0], batch["__index__"])
        np.testing.assert_array_equal(batch["x"][:, 3], batch["__index__"])


def _in_forked_child(work, timeout=30):
    """Runs work() in a child made by os.fork() and returns what it wrote to a pipe (its error
    or "ok"); the child is killed if it takes longer than `timeout` seconds (a hang)."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report, then leave without running the parent's cleanup
        os.close(read_end)
        try:
            result = work()
        except BaseException as error:  # noqa: BLE001 - the report is the point
            result = f"{type(error).__name__}: {error}"
        os.write(write_end, result.encode())
        os._exit(0)
    os.close(write_end)
    deadline = time.monotonic() + timeout
    while os.waitpid(pid, os.WNOHANG) == (0, 0):
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            os.close(read_end)
            pytest.fail("the forked child hung")
        time.sleep(0.01)
    with os.fdopen(read_end, "rb") as pipe:
        return pipe.read().decode()


def test_a_loader_used_after_fork_raises_instead_of_hanging(gen_dataset):
    holder = [shardmesh.Loader(gen_dataset, world_size=1, rank=0, batch_size=100)]
    assert len(next(iter(holder[0]))["label"]) == 100  # prefetch threads running

    report = _in_forked_child(lambda: str(holder[0].next_batch()))
    assert report.startswith("FailedPreconditionError: shardmesh.Loader was created in process "
                             f"{os.getpid()}"), report
    assert "create it in the process that uses it" in report

    def destroy():
        holder.clear()  # the child's only reference: the destructor runs here
        gc.collect()
        return "ok"

    assert _in_forked_child(destroy) == "ok"  # no join of threads the child does not have
    assert len(holder[0].next_batch()["label"]) == 100  # the parent's loader is untouched


_INTERRUPTED_READER = r"""
import signal, sys, threading, time
import shardmesh

class Stop(Exception):
    pass

def handler(signum, frame):
    # Like Ctrl-C, but raised only in the loop or in Python code of the loader, never in
    # the driver below (whose own bookkeeping is not under test).
    if frame is not None and frame.f_code.co_name in ("consume", "__next__"):
        raise Stop

signal.signal(signal.SIGUSR1, handler)
loader = shardmesh.Loader(sys.argv[1], world_size=1, rank=0, batch_size=5, return_index=True,
                          prefetch_blocks=1)
got = []

def consume():
    for batch in loader:
        got.append(batch)  # one call: the signal is checked after it, never halfway

done = threading.Event()

def fire():
    while not done.is_set():
        signal.pthread_kill(threading.main_thread().ident, signal.SIGUSR1)
        time.sleep(0.0002)

threading.Thread(target=fire, daemon=True).start()
# Epoch after epoch until the loop has been interrupted often enough (a loaded machine may
# schedule the signalling thread late); every epoch must arrive whole.
stops, epochs, incomplete = 0, 0, 0
while stops < 20 and epochs < 500:
    loader.set_epoch(epochs)
    got.clear()
    while True:
        try:
            consume()
            break
        except Stop:
            stops += 1
            if loader.position == loader.num_samples:
                break  # stopped after the last batch: iterating again would replay the epoch
    ids = [i for batch in got for i in batch["__index__"].tolist()]
    incomplete += sorted(ids) != list(range(loader.dataset.num_samples))
    epochs += 1
done.set()
print(stops, epochs, incomplete)
"""


def test_an_interrupt_during_iteration_never_loses_a_batch(gen_dataset):
    """A signal raising an exception while the loader reads (Ctrl-C) is raised in the loop
    body after the batch arrived: iterating again continues after it. With __next__ in
    Python, the exception came after the read and before the loop variable, and the batch,
    counted in the position, was gone."""
    out = subprocess.run([sys.executable, "-c", _INTERRUPTED_READER, gen_dataset],
                         capture_output=True, text=True, timeout=120,
                         env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    assert out.returncode == 0, out.stderr
    stops, epochs, incomplete = map(int, out.stdout.split())
    assert stops > 0  # the loop was interrupted
    assert incomplete == 0, f"{incomplete} of {epochs} epochs lost samples to {stops} stops"
