"""Mesh mode from Python: MeshLoader and shardmesh.torch.MeshDataset, two or three mesh workers
in this process on 127.0.0.1, checked against the static loader for content."""
import threading

import numpy as np
import pytest
import torch

import shardmesh
import shardmesh.torch as smt

from conftest import GEN_SAMPLES

# Short timings (the Local profile) so an epoch starts within a fraction of a second.
COMMON = dict(min_members=2, settle="200ms", partitions=16, log_level="warn", batch_size=64,
              return_index=True)


def start_pair(gen_dataset, tmp_path, **extra):
    a = shardmesh.MeshLoader(name="a", data_dir=str(tmp_path / "a"), dataset=gen_dataset,
                             **COMMON, **extra)
    b = shardmesh.MeshLoader(name="b", data_dir=str(tmp_path / "b"), seeds=[a.endpoint],
                             **COMMON, **extra)
    return a, b


def consume(loader, epoch, out, commit=True, stop_after=None):
    """Appends (index, features row) of every delivered sample to out[loader.name]."""
    got = out.setdefault(loader.name, [])
    for batch in loader.epoch(epoch):
        for i, row in zip(batch["__index__"].tolist(), batch["features"]):
            got.append((i, np.array(row)))
        if commit:
            loader.commit()
        if stop_after is not None and len(got) >= stop_after:
            return


def run_threads(*calls):
    errors = []

    def wrap(fn, args):
        try:
            fn(*args)
        except BaseException as e:  # surfaced below
            errors.append(e)

    threads = [threading.Thread(target=wrap, args=c) for c in calls]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
        assert not t.is_alive(), "a mesh worker hangs"
    if errors:
        raise errors[0]


def reference_features(gen_dataset):
    ref = {}
    for batch in shardmesh.Loader(gen_dataset, world_size=1, rank=0, return_index=True):
        for i, row in zip(batch["__index__"].tolist(), batch["features"]):
            ref[i] = np.array(row)
    return ref


def test_two_workers_deliver_every_sample_once_with_the_static_loaders_contents(gen_dataset,
                                                                             tmp_path):
    a, b = start_pair(gen_dataset, tmp_path)
    out = {}
    run_threads((consume, (a, 0, out)), (consume, (b, 0, out)))
    ids = [i for name in out for i, _ in out[name]]
    assert len(ids) == GEN_SAMPLES and set(ids) == set(range(GEN_SAMPLES))
    assert out["a"] and out["b"], "both workers read a share"
    ref = reference_features(gen_dataset)
    for name in out:
        for i, row in out[name]:
            np.testing.assert_array_equal(row, ref[i])
    stats = a.stats()
    assert stats["samples_delivered"] == len(out["a"])
    assert stats["local_samples"] + stats["remote_samples"] == len(out["a"])
    assert stats["commits"] > 0
    # The next epoch: the same samples, another order.
    out1 = {}
    run_threads((consume, (a, 1, out1)), (consume, (b, 1, out1)))
    ids1 = [i for name in out1 for i, _ in out1[name]]
    assert sorted(ids1) == list(range(GEN_SAMPLES)) and ids1 != ids
    a.leave()
    b.leave()
    with pytest.raises(shardmesh.FailedPreconditionError, match="has left the mesh"):
        a.next_batch()


def test_commit_bounds_what_a_takeover_replays(gen_dataset, tmp_path):
    a, b = start_pair(gen_dataset, tmp_path, read_deadline="5s")
    out = {}
    # b reads part of its share, commits after every batch, then is dropped without leave().
    run_threads((consume, (b, 0, out, True, 300)),)
    del b
    consume(a, 0, out)
    ids = [i for name in out for i, _ in out[name]]
    assert set(ids) == set(range(GEN_SAMPLES)), "no sample of the epoch is lost"
    assert len(ids) == len(set(ids)), "b committed after every batch: nothing is replayed"
    assert a.stats()["partitions_taken_over"] > 0
    a.leave()


def test_commit_every_makes_the_loader_commit_by_itself(gen_dataset, tmp_path):
    """commit_every=N given to MeshLoader commits, at each next_batch, the batches returned
    before it (it was accepted and ignored, so a worker that never called commit() had
    everything replayed)."""
    a, b = start_pair(gen_dataset, tmp_path, read_deadline="5s", commit_every=64)
    out = {}
    run_threads((consume, (b, 0, out, False, 640)),)  # 10 batches, no explicit commit at all
    assert b.stats()["commits"] >= 9  # at each of the 9 next_batch calls after the first
    b.leave()
    a.leave()


