"""The emoji graph: every emoji of the corpus a node (its image, its English name, its category as label),
linked when CLDR gives two emoji a rare keyword in common or they sit next to each other in a sub-group.

Edges: ``keyword``: every pair of emoji sharing an English CLDR keyword that at most ``max_keyword_size``
emoji carry (common words such as "face" would join everything); ``subgroup``: within each Unicode
sub-group (e.g. ``animal-mammal``), each emoji to the next two in Unicode order. Written next to the corpus
as ``graph_nodes.jsonl`` / ``graph_edges.tsv`` (paths stay inside the corpus folder).
"""

from __future__ import annotations

from collections import defaultdict
from itertools import combinations
from pathlib import Path

from unibind.datasets.emoji import EmojiCorpus
from unibind.datasets.graph_format import write_graph


def keywords(row: dict) -> set[str]:
    """English CLDR keywords of a corpus row (its second English caption reads ``name: kw1, kw2, ...``)."""
    captions = row["captions"].get("en", [])
    if len(captions) < 2 or ":" not in captions[1]:
        return set()
    return {word.strip().lower() for word in captions[1].split(":", 1)[1].split(",") if word.strip()}


def emoji_graph_edges(
    rows: list[dict], max_keyword_size: int = 8, subgroup_span: int = 2
) -> list[tuple[str, str, str]]:
    """``(source, target, type)`` triples, each unordered pair once per type."""
    edges: set[tuple[str, str, str]] = set()
    by_keyword: dict[str, list[str]] = defaultdict(list)
    for row in rows:
        for word in keywords(row):
            by_keyword[word].append(row["id"])
    for members in by_keyword.values():
        if 2 <= len(members) <= max_keyword_size:
            edges.update((a, b, "keyword") for a, b in combinations(sorted(members), 2))
    by_subgroup: dict[str, list[str]] = defaultdict(list)
    for row in rows:
        by_subgroup[row["subcategory"]].append(row["id"])
    for members in by_subgroup.values():
        for i, source in enumerate(members):
            edges.update((source, target, "subgroup") for target in members[i + 1 : i + 1 + subgroup_span])
    return sorted(edges)


def write_emoji_graph(corpus: EmojiCorpus, max_keyword_size: int = 8) -> tuple[Path, Path]:
    """Write ``graph_nodes.jsonl`` and ``graph_edges.tsv`` into the corpus folder; returns their paths."""
    rows = corpus.rows()
    nodes = [
        {
            "id": row["id"],
            "text": row["names"]["en"],
            "image": row["image"],
            "label": row["category"],
            "split": row["split"],
        }
        for row in rows
    ]
    return write_graph(corpus.root, nodes, emoji_graph_edges(rows, max_keyword_size), prefix="graph_")
