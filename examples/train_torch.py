#!/usr/bin/python3
"""A tiny training loop on shardmesh: write a dataset from Python, stream it as torch batches,
fit a linear classifier for a few epochs. Runs in seconds:

    PYTHONPATH=build/release/python /usr/bin/python3 examples/train_torch.py
Under torchrun every rank reads its own share (RANK / WORLD_SIZE are picked up automatically).
"""
import tempfile

import numpy as np
import torch
from torch.utils.data import DataLoader

import shardmesh
from shardmesh.torch import ShardMeshDataset


def make_samples(n, dim=16, classes=4, seed=0):
    """Gaussian blobs: class c is centred on a random point, so a linear model can learn it."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((classes, dim)).astype(np.float32) * 3
    for _ in range(n):
        label = int(rng.integers(classes))
        features = centres[label] + rng.standard_normal(dim).astype(np.float32)
        yield {"features": features, "label": label}


def main():
    torch.manual_seed(0)
    with tempfile.TemporaryDirectory() as tmp:
        shardmesh.write_dataset(f"{tmp}/train", make_samples(4000), label_field="label",
                                samples_per_shard=1000)
        dataset = ShardMeshDataset(f"{tmp}/train", batch_size=64, seed=1)
        loader = DataLoader(dataset, batch_size=None, num_workers=0)
        model = torch.nn.Linear(16, 4)
        optimizer = torch.optim.SGD(model.parameters(), lr=0.05)
        for epoch in range(3):
            dataset.set_epoch(epoch)
            total_loss, correct, seen = 0.0, 0, 0
            for batch in loader:
                logits = model(batch["features"])
                loss = torch.nn.functional.cross_entropy(logits, batch["label"])
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                total_loss += loss.item() * len(batch["label"])
                correct += (logits.argmax(1) == batch["label"]).sum().item()
                seen += len(batch["label"])
            print(f"epoch {epoch}: samples={seen} loss={total_loss / seen:.3f} "
                  f"accuracy={correct / seen:.3f}")
            dataset.commit()  # no-op in static mode; the place a mesh job records its cursor


if __name__ == "__main__":
    main()
