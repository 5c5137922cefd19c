"""scripts/kitml_captions_beir.py: KIT-ML captions as a BEIR collection that read_beir accepts."""

import importlib.util
import json
from pathlib import Path

from unibind.datasets.beir import read_beir

REPO = Path(__file__).resolve().parents[2]


def _script():
    spec = importlib.util.spec_from_file_location("kitml_captions_beir", REPO / "scripts" / "kitml_captions_beir.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_first_caption_queries_the_motions_other_captions(tmp_path: Path) -> None:
    def motion(*texts: str) -> dict:
        return {"annotations": [{"seg_id": f"s{i}-{t[:3]}", "text": t} for i, t in enumerate(texts)]}

    annotations = {
        "001": motion("A person walks.", "Someone walks  forward.", "a person walks."),  # a repeat, any case
        "002": motion("A person jumps."),  # one caption: a distractor document only
        "003": motion("A man waves.", "Waving with the right hand."),
        "004": motion("Not in the split.", "Left out."),
    }
    (tmp_path / "annotations.json").write_text(json.dumps(annotations))
    (tmp_path / "test.txt").write_text("001\n002\n003\n")
    counts = _script().write_collection(tmp_path / "annotations.json", tmp_path / "test.txt", tmp_path / "out")
    assert counts == {"documents": 3, "queries": 2, "judgements": 2}
    data = read_beir(tmp_path / "out")
    assert data.queries == {"001": "A person walks.", "003": "A man waves."}
    assert {d["text"] for d in data.corpus.values()} == {
        "Someone walks forward.",
        "A person jumps.",
        "Waving with the right hand.",
    }
    assert data.qrels == {"001": {"s1-Som": 1}, "003": {"s1-Wav": 1}}
