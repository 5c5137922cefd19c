"""A HumanML3D-layout motion tower (263 features) embedding BVH, DeepMimic and HumanML3D files through
``MotionSpec(representation="humanml3d")``: ``encode``, an index's ``inputs.json`` and the server."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from tests.serve.conftest import skeleton_bvh

from unibind.alignment import MoEAligner
from unibind.embedder import UnifiedEmbedder
from unibind.encoders import MotionTransformerEncoder
from unibind.modalities import InputError, MotionSpec
from unibind.modalities.settings import spec_from_settings, spec_settings

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "humanml3d"
JOINTS = FIXTURE / "new_joints" / "000000.npy"
VECTORS = FIXTURE / "new_joint_vecs" / "000000.npy"


@pytest.fixture(scope="module")
def sources(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """One file of each kind: a BVH, a DeepMimic clip (when pybullet is installed), new_joints, new_joint_vecs."""
    bvh = tmp_path_factory.mktemp("motion") / "walk.bvh"
    bvh.write_bytes(skeleton_bvh(30))
    found = {"bvh": bvh, "new_joints": JOINTS, "new_joint_vecs": VECTORS}
    try:
        import pybullet_data
    except ImportError:
        return found
    return {**found, "deepmimic": Path(pybullet_data.getDataPath()) / "data" / "motions" / "humanoid3d_kick.txt"}


@pytest.fixture(scope="module")
def model() -> UnifiedEmbedder:
    torch.manual_seed(0)
    encoders = {"motion": MotionTransformerEncoder(263, width=32, depth=1, heads=2, ff_dim=64, max_frames=196)}
    return UnifiedEmbedder(encoders, 32, MoEAligner(32, num_experts=4, top_k=2, modalities=["motion"])).eval()


def humanml3d_spec() -> MotionSpec:
    return MotionSpec(263, representation="humanml3d", mean=FIXTURE / "Mean.npy", std=FIXTURE / "Std.npy")


def test_encode_any_source_with_a_humanml3d_model(model: UnifiedEmbedder, sources: dict[str, Path]) -> None:
    specs = {"motion": humanml3d_spec()}
    one = model.encode([sources["bvh"]], modality="motion", specs=specs)
    assert one.shape == (1, 32)
    assert torch.isfinite(one).all()
    if "deepmimic" not in sources:
        pytest.skip("pybullet is not installed (the 'data' extra): DeepMimic clip not embedded")
    paths = list(sources.values())
    many = model.encode(paths, modality="motion", specs=specs)
    assert many.shape == (len(paths), 32)
    assert torch.isfinite(many).all()
    torch.testing.assert_close(many[0], one[0])
    # new_joints and the new_joint_vecs computed from them are (nearly) the same motion
    joints, vectors = (list(sources).index(k) for k in ("new_joints", "new_joint_vecs"))
    assert float(many[joints] @ many[vectors]) > 0.99


def test_loading_normalises_with_the_dataset_statistics(sources: dict[str, Path]) -> None:
    spec = humanml3d_spec()
    mean, std = np.load(FIXTURE / "Mean.npy"), np.load(FIXTURE / "Std.npy")
    expected = (np.load(VECTORS).astype(np.float32) - mean) / std
    torch.testing.assert_close(spec.load(VECTORS), torch.as_tensor(expected, dtype=torch.float32))
    walk = spec.load(sources["bvh"])
    assert walk.shape == (29, 263)
    assert torch.isfinite(walk).all()
    assert spec.load(np.load(JOINTS)).shape == (115, 263)  # arrays of joints too


def test_the_default_spec_still_takes_features_as_they_are(sources: dict[str, Path]) -> None:
    assert MotionSpec(263).load(VECTORS).shape == (116, 263)
    with pytest.raises(InputError, match=r"walk\.bvh"):
        MotionSpec(263).load(sources["bvh"])
    canonical = MotionSpec(45, representation="canonical").load(sources["bvh"])
    assert canonical.shape == (30, 45)


def test_representation_is_a_setting() -> None:
    spec = humanml3d_spec()
    settings = json.loads(json.dumps(spec_settings(spec)))
    assert settings["representation"] == "humanml3d"
    again = spec_from_settings("motion", settings)
    assert again.representation == "humanml3d"
    assert repr(again) == repr(spec)
    assert "representation='humanml3d'" in repr(spec)
    older = {k: v for k, v in settings.items() if k != "representation"}  # an inputs.json written before
    assert spec_from_settings("motion", older).representation == "features"
    assert "representation" not in repr(MotionSpec(263))


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"num_features": 45, "representation": "humanml3d"}, "has 263 features, not 45"),
        ({"num_features": 263, "representation": "canonical"}, "has 45 features, not 263"),
        ({"num_features": 263, "representation": "smpl"}, "representation must be one of"),
        ({"num_features": 263, "fps": 30.0, "representation": "humanml3d"}, "20 fps"),
    ],
)
def test_bad_representations_are_refused(arguments: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        MotionSpec(**arguments)


def test_an_index_and_its_server_read_queries_the_same_way(
    model: UnifiedEmbedder, sources: dict[str, Path], tmp_path: Path
) -> None:
    from unibind.retrieval.build import IndexEntry, build_card_index
    from unibind.retrieval.payload import read_inputs
    from unibind.serve import SearchEngine

    entries = [IndexEntry(f"motion:{kind}", "motion", path, kind) for kind, path in sources.items()]
    model.save_pretrained(tmp_path / "model")
    build_card_index(model, entries, tmp_path / "index", {"motion": humanml3d_spec()}, progress=False)
    stored = json.loads((tmp_path / "index" / "inputs.json").read_text())
    assert stored["motion"]["representation"] == "humanml3d"
    assert repr(read_inputs(tmp_path / "index")["motion"]) == repr(humanml3d_spec())
    assert len(list((tmp_path / "index" / "media").glob("*.gif"))) == len(entries)  # each drawn, vectors too
    engine = SearchEngine(tmp_path / "model", tmp_path / "index")
    assert engine.specs["motion"].representation == "humanml3d"
    query = engine.embed("motion", str(sources["bvh"]))
    assert query.shape == (32,)
    assert torch.isfinite(query).all()
    hits = engine.search(query, top_k=1)
    assert hits[0].card.id == "motion:bvh"