def test_stats_does_not_freeze_python_while_another_thread_waits(gen_dataset, tmp_path):
    """A thread blocked in start_epoch (waiting for a second member) holds the job's lock: other
    threads' stats()/first_epoch must not wait for it holding the GIL (that froze every Python
    thread until the wait ended)."""
    import time
    alone = shardmesh.MeshLoader(name="alone", data_dir=str(tmp_path / "alone"),
                                 dataset=gen_dataset, **dict(COMMON, start_timeout="4s"))
    waiter = threading.Thread(target=lambda: pytest.raises(shardmesh.Error, alone.start_epoch, 0))
    waiter.start()
    time.sleep(0.5)  # the waiter is inside start_epoch by now
    ticks = []
    ticker = threading.Thread(target=lambda: [ticks.append(time.monotonic()) or time.sleep(0.05)
                                              for _ in range(20)])
    ticker.start()
    t0 = time.monotonic()
    alone.stats()
    first = alone.first_epoch
    elapsed = time.monotonic() - t0
    ticker.join(timeout=30)
    waiter.join(timeout=30)
    assert not waiter.is_alive()
    assert first == 0
    gaps = [b - a for a, b in zip(ticks, ticks[1:])]
    assert max(gaps) < 1.0, f"Python froze for {max(gaps):.1f} s (stats took {elapsed:.1f} s)"
    alone.leave()


def test_starting_the_next_epoch_before_this_one_is_read_is_refused(gen_dataset, tmp_path):
    """Breaking out of an epoch and starting the next one lost the rest of this worker's share
    and kept its peer waiting for the epoch's end (10 minutes by default)."""
    a, b = start_pair(gen_dataset, tmp_path, read_deadline="5s")
    out = {}
    run_threads((consume, (b, 0, out, True, 300)),)  # b stops after about 300 samples
    with pytest.raises(shardmesh.FailedPreconditionError, match="epoch 0 is not finished here"):
        b.start_epoch(1)
    # epoch(0) again continues where b stopped: with a's share, the epoch is complete once.
    run_threads((consume, (a, 0, out)), (consume, (b, 0, out)))
    ids = [i for name in out for i, _ in out[name]]
    assert sorted(ids) == list(range(GEN_SAMPLES))
    a.leave()
    b.leave()


def test_a_member_with_another_plan_fails_the_epoch_naming_it(gen_dataset, tmp_path):
    """Workers with different seeds used to warn, deliver conflicting shares (a quarter of the
    samples twice, as many lost) and then wait out epoch_end_timeout."""
    a = shardmesh.MeshLoader(name="a", data_dir=str(tmp_path / "a"), dataset=gen_dataset,
                             **COMMON)
    b = shardmesh.MeshLoader(name="b", data_dir=str(tmp_path / "b"), seeds=[a.endpoint],
                             **dict(COMMON, seed=5))
    errors = {}

    def first_batch(loader, other):
        try:
            for _ in loader.epoch(0):
                pass
        except shardmesh.FailedPreconditionError as e:
            errors[loader.name] = str(e)

    run_threads((first_batch, (a, "b")), (first_batch, (b, "a")))
    assert "member b runs another plan" in errors.get("a", ""), errors
    assert "member a runs another plan" in errors.get("b", ""), errors
    a.leave()
    b.leave()


def test_a_member_restarted_with_the_right_plan_is_no_longer_foreign(gen_dataset, tmp_path):
    """b ran another seed and failed a's epoch; b restarted under the same name with the job's
    plan clears the mark (its progress matches again), and the epoch completes exactly once."""
    a = shardmesh.MeshLoader(name="a", data_dir=str(tmp_path / "a"), dataset=gen_dataset,
                             **COMMON)
    b = shardmesh.MeshLoader(name="b", data_dir=str(tmp_path / "b"), seeds=[a.endpoint],
                             **dict(COMMON, seed=5))
    out = {}

    def until_foreign(loader):
        try:
            consume(loader, 0, out)
        except shardmesh.FailedPreconditionError as e:
            assert "runs another plan" in str(e)

    run_threads((until_foreign, (a,)), (until_foreign, (b,)))
    first_a = [i for i, _ in out.get("a", [])]
    b.leave()
    b2 = shardmesh.MeshLoader(name="b", data_dir=str(tmp_path / "b2"), seeds=[a.endpoint],
                              **COMMON)
    out = {}
    run_threads((consume, (a, 0, out)), (consume, (b2, 0, out)))
    ids = first_a + [i for name in out for i, _ in out[name]]
    assert sorted(ids) == list(range(GEN_SAMPLES))
    a.leave()
    b2.leave()


