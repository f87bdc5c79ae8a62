"""Variable-shape tensor fields through DataLoader workers: samples/s with num_workers 0 (the
baseline, same run) and 2. Each sample holds a token list of 1-50 int32 values.

    PYTHONPATH=build/python/python /usr/bin/python3 benchmarks/varlen_workers.py [--samples N]
"""
import argparse
import os
import tempfile
import time

import numpy as np
from torch.utils.data import DataLoader

import shardmesh
from shardmesh.torch import ShardMeshDataset


def rate(path, batch_size, num_workers):
    start, n = time.perf_counter(), 0
    ds = ShardMeshDataset(path, batch_size=batch_size, num_workers=num_workers)
    for batch in DataLoader(ds, batch_size=None, num_workers=num_workers):
        n += len(batch["tok"])
    return n / (time.perf_counter() - start)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--samples", type=int, default=200_000)
    parser.add_argument("--batch-size", type=int, default=256)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "varlen")
        shardmesh.write_dataset(path, ({"tok": np.arange(i % 50 + 1, dtype=np.int32), "y": i}
                                       for i in range(args.samples)),
                                schema={"tok": ("int32", [-1]), "y": "int64"})
        base = rate(path, args.batch_size, 0)
        two = rate(path, args.batch_size, 2)
        print(f"samples={args.samples} batch={args.batch_size} num_workers=0: {base:.0f}/s "
              f"num_workers=2: {two:.0f}/s ratio={two / base:.2f}")
