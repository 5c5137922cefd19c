"""Every endpoint of the serve API with FastAPI's test client: answers, limits, bad uploads, media confinement."""

from __future__ import annotations

import io
import json
import shutil
import wave
from pathlib import Path

import numpy as np
import pytest
import torch
from fastapi.testclient import TestClient
from PIL import Image

from unibind.modalities.audio import SilentAudioWarning
from unibind.serve import Limits, SearchEngine, create_app

from .conftest import AUDIO, EMOJI, MOTIONS, skeleton_bvh

PNG = EMOJI / "images" / "1f600.png"


def limited(engine: SearchEngine, **limits: object) -> TestClient:
    return TestClient(create_app(engine, Limits(**limits)))


def upload(path: Path, name: str | None = None) -> dict:
    return {"file": (name or path.name, path.read_bytes())}


def assert_error(response, status: int, *words: str) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"detail", "errors"}
    for word in words:
        assert word in body["detail"], body["detail"]


# -- answers -------------------------------------------------------------------------------------


def test_info(client: TestClient) -> None:
    info = client.get("/api/info").json()
    assert info["query_modalities"] == ["image", "text", "audio", "motion"]
    assert info["index_modalities"] == {"audio": 5, "graph": 4, "image": 45, "motion": 3, "text": 45}
    assert info["dim"] == 32
    assert info["reranker"] is False
    assert info["limits"]["max_top_k"] == 100
    assert ".bvh" in info["limits"]["upload_types"]["motion"]


def test_embed_text_and_item(client: TestClient, engine: SearchEngine) -> None:
    text = client.post("/api/embed", json={"text": "grinning face"}).json()
    assert (text["modality"], text["dim"], len(text["vector"])) == ("text", 32, 32)
    assert float(torch.tensor(text["vector"]).norm()) == pytest.approx(1.0, abs=1e-5)
    item = client.post("/api/embed", json={"item_id": "node:1f600"}).json()
    assert item["modality"] == "graph"
    torch.testing.assert_close(torch.tensor(item["vector"]), engine.index.vector("node:1f600"))


def test_embed_file_matches_the_indexed_vector(client: TestClient, engine: SearchEngine) -> None:
    """An image uploaded is loaded with the index's own settings, so it lands on its indexed vector."""
    answer = client.post("/api/embed/file", files=upload(PNG)).json()
    assert answer["modality"] == "image"
    torch.testing.assert_close(torch.tensor(answer["vector"]), engine.index.vector("emoji:1f600"), atol=1e-5, rtol=0)


def test_search_text(client: TestClient) -> None:
    answer = client.post("/api/search", json={"text": "grinning face", "top_k": 7}).json()
    assert answer["query"] == {"kind": "text", "modality": "text", "item_id": None}
    assert answer["modalities"] == ["audio", "graph", "image", "motion", "text"]
    assert answer["reranked"] is False
    assert [hit["rank"] for hit in answer["results"]] == list(range(1, 8))
    scores = [hit["score"] for hit in answer["results"]]
    assert scores == sorted(scores, reverse=True)


def test_search_only_some_modalities_and_media(client: TestClient) -> None:
    answer = client.post("/api/search", json={"text": "a sound", "modalities": ["audio", "motion"], "top_k": 100})
    hits = answer.json()["results"]
    assert len(hits) == 8  # every audio and motion item, no more
    assert {hit["modality"] for hit in hits} == {"audio", "motion"}
    for hit in hits:
        media = client.get(hit["media_url"])
        assert media.status_code == 200
        assert media.headers["content-type"] == hit["media_type"]
    motion = next(hit for hit in hits if hit["modality"] == "motion")
    assert motion["media_type"] == "image/gif"
    assert Image.open(io.BytesIO(client.get(motion["media_url"]).content)).n_frames > 1  # animated


def test_more_like_this_leaves_the_item_out(client: TestClient) -> None:
    answer = client.post("/api/search", json={"item_id": "emoji:1f600", "modalities": ["image"], "top_k": 44}).json()
    assert answer["query"] == {"kind": "item", "modality": "image", "item_id": "emoji:1f600"}
    ids = [hit["id"] for hit in answer["results"]]
    assert len(ids) == 44
    assert "emoji:1f600" not in ids


def test_graph_node_card_lists_neighbours(client: TestClient) -> None:
    card = client.get("/api/items/node:1f600").json()
    assert card["modality"] == "graph"
    assert card["media_type"] == "image/png"
    assert card["neighbours"][0]["relation"] == "keyword"
    assert card["neighbours"][0]["id"].startswith("node:")
    assert card["neighbours"][1] == {"text": "elsewhere", "relation": None, "id": None}
    assert client.post("/api/search", json={"item_id": card["neighbours"][0]["id"]}).status_code == 200


