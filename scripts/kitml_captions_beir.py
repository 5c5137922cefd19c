"""Write a BEIR-layout text collection from KIT-ML's captions: a held-out check for text retrieval and E2Rank.

KIT-ML (Plappert et al. 2016, TMR's annotations.json) gives most motions several independent captions.
For every motion of ``--split`` with at least two distinct captions, its first caption is a query and its
other captions are the relevant documents (grade 1); every other caption of the split's motions is a
document too, so the distractors are descriptions of other motions. Nobody tuned unibind on this data:
it checks that a reranker trained elsewhere (SciFact) does not fall below its first stage on a new domain.

    .venv/bin/python scripts/kitml_captions_beir.py --out runs/beir_kitml_captions
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
KITML = REPO.parent / "shared" / "data" / "humanml3d" / "related_kitml_tmr"


def write_collection(annotations: Path, split_file: Path, out: Path) -> dict[str, int]:
    """Write ``corpus.jsonl``, ``queries.jsonl`` and ``qrels/test.tsv`` under ``out``; returns the counts."""
    motions = json.loads(annotations.read_text(encoding="utf-8"))
    ids = [line.strip() for line in split_file.read_text(encoding="utf-8").splitlines() if line.strip()]
    corpus, queries, qrels = [], [], []
    for motion in ids:
        if motion not in motions:
            raise SystemExit(f"{split_file}: motion {motion!r} is not in {annotations}")
        captions, seen = [], set()
        for annotation in motions[motion]["annotations"]:
            text = " ".join(annotation["text"].split())
            if text and text.lower() not in seen:
                seen.add(text.lower())
                captions.append((annotation["seg_id"], text))
        if len(captions) >= 2:
            queries.append({"_id": motion, "text": captions[0][1]})
            qrels.extend((motion, seg_id) for seg_id, _ in captions[1:])
            captions = captions[1:]
        corpus.extend({"_id": seg_id, "title": "", "text": text} for seg_id, text in captions)
    (out / "qrels").mkdir(parents=True, exist_ok=True)
    for name, rows in (("corpus.jsonl", corpus), ("queries.jsonl", queries)):
        (out / name).write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows), encoding="utf-8")
    lines = ["query-id\tcorpus-id\tscore"] + [f"{query}\t{doc}\t1" for query, doc in qrels]
    (out / "qrels" / "test.tsv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return {"documents": len(corpus), "queries": len(queries), "judgements": len(qrels)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--annotations", type=Path, default=KITML / "annotations.json")
    parser.add_argument("--split", default="test", help="KIT-ML split whose motions make the collection")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    counts = write_collection(args.annotations, args.annotations.parent / "splits" / f"{args.split}.txt", args.out)
    print(f"{args.out}: {counts['queries']} queries, {counts['documents']} documents, {counts['judgements']} qrels")


if __name__ == "__main__":
    main()
