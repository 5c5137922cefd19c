"""Small BEIR folders for the reader, first-stage and ``eval beir`` tests, and the real SciFact fixture."""

import json
from pathlib import Path

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "beir_scifact"


def write_beir(root: Path, corpus: list[dict | str], queries: list[dict], qrels: list[str]) -> Path:
    """A BEIR folder; ``corpus`` rows are objects or raw JSON lines."""
    root.mkdir(parents=True, exist_ok=True)
    lines = [row if isinstance(row, str) else json.dumps(row) for row in corpus]
    (root / "corpus.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (root / "queries.jsonl").write_text("".join(json.dumps(q) + "\n" for q in queries), encoding="utf-8")
    (root / "qrels").mkdir(exist_ok=True)
    (root / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\n" + "".join(f"{r}\n" for r in qrels))
    return root


DOCS = [
    {"_id": "d1", "title": "cat", "text": "the cat runs in the park"},
    {"_id": "e1", "title": "", "text": ""},  # title and text empty
    {"_id": "d2", "title": "dog", "text": "a dog eats food"},
    {"_id": "e2", "text": ""},  # no title, empty text
    {"_id": "e3", "title": None, "text": " \n\t "},  # null title, whitespace only
    {"_id": "d3", "title": "movie", "text": "a man and a woman on the square"},
]


QUERIES = [{"_id": "q1", "text": "cat runs"}, {"_id": "q2", "text": "dog food"}, {"_id": "q3", "text": ""}]


QRELS = ["q1\td1\t1", "q2\td2\t1", "q2\te1\t0"]  # q3 (empty) is not judged in this split
