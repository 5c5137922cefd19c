"""WordNet's data.noun (a real slice) into the plain graph format."""

from pathlib import Path

import pytest

from unibind.datasets.graph_format import GraphFormatError, read_graph
from unibind.datasets.wordnet_graph import build_wordnet_graph, parse_synset

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "wordnet" / "data.noun"


def test_synset_line_fields() -> None:
    line = (
        "00002137 03 n 02 abstraction 0 abstract_entity 0 003 @ 00001740 n 0000 + 00692347 v 0101 "
        "~ 00023100 n 0000 | a general concept formed by extracting common features  "
    )
    node, edges = parse_synset(line, Path("data.noun"), 7)
    assert node == {
        "id": "00002137",
        "text": "abstraction, abstract entity: a general concept formed by extracting common features",
        "label": "noun.Tops",
    }
    assert edges == [("00002137", "00001740", "hypernym")]  # hyponyms (~) and verb pointers are not edges
    with pytest.raises(GraphFormatError, match=r"data\.noun, line 9: not a WordNet synset line"):
        parse_synset("00002137 03 n zz", Path("data.noun"), 9)
    with pytest.raises(GraphFormatError, match="lex_filenum 44 is not a noun file"):
        parse_synset(line.replace(" 03 n ", " 44 n "), Path("data.noun"), 1)


def test_real_slice_builds_a_graph(tmp_path: Path) -> None:
    nodes, edges = build_wordnet_graph(tmp_path, FIXTURE, progress=False)
    graph = read_graph(nodes, edges, on_error="skip")  # hypernyms outside the slice are dangling: counted
    assert graph.num_nodes == 40
    assert graph.ids[0] == "00001740"
    assert graph.attributes["text"][0].startswith("entity: that which is perceived")
    assert graph.labels[0] == "noun.Tops"
    assert graph.edge_index.shape[1] > 10
    assert graph.edge_types[0] == "hypernym"
    with pytest.raises(FileNotFoundError, match="wordnet-base"):
        build_wordnet_graph(tmp_path, tmp_path / "missing", progress=False)