@pytest.mark.parametrize(
    ("path", "modality", "top"),
    [(PNG, "image", "emoji:1f600"), (AUDIO[0], "audio", f"clip:{AUDIO[0].stem}"), (MOTIONS[0], "motion", None)],
)
def test_search_file(client: TestClient, path: Path, modality: str, top: str | None) -> None:
    answer = client.post("/api/search/file", files=upload(path), data={"top_k": "3", "modalities": [modality]})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["query"]["kind"] == "file"
    assert body["query"]["modality"] == modality
    assert len(body["results"]) == 3
    if top is not None:  # the uploaded file is itself indexed: it comes first
        assert body["results"][0]["id"] == top
        assert body["results"][0]["score"] == pytest.approx(1.0, abs=1e-4)


def test_search_file_with_explicit_modality_and_bvh(client: TestClient) -> None:
    answer = client.post("/api/search/file", files={"file": ("walk.bvh", skeleton_bvh())}, data={"modality": "motion"})
    assert answer.status_code == 200, answer.text
    assert answer.json()["query"]["modality"] == "motion"


def test_page_and_assets(client: TestClient) -> None:
    page = client.get("/")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert '<script src="/static/app.js"' in page.text
    assert client.get("/static/app.js").headers["content-type"].startswith("text/javascript")
    assert client.get("/static/style.css").headers["content-type"].startswith("text/css")
    assert client.get("/static/index.py").status_code == 404
    assert client.get("/static/..%2Fapp.py").status_code == 404


