"""No leak over many epochs: resident memory stays flat once the allocator has warmed up."""
import os

import numpy as np

import shardmesh
import shardmesh.torch as smt


def rss_bytes():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def test_rss_is_steady_over_100_epochs(tmp_path):
    rng = np.random.default_rng(0)
    shardmesh.write_dataset(
        tmp_path / "d",
        ({"x": rng.standard_normal(64).astype(np.float32), "y": i, "s": str(i)}
         for i in range(2000)),
        block_bytes=16 * 1024, samples_per_shard=700)
    loader = shardmesh.Loader(str(tmp_path / "d"), batch_size=128, return_index=True)
    ds = smt.ShardMeshDataset(str(tmp_path / "d"), world_size=1, rank=0, batch_size=128)

    def one_epoch(epoch):
        loader.set_epoch(epoch)
        # The zero-copy per-sample path: views hold their block through a capsule, which must
        # let go of it once the views are gone.
        views = [loader.next_sample()["x"] for _ in range(300)]
        total = len(views)
        del views
        for batch in loader:
            total += len(batch["y"])
        assert loader.next_sample() is None
        ds.set_epoch(epoch)
        for batch in ds:
            total += batch["x"].shape[0]
        assert total == 4000
        loader.state_dict()

    for epoch in range(10):  # warm-up: allocator pools, prefetch buffers, lazy imports
        one_epoch(epoch)
    before = rss_bytes()
    for epoch in range(10, 110):
        one_epoch(epoch)
    after = rss_bytes()
    print(f"rss after warm-up {before / 2**20:.1f} MiB, after 100 more epochs {after / 2**20:.1f} MiB")
    # 100 epochs move ~60 MB of decoded data through the loader; a per-batch or per-block leak
    # of even one small object per block would exceed this.
    assert after - before < 4 * 1024 * 1024, (before, after)
