import json
import math
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch
from PIL import Image
from tests.evaluation.lookup_embedder import LookupEmbedder

from unibind.datasets.text_files import ManifestError
from unibind.evaluation.mmeb import evaluate_mmeb, gold_hits, results_table
from unibind.evaluation.mmeb_data import (
    MMEB_V1_TASKS,
    MMEBDataError,
    available_datasets,
    clean_text,
    read_mmeb_dataset,
)

FIXTURE = Path(__file__).parents[1] / "fixtures" / "mmeb"
SHARED_TABLE = Path(__file__).parents[3] / "shared" / "data" / "mmeb" / "mmeb_datasets.json"


def write_image(root: Path, relative: str) -> str:
    path = root / "eval_images" / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (4, 4), (200, 10, 10)).save(path)
    return relative


def hand_made(root: Path) -> None:
    """Three datasets in the MMEB layout whose Precision@1 is worked out by hand in the test below."""
    write_image(root, "N24News/red.png")
    write_image(root, "N24News/green.png")
    n24 = [
        # q1 = e1 is closest to "a" (the gold): hit
        {"qry_text": "<|image_1|>q1", "qry_img_path": "", "tgt_text": ["a", "b"], "tgt_img_path": ["", ""]},
        # q2 = e2 is closest to "b": miss
        {"qry_text": "q2", "qry_img_path": "", "tgt_text": ["a", "b"], "tgt_img_path": ["", ""]},
        # q3 = e3 is orthogonal to both candidates: a tie, argmax keeps the gold: hit
        {"qry_text": "q3", "qry_img_path": "", "tgt_text": ["a", "a2"], "tgt_img_path": ["", ""]},
        # q4 text e1 + red image e2 fused at w = 0.5 -> (1, 1, 0)/sqrt 2: cos with "a" 0.707, with the green
        # image (0.8, 0.8, 0.2) 0.985 -> miss; text only (w = 0): cos 1.0 vs 0.696 -> hit
        {
            "qry_text": "q4",
            "qry_img_path": "N24News/red.png",
            "tgt_text": ["a", ""],
            "tgt_img_path": ["", "N24News/green.png"],
        },
    ]
    pq.write_table(pa.Table.from_pylist(n24), _mkdir(root / "N24News") / "test-00000-of-00001.parquet")
    coco = [
        {
            "qry_text": "q1",
            "qry_img_path": None,
            "tgt_text": "",
            "tgt_img_path": ["N24News/green.png", "N24News/red.png"],
        }
    ]
    (root / "MSCOCO_t2i.jsonl").write_text("".join(json.dumps(r) + "\n" for r in coco + coco))
    place = [{"qry_text": "q2", "qry_img_path": "", "tgt_text": ["a", "b"], "tgt_img_path": ["", ""]}]
    pq.write_table(pa.Table.from_pylist(place), root / "Place365.parquet")


def _mkdir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path


def lookup() -> LookupEmbedder:
    return LookupEmbedder(
        texts={
            "q1": [1, 0, 0],
            "q2": [0, 1, 0],
            "q3": [0, 0, 1],
            "q4": [1, 0, 0],
            "a": [1, 0, 0],
            "b": [0, 1, 0],
            "a2": [1, 0, 0],
        },
        images={"red.png": [0, 1, 0], "green.png": [0.8, 0.8, 0.2]},
    )


def test_hand_computed_precision_and_averages(tmp_path: Path) -> None:
    hand_made(tmp_path)
    results = evaluate_mmeb(lookup(), tmp_path)
    rows = results["rows"]
    assert list(results["details"]) == ["N24News", "Place365", "MSCOCO_t2i"]  # the table's order
    assert rows["N24News"]["precision@1"] == pytest.approx(50.0)  # hit, miss, tie -> hit, fused miss
    assert rows["MSCOCO_t2i"]["precision@1"] == pytest.approx(100.0)  # q1 = e1: green (gold) 0.696, red 0
    assert rows["Place365"]["precision@1"] == pytest.approx(0.0)
    assert rows["Classification"]["precision@1"] == pytest.approx(25.0)  # N24News (IND) and Place365 (OOD)
    assert rows["Retrieval"]["precision@1"] == pytest.approx(100.0)
    assert rows["IND"]["precision@1"] == pytest.approx(75.0)
    assert rows["OOD"]["precision@1"] == pytest.approx(0.0)
    assert rows["Overall"]["precision@1"] == pytest.approx(50.0)
    assert "VQA" not in rows
    text_only = evaluate_mmeb(lookup(), tmp_path, ["N24News"], image_weight=0.0)["rows"]
    assert text_only["N24News"]["precision@1"] == pytest.approx(75.0)
    table = results_table(rows, results["details"])
    assert "| N24News | Classification | IND | 4 | 50.0 |" in table
    assert "**Overall** (mean of 3)" in table