_INTERRUPTED_MAIN = """
import signal, sys, time
import shardmesh
# As in a terminal (a test runner started in the background has SIGINT ignored, inherited).
signal.signal(signal.SIGINT, signal.default_int_handler)
loader = shardmesh.MeshLoader(name="solo", data_dir=sys.argv[1], dataset=sys.argv[2],
                              min_members=2, start_timeout="60s", log_level="error")
print("waiting", flush=True)
t0 = time.monotonic()
try:
    loader.start_epoch(0)  # never settles: a second member never comes
except KeyboardInterrupt:
    print(f"interrupted after {time.monotonic() - t0:.1f} s", flush=True)
    loader.leave()
    sys.exit(3)
"""


def test_ctrl_c_ends_a_mesh_wait_promptly(gen_dataset, tmp_path):
    """SIGINT during start_epoch raised KeyboardInterrupt only after start_timeout (the wait
    runs in C++ without the GIL)."""
    import os
    import signal
    import subprocess
    import sys
    import time
    script = tmp_path / "main.py"
    script.write_text(_INTERRUPTED_MAIN)
    child = subprocess.Popen([sys.executable, str(script), str(tmp_path / "solo"), gen_dataset],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             env=dict(os.environ))
    try:
        assert child.stdout.readline().strip() == "waiting"
        time.sleep(1.0)
        child.send_signal(signal.SIGINT)
        out, err = child.communicate(timeout=15)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert child.returncode == 3, (out, err)
    assert "interrupted after" in out


def test_bad_batch_size_and_epoch_are_named(tmp_path):
    with pytest.raises(TypeError, match="batch_size must be an integer"):
        shardmesh.MeshLoader(name="x", data_dir=str(tmp_path / "x"), batch_size=2.7)
    with pytest.raises(shardmesh.InvalidArgumentError, match="batch_size must be in"):
        shardmesh.MeshLoader(name="x", data_dir=str(tmp_path / "x"), batch_size=0)


def test_bad_config_raises_clear_errors(tmp_path):
    with pytest.raises(shardmesh.InvalidArgumentError, match="data_dir"):
        shardmesh.MeshLoader(name="x")
    with pytest.raises(shardmesh.InvalidArgumentError, match="no_such_key"):
        shardmesh.MeshLoader(name="x", data_dir=str(tmp_path / "x"), no_such_key=1)
    with pytest.raises(shardmesh.InvalidArgumentError, match="replication"):
        shardmesh.MeshLoader(name="x", data_dir=str(tmp_path / "x"), replication="two")
    with pytest.raises(shardmesh.InvalidArgumentError,
                       match="key 'name': expected a string, got a list"):  # was "a,b"
        shardmesh.MeshLoader(name=["a", "b"], data_dir=str(tmp_path / "x"))
    bad = tmp_path / "bad.toml"
    bad.write_text("name = \"x\"\nvnodes = \"many\"\n")
    with pytest.raises(shardmesh.InvalidArgumentError, match="vnodes"):
        shardmesh.MeshLoader(bad, data_dir=str(tmp_path / "x"))
    with pytest.raises(shardmesh.NotFoundError):
        shardmesh.MeshLoader(tmp_path / "missing.toml", name="x", data_dir=str(tmp_path / "x"))


def test_config_file_and_torch_dataset(gen_dataset, tmp_path):
    config = tmp_path / "solo.toml"
    config.write_text(f'name = "solo"\ndata_dir = "{tmp_path / "solo"}"\n'
                      f'dataset = "{gen_dataset}"\npartitions = 16\nsettle = "100ms"\n'
                      'log_level = "warn"\n')
    ds = smt.MeshDataset(config, batch_size=100, return_index=True)
    seen = []
    for batch in torch.utils.data.DataLoader(ds, batch_size=None, num_workers=0):
        assert isinstance(batch["features"], torch.Tensor)
        assert batch["features"].shape[1:] == (8,)
        seen.extend(batch["__index__"].tolist())
        ds.commit()
    assert sorted(seen) == list(range(GEN_SAMPLES))
    state = ds.state_dict()
    assert state["epoch"] == 0 and isinstance(state["stream_state"], bytes)
    assert state["position"] == GEN_SAMPLES  # mesh mode: the epoch's cursors summed
    with pytest.raises(Exception, match="num_workers=0"):
        next(iter(torch.utils.data.DataLoader(ds, batch_size=None, num_workers=1)))
    ds.leave()
