"""The nodes.jsonl / edges.tsv format: a 4-node graph read exactly, and every bad graph named."""

import json
from pathlib import Path

import pytest
import torch

from unibind.datasets.graph_format import GraphFormatError, read_graph, write_graph


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
        ([*FOUR, "{not json"], [], r"line 5: not valid JSON"),
        ([*FOUR, {"id": "f", "image": "../outside.png"}], [], r"field 'image': path '../outside.png' leaves"),
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
    (tmp_path / "bad.tsv").write_text("origin\tend\na\tb\n")
    with pytest.raises(GraphFormatError, match=r"expected a header with 'source' and 'target' \(or .*src/dst"):
        read_graph(paths[0], tmp_path / "bad.tsv", on_error="skip")


def _raw_graph(tmp_path: Path, nodes: bytes, edges: bytes) -> tuple[Path, Path]:
    (tmp_path / "nodes.jsonl").write_bytes(nodes)
    (tmp_path / "edges.tsv").write_bytes(edges)
    return tmp_path / "nodes.jsonl", tmp_path / "edges.tsv"


NODES = b"".join(json.dumps(n).encode() + b"\n" for n in FOUR[:1] + FOUR[3:])  # a and d: text only


def test_invalid_utf8_in_nodes_or_edges_is_named_or_skipped(tmp_path: Path) -> None:
    nodes = NODES.replace(b'"a car"', b'"a \xff car"') + b'{"id": "e", "text": "after"}\n'
    paths = _raw_graph(tmp_path, nodes, b"source\ttarget\na\te\n")
    with pytest.raises(GraphFormatError, match=r"nodes\.jsonl, line 2: not valid UTF-8 \(byte 0xff at column"):
        read_graph(*paths)
    graph = read_graph(*paths, on_error="skip")
    assert (graph.ids, graph.skipped.count) == (["a", "e"], 1)
    paths = _raw_graph(tmp_path, NODES, b"\xef\xbb\xbfsrc\tdst\na\t\xe9\nd\ta\n")
    with pytest.raises(GraphFormatError, match=r"edges\.tsv, line 2: not valid UTF-8"):
        read_graph(*paths)
    graph = read_graph(*paths, on_error="skip")
    assert graph.edge_index.tolist() == [[1], [0]]
    assert graph.skipped.count == 1


def test_bad_node_lines_are_skipped_not_fatal(tmp_path: Path) -> None:
    paths = _graph(tmp_path, [FOUR[0], "{not json", "[1]", '{"id": "x", "text": "a", "text": "b"}', FOUR[3]], [])
    with pytest.raises(GraphFormatError, match=r"nodes\.jsonl, line 2: not valid JSON"):
        read_graph(*paths)
    graph = read_graph(*paths, on_error="skip")
    assert "line 4: key 'text' appears twice" in graph.skipped.reasons[2]
    assert graph.ids == ["a", "d"]
    assert graph.skipped.count == 3


@pytest.mark.parametrize(
    "header",
    ["source\ttarget", "src\tdst", "FROM\tTo", "head\ttail", "u\tv", " Source \tTARGET", "src\tdst\trelation\tweight"],
)
def test_edge_header_spellings(tmp_path: Path, header: str) -> None:
    nodes, edges = _graph(tmp_path, FOUR, [])
    typed = header.endswith("weight")
    edges.write_text(f"{header}\n" + ("a\tb\tsimilar\t0.5\n" if typed else "a\tb\n"))
    graph = read_graph(nodes, edges)
    assert graph.edge_index.tolist() == [[0], [1]]
    assert graph.edge_types == ["similar" if typed else "edge"]


@pytest.mark.parametrize(
    ("header", "message"),
    [
        ("source\ttarget\tsrc\tdst", r"names the edge ends twice"),
        ("source\ttarget\ttype\trelation", r"several edge type columns"),
        ("Source\tsource\ttarget", r"has both 'Source' and 'source'"),
        ("node_a\tnode_b", r"'source' and 'target' \(or src/dst, from/to, head/tail, u/v; any case\)"),
    ],
)
def test_unclear_edge_headers_are_refused(tmp_path: Path, header: str, message: str) -> None:
    nodes, edges = _graph(tmp_path, FOUR, [])
    edges.write_text(f"{header}\na\tb\ta\tb\n")
    with pytest.raises(GraphFormatError, match=rf"edges\.tsv: .*{message}"):
        read_graph(nodes, edges, on_error="skip")


def test_edge_lines_with_extra_fields_or_empty_ends_are_named(tmp_path: Path) -> None:
    paths = _graph(tmp_path, FOUR, ["a\tb\tsimilar\textra", "a\t\tsimilar", "c\td\tsimilar"])
    with pytest.raises(GraphFormatError, match=r"edges\.tsv, line 2: 4 fields but the header has 3"):
        read_graph(*paths)
    graph = read_graph(*paths, on_error="skip")
    assert graph.edge_index.tolist() == [[2], [3]]
    assert graph.skipped.count == 2
    assert "line 3, field 'target': empty" in graph.skipped.reasons[1]


@pytest.mark.parametrize(
    ("field", "message"),
    [
        ("../outside.png", r"path '../outside.png' leaves the graph's folder"),
        ("ABSOLUTE", r"path '/.*' leaves the graph's folder"),
        ("link.png", r"path 'link.png' leaves the graph's folder"),
        ("inside/../../outside.png", r"path 'inside/../../outside.png' leaves the graph's folder"),
    ],
)
def test_node_paths_may_not_leave_the_folder(tmp_path: Path, field: str, message: str) -> None:
    graph_dir = tmp_path / "graph"
    graph_dir.mkdir()
    outside = tmp_path / "outside.png"
    outside.write_bytes(b"\x89PNG")
    (graph_dir / "link.png").symlink_to(outside)
    value = str(outside) if field == "ABSOLUTE" else field
    paths = _graph(graph_dir, [*FOUR, {"id": "e", "image": value}, {"id": "f", "text": "kept"}], [])
    with pytest.raises(GraphFormatError, match=rf"nodes\.jsonl, line 5, field 'image': {message}"):
        read_graph(*paths)
    graph = read_graph(*paths, on_error="skip")
    assert graph.ids == ["a", "b", "c", "d", "f"]


def test_modality_like_node_fields_are_counted_metadata_is_not(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    nodes = [{**FOUR[0], "motion": "m.npy", "split": "train"}, {**FOUR[3], "imgae": "pic.png", "type": "thing"}]
    with caplog.at_level("WARNING", logger="unibind.datasets.graph_format"):
        graph = read_graph(*_graph(tmp_path, nodes, []))
    assert graph.skipped.unknown_fields == {"motion": 1, "imgae": 1}
    assert graph.skipped.count == 0
    assert "'imgae' (1 nodes)" in caplog.text