def test_each_distinct_input_is_embedded_once(tmp_path: Path) -> None:
    hand_made(tmp_path)
    embedder = lookup()
    evaluate_mmeb(embedder, tmp_path, ["MSCOCO_t2i"])
    assert embedder.calls == [("text", 1), ("image", 2)]  # two identical rows, two images


def test_gold_hits_matches_numpy_argmax() -> None:
    generator = torch.Generator().manual_seed(0)
    queries = torch.randn(200, 8, generator=generator)
    groups = [torch.randn(int(n), 8, generator=generator) for n in torch.randint(2, 9, (200,), generator=generator)]
    groups[0] = torch.stack([queries[0], queries[0]])  # an exact tie: the first (the gold) wins
    expected = []
    for q, g in zip(queries.numpy(), groups, strict=True):
        g = g.numpy()
        scores = (g @ q) / (np.linalg.norm(g, axis=1) * np.linalg.norm(q))
        expected.append(int(np.argmax(scores)) == 0)
    assert gold_hits(queries, groups).tolist() == expected
    assert expected[0]


def test_reads_the_fixture_layout() -> None:
    assert available_datasets(FIXTURE) == ["ImageNet-1K", "OK-VQA", "MSCOCO_i2t", "MSCOCO_t2i", "RefCOCO"]
    classification = read_mmeb_dataset(FIXTURE, "ImageNet-1K")
    first = classification.rows[0]
    assert first.query.text == "Represent the given image for classification"
    assert first.query.image is not None
    assert first.query.image.is_file()
    assert len(first.candidates) == 4
    assert all(c.image is None and c.text for c in first.candidates)
    instructed = read_mmeb_dataset(FIXTURE, "MSCOCO_i2t")  # JSON lines with qry_inst / tgt_inst
    assert instructed.rows[0].query.text == "Find an image caption describing the given everyday image."
    plain = read_mmeb_dataset(FIXTURE, "MSCOCO_i2t", use_instructions=False)
    assert plain.rows[0].query.text == ""
    grounding = read_mmeb_dataset(FIXTURE, "RefCOCO")
    assert all(c.image is not None for c in grounding.rows[0].candidates)


def test_clean_text() -> None:
    assert clean_text("<|image_1|>\nRepresent the given image.") == "Represent the given image."
    assert clean_text("<image> a  b ") == "a b"


def test_missing_image_names_row_and_field(tmp_path: Path) -> None:
    hand_made(tmp_path)
    (tmp_path / "eval_images" / "N24News" / "green.png").unlink()
    with pytest.raises(MMEBDataError, match=r"row 4, field 'tgt_img_path'\[1\]: image 'N24News/green.png' not found"):
        read_mmeb_dataset(tmp_path, "N24News")
    skipped = read_mmeb_dataset(tmp_path, "N24News", on_error="skip")
    assert len(skipped.rows) == 3
    assert skipped.skipped.count == 1


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ({"qry_text": "q", "tgt_text": ["a"], "tgt_img_path": ["", ""]}, "tgt_text has 1 entries but tgt_img_path 2"),
        ({"qry_text": "q", "tgt_text": ["a"]}, "missing field 'tgt_img_path'"),
        ({"qry_text": "", "qry_img_path": "", "tgt_text": ["a"], "tgt_img_path": [""]}, "neither text nor image"),
        ({"qry_text": "q", "tgt_text": [], "tgt_img_path": []}, "no candidates"),
        ({"qry_text": "q", "tgt_text": "a", "tgt_img_path": [""]}, "field 'tgt_text': expected a list"),
        (
            {"qry_text": "q", "qry_img_path": "../escape.png", "tgt_text": ["a"], "tgt_img_path": [""]},
            "leaves the images folder",
        ),
    ],
)
def test_malformed_rows_are_named(tmp_path: Path, row: dict, message: str) -> None:
    (tmp_path / "eval_images").mkdir()
    (tmp_path / "escape.png").write_bytes(b"")
    good = {"qry_text": "q", "tgt_text": ["a"], "tgt_img_path": [""]}
    (tmp_path / "VOC2007.jsonl").write_text(json.dumps(good) + "\n" + json.dumps(row) + "\n")
    with pytest.raises(MMEBDataError, match=rf"VOC2007.jsonl, row 2.*{message}"):
        read_mmeb_dataset(tmp_path, "VOC2007")


