"""The quickstart's tables (markdown) and plots (PNG)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import torch

from unibind.quickstart.evaluate import Ranks

DIRECTIONS = {"text_to_image": "text → image", "image_to_text": "image → text"}
VARIANT_LABELS = {"untrained": "untrained projection", "dense": "dense", "moe": "MoE"}


def markdown_tables(results: dict[str, dict]) -> str:
    """One table per direction: a row per language, R@1 / R@5 / R@10 (percent) per variant."""
    variants = list(results)
    languages = [lang for lang in results[variants[0]] if lang != "mean"] + ["mean"]
    blocks = []
    for direction, title in DIRECTIONS.items():
        header = "| language | " + " | ".join(f"{VARIANT_LABELS[v]} R@1 / 5 / 10" for v in variants) + " |"
        lines = [f"**{title}**", "", header, "|---|" + "---:|" * len(variants)]
        for language in languages:
            cells = []
            for variant in variants:
                recall = results[variant][language][direction]
                cells.append(" / ".join(f"{100 * recall[f'R@{k}']:.1f}" for k in (1, 5, 10)))
            name = f"**{language}**" if language == "mean" else language
            lines.append(f"| {name} | " + " | ".join(cells) + " |")
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)


SPEECH_DIRECTIONS = {
    "text_to_audio": "text → speech",
    "audio_to_text": "speech → text",
    "audio_to_image": "speech → image",
    "image_to_audio": "image → speech",
}


def speech_table(results: dict[str, dict[str, dict[str, float]]]) -> str:
    """Spoken English names (piper TTS) against names and images, per variant: R@1 / 5 / 10 and mAP@10 in percent."""
    header = (
        "| variant | " + " | ".join(f"{title} R@1 / 5 / 10 / mAP@10" for title in SPEECH_DIRECTIONS.values()) + " |"
    )
    lines = ["**Spoken English names (audio)**", "", header, "|---|" + "---:|" * len(SPEECH_DIRECTIONS)]
    for variant, by_direction in results.items():
        keys = ("R@1", "R@5", "R@10", "mAP@10")
        cells = [" / ".join(f"{100 * by_direction[d][key]:.1f}" for key in keys) for d in SPEECH_DIRECTIONS]
        lines.append(f"| {VARIANT_LABELS[variant]} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def zero_shot_table(results: dict[str, dict[str, dict[str, float]]], template: str) -> str:
    """Zero-shot emoji-category accuracy and macro-F1 (percent) per variant and modality."""
    modalities = list(next(iter(results.values())))
    header = "| variant | " + " | ".join(f"{m} accuracy / macro-F1" for m in modalities) + " |"
    lines = [f"**Zero-shot emoji category** (prompt `{template}`)", "", header, "|---|" + "---:|" * len(modalities)]
    for variant, by_modality in results.items():
        cells = [f"{100 * r['accuracy']:.1f} / {100 * r['macro_f1']:.1f}" for r in by_modality.values()]
        lines.append(f"| {VARIANT_LABELS[variant]} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


TITLES_ZERO_SHOT = {"instrument_family": "held-out instruments → GM family", "event_sound": "unseen event sounds"}


def sounds_table(
    retrieval: dict[str, dict[str, dict[str, float]]], zero_shot: dict[str, dict[str, dict[str, float]]]
) -> str:
    """Labelled real sounds per variant: label <-> clip retrieval and zero-shot classification (percent)."""
    variants = list(retrieval)
    first = zero_shot[variants[0]]
    columns = [
        f"{TITLES_ZERO_SHOT[task]} ({first[task]['classes']}-way, {first[task]['clips']} clips)" for task in first
    ]
    header = "| variant | text → sound R@1 / 5 / 10 / mAP@10 | sound → text R@1 / 5 / 10 / mAP@10 | "
    header += " | ".join(f"{column} accuracy / macro-F1" for column in columns) + " |"
    lines = ["**Labelled real sounds (audio)**", "", header, "|---|---:|---:|" + "---:|" * len(columns)]
    keys = ("R@1", "R@5", "R@10", "mAP@10")
    for variant in variants:
        cells = [" / ".join(f"{100 * retrieval[variant][d][key]:.1f}" for key in keys) for d in retrieval[variant]]
        cells += [f"{100 * r['accuracy']:.1f} / {100 * r['macro_f1']:.1f}" for r in zero_shot[variant].values()]
        lines.append(f"| {VARIANT_LABELS[variant]} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def espeak_table(results: dict[str, dict[str, dict[str, dict[str, float]]]]) -> str:
    """Names spoken by espeak-ng, per language: name -> speech and speech -> image R@1 / 5 / 10 (percent)."""
    variants = list(results)
    languages = list(results[variants[0]])
    header = "| language | " + " | ".join(
        f"{VARIANT_LABELS[v]} {title} R@1 / 5 / 10" for v in variants for title in ("text → speech", "speech → image")
    )
    lines = [
        "**Names spoken by espeak-ng (audio, never trained on)**",
        "",
        header + " |",
        "|---|" + "---:|" * (2 * len(variants)),
    ]
    for language in languages:
        cells = [
            " / ".join(f"{100 * results[v][language][d][f'R@{k}']:.1f}" for k in (1, 5, 10))
            for v in variants
            for d in ("text_to_audio", "audio_to_image")
        ]
        lines.append(f"| {language} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def motion_table(results: dict[str, dict[str, dict[str, float]]], windows: int, labels: int) -> str:
    """Text <-> motion on the held-out mocap windows, per variant: R@1 / 5 / 10, mAP@10 (percent) and MedR."""
    header = "| variant | text → motion R@1 / 5 / 10 / mAP@10, MedR | motion → text R@1 / 5 / 10 / mAP@10, MedR |"
    lines = [
        f"**Text ↔ motion** ({labels} labels, {windows} held-out windows of real mocap)",
        "",
        header,
        "|---|---:|---:|",
    ]
    keys = ("R@1", "R@5", "R@10", "mAP@10")
    for variant, by_direction in results.items():
        cells = [
            " / ".join(f"{100 * by_direction[d][key]:.1f}" for key in keys) + f", {by_direction[d]['MedR']:g}"
            for d in ("text_to_motion", "motion_to_text")
        ]
        lines.append(f"| {VARIANT_LABELS[variant]} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def graph_table(results: dict) -> str:
    """The emoji graph: link prediction, category classification and text -> node retrieval per variant (percent)."""
    lines = [
        f"**Emoji graph** ({results['nodes']} nodes, {results['edges']} edges of types "
        f"{', '.join(results['edge_types'])}; {results['held_out_edges']} held-out edges, "
        f"{results['test_nodes']} held-out nodes)",
        "",
        "| variant | link AUC / MRR | category probe acc / F1 | zero-shot category acc / F1 "
        "| text → node R@1 / 5 / 10 |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, r in results["variants"].items():
        cells = [
            f"{100 * r['link_AUC']:.1f} / {100 * r['link_MRR']:.1f}",
            f"{100 * r['probe']['accuracy']:.1f} / {100 * r['probe']['macro_f1']:.1f}",
            f"{100 * r['zero_shot']['accuracy']:.1f} / {100 * r['zero_shot']['macro_f1']:.1f}",
            " / ".join(f"{100 * r['text_to_node'][f'R@{k}']:.1f}" for k in (1, 5, 10)),
        ]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def english_tower_line(minilm: dict[str, dict[str, float]], use: dict[str, dict[str, float]]) -> str:
    """English only, MoE: all-MiniLM-L6-v2 against multilingual USE as the text tower."""

    def cells(recall: dict[str, dict[str, float]]) -> str:
        return " | ".join(
            " / ".join(f"{100 * recall[d][f'R@{k}']:.1f}" for k in (1, 5, 10))
            for d in ("text_to_image", "image_to_text")
        )

    return "\n".join(
        [
            "**English, MoE, by text tower**",
            "",
            "| text tower | text → image R@1 / 5 / 10 | image → text R@1 / 5 / 10 |",
            "|---|---:|---:|",
            f"| all-MiniLM-L6-v2 (English only) | {cells(minilm)} |",
            f"| multilingual USE v3 (all languages) | {cells(use)} |",
        ]
    )


def matryoshka_table(plain: dict[int, dict[str, float]], matryoshka: dict[int, dict[str, float]]) -> str:
    """Text->image R@1 / R@10 (mean over languages) per embedding size: the MoE trained at full size only, cut,
    against the MoE trained with the Matryoshka loss at those sizes."""
    lines = [
        "**Matryoshka: text->image, mean over languages, MoE, embeddings cut to their first d values**",
        "",
        "| d | trained at full size: R@1 / R@10 | Matryoshka-trained: R@1 / R@10 |",
        "|---:|---:|---:|",
    ]
    for dim in sorted(matryoshka, reverse=True):
        cells = [" / ".join(f"{100 * r[f'R@{k}']:.1f}" for k in (1, 10)) for r in (plain[dim], matryoshka[dim])]
        lines.append(f"| {dim} | {cells[0]} | {cells[1]} |")
    return "\n".join(lines)


def plot_recall_curves(ranks: dict[str, dict[str, dict[str, Ranks]]], path: Path, max_k: int = 50) -> None:
    """Recall@K for K = 1..max_k: one line per language for the MoE, mean curves of the other variants."""
    ks = list(range(1, max_k + 1))
    figure, axes = plt.subplots(1, 2, figsize=(12, 4.5), sharey=True)
    colours = plt.get_cmap("tab20")
    for axis, (direction, title) in zip(axes, DIRECTIONS.items(), strict=True):
        for index, (language, by_dir) in enumerate(ranks["moe"].items()):
            curve = [(by_dir[direction].ranks < k).float().mean().item() for k in ks]
            axis.plot(ks, curve, color=colours(index), label=f"MoE {language}")
        for variant, style in (("dense", "--"), ("untrained", ":")):
            if variant in ranks:
                curves = [[(r[direction].ranks < k).float().mean().item() for k in ks] for r in ranks[variant].values()]
                axis.plot(
                    ks, torch.tensor(curves).mean(0).numpy(), "k" + style, label=f"{VARIANT_LABELS[variant]} (mean)"
                )
        axis.set(title=title, xlabel="K", xscale="log", ylim=(0, 1))
        axis.grid(alpha=0.3)
    axes[0].set_ylabel("recall@K (held-out emoji)")
    axes[1].legend(fontsize=7, ncol=2, loc="lower right")
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def plot_joint_space(
    images: torch.Tensor, texts: torch.Tensor, categories: list[str], path: Path, audio: torch.Tensor | None = None
) -> None:
    """2-D PCA of image embeddings (dots), their English names (crosses) and spoken names (triangles), by category."""
    parts = [images, texts] + ([audio] if audio is not None else [])
    both = torch.cat(parts)
    centred = both - both.mean(0)
    _, _, v = torch.pca_lowrank(centred, q=2, center=False)
    points = centred @ v[:, :2]
    names = sorted(set(categories))
    colours = plt.get_cmap("tab10")
    figure, axis = plt.subplots(figsize=(8, 6.5))
    n = len(images)
    for index, category in enumerate(names):
        mask = torch.tensor([c == category for c in categories])
        image_points, text_points = points[:n][mask], points[n : 2 * n][mask]
        image_points, text_points = image_points.numpy(), text_points.numpy()
        axis.scatter(image_points[:, 0], image_points[:, 1], s=18, color=colours(index), label=category)
        axis.scatter(text_points[:, 0], text_points[:, 1], s=22, color=colours(index), marker="x")
        if audio is not None:
            audio_points = points[2 * n :][mask].numpy()
            axis.scatter(audio_points[:, 0], audio_points[:, 1], s=16, color=colours(index), marker="^", alpha=0.7)
    spoken = ", spoken names ▲" if audio is not None else ""
    axis.set(title=f"Joint space (PCA): images ●, English names ✕{spoken} (held-out emoji)", xticks=[], yticks=[])
    axis.legend(fontsize=7, loc="best")
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def plot_expert_usage(usage: dict[str, torch.Tensor], path: Path) -> None:
    """Share of routed slots per expert, per modality (held-out emoji)."""
    figure, axis = plt.subplots(figsize=(7, 3.8))
    width = 0.8 / max(1, len(usage))
    for index, (modality, counts) in enumerate(usage.items()):
        share = (counts.float() / counts.sum()).numpy()
        positions = (torch.arange(len(counts)) + index * width).numpy()
        axis.bar(positions, share, width=width, label=modality)
    axis.axhline(1 / len(next(iter(usage.values()))), color="k", linestyle=":", linewidth=1, label="uniform")
    axis.set(title="MoE router: share of routed slots per expert", xlabel="expert", ylabel="share")
    axis.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)
