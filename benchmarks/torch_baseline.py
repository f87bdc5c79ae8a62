#!/usr/bin/python3
"""PyTorch baseline for `shardmesh read --bench`: DataLoader + DistributedSampler over NumPy
memmaps of the same samples, num_workers 0, batch 256. Prints one line with samples/s.

Export a dataset first (fixed-shape tensor and int64 fields become <field>.npy):
    shardmesh read DATASET --export-npy NPY_DIR
    /usr/bin/python3 benchmarks/torch_baseline.py NPY_DIR --world-size 1 --rank 0
Run with Debian's /usr/bin/python3 (it has torch and numpy). No process group is needed:
DistributedSampler takes num_replicas and rank directly.
"""
import argparse
import glob
import os
import sys
import time

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, DistributedSampler


class MemmapDataset(Dataset):
    """Every <field>.npy of a directory, memory-mapped; a sample is a dict of tensors."""

    def __init__(self, directory):
        paths = sorted(glob.glob(os.path.join(directory, "*.npy")))
        if not paths:
            sys.exit(f"torch_baseline: no .npy files in {directory} (run read --export-npy)")
        self.arrays = {os.path.basename(p)[:-4]: np.load(p, mmap_mode="r") for p in paths}
        for name, a in self.arrays.items():
            # torch has no uint32 tensors; token ids are < 2**31, so reinterpret (no copy).
            if a.dtype == np.uint32:
                self.arrays[name] = a.view(np.int32)
        lengths = {len(a) for a in self.arrays.values()}
        if len(lengths) != 1:
            sys.exit(f"torch_baseline: fields disagree on the sample count: {lengths}")
        self.length = lengths.pop()

    def __len__(self):
        return self.length

    def __getitem__(self, i):
        # np.array copies out of the memmap (what a real pipeline does before collation).
        return {name: torch.from_numpy(np.array(a[i])) for name, a in self.arrays.items()}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("npy_dir")
    parser.add_argument("--world-size", type=int, default=1)
    parser.add_argument("--rank", type=int, default=0)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--epoch", type=int, default=0)
    parser.add_argument("--limit", type=int, default=0, help="stop after this many samples")
    args = parser.parse_args()

    torch.set_num_threads(1)
    dataset = MemmapDataset(args.npy_dir)
    sampler = DistributedSampler(dataset, num_replicas=args.world_size, rank=args.rank,
                                 shuffle=True, seed=args.seed)
    sampler.set_epoch(args.epoch)
    loader = DataLoader(dataset, batch_size=args.batch_size, sampler=sampler, num_workers=0)

    samples = 0
    checksum = 0
    start = time.perf_counter()
    for batch in loader:
        n = len(next(iter(batch.values())))
        samples += n
        # Touch every field so nothing is skipped (the C++ bench reads one byte of each).
        for value in batch.values():
            checksum += int(value.reshape(n, -1)[:, 0].sum().item()) & 0xff
        if args.limit and samples >= args.limit:
            break
    seconds = time.perf_counter() - start
    print(f"torch-baseline: samples={samples} seconds={seconds:.3f} "
          f"samples/s={samples / seconds:.0f} world_size={args.world_size} rank={args.rank} "
          f"batch={args.batch_size} num_workers=0 checksum={checksum % 1000}")


if __name__ == "__main__":
    main()
