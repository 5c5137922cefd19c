"""Multimodal graphs: neighbour sampling, the GNN node encoder, its training and the graph tasks.

The plain nodes/edges file format is :mod:`unibind.datasets.graph_format`.
"""
