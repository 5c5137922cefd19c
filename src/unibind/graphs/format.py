"""Multimodal graphs in a plain format: nodes as JSONL, edges as TSV.

``nodes.jsonl``: one node per line, ``{"id": "n1", "text": "a cat", "image": "images/n1.png", "label": "animal"}``;
any of the modality fields ``text`` (a string or a list of strings, the first is the node's text),
``image`` and ``audio`` (paths relative to the file's folder, which they may not leave); ``label`` and
``type`` are optional. ``edges.tsv``: a header with ``source`` and ``target`` (and optionally ``type``),
then one edge per line.

Checks, each naming the file and line: duplicate node ids, a node with no attribute, an edge to a node
that does not exist, an empty graph; self-loops are dropped and counted (``self_loops="drop"``), kept, or
refused (``"error"``); repeated edges are kept once and counted.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import torch

from unibind.datasets.manifest import ManifestError, OnError, SkipReport

ATTRIBUTES = ("text", "image", "audio")
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


def _node_row(path: Path, number: int, row: Any, root: Path) -> tuple[str, dict[str, Any], str | None]:
    where = f"{path}, line {number}"
    if not isinstance(row, dict):
        raise GraphFormatError(f"{where}: expected a JSON object, got {type(row).__name__}")
    node_id = row.get("id")
    if not isinstance(node_id, str | int) or str(node_id) == "":
        raise GraphFormatError(f"{where}: field 'id' is missing or empty")
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
        if not isinstance(value, str) or not value:
            raise GraphFormatError(f"{where}, field '{modality}': expected a file path, got {value!r}")
        resolved = (root / value).resolve()
        if not resolved.is_relative_to(root):
            raise GraphFormatError(f"{where}, field '{modality}': {value!r} leaves the graph's folder {root}")
        if not resolved.is_file():
            raise GraphFormatError(f"{where}, field '{modality}': file not found: {resolved}")
        attributes[modality] = resolved
    if all(value is None for value in attributes.values()):
        raise GraphFormatError(f"{where}: node {node_id!r} has no attribute (one of {', '.join(ATTRIBUTES)})")
    label = row.get("label")
    return str(node_id), attributes, str(label) if label is not None else None


def read_graph(
    nodes: str | Path,
    edges: str | Path,
    self_loops: SelfLoops = "drop",
    on_error: OnError = "raise",
) -> MultimodalGraph:
    """Read and check a graph; with ``on_error="skip"`` bad nodes and edges are dropped and counted."""
    nodes, edges = Path(nodes), Path(edges)
    if self_loops not in ("drop", "keep", "error"):
        raise ValueError(f"self_loops must be drop, keep or error, got {self_loops!r}")
    skipped = SkipReport()

    def bad(error: GraphFormatError) -> None:
        if on_error == "raise":
            raise error
        skipped.add(str(error))

    if not nodes.is_file():
        raise FileNotFoundError(f"nodes file not found: {nodes}")
    root = nodes.parent.resolve()
    ids: list[str] = []
    first_line: dict[str, int] = {}
    attributes: dict[str, list[Any]] = {m: [] for m in ATTRIBUTES}
    labels: list[str | None] = []
    for number, line in enumerate(nodes.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            try:
                row = json.loads(line)
            except json.JSONDecodeError as err:
                raise GraphFormatError(f"{nodes}, line {number}: not JSON ({err.msg})") from err
            node_id, values, label = _node_row(nodes, number, row, root)
            if node_id in first_line:
                raise GraphFormatError(
                    f"{nodes}, line {number}: duplicate id {node_id!r} (first on line {first_line[node_id]})"
                )
        except GraphFormatError as error:
            bad(error)
            continue
        first_line[node_id] = number
        ids.append(node_id)
        for modality in ATTRIBUTES:
            attributes[modality].append(values[modality])
        labels.append(label)
    if not ids:
        raise GraphFormatError(f"{nodes}: the graph has no nodes")
    index = {node_id: i for i, node_id in enumerate(ids)}
    pairs, types, type_names, seen = [], [], [], set()
    if not edges.is_file():
        raise FileNotFoundError(f"edges file not found: {edges}")
    with edges.open(encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle, delimiter="\t")
        if not {"source", "target"} <= set(reader.fieldnames or []):
            raise GraphFormatError(f"{edges}: expected a header with 'source' and 'target', got {reader.fieldnames}")
        for number, row in enumerate(reader, start=2):
            source, target = (row.get("source") or "").strip(), (row.get("target") or "").strip()
            try:
                for name, value in (("source", source), ("target", target)):
                    if value not in index:
                        raise GraphFormatError(f"{edges}, line {number}, field '{name}': no node {value!r}")
                if source == target and self_loops != "keep":
                    if self_loops == "error":
                        raise GraphFormatError(f"{edges}, line {number}: self-loop on {source!r}")
                    skipped.add(f"{edges}, line {number}: self-loop on {source!r} dropped")
                    continue
            except GraphFormatError as error:
                bad(error)
                continue
            kind = (row.get("type") or "").strip() or "edge"
            key = (index[source], index[target], kind)
            if key in seen:
                skipped.add(f"{edges}, line {number}: repeated edge {source} -> {target} ({kind}) kept once")
                continue
            seen.add(key)
            if kind not in type_names:
                type_names.append(kind)
            pairs.append(key[:2])
            types.append(type_names.index(kind))
    edge_index = torch.tensor(pairs, dtype=torch.long).T.reshape(2, -1)
    return MultimodalGraph(
        ids, attributes, labels, edge_index, torch.tensor(types, dtype=torch.long), type_names, skipped
    )


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
