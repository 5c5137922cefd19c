"""Multimodal graphs: the plain nodes/edges format, neighbour sampling, the GNN encoder, graph tasks."""

from unibind.graphs.format import GraphFormatError, MultimodalGraph, read_graph, write_graph

__all__ = ["GraphFormatError", "MultimodalGraph", "read_graph", "write_graph"]
