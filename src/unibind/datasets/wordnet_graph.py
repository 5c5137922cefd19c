"""WordNet nouns as a text-attributed graph: synsets with their lemmas and gloss, hypernym edges.

Reads ``data.noun`` in the WordNet database format (``wndb(5)``; Debian ``wordnet-base`` installs it under
``/usr/share/wordnet``): ``offset lex_filenum ss_type w_cnt word lex_id ... p_cnt ptr... | gloss``, with
``w_cnt`` in hexadecimal. A node per synset, its text ``"lemma, lemma: gloss"``, its label the
lexicographer file (``noun.animal``, ``noun.artifact``, ... 26 noun classes, ``lexnames(5)``); an edge per
hypernym pointer (``@``, ``hypernym``) and instance-hypernym pointer (``@i``, ``instance_hypernym``).
"""

from __future__ import annotations

from pathlib import Path

from tqdm.auto import tqdm

from unibind.datasets.graph_format import GraphFormatError, write_graph

WORDNET_DIR = Path("/usr/share/wordnet")
# lexnames(5): the noun lexicographer files, numbered 03 to 28
NOUN_FILES = (
    "noun.Tops", "noun.act", "noun.animal", "noun.artifact", "noun.attribute", "noun.body", "noun.cognition",
    "noun.communication", "noun.event", "noun.feeling", "noun.food", "noun.group", "noun.location",
    "noun.motive", "noun.object", "noun.person", "noun.phenomenon", "noun.plant", "noun.possession",
    "noun.process", "noun.quantity", "noun.relation", "noun.shape", "noun.state", "noun.substance", "noun.time",
)  # fmt: skip
POINTERS = {"@": "hypernym", "@i": "instance_hypernym"}


def parse_synset(line: str, path: Path, number: int) -> tuple[dict, list[tuple[str, str, str]]]:
    """One ``data.noun`` line -> ``(node, [(synset, hypernym, type), ...])``."""
    try:
        head, gloss = line.split(" | ", 1) if " | " in line else (line, "")
        fields = head.split()
        offset, lex_filenum, words = fields[0], int(fields[1]), int(fields[3], 16)
        lemmas = [fields[4 + 2 * i].replace("_", " ") for i in range(words)]
        position = 4 + 2 * words
        pointer_count = int(fields[position])
        edges = []
        for k in range(pointer_count):
            symbol, target, pos = fields[position + 1 + 4 * k : position + 4 + 4 * k]
            if symbol in POINTERS and pos == "n":
                edges.append((offset, target, POINTERS[symbol]))
    except (ValueError, IndexError) as err:
        raise GraphFormatError(f"{path}, line {number}: not a WordNet synset line ({err})") from err
    if not 3 <= lex_filenum <= 28:
        raise GraphFormatError(f"{path}, line {number}: lex_filenum {lex_filenum} is not a noun file (03-28)")
    text = f"{', '.join(lemmas)}: {gloss.strip()}" if gloss.strip() else ", ".join(lemmas)
    return {"id": offset, "text": text, "label": NOUN_FILES[lex_filenum - 3]}, edges


def build_wordnet_graph(out: str | Path, source: str | Path = WORDNET_DIR / "data.noun", progress: bool = True):
    """Write ``nodes.jsonl`` / ``edges.tsv`` of the noun synsets into ``out``; returns their paths."""
    source = Path(source)
    if not source.is_file():
        raise FileNotFoundError(f"{source} not found (Debian: apt-get install wordnet-base)")
    nodes, edges = [], []
    lines = source.read_text(encoding="utf-8", errors="replace").splitlines()
    for number, line in enumerate(tqdm(lines, desc="reading WordNet nouns", unit="line", disable=not progress), 1):
        if not line or line.startswith("  "):  # the licence header
            continue
        node, node_edges = parse_synset(line, source, number)
        nodes.append(node)
        edges += node_edges
    return write_graph(out, nodes, edges)
