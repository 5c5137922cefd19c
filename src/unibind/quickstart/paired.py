"""The one table type of the quickstart's extra corpora (labelled sounds, mocap windows): rows of one modality,
each with its captions' text features and a group (every row of a group answers the same label)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import torch


@dataclass(kw_only=True)
class PairedTable:
    """Rows of one modality with captions; a subclass adds the rows' inputs and says how to batch them.

    ``text``: ``[C, Wt]`` text-tower features of every caption; ``caption_row``: ``[C]`` the row of each caption;
    ``caption_is_label``: ``[C]`` True for each row's first caption (its label); ``group``: ``[S]`` one id per
    instrument, event sound or mocap clip.
    """

    modality: ClassVar[str]
    rows: list[dict]
    text: torch.Tensor
    caption_row: torch.Tensor
    caption_is_label: torch.Tensor
    group: torch.Tensor

    def items(self, split: str, source: str | None = None) -> torch.Tensor:
        """Rows of ``split`` (and, given, of ``source``)."""
        chosen = [
            i
            for i, row in enumerate(self.rows)
            if row["split"] == split and (source is None or row["source"] == source)
        ]
        return torch.tensor(chosen, dtype=torch.long)

    def captions(self, rows: torch.Tensor, labels_only: bool = False) -> torch.Tensor:
        """Indices of the captions of ``rows`` (optionally only their labels)."""
        chosen = torch.isin(self.caption_row, rows)
        if labels_only:
            chosen &= self.caption_is_label
        return torch.nonzero(chosen).squeeze(1)

    def label_queries(self, rows: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """One label caption per group present in ``rows`` (its first): ``(caption indices, their groups)``."""
        first: dict[int, int] = {}
        for caption in self.captions(rows, labels_only=True).tolist():
            first.setdefault(int(self.group[self.caption_row[caption]]), caption)
        return torch.tensor(list(first.values())), torch.tensor(list(first))

    def row_input(self, row: int) -> Any:
        """The model input of one row."""
        raise NotImplementedError

    @staticmethod
    def combine(samples: list[Any]) -> Any:
        """A batch of row inputs."""
        raise NotImplementedError

    def batch(self, rows: torch.Tensor) -> Any:
        """The inputs of ``rows`` as one batch."""
        return self.combine([self.row_input(i) for i in rows.tolist()])


def caption_columns(rows: list[dict]) -> tuple[list[str], torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(captions, caption_row, caption_is_label, group)`` of rows with ``text`` (label first) and ``group``."""
    texts, caption_rows, is_label = [], [], []
    for index, row in enumerate(rows):
        for position, caption in enumerate(row["text"]):
            texts.append(caption)
            caption_rows.append(index)
            is_label.append(position == 0)
    groups = {group: g for g, group in enumerate(dict.fromkeys(row["group"] for row in rows))}
    group = torch.tensor([groups[row["group"]] for row in rows], dtype=torch.long)
    return texts, torch.tensor(caption_rows, dtype=torch.long), torch.tensor(is_label), group