def test_openapi_documents_limits(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    paths = set(schema["paths"])
    assert paths == {
        "/api/info", "/api/embed", "/api/embed/file", "/api/search", "/api/search/file",
        "/api/items/{item_id}", "/api/media/{item_id}",
    }  # fmt: skip
    search = next(v for k, v in schema["components"]["schemas"].items() if k.startswith("SearchRequest"))
    assert search["properties"]["top_k"]["maximum"] == 100
    assert search["properties"]["text"]["anyOf"][0]["maxLength"] == 2000
    assert "413" in schema["paths"]["/api/search/file"]["post"]["responses"]


# -- limits and errors -------------------------------------------------------------------------------


@pytest.mark.parametrize("top_k", [0, 101, -3])
def test_top_k_range(client: TestClient, top_k: int) -> None:
    assert_error(client.post("/api/search", json={"text": "a", "top_k": top_k}), 422, "body.top_k")


def test_top_k_range_of_uploads(engine: SearchEngine) -> None:
    answer = limited(engine, max_top_k=5).post("/api/search/file", files=upload(PNG), data={"top_k": "6"})
    assert_error(answer, 422, "top_k", "5")


def test_query_length(engine: SearchEngine) -> None:
    client = limited(engine, max_query_chars=20)
    assert client.post("/api/search", json={"text": "x" * 20}).status_code == 200
    assert_error(client.post("/api/search", json={"text": "x" * 21}), 422, "body.text", "20 characters")
    assert_error(client.post("/api/embed", json={"text": "x" * 21}), 422, "body.text", "20 characters")


def test_body_size(engine: SearchEngine) -> None:
    client = limited(engine, max_body_bytes=2000)
    assert_error(client.post("/api/search", json={"text": "x" * 3000}), 413, "request body", "2000 bytes")

    def chunks():  # no Content-Length: the body streams in and is counted
        yield b'{"text": "'
        for _ in range(10):
            yield b"x" * 500
        yield b'"}'

    streamed = client.post("/api/search", content=chunks(), headers={"content-type": "application/json"})
    assert_error(streamed, 413, "request body", "2000 bytes")


def test_upload_size(engine: SearchEngine) -> None:
    client = limited(engine, max_upload_bytes=1000)
    big = np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(big).save(buffer, format="PNG")
    assert len(buffer.getvalue()) > 1000
    assert_error(client.post("/api/search/file", files={"file": ("big.png", buffer.getvalue())}), 413, "1000 bytes")
    huge = {"file": ("big.png", b"x" * (200 * 1024))}  # beyond the multipart allowance: refused before parsing
    assert_error(client.post("/api/search/file", files=huge), 413, "multipart body")


def test_image_pixels_and_audio_seconds(engine: SearchEngine) -> None:
    client = limited(engine, max_image_pixels=100, max_audio_seconds=0.25)
    assert_error(client.post("/api/search/file", files=upload(PNG)), 413, "4096 pixels", "100")
    assert_error(client.post("/api/search/file", files=upload(AUDIO[0])), 413, "audio lasts", "0.25 s")


@pytest.mark.parametrize(
    ("name", "data", "form", "status", "words"),
    [
        ("notes.pdf", b"%PDF-1.4", {}, 415, ("file", ".pdf")),
        ("noext", b"abc", {}, 415, ("no suffix",)),
        ("face.png", b"abc", {"modality": "audio"}, 415, ("audio type",)),
        ("face.png", b"not a png at all", {}, 422, ("file", "image")),
        ("clip.wav", b"RIFF....WAVEfmt garbage", {}, 422, ("file", "audio")),
        ("clip.mp3", bytes(range(256)) * 4, {}, 422, ("file", "audio")),
        ("walk.npy", b"\x93NUMPY garbage", {}, 422, ("file", "motion")),
        ("walk.npy", b"\x93NUMPY\x01\x00v\x00{'descr': '<f4', 'shape'( (2, 45), }", {}, 422, ("file", "motion")),
        ("walk.bvh", b"HIERARCHY\nROOT Hips\n{\n", {}, 422, ("file", "MOTION")),
        ("walk.json", b'{"Frames": 3}', {}, 422, ("file",)),
        ("empty.png", b"", {}, 422, ("file", "empty")),
        ("face.png", b"abc", {"modality": "graph"}, 422, ("modality",)),
        ("face.png", b"abc", {"modalities": ["smell"]}, 422, ("modalities",)),
    ],
)
def test_bad_uploads(client: TestClient, name: str, data: bytes, form: dict, status: int, words: tuple) -> None:
    for endpoint in ("/api/search/file", "/api/embed/file"):
        if endpoint == "/api/embed/file" and "modalities" in form:
            continue
        answer = client.post(endpoint, files={"file": (name, data)}, data=form)
        assert_error(answer, status, *words)
        assert "unibind-upload" not in answer.json()["detail"]  # the temporary path is not shown


def test_uploaded_silence_is_a_query_and_nan_motion_is_refused(client: TestClient, tmp_path: Path) -> None:
    silent = io.BytesIO()
    with wave.open(silent, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(16000)
        out.writeframes(b"\x00\x00" * 8000)
    with pytest.warns(SilentAudioWarning, match="all zeros"):
        response = client.post("/api/search/file", files={"file": ("s.wav", silent.getvalue())})
    assert response.status_code == 200
    assert response.json()["results"]
    nan = tmp_path / "nan.npy"
    np.save(nan, np.full((10, 45), np.nan))
    assert_error(client.post("/api/search/file", files=upload(nan)), 422, "NaN")


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ({}, ("exactly one of text and item_id",)),
        ({"text": "a", "item_id": "b"}, ("exactly one",)),
        ({"text": ""}, ("body.text",)),
        ({"text": "   "}, ("text", "empty")),
        ({"text": "a", "modalities": []}, ("body.modalities",)),
        ({"text": "a", "modalities": ["smell"]}, ("body.modalities",)),
        ({"text": "a", "top_k": "many"}, ("body.top_k",)),
    ],
)
def test_invalid_search_bodies(client: TestClient, body: dict, words: tuple) -> None:
    assert_error(client.post("/api/search", json=body), 422, *words)


@pytest.mark.parametrize(
    ("raw", "words"),
    [(b'{"text": ', ("body",)), (b'{"text": "\\ud800"}', ("body.text", "unicode")), (b"[1, 2]", ("body",))],
)
def test_malformed_json(client: TestClient, raw: bytes, words: tuple) -> None:
    answer = client.post("/api/search", content=raw, headers={"content-type": "application/json"})
    assert_error(answer, 422, *words)


def test_unknown_items_and_modalities(client: TestClient, engine: SearchEngine, demo_dirs: tuple) -> None:
    assert_error(client.post("/api/search", json={"item_id": "nope"}), 404, "item_id", "nope")
    assert_error(client.post("/api/embed", json={"item_id": "nope"}), 404, "item_id")
    assert_error(client.get("/api/items/nope"), 404, "item_id")
    assert_error(client.get("/api/media/nope"), 404, "item_id")
    assert_error(client.get("/api/media/name:1f600"), 404, "has no media")  # a text item
    assert_error(client.get("/api/media/..%2F..%2Fetc%2Fpasswd"), 404)
    assert_error(client.get("/api/media/../../etc/passwd"), 404)
    text_only = SearchEngine(demo_dirs[0], demo_dirs[1])
    text_only.index_modalities = ["text"]
    answer = TestClient(create_app(text_only)).post("/api/search", json={"text": "a", "modalities": ["image"]})
    assert_error(answer, 404, "modalities", "image")


