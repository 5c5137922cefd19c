"""``unibind quickstart``: train a config and show retrieval recall before and after training.

Until the emoji quickstart lands this trains ``experiments/tiny.yaml`` on the coloured-shapes corpus.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from lightning.pytorch.cli import LightningCLI

from unibind.training.cli import run_lightning_cli


def _recall(cli: LightningCLI) -> dict[str, float]:
    results = cli.trainer.validate(cli.model, datamodule=cli.datamodule, verbose=False)
    return {key.removeprefix("val/"): float(value) for key, value in results[0].items() if "R@" in key}


def format_table(before: dict[str, float], after: dict[str, float]) -> str:
    """A markdown table of recall before and after training, one row per direction and cut-off."""
    lines = ["| retrieval | untrained | trained |", "|---|---:|---:|"]
    ordered = sorted(after, key=lambda key: (key.split("/")[0], int(key.rsplit("@", 1)[1])))
    lines += [f"| {key} | {before[key]:.3f} | {after[key]:.3f} |" for key in ordered]
    return "\n".join(lines)


def run_quickstart(config: str, out: str) -> dict[str, dict[str, float]]:
    out_dir = Path(out)
    start = time.perf_counter()
    cli = run_lightning_cli(["--config", config, f"--trainer.default_root_dir={out_dir}"], run=False)
    before = _recall(cli)
    cli.trainer.fit(cli.model, datamodule=cli.datamodule)
    after = _recall(cli)
    cli.model.embedder.save_pretrained(out_dir / "model")
    metrics = {"untrained": before, "trained": after, "seconds": round(time.perf_counter() - start, 1)}
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "metrics.json").write_text(json.dumps(metrics, indent=2))
    print()
    print(format_table(before, after))
    print(f"\nwrote {out_dir / 'metrics.json'} and {out_dir / 'model'} in {metrics['seconds']} s")
    return metrics
