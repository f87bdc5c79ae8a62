#!/usr/bin/python3
"""ShardMeshDataset vs DataLoader + DistributedSampler over NumPy memmaps, same samples, one run.

Generates a synthetic dataset (`shardmesh gen`: features float32[256], tokens uint32[128],
label int64), exports the same samples to one .npy memmap per field, then streams this rank's
share of one epoch, batch 256, through:
  torch   DataLoader(MemmapDataset, sampler=DistributedSampler, num_workers=0 and 2)
  shardmesh DataLoader(ShardMeshDataset, batch_size=None, num_workers=0 and 2)
and prints samples/s for each and the ratio of the best shardmesh to the best torch figure.

    PYTHONPATH=build/release/python /usr/bin/python3 benchmarks/torch_vs_shardmesh.py \
        --samples 100000 --workdir /tmp/sm-bench
Needs Debian's /usr/bin/python3 (torch, numpy) and the built shardmesh package and CLI.
"""
import argparse
import os
import subprocess
import sys
import time

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, DistributedSampler

import shardmesh
from shardmesh.torch import ShardMeshDataset


class MemmapDataset(Dataset):
    """One memory-mapped .npy per field; a sample is a dict of tensors (copied out of the
    memmap, as a real pipeline does before collation)."""

    def __init__(self, arrays):
        self.arrays = arrays
        self.length = len(next(iter(arrays.values())))

    def __len__(self):
        return self.length

    def __getitem__(self, i):
        return {name: torch.from_numpy(np.array(a[i])) for name, a in self.arrays.items()}


def find_cli(explicit):
    if explicit:
        return explicit
    recorded = os.path.join(os.path.dirname(shardmesh.__file__), "cli_path.txt")
    if os.path.exists(recorded):
        with open(recorded) as f:
            return f.read().strip()
    sys.exit("torch_vs_shardmesh: pass --cli (the shardmesh binary)")


def export_memmaps(dataset_dir, npy_dir):
    """Every fixed-shape field of the dataset as <field>.npy, row i = sample i."""
    dataset = shardmesh.Dataset(dataset_dir)
    os.makedirs(npy_dir, exist_ok=True)
    arrays = {}
    for field in dataset.schema:
        if field["type"] == "int64":
            dtype, shape = np.int64, ()
        elif field["type"] == "tensor" and -1 not in field["shape"]:
            dtype, shape = np.dtype(field["dtype"]), tuple(field["shape"])
            # torch 1.13 has no uint32: store what the torch pipeline would feed the model.
            if dtype == np.uint32:
                dtype = np.int64
        else:
            continue
        arrays[field["name"]] = np.lib.format.open_memmap(
            os.path.join(npy_dir, field["name"] + ".npy"), mode="w+", dtype=dtype,
            shape=(dataset.num_samples, *shape))
    loader = shardmesh.Loader(dataset, world_size=1, rank=0, batch_size=4096, return_index=True)
    for batch in loader:
        index = batch["__index__"]
        for name, array in arrays.items():
            array[index] = batch[name]
    for array in arrays.values():
        array.flush()
    return {name: np.load(os.path.join(npy_dir, name + ".npy"), mmap_mode="r")
            for name in arrays}


def consume(iterable):
    """Samples seen, seconds, and an order-independent checksum (sum of the first element of
    every integer field) that equals across pipelines delivering the same samples. Touches
    every tensor field of every batch so nothing is skipped."""
    samples = 0
    checksum = 0
    start = time.perf_counter()
    for batch in iterable:
        n = len(batch["label"])
        samples += n
        for value in batch.values():
            if isinstance(value, torch.Tensor):
                first = value.reshape(n, -1)[:, 0]
                checksum += int(first.sum().item()) if not first.is_floating_point() else 0
    return samples, time.perf_counter() - start, checksum


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--samples", type=int, default=100000)
    parser.add_argument("--workdir", default="/tmp/shardmesh-torch-bench")
    parser.add_argument("--cli", default="")
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--world-size", type=int, default=1)
    parser.add_argument("--rank", type=int, default=0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", default="0,2", help="num_workers values to run")
    args = parser.parse_args()
    torch.set_num_threads(1)

    data = os.path.join(args.workdir, f"data-{args.samples}")
    if not os.path.exists(os.path.join(data, "manifest.json")):
        subprocess.run([find_cli(args.cli), "gen", "--out", data, "--samples", str(args.samples),
                        "--shards", "8", "--seed", "7"], check=True, stdout=subprocess.DEVNULL)
    t0 = time.perf_counter()
    arrays = export_memmaps(data, os.path.join(args.workdir, f"npy-{args.samples}"))
    print(f"exported {args.samples} samples to memmaps in {time.perf_counter() - t0:.1f}s",
          flush=True)

    results = {}
    for num_workers in [int(w) for w in args.workers.split(",")]:
        memmap = MemmapDataset(arrays)
        sampler = DistributedSampler(memmap, num_replicas=args.world_size, rank=args.rank,
                                     shuffle=True, seed=args.seed)
        loader = DataLoader(memmap, batch_size=args.batch_size, sampler=sampler,
                            num_workers=num_workers)
        samples, seconds, checksum = consume(loader)
        results[("torch", num_workers)] = samples / seconds
        print(f"torch-memmap+DistributedSampler num_workers={num_workers}: samples={samples} "
              f"seconds={seconds:.3f} samples/s={samples / seconds:.0f} checksum={checksum}",
              flush=True)

        ds = ShardMeshDataset(data, world_size=args.world_size, rank=args.rank, seed=args.seed,
                              batch_size=args.batch_size)
        loader = DataLoader(ds, batch_size=None, num_workers=num_workers)
        samples, seconds, checksum = consume(loader)
        results[("shardmesh", num_workers)] = samples / seconds
        print(f"shardmesh ShardMeshDataset num_workers={num_workers}: samples={samples} "
              f"seconds={seconds:.3f} samples/s={samples / seconds:.0f} checksum={checksum}",
              flush=True)

    for num_workers in sorted({w for _, w in results}):
        ratio = results[("shardmesh", num_workers)] / results[("torch", num_workers)]
        print(f"ratio num_workers={num_workers}: {ratio:.2f}x")
    best_torch = max(v for (k, _), v in results.items() if k == "torch")
    best_shardmesh = max(v for (k, _), v in results.items() if k == "shardmesh")
    print(f"torch-vs-shardmesh: samples={args.samples} batch={args.batch_size} "
          f"world_size={args.world_size} best_torch_samples/s={best_torch:.0f} "
          f"best_shardmesh_samples/s={best_shardmesh:.0f} ratio={best_shardmesh / best_torch:.2f}x "
          f"goal=4x")


if __name__ == "__main__":
    main()
