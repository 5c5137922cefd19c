"""Candidate scores from int8 matrix products (oneDNN u8 x s8, VNNI/AMX): twice bfloat16's throughput.

Rows are quantised symmetrically, one scale per row: ``x ~ s * round(x / s)`` with ``s = max|x| / 127``, and
packed once, chunk by chunk, for oneDNN's int8 matrix product. Queries are scaled to ``max|q| = 1`` and
stored as uint8 around the zero point 128. The product returns bfloat16 scores in units of ``1 / max|q|``
per query: a positive factor per query, so each query's ranking (all a candidate pool needs) is unchanged.
Quantisation moves a unit-norm score by about ``(s_x + s_q) / sqrt(12)`` (about 5e-4 at 384 dimensions);
the exact float32 re-scoring of the candidates (:func:`unibind.retrieval.topk.rescore`) removes it from the
returned scores.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch

from unibind.retrieval.topk import pool_candidates

LEVELS = 127  # int8 magnitudes used by both sides (symmetric, no -128)
ZERO_POINT = 128  # uint8 zero point of the queries


def int8_available() -> bool:
    """True when this CPU has int8 dot-product instructions (AVX-512 VNNI, AVX-VNNI or AMX) and torch has
    oneDNN's quantised linear. Without them oneDNN's int8 products are slower than bfloat16 (or saturate)."""
    if not (torch.backends.mkldnn.is_available() and hasattr(torch.ops.onednn, "qlinear_pointwise")):
        return False
    capabilities = torch.cpu.get_capabilities()
    return any(capabilities.get(name, False) for name in ("avx512_vnni", "avx_vnni", "amx_int8"))


def quantize_rows(vectors: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``vectors: [N, D]`` as ``(int8 [N, D], scales [N] float32)`` with ``vectors ~ int8 * scales[:, None]``."""
    values = vectors.float()
    scales = values.abs().amax(dim=1).clamp_min(torch.finfo(torch.float32).tiny) / LEVELS
    return torch.round(values / scales.unsqueeze(1)).to(torch.int8), scales


def quantize_queries(queries: torch.Tensor) -> torch.Tensor:
    """``queries: [Q, D]`` scaled to ``max|q| = 1`` per row, as uint8 ``round(127 q) + 128`` (values 1..255)."""
    values = queries.float()
    peak = values.abs().amax(dim=1, keepdim=True).clamp_min(torch.finfo(torch.float32).tiny)
    return (torch.round(values / peak * LEVELS) + ZERO_POINT).to(torch.uint8)


class Int8Rows:
    """Rows of ``vectors: [N, D]`` (all, or ``rows: [M]`` of them) quantised (:func:`quantize_rows`) and
    packed for oneDNN, ``chunk_size`` rows a pack (gathered chunk by chunk: no full-size temporary).

    About one byte per value (a quarter of float32). :meth:`candidates` gives each query's best positions
    (in ``rows`` order) by the int8 scores; build it only where :func:`int8_available` is true.
    """

    def __init__(self, vectors: torch.Tensor, rows: torch.Tensor | None = None, chunk_size: int = 16384) -> None:
        count = vectors.shape[0] if rows is None else len(rows)
        if vectors.ndim != 2 or count == 0:
            raise ValueError(f"expected a non-empty [N, D] tensor, got {tuple(vectors.shape)} ({count} rows)")
        self.num_rows, self.dim = count, vectors.shape[1]
        self.chunks: list[tuple[int, torch.Tensor, torch.Tensor, torch.Tensor]] = []
        for start in range(0, self.num_rows, chunk_size):
            chunk = vectors[start : start + chunk_size] if rows is None else vectors[rows[start : start + chunk_size]]
            values, scales = quantize_rows(chunk)
            packed = torch.ops.onednn.qlinear_prepack(values, None)
            self.chunks.append((start, packed, scales, torch.zeros(len(scales), dtype=torch.int32)))

    @property
    def nbytes(self) -> int:
        """Bytes held: the int8 values and one float32 scale per row."""
        return self.num_rows * (self.dim + 4)

    def blocks(self, queries: torch.Tensor) -> Iterator[tuple[int, torch.Tensor]]:
        """``(first row, bfloat16 scores [Q, C])`` per chunk, in units of ``1 / max|q|`` per query."""
        quantized = quantize_queries(queries)
        for start, packed, scales, zero_points in self.chunks:
            scores = torch.ops.onednn.qlinear_pointwise(
                quantized, 1.0 / LEVELS, ZERO_POINT, packed, scales, zero_points,
                None, 1.0, 0, torch.bfloat16, "none", [], "",
            )  # fmt: skip
            yield start, scores

    def candidates(self, queries: torch.Tensor, take: int) -> torch.Tensor:
        """``[Q, min(take, N)]`` rows with the best int8 scores per query ``[Q, D]``, best first."""
        return pool_candidates(self.blocks(queries), min(take, self.num_rows))
