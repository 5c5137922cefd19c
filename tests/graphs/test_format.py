"""The nodes.jsonl / edges.tsv format: a 4-node graph read exactly, and every bad graph named."""

import json
from pathlib import Path

import pytest
import torch

from unibind.graphs import GraphFormatError, read_graph, write_graph


def _graph(tmp_path: Path, nodes: list, edges: list[str]) -> tuple[Path, Path]:
    (tmp_path / "pic.png").write_bytes(b"\x89PNG")
    nodes_path, edges_path = tmp_path / "nodes.jsonl", tmp_path / "edges.tsv"
    nodes_path.write_text("".join((n if isinstance(n, str) else json.dumps(n)) + "\n" for n in nodes))
    edges_path.write_text("source\ttarget\ttype\n" + "".join(e + "\n" for e in edges))
    return nodes_path, edges_path


FOUR = [
    {"id": "a", "text": "a cat", "label": "animal"},
    {"id": "b", "text": ["a dog", "a hound"], "image": "pic.png", "label": "animal"},
    {"id": "c", "image": "pic.png"},
    {"id": "d", "text": "a car", "label": "vehicle"},
]


def test_four_nodes_read_exactly(tmp_path: Path) -> None:
    graph = read_graph(
        *_graph(tmp_path, FOUR, ["a\tb\tsimilar", "b\tc\tdepicts", "c\td\tsimilar", "a\ta\tsimilar", "a\tb\tsimilar"])
    )
    assert graph.ids == ["a", "b", "c", "d"]
    assert graph.attributes["text"] == ["a cat", "a dog", None, "a car"]
    assert graph.attributes["image"][1] == (tmp_path / "pic.png").resolve()
    assert graph.has("image").tolist() == [False, True, True, False]
    assert graph.edge_index.tolist() == [[0, 1, 2], [1, 2, 3]]
    assert graph.edge_types == ["similar", "depicts"]
    assert graph.edge_type.tolist() == [0, 1, 0]
    assert graph.skipped.count == 2  # the self-loop and the repeated edge
    assert graph.undirected_edges().shape == (2, 6)
    data = graph.to_pyg({"text": torch.randn(4, 3)})
    assert data.num_nodes == 4
    assert data.y.tolist() == [0, 0, -1, 1]
    assert data.has_text.tolist() == [True, True, False, True]
    hetero = graph.to_hetero({"text": torch.randn(4, 3)})
    assert hetero["node", "depicts", "node"].edge_index.tolist() == [[1], [2]]


def test_pyg_and_plain_format_round_trip(tmp_path: Path) -> None:
    nodes, edges = write_graph(
        tmp_path / "g", [{"id": "x", "text": "one"}, {"id": "y", "text": "two"}], [("x", "y", "next")]
    )
    graph = read_graph(nodes, edges)
    assert graph.edge_index.tolist() == [[0], [1]]
    assert graph.edge_types == ["next"]


@pytest.mark.parametrize(
    ("nodes", "edges", "message"),
    [
        ([*FOUR, {"id": "a", "text": "again"}], [], r"nodes.jsonl, line 5: duplicate id 'a' \(first on line 1\)"),
        ([*FOUR, {"id": "e", "label": "x"}], [], r"line 5: node 'e' has no attribute"),
        (FOUR, ["a\tz\tsimilar"], r"edges.tsv, line 2, field 'target': no node 'z'"),
        ([*FOUR, "{not json"], [], r"line 5: not JSON"),
        ([*FOUR, {"id": "f", "image": "../outside.png"}], [], r"field 'image': '../outside.png' leaves"),
        ([*FOUR, {"id": "g", "audio": "missing.wav"}], [], r"field 'audio': file not found"),
        ([*FOUR, {"text": "no id"}], [], r"line 5: field 'id' is missing"),
    ],
)
def test_bad_graphs_are_named(tmp_path: Path, nodes: list, edges: list[str], message: str) -> None:
    with pytest.raises(GraphFormatError, match=message):
        read_graph(*_graph(tmp_path, nodes, edges))


def test_skip_counts_and_policies(tmp_path: Path) -> None:
    paths = _graph(tmp_path, [*FOUR, {"id": "e", "label": "x"}], ["a\tz\tsimilar", "a\tb\tsimilar", "b\tb\tsimilar"])
    graph = read_graph(*paths, on_error="skip")
    assert graph.num_nodes == 4
    assert graph.skipped.count == 3  # the node without attributes, the dangling edge, the self-loop
    assert read_graph(*paths, self_loops="keep", on_error="skip").edge_index.shape == (2, 2)
    with pytest.raises(GraphFormatError, match="self-loop on 'b'"):
        read_graph(*_graph(tmp_path, FOUR, ["b\tb\tsimilar"]), self_loops="error")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(GraphFormatError, match="the graph has no nodes"):
        read_graph(*_graph(empty, [], []))
    (tmp_path / "bad.tsv").write_text("from\tto\na\tb\n")
    with pytest.raises(GraphFormatError, match="expected a header with 'source' and 'target'"):
        read_graph(paths[0], tmp_path / "bad.tsv", on_error="skip")
