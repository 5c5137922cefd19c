"""Multimodal graphs in a plain format: nodes as JSONL, edges as TSV.

``nodes.jsonl``: one node per line, ``{"id": "n1", "text": "a cat", "image": "images/n1.png", "label": "animal"}``;
any of the modality fields ``text`` (a string or a list of strings, the first is the node's text),
``image`` and ``audio`` (paths relative to the file's folder, which they may not leave: ``..``, absolute
paths and symbolic links leading outside are refused); ``label`` (a string or an integer) and ``type`` are
optional, other fields are metadata. ``edges.tsv``: a header naming the two ends of an edge, then one edge
per line. Accepted spellings of the ends (any case): :data:`EDGE_END_COLUMNS`, i.e. ``source``/``target``,
``src``/``dst`` (PyG, DGL exports), ``from``/``to``, ``head``/``tail``, ``u``/``v``; an optional edge type
column is one of :data:`EDGE_TYPE_COLUMNS` (``type``, ``relation``, ``edge_type``); other columns are ignored.

Both files are read by the shared readers of :mod:`unibind.datasets.text_files` (UTF-8, a byte-order mark
accepted; a line that is not UTF-8, not JSON, not an object or repeating a key is a bad line, and so is an
edge line with more fields than the header or broken quoting). Checks, each naming the file and line:
duplicate node ids, a node with no attribute, an edge to a node that does not exist, an empty graph; with
``on_error="skip"`` bad nodes and edges are dropped and counted in ``graph.skipped`` instead of raising.
Self-loops are dropped and counted (``self_loops="drop"``), kept, or refused (``"error"``); repeated edges
are kept once and counted. Node fields that look like a modality the graph does not read (``motion``,
``imgae``, ``video``, ...) are counted in ``graph.skipped.unknown_fields`` and warned about.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import torch

from unibind.datasets.manifest import OnError, SkipReport, looks_like_modality
from unibind.datasets.text_files import ManifestError, read_jsonl, read_table, resolve_file

ATTRIBUTES = ("text", "image", "audio")
#: Header spellings of an edge's two ends, tried case-insensitively; exactly one pair must be present.
EDGE_END_COLUMNS = (("source", "target"), ("src", "dst"), ("from", "to"), ("head", "tail"), ("u", "v"))
#: Header spellings of the optional edge type column; at most one may be present.
EDGE_TYPE_COLUMNS = ("type", "relation", "edge_type")
SelfLoops = Literal["drop", "keep", "error"]


class GraphFormatError(ManifestError):
    """A nodes or edges file is malformed; the message names the file, the line and the field."""


@dataclass
class MultimodalGraph:
    """Nodes with per-modality attributes (None where absent), optional labels, typed directed edges.

    ``edge_index: [2, E]`` rows are node positions; ``edge_type: [E]`` indexes ``edge_types``.
    """

    ids: list[str]
    attributes: dict[str, list[Any]]
    labels: list[str | None]
    edge_index: torch.Tensor
    edge_type: torch.Tensor
    edge_types: list[str]
    skipped: SkipReport = field(default_factory=SkipReport)

    @property
    def num_nodes(self) -> int:
        return len(self.ids)

    def has(self, modality: str) -> torch.Tensor:
        """``[N]`` bool: which nodes carry ``modality``."""
        return torch.tensor([value is not None for value in self.attributes[modality]])

    def undirected_edges(self) -> torch.Tensor:
        """``[2, E']``: every edge in both directions, once (for message passing)."""
        both = torch.cat([self.edge_index, self.edge_index.flip(0)], dim=1)
        return torch.unique(both, dim=1)

    def to_pyg(self, features: dict[str, torch.Tensor]):
        """A ``torch_geometric.data.Data``: ``x_<modality>: [N, W]`` (zeros where absent) and ``has_<modality>``
        masks for each modality in ``features``, undirected ``edge_index``, ``y`` label indices (-1: none)."""
        from torch_geometric.data import Data

        data = Data(num_nodes=self.num_nodes, edge_index=self.undirected_edges())
        for modality, values in features.items():
            if values.shape[0] != self.num_nodes:
                raise ValueError(f"{modality} features for {values.shape[0]} nodes, the graph has {self.num_nodes}")
            data[f"x_{modality}"] = values
            data[f"has_{modality}"] = self.has(modality)
        names = sorted({label for label in self.labels if label is not None})
        data.y = torch.tensor([names.index(label) if label is not None else -1 for label in self.labels])
        data.label_names = names
        return data

    def to_hetero(self, features: dict[str, torch.Tensor]):
        """A ``torch_geometric.data.HeteroData`` with node type ``node`` and one relation per edge type."""
        from torch_geometric.data import HeteroData

        data = HeteroData()
        data["node"].num_nodes = self.num_nodes
        for modality, values in features.items():
            data["node"][f"x_{modality}"] = values
            data["node"][f"has_{modality}"] = self.has(modality)
        for index, name in enumerate(self.edge_types):
            data["node", name, "node"].edge_index = self.edge_index[:, self.edge_type == index]
        return data


def _node_row(path: Path, number: int, row: dict[str, Any], root: Path) -> tuple[str, dict[str, Any], str | None]:
    where = f"{path}, line {number}"
    node_id = row.get("id")
    if isinstance(node_id, bool) or not isinstance(node_id, str | int) or str(node_id) == "":
        raise GraphFormatError(f"{where}: field 'id' is missing or empty (expected a string or an integer)")
    attributes: dict[str, Any] = dict.fromkeys(ATTRIBUTES)
    text = row.get("text")
    if isinstance(text, list):
        text = next((t for t in text if isinstance(t, str) and t.strip()), None)
    if text is not None:
        if not isinstance(text, str) or not text.strip():
            raise GraphFormatError(f"{where}, field 'text': expected a non-empty string or list of strings")
        attributes["text"] = text
    for modality in ("image", "audio"):
        value = row.get(modality)
        if value is None:
            continue
        attributes[modality] = resolve_file(
            root, value, f"{where}, field '{modality}'", "the graph's folder", GraphFormatError
        )
    if all(value is None for value in attributes.values()):
        raise GraphFormatError(f"{where}: node {node_id!r} has no attribute (one of {', '.join(ATTRIBUTES)})")
    label = row.get("label")
    if label is not None and (isinstance(label, bool) or not isinstance(label, str | int)):
        raise GraphFormatError(f"{where}, field 'label': expected a string or an integer, got {label!r}")
    return str(node_id), attributes, str(label) if label is not None else None


def _edge_columns(edges: Path, header: list[str]) -> tuple[str, str, str | None]:
    """The header's source, target and (optional) type column names, found by :data:`EDGE_END_COLUMNS`."""
    names: dict[str, str] = {}
    for name in header:
        key = name.strip().lower()
        if key in names:
            raise GraphFormatError(f"{edges}: the header has both {names[key]!r} and {name!r}")
        names[key] = name
    pairs = [(names[a], names[b]) for a, b in EDGE_END_COLUMNS if a in names and b in names]
    spellings = ", ".join(f"{a}/{b}" for a, b in EDGE_END_COLUMNS[1:])
    if not pairs:
        raise GraphFormatError(
            f"{edges}: expected a header with 'source' and 'target' (or {spellings}; any case), got {header}"
        )
    if len(pairs) > 1:
        raise GraphFormatError(f"{edges}: the header names the edge ends twice ({pairs}); keep one pair")
    types = [names[t] for t in EDGE_TYPE_COLUMNS if t in names]
    if len(types) > 1:
        raise GraphFormatError(f"{edges}: the header has several edge type columns {types}; keep one")
    return pairs[0][0], pairs[0][1], types[0] if types else None


@dataclass
class _Nodes:
    """The nodes read so far: ids in file order, each modality's attribute per node, labels."""

    ids: list[str] = field(default_factory=list)
    attributes: dict[str, list[Any]] = field(default_factory=lambda: {m: [] for m in ATTRIBUTES})
    labels: list[str | None] = field(default_factory=list)


@dataclass
class _Edges:
    """The edges kept so far: ``(source, target)`` node rows, their type numbers, the type names, the keys seen."""

    pairs: list[tuple[int, int]] = field(default_factory=list)
    types: list[int] = field(default_factory=list)
    type_names: list[str] = field(default_factory=list)
    seen: set[tuple[int, int, str]] = field(default_factory=set)


def _read_nodes(nodes: Path, bad: Callable[[ManifestError], None], skipped: SkipReport) -> _Nodes:
    """Every good row of the nodes file (a bad one goes to ``bad``: raised, or counted and dropped)."""
    if not nodes.is_file():
        raise FileNotFoundError(f"nodes file not found: {nodes}")
    root = nodes.parent.resolve()
    read, first_line = _Nodes(), {}
    for number, row in read_jsonl(nodes, unit="line", on_bad=bad, error=GraphFormatError):
        for name in row:
            if name not in ATTRIBUTES and looks_like_modality(name):
                skipped.note_field(name)
        try:
            node_id, values, label = _node_row(nodes, number, row, root)
            if node_id in first_line:
                raise GraphFormatError(
                    f"{nodes}, line {number}: duplicate id {node_id!r} (first on line {first_line[node_id]})"
                )
        except ManifestError as error:
            bad(error)
            continue
        first_line[node_id] = number
        read.ids.append(node_id)
        for modality in ATTRIBUTES:
            read.attributes[modality].append(values[modality])
        read.labels.append(label)
    skipped.warn_unknown_fields(nodes, "nodes", ATTRIBUTES)
    if not read.ids:
        raise GraphFormatError(f"{nodes}: the graph has no nodes")
    return read


def _keeps_edge(
    where: str, ends: dict[str, str], index: dict[str, int], self_loops: SelfLoops, skipped: SkipReport
) -> bool:
    """Whether an edge row with ``ends`` (column -> node id) is kept: ``GraphFormatError`` for an empty or unknown
    end or a refused self-loop; False for a dropped self-loop (counted in ``skipped``)."""
    for name, value in ends.items():
        if not value:
            raise GraphFormatError(f"{where}, field {name!r}: empty")
        if value not in index:
            raise GraphFormatError(f"{where}, field {name!r}: no node {value!r}")
    source, target = ends.values()
    if source == target and self_loops != "keep":
        if self_loops == "error":
            raise GraphFormatError(f"{where}: self-loop on {source!r}")
        skipped.add(f"{where}: self-loop on {source!r} dropped")
        return False
    return True


def _read_edges(
    edges: Path,
    index: dict[str, int],
    self_loops: SelfLoops,
    bad: Callable[[ManifestError], None],
    skipped: SkipReport,
) -> _Edges:
    """Every good, distinct edge of the edges file between nodes of ``index`` (node id -> row)."""
    if not edges.is_file():
        raise FileNotFoundError(f"edges file not found: {edges}")
    header, records = read_table(edges, "\t", unit="line", on_bad=bad, error=GraphFormatError)
    source_column, target_column, type_column = _edge_columns(edges, header)
    read = _Edges()
    for number, row in records:
        source, target = (row.get(source_column) or "").strip(), (row.get(target_column) or "").strip()
        try:
            if not _keeps_edge(f"{edges}, line {number}", {source_column: source, target_column: target}, index,
                               self_loops, skipped):  # fmt: skip
                continue
        except GraphFormatError as error:
            bad(error)
            continue
        kind = ((row.get(type_column) or "").strip() if type_column else "") or "edge"
        key = (index[source], index[target], kind)
        if key in read.seen:
            skipped.add(f"{edges}, line {number}: repeated edge {source} -> {target} ({kind}) kept once")
            continue
        read.seen.add(key)
        if kind not in read.type_names:
            read.type_names.append(kind)
        read.pairs.append(key[:2])
        read.types.append(read.type_names.index(kind))
    return read


def read_graph(
    nodes: str | Path,
    edges: str | Path,
    self_loops: SelfLoops = "drop",
    on_error: OnError = "raise",
) -> MultimodalGraph:
    """Read and check a graph; with ``on_error="skip"`` bad nodes and edges are dropped and counted."""
    if self_loops not in ("drop", "keep", "error"):
        raise ValueError(f"self_loops must be drop, keep or error, got {self_loops!r}")
    skipped = SkipReport()
    handle = skipped.handler(on_error)

    def bad(error: ManifestError) -> None:
        handle(error if isinstance(error, GraphFormatError) else GraphFormatError(str(error)))

    read = _read_nodes(Path(nodes), bad, skipped)
    index = {node_id: i for i, node_id in enumerate(read.ids)}
    kept = _read_edges(Path(edges), index, self_loops, bad, skipped)
    edge_index = torch.tensor(kept.pairs, dtype=torch.long).reshape(-1, 2).T.contiguous()
    types = torch.tensor(kept.types, dtype=torch.long)
    return MultimodalGraph(read.ids, read.attributes, read.labels, edge_index, types, kept.type_names, skipped)


def write_graph(
    directory: str | Path,
    nodes: Sequence[dict[str, Any]],
    edges: Sequence[tuple[str, str, str]],
    prefix: str = "",
) -> tuple[Path, Path]:
    """Write ``{prefix}nodes.jsonl`` and ``{prefix}edges.tsv`` (``(source, target, type)`` rows) in ``directory``."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    nodes_path, edges_path = directory / f"{prefix}nodes.jsonl", directory / f"{prefix}edges.tsv"
    nodes_path.write_text("".join(json.dumps(node, ensure_ascii=False) + "\n" for node in nodes), encoding="utf-8")
    with edges_path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, delimiter="\t", lineterminator="\n")
        writer.writerow(["source", "target", "type"])
        writer.writerows(edges)
    return nodes_path, edges_path
