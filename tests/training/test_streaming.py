"""Training from WebDataset shards: ranges per (rank, worker), exact resume, 2 gloo ranks, Lightning, bad records."""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from unibind.datasets import write_shapes_dataset
from unibind.datasets.shard_writer import write_shards
from unibind.datasets.shards import open_shards
from unibind.modalities import ImageSpec, InputError, TextSpec
from unibind.training.streaming import ShardStream, StreamingLoader, stream_ranges

SPECS = {"image": ImageSpec(32), "text": TextSpec()}


@pytest.fixture(scope="module")
def shards(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """50 items of the shapes corpus in 7 shards of up to 8 samples, one item with an undecodable image."""
    root = tmp_path_factory.mktemp("corpus")
    write_shapes_dataset(root, {"train": 3}, size=32, seed=4)  # 48 items
    (root / "images" / "broken.png").write_bytes(b"not a png")
    with (root / "train.jsonl").open("a") as manifest:
        manifest.write(json.dumps({"id": "broken", "image": "images/broken.png", "text": "a broken image"}) + "\n")
        manifest.write(json.dumps({"id": "words", "text": ["only a caption"]}) + "\n")
    out = root / "shards"
    write_shards(root / "train.jsonl", out, ["image", "text"], samples_per_shard=8, progress=False)
    return out


def ids_of(batches: list[dict]) -> list[str]:
    return [i for batch in batches for i in batch["ids"]]


def test_ranges_cover_every_record_once_or_equal_whole_batches() -> None:
    counts, order = [8, 8, 3, 8], [2, 0, 3, 1]
    covering = stream_ranges(counts, order, streams=3, batch_size=4, drop_last=False)
    records = [(r.shard, p) for parts in covering for r in parts for p in range(r.start, r.stop)]
    assert sorted(records) == sorted((s, p) for s in range(4) for p in range(counts[s]))
    assert [sum(r.stop - r.start for r in parts) for parts in covering] == [9, 9, 9]
    assert covering[0][0].shard == 2  # in the given order
    training = stream_ranges(counts, order, streams=3, batch_size=4, drop_last=True)
    assert [sum(r.stop - r.start for r in parts) for parts in training] == [8, 8, 8]
    with_rest = [(r.shard, p) for parts in training for r in parts for p in range(r.start, r.stop)]
    assert len(set(with_rest)) == 24


@pytest.mark.parametrize("workers", [0, 2])
def test_an_epoch_reads_every_item_once_and_counts_the_bad_one(shards: Path, workers: int) -> None:
    shard_set = open_shards(shards)
    loader = StreamingLoader(ShardStream(shard_set, SPECS, 8, train=False, on_error="skip"), workers)
    batches = list(loader)
    assert len(batches) == len(loader)
    manifest = [json.loads(line)["id"] for line in (shards.parent / "train.jsonl").read_text().splitlines()]
    assert sorted(ids_of(batches)) == sorted(i for i in manifest if i != "broken")
    assert sum(batch["skipped"] for batch in batches) == 1  # the undecodable image
    assert len(batches[0]["inputs"]["image"]) == len(batches[0]["present"]["image"])


def test_a_bad_record_is_named_when_not_skipped(shards: Path) -> None:
    loader = StreamingLoader(ShardStream(open_shards(shards), SPECS, 8, train=False))
    with pytest.raises(InputError, match=r"shard-\d+\.tar, sample \d+ \(id broken\), image"):
        list(loader)


@pytest.mark.parametrize("workers", [0, 2])
@pytest.mark.parametrize("done", [1, 2, 3])
def test_resume_continues_exactly_where_the_trainer_stopped(shards: Path, workers: int, done: int) -> None:
    def loader() -> StreamingLoader:
        stream = ShardStream(open_shards(shards), SPECS, 4, train=True, seed=7, on_error="skip", shuffle_buffer=16)
        return StreamingLoader(stream, workers)

    whole = loader()
    whole.sampler.set_epoch(1)
    expected = ids_of(list(whole))
    first = loader()
    first.sampler.set_epoch(1)
    seen = []
    for batch in first:
        seen.append(batch)
        if len(seen) == done:
            break
    state = first.state_dict()
    assert state == {"epoch": 1, "batches": done}
    resumed = loader()
    resumed.load_state_dict(state)
    resumed.sampler.set_epoch(1)  # Lightning sets the epoch again after restoring
    assert ids_of(seen) + ids_of(list(resumed)) == expected
    other_epoch = loader()
    other_epoch.sampler.set_epoch(2)
    assert ids_of(list(other_epoch)) != expected  # a new order every epoch


def _rank_worker(rank: int, world: int, port: int, shards: str, out: str) -> None:
    mp.set_start_method("fork", force=True)  # data-loader workers as in a launched run (spawned ones re-import torch)
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=world)
    try:
        shard_set = open_shards(shards)
        train = StreamingLoader(ShardStream(shard_set, SPECS, 4, train=True, on_error="skip"), num_workers=2)
        evaluation = StreamingLoader(ShardStream(shard_set, SPECS, 4, train=False, on_error="skip"))
        result = {
            "train": [batch["ids"] for batch in train],
            "train_len": len(train),
            "eval": [batch["ids"] for batch in evaluation],
        }
        Path(out, f"rank{rank}.json").write_text(json.dumps(result))
        dist.barrier()
    finally:
        dist.destroy_process_group()


def test_two_ranks_get_equal_steps_and_disjoint_items(shards: Path, tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    mp.spawn(_rank_worker, args=(2, port, str(shards), str(tmp_path)), nprocs=2, join=True)
    ranks = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert len(ranks[0]["train"]) == len(ranks[1]["train"]) == ranks[0]["train_len"] == 6  # 50 // 4 streams // 4
    train = [i for r in ranks for batch in r["train"] for i in batch]
    assert len(train) == len(set(train)) >= 47  # 48 records minus the skipped one, none twice
    evaluation = [i for r in ranks for batch in r["eval"] for i in batch]
    assert len(evaluation) == len(set(evaluation)) == 49


@pytest.mark.parametrize("as_url", [False, True], ids=["folder", "file-url"])
def test_lightning_trains_from_shards(shards: Path, tmp_path: Path, shapes_dir: Path, as_url: bool) -> None:
    from tests.training.test_fit import tiny_config

    from unibind.training.cli import run_lightning_cli

    location = shards.resolve().as_uri() + "/" if as_url else str(shards)
    config = tiny_config(tmp_path, shapes_dir, max_epochs=2)
    extra = [
        "--data.init_args.train",
        location,
        "--data.init_args.on_error",
        "skip",
        "--data.init_args.batch_size",
        "8",
    ]
    cli = run_lightning_cli(["fit", "--config", str(config), *extra])
    assert cli.trainer.global_step == 2 * (50 // 8)
    assert cli.model.skipped_items >= 1
    assert torch.isfinite(cli.trainer.callback_metrics["train/loss"])
