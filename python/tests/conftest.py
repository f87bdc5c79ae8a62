"""Shared fixtures: the `shardmesh` CLI (the reference the bindings are checked against) and
small generated datasets.

The CLI is $SHARDMESH_CLI, else the binary recorded by the build next to the extension
(shardmesh/cli_path.txt). Run with Debian's python3 and the built package on the path:
    PYTHONPATH=<build>/python /usr/bin/python3 -m pytest -q python/tests
"""
import os
import subprocess

import pytest

import shardmesh

# Small blocks so that even a few thousand samples span dozens of blocks and several shards.
GEN_SAMPLES = 3000
GEN_ARGS = ["--samples", str(GEN_SAMPLES), "--shards", "3", "--feature-dim", "8", "--seq-len",
            "4", "--classes", "5", "--block-kib", "8", "--seed", "3"]


def find_cli():
    path = os.environ.get("SHARDMESH_CLI")
    if not path:
        recorded = os.path.join(os.path.dirname(shardmesh.__file__), "cli_path.txt")
        if os.path.exists(recorded):
            with open(recorded) as f:
                path = f.read().strip()
    if not path or not os.access(path, os.X_OK):
        pytest.fail("shardmesh CLI not found: build the `shardmesh` target or set SHARDMESH_CLI")
    return path


@pytest.fixture(scope="session")
def cli():
    return find_cli()


def generate(cli, directory, extra=()):
    subprocess.run([cli, "gen", "--out", str(directory), *GEN_ARGS, *extra], check=True,
                   stdout=subprocess.DEVNULL)
    return str(directory)


@pytest.fixture(scope="session")
def gen_dataset(cli, tmp_path_factory):
    """A synthetic dataset written by `shardmesh gen` (features float32[8], tokens uint32[4],
    label int64), 3000 samples in 3 shards of many small blocks."""
    return generate(cli, tmp_path_factory.mktemp("gen") / "data")


def cli_ids(cli, dataset, *args):
    """Global indices `shardmesh read --ids` delivers, in order."""
    out = subprocess.run([cli, "read", dataset, "--ids", *map(str, args)], check=True,
                         capture_output=True, text=True).stdout
    return [int(line) for line in out.split()]


def loader_ids(loader):
    """Global indices of every batch the loader yields (it must have return_index=True)."""
    ids = []
    for batch in loader:
        ids.extend(batch["__index__"].tolist())
    return ids