def test_media_never_leaves_the_index_folder(demo_dirs: tuple, tmp_path: Path) -> None:
    """A card whose media name points outside ``media/`` (a tampered items.jsonl) is not served."""
    index = tmp_path / "index"
    shutil.copytree(demo_dirs[1], index)
    (tmp_path / "secret.png").write_bytes(PNG.read_bytes())
    (index / "media" / "link.png").symlink_to(tmp_path / "secret.png")
    lines = (index / "items.jsonl").read_text().splitlines()
    rows = [json.loads(line) for line in lines]
    rows[0]["media"] = "../../secret.png"
    rows[2]["media"] = "link.png"
    rows[4]["media"] = "../items.jsonl"
    (index / "items.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
    client = TestClient(create_app(SearchEngine(demo_dirs[0], index)))
    for row in (rows[0], rows[2], rows[4]):
        assert_error(client.get(f"/api/media/{row['id']}"), 404, "outside")
    assert client.get(f"/api/media/{rows[6]['id']}").status_code == 200


def test_rerank_needs_a_reranker_and_text(client: TestClient) -> None:
    body = {"text": "a face", "modalities": ["text"], "rerank": True}
    assert_error(client.post("/api/search", json=body), 400, "rerank", "--reranker")


def test_a_trained_reranker_brings_its_prompt_size_and_interpolation(
    demo_dirs: tuple, trained_fixture_model: tuple[Path, str], tiny_bert_dir: Path
) -> None:
    from unibind.rerank.training import read_training_record

    folder, _ = trained_fixture_model
    record = read_training_record(folder)
    engine = SearchEngine(*demo_dirs, reranker=str(folder))
    assert engine.reranker.interpolation == record["interpolation"]
    assert engine.reranker.num_input_docs == record["num_input_docs"] == 5
    assert SearchEngine(*demo_dirs, reranker=str(folder), num_input_docs=3).reranker.num_input_docs == 3
    plain = SearchEngine(*demo_dirs, reranker=str(tiny_bert_dir)).reranker
    assert (plain.interpolation, plain.num_input_docs) == (0.0, 5)


def test_rerank_text_results(demo_dirs: tuple, tiny_bert_dir: Path) -> None:
    engine = SearchEngine(*demo_dirs, reranker=str(tiny_bert_dir), rerank_candidates=20)
    client = TestClient(create_app(engine))
    assert client.get("/api/info").json()["reranker"] is True
    answer = client.post("/api/search", json={"text": "a red cat", "modalities": ["text"], "rerank": True, "top_k": 5})
    body = answer.json()
    assert body["reranked"] is True
    assert len(body["results"]) == 5
    assert all(hit["modality"] == "text" and hit["first_stage_score"] is not None for hit in body["results"])
    scores = [hit["score"] for hit in body["results"]]
    assert scores == sorted(scores, reverse=True)
    assert len(engine._document_vectors) == 20  # the first stage's candidates, embedded once
    for body in ({"text": "a", "rerank": True}, {"item_id": "name:1f600", "modalities": ["text"], "rerank": True}):
        assert_error(client.post("/api/search", json=body), 422, "rerank", "text")


def test_the_demo_index_on_milvus_lite_answers_as_the_exact_one(
    tmp_path: Path, demo_dirs: tuple[Path, Path], client: TestClient
) -> None:
    from unibind.retrieval.build import build_card_index

    from .conftest import SPECS, demo_entries, tiny_model

    build_card_index(tiny_model(), demo_entries(), tmp_path / "index", SPECS, backend="milvus", progress=False)
    milvus = TestClient(create_app(SearchEngine(demo_dirs[0], tmp_path / "index")))
    for query in (
        {"text": "grinning face", "top_k": 10},
        {"item_id": "emoji:1f600", "top_k": 5, "modalities": ["text"]},
    ):
        exact, other = client.post("/api/search", json=query).json(), milvus.post("/api/search", json=query).json()
        assert [hit["id"] for hit in other["results"]] == [hit["id"] for hit in exact["results"]]
        for a, b in zip(exact["results"], other["results"], strict=True):
            assert a["score"] == pytest.approx(b["score"], abs=1e-5)
