"""Checkpoints a killed run resumes from exactly: whole files only, the newest one found, random states kept.

:class:`ResumableCheckpoint` is Lightning's ``ModelCheckpoint`` with three changes:

- every checkpoint is written under a temporary name and renamed into place, and ``last.ckpt`` (a link, with
  ``save_last: link``) is swapped atomically too: a kill at any moment leaves only complete ``.ckpt`` files;
- ``--ckpt_path last`` resumes from the newest complete checkpoint in the folder, whichever name it has: a
  kill between writing a step checkpoint and moving ``last.ckpt`` (or a ``last.ckpt`` left pointing at a
  deleted file) still resumes from the newest step;
- each checkpoint carries every rank's random states (torch, CUDA, Python, NumPy), restored on resume, so
  dropout and augmentation continue as in the uninterrupted run. The data position travels in the same
  checkpoint through :class:`~unibind.training.loader.ResumableLoader`.

It also saves at the end of training when the last step was not already saved.

:func:`check_checkpoint` is what ``unibind fit|validate|test|predict --ckpt_path`` runs on the file before
Lightning reads it: a file that ``torch.load(weights_only=True)`` cannot read (a pickle that needs arbitrary
classes, a truncated file, something else) or that is not a Lightning checkpoint is a
:class:`~unibind.weights.WeightsError` naming it, and nothing in it is unpickled beyond
tensors and plain containers.
"""

from __future__ import annotations

import os
import random
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
from lightning.pytorch.callbacks import ModelCheckpoint

from unibind.atomic import replace_atomically
from unibind.objectives.distributed import gather_objects, rank
from unibind.weights import WeightsError, load_weights_only

RANDOM_STATES_KEY = "unibind_random_states"  #: every rank's random states, in rank order


def random_states() -> dict[str, Any]:
    """This process's random states as plain types and tensors (loadable with ``weights_only=True``)."""
    kind, keys, position, has_gauss, cached = np.random.get_state()
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state() if torch.cuda.is_available() and torch.cuda.is_initialized() else None,
        "python": random.getstate(),
        "numpy": [kind, torch.from_numpy(keys.astype(np.int64)), int(position), int(has_gauss), float(cached)],
    }


def set_random_states(states: dict[str, Any]) -> None:
    """Inverse of :func:`random_states`."""
    torch.set_rng_state(states["torch"])
    if states.get("cuda") is not None and torch.cuda.is_available():
        torch.cuda.set_rng_state(states["cuda"])
    version, internal, gauss = states["python"]
    random.setstate((version, tuple(internal), gauss))
    kind, keys, position, has_gauss, cached = states["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), position, has_gauss, cached))


class ResumableCheckpoint(ModelCheckpoint):
    """``ModelCheckpoint`` (same arguments) with atomic writes, newest-complete resume and random states.

    Typical config: ``every_n_train_steps: 500``, ``save_last: link``; resume with ``--ckpt_path last``.
    """

    def _save_checkpoint(self, trainer: L.Trainer, filepath: str) -> None:
        target = Path(filepath)
        temporary = target.with_name(f".{target.name}.tmp")
        super()._save_checkpoint(trainer, str(temporary))
        if trainer.is_global_zero:
            replace_atomically(temporary, target)
        trainer.strategy.barrier("ResumableCheckpoint.replace")
        self._last_checkpoint_saved = filepath

    @staticmethod
    def _link_checkpoint(trainer: L.Trainer, filepath: str, linkpath: str) -> None:
        if trainer.is_global_zero and os.path.abspath(filepath) != os.path.abspath(linkpath):
            link = Path(linkpath)
            temporary = link.with_name(f".{link.name}.tmp")
            temporary.unlink(missing_ok=True)
            os.symlink(os.path.relpath(filepath, link.parent), temporary)
            os.replace(temporary, link)
        trainer.strategy.barrier()

    def _find_last_checkpoints(self, trainer: L.Trainer) -> set[str]:
        """The newest complete checkpoint in the folder (by modification time), or nothing."""
        folder = Path(self.dirpath or self._ModelCheckpoint__resolve_ckpt_dir(trainer))  # Lightning's own rule
        if not folder.is_dir():
            return set()
        complete = [p for p in folder.glob(f"*{self.FILE_EXTENSION}") if not p.name.startswith(".") and p.exists()]
        if not complete:
            return set()
        newest = max(complete, key=lambda p: (p.stat().st_mtime_ns, not p.is_symlink()))
        return {os.path.normpath(newest.resolve())}

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        """Save the final state when the last step fell between two scheduled checkpoints."""
        if self._last_global_step_saved == trainer.global_step or trainer.fast_dev_run or trainer.sanity_checking:
            super().on_train_end(trainer, pl_module)
            return
        candidates = self._monitor_candidates(trainer)
        self._save_topk_checkpoint(trainer, candidates)
        self._save_last_checkpoint(trainer, candidates)

    def on_save_checkpoint(self, trainer: L.Trainer, pl_module: L.LightningModule, checkpoint: dict[str, Any]) -> None:
        # at the checkpoint's top level, not in this callback's state, so that a resumed run with other checkpoint
        # settings (another state key) still restores them; every rank builds a checkpoint (rank 0 writes it), so
        # every rank reaches this gather
        checkpoint[RANDOM_STATES_KEY] = gather_objects(random_states())

    def on_load_checkpoint(self, trainer: L.Trainer, pl_module: L.LightningModule, checkpoint: dict[str, Any]) -> None:
        states = checkpoint.get(RANDOM_STATES_KEY)
        if states:
            set_random_states(states[rank() % len(states)])


def check_checkpoint(path: str | Path) -> None:
    """Refuse, naming the file, a checkpoint that Lightning could not load weights-only or that is not one.

    The file is read with ``torch.load(weights_only=True)``, memory-mapped when it is in torch's zip format
    (so the tensors of a large checkpoint are not read here): a pickle that needs other classes is refused
    before anything in it runs. A folder (a sharded FSDP checkpoint) is left to Lightning.
    """
    path = Path(path)
    if path.is_dir():
        return
    if not path.is_file():
        raise WeightsError(f"{path}: checkpoint not found")
    checkpoint = load_weights_only(path, mmap=True)
    if not isinstance(checkpoint, dict) or not {"state_dict", "pytorch-lightning_version"} <= checkpoint.keys():
        raise WeightsError(
            f"{path} is a torch file but not a Lightning checkpoint (no 'state_dict' and 'pytorch-lightning_version'"
            " entries); --ckpt_path takes a .ckpt written by unibind fit"
        )


def last_checkpoint(trainer: L.Trainer) -> str | None:
    """The file ``--ckpt_path last`` resumes from: as Lightning picks it, the newest of the checkpoint callbacks'
    last checkpoints (:meth:`ResumableCheckpoint._find_last_checkpoints`) and on-exception checkpoints; ``None``
    when there is none on the local disk."""
    from lightning.pytorch.callbacks import OnExceptionCheckpoint

    candidates = {cb.ckpt_path for cb in trainer.callbacks if isinstance(cb, OnExceptionCheckpoint)}
    for callback in trainer.checkpoint_callbacks:
        if isinstance(callback, ModelCheckpoint):
            candidates |= callback._find_last_checkpoints(trainer)
    found = [str(p) for p in candidates if p and os.path.isfile(p)]
    return max(found, key=os.path.getmtime) if found else None