def test_a_malformed_jsonl_line_is_skipped_and_counted(tmp_path: Path) -> None:
    (tmp_path / "eval_images").mkdir()
    good = json.dumps({"qry_text": "q", "tgt_text": ["a"], "tgt_img_path": [""]}).encode()
    (tmp_path / "VOC2007.jsonl").write_bytes(good + b"\n{not json\n\xff\xfe\n" + good + b"\n")
    with pytest.raises(ManifestError, match=r"VOC2007\.jsonl, row 2: not valid JSON"):
        read_mmeb_dataset(tmp_path, "VOC2007")
    dataset = read_mmeb_dataset(tmp_path, "VOC2007", on_error="skip")
    assert len(dataset.rows) == 2
    assert dataset.skipped.count == 2
    assert "row 3: not valid UTF-8" in dataset.skipped.reasons[1]


def test_unknown_and_absent_datasets(tmp_path: Path) -> None:
    with pytest.raises(KeyError, match="not an MMEB v1 dataset"):
        read_mmeb_dataset(tmp_path, "ImageNet")
    with pytest.raises(FileNotFoundError, match="SUN397"):
        read_mmeb_dataset(tmp_path, "SUN397")
    with pytest.raises(FileNotFoundError, match="no MMEB v1 dataset"):
        evaluate_mmeb(lookup(), tmp_path)


def test_the_table_has_36_tasks_grouped_as_mmeb() -> None:
    assert len(MMEB_V1_TASKS) == 36
    counts = {}
    for task in MMEB_V1_TASKS:
        counts[task.meta_task] = counts.get(task.meta_task, 0) + 1
        counts[task.distribution] = counts.get(task.distribution, 0) + 1
    assert counts == {"Classification": 10, "VQA": 10, "Retrieval": 12, "Visual Grounding": 4, "IND": 20, "OOD": 16}
    if SHARED_TABLE.is_file():  # the VLM2Vec-derived list in the shared data
        shared = json.loads(SHARED_TABLE.read_text())["mmeb_v1_image"]
        assert [(t.name, t.meta_task, t.distribution) for t in MMEB_V1_TASKS] == [
            (r["dataset"], r["meta_task"], r["distribution"]) for r in shared
        ]


def test_fused_vector_is_the_normalised_weighted_sum() -> None:
    from unibind.evaluation.embedding import embed_pairs

    embedder = lookup()
    fused = embed_pairs(embedder, ["q4", "q4", ""], [Path("red.png"), None, Path("red.png")], image_weight=0.25)
    expected = torch.tensor([0.75, 0.25, 0.0]) / math.sqrt(0.75**2 + 0.25**2)
    assert torch.allclose(fused[0], expected)
    assert torch.allclose(fused[1], torch.tensor([1.0, 0, 0]))
    assert torch.allclose(fused[2], torch.tensor([0, 1.0, 0]))


def test_hub_id_offline_gets_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(FileNotFoundError, match="'TIGER-Lab/MMEB-eval' is not a local folder and could not be fetched"):
        evaluate_mmeb(lookup(), "TIGER-Lab/MMEB-eval", ["OK-VQA"])
    with pytest.raises(FileNotFoundError, match="no such folder"):
        evaluate_mmeb(lookup(), "no/such/folder")


def test_missing_images_folder_is_named(tmp_path: Path) -> None:
    hand_made(tmp_path)
    (tmp_path / "eval_images").rename(tmp_path / "elsewhere")
    with pytest.raises(FileNotFoundError, match=r"images folder .*eval_images not found"):
        read_mmeb_dataset(tmp_path, "N24News")
    assert len(read_mmeb_dataset(tmp_path, "N24News", images_dir=tmp_path / "elsewhere").rows) == 4
