"""``python -m eval``: run a model over ViFailback-Bench, score every sample, and write the reports.

User errors (a missing file, a record with an unknown tag, a path escaping the dataset root, bad flags) print one
line on stderr and exit 2, never a traceback. A run that could not finish every item (backend errors) writes its
partial report, says so, and exits 1; rerunning the same command resumes it.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from eval.ablation import sampled_frames, shuffle_frames
from eval.aggregate import summarize
from eval.backends import BACKENDS, BACKOFF_S, api_key, build_backend, concurrency, describe, generation_settings
from eval.bench import BenchItem, load_bench
from eval.jsonl import read_jsonl
from eval.judge import JUDGEMENTS_FILE, LLMJudge, judge_samples
from eval.paper import OFFICIAL_BENCH_NAME, looks_official
from eval.recovery import add_parser as add_recovery_parser
from eval.report import write_reports
from eval.runner import SAMPLES_FILE, RunAborted, generate_samples
from eval.scoring import score_sample
from eval.tasks import select_tags
from vifailback_demo.core.dataset import dataset_root_of, read_json, write_json_atomic
from vifailback_demo.errors import ViFailbackError
from vifailback_demo.models.openai_http import ChatClient

EXIT_INCOMPLETE = 1
EXIT_USER_ERROR = 2
MANIFEST_FILE = "run.json"
#: Model settings that must match when a run directory is resumed (else two models' answers would mix).
_IDENTITY_KEYS = ("backend", "model", "served_model", "base_url", "adapter", "quantization", "dtype", "max_new_tokens")

DESCRIPTION = """\
Evaluate a ViFailback diagnosis model on ViFailback-Bench (11 task types: 6 Lite closed-ended, 5 Hard open-ended).

  python -m eval run   --bench FILE --dataset-root DIR (--model PATH|ID | --base-url URL) --out DIR
  python -m eval score --out DIR [--judge-url URL]      re-score / judge an existing run, rewrite the reports
"""

EPILOG = """\
Outputs in --out: samples.jsonl (one line per finished item: question, reference, reply, offline score),
errors.jsonl (items that failed; a rerun retries them), judgements.jsonl (LLM judge, one line per Hard item),
run.json (what produced the run), report.json / report.csv / report.md (summary) and report.png (bar chart).
A rerun with the same --out skips finished items (resume after a crash or Ctrl-C).

Scoring: Lite = exact match after mapping the reply to one option (a leading letter such as "B." or "(b)", else
the option text; see docs/eval.md); Hard offline = structured score for the CoT tasks 7-8 (success, keyframe,
failure type, command elements, symbols) and ROUGE-L F1 for tasks 9-11; Hard judge = an LLM through any
OpenAI-compatible endpoint (semantic similarity, completeness, functional equivalence, 0-10 each, averaged, %).
Judge and offline scores are reported separately; the headline Hard uses the judge when every Hard item has a
judgement. Average = Lite and Hard weighted by item count, as in the paper. On the official bench
(ViFailback_VQA_benchmark.json) the report adds the paper's published numbers.

Environment: API keys are read only from the variables named by --api-key-env / --judge-api-key-env (default
OPENAI_API_KEY) and are never written or logged. Exit codes: 0 done, 1 incomplete (rerun to resume), 2 bad input.
"""


class _OneLineParser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(EXIT_USER_ERROR, f"{self.prog}: error: {message} (see --help)\n")


def _add_judge_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("LLM judge (Hard tasks; optional, any OpenAI-compatible endpoint)")
    g.add_argument("--judge-url", metavar="URL", help="judge server base URL, e.g. https://api.openai.com/v1")
    g.add_argument("--judge-model", default="gpt-4o", help="judge model name (default: gpt-4o, as in the paper)")
    g.add_argument("--judge-api-key-env", default="OPENAI_API_KEY", metavar="VAR", help="env var with the judge key")
    g.add_argument("--judge-concurrency", type=int, default=8, metavar="N", help="judge requests in flight (8)")
    g.add_argument("--judge-retries", type=int, default=2, metavar="N", help="retries per judgement (2)")
    g.add_argument("--judge-timeout", type=float, default=120.0, metavar="S", help="seconds per judge request (120)")


def _add_report_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--compare-paper",
        choices=("auto", "yes", "no"),
        default="auto",
        help=f"add the paper's numbers to the report (auto: when the bench file is {OFFICIAL_BENCH_NAME} "
        "and its dataset root is not a synthetic one)",
    )
    p.add_argument("--json", action="store_true", help="print the summary as JSON on stdout")
    p.add_argument("--quiet", action="store_true", help="no progress lines on stderr")


def add_model_args(p: argparse.ArgumentParser) -> None:
    """The model flags of ``run`` (backend, model, server, limits), for any command that asks a model."""
    m = p.add_argument_group("model")
    m.add_argument("--backend", choices=BACKENDS, default="auto",
                   help="auto: openai if --base-url, else transformers; reference: answer with the bench's "
                   "references (scorer check)")  # fmt: skip
    m.add_argument("--model", metavar="PATH|ID", help="local checkpoint directory or cached Hugging Face ID")
    m.add_argument("--adapter", metavar="DIR", help="LoRA adapter directory on top of --model (transformers)")
    m.add_argument("--dtype", choices=("auto", "bfloat16", "float16", "float32"), default="auto")
    m.add_argument(
        "--quantization", choices=("none", "8bit", "nf4"), default="none", help="bitsandbytes (transformers)"
    )
    m.add_argument(
        "--device", default="auto", help="device map for local models: auto (the backend's choice), cpu, cuda"
    )
    m.add_argument("--batch-size", type=int, default=1, metavar="N", help="items per local forward pass (1)")
    m.add_argument("--base-url", metavar="URL", help="OpenAI-compatible server, e.g. http://127.0.0.1:8000/v1")
    m.add_argument("--served-model", metavar="NAME", help="model name on the server (default: --model)")
    m.add_argument("--api-key-env", default="OPENAI_API_KEY", metavar="VAR", help="env var with the server key")
    m.add_argument("--concurrency", type=int, default=None, metavar="N",
                   help="requests in flight for a served model (default 16; local models: 1)")  # fmt: skip
    m.add_argument("--request-timeout", type=float, default=600.0, metavar="S",
                   help="seconds of silence allowed per request: connecting or between two reads (600)")  # fmt: skip
    m.add_argument("--request-deadline", type=float, default=None, metavar="S",
                   help="seconds one request may take in all, retries included (default: 60 + 0.1 per "
                   "--max-new-tokens, at least --request-timeout)")  # fmt: skip
    m.add_argument("--retries", type=int, default=2, metavar="N", help="retries per request on transient errors (2)")
    m.add_argument(
        "--max-new-tokens", type=int, default=2048, metavar="N", help="generation limit (2048, as the paper)"
    )


def build_parser() -> argparse.ArgumentParser:
    formatter = argparse.RawDescriptionHelpFormatter
    parser = _OneLineParser(prog="python -m eval", description=DESCRIPTION, epilog=EPILOG, formatter_class=formatter)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_OneLineParser)

    run = sub.add_parser("run", help="generate, score and report", description=DESCRIPTION, epilog=EPILOG,
                         formatter_class=formatter)  # fmt: skip
    g = run.add_argument_group("bench")
    g.add_argument(
        "--bench", required=True, metavar="FILE", help="VQA JSON in the official layout (any of the 11 tags)"
    )
    g.add_argument("--dataset-root", metavar="DIR", help="root that image paths are relative to "
                   "(default: the parent of the bench's VQA/ folder, else the bench's folder)")  # fmt: skip
    g.add_argument(
        "--tasks", metavar="LIST", help="comma-separated: lite, hard, task numbers 1-11 or tags (default all)"
    )
    g.add_argument("--limit", type=int, metavar="N", help="only the first N selected items")
    g.add_argument("--frames", choices=("given", "shuffled", "sampled"), default="given",
                   help="shuffled: ask each question over another episode's frames of the same count (an "
                   "ablation: scores that do not drop mean the model does not read the frames); sampled: over the "
                   "frames the app's official sampling takes from the episode's video, without the keyframes the "
                   "VQA lists insert (image numbers remapped; keyframe localisation left out)")  # fmt: skip
    g.add_argument("--out", required=True, metavar="DIR", help="run directory (created; reused to resume)")
    add_model_args(run)
    _add_judge_args(run)
    _add_report_args(run)
    run.set_defaults(handler=cmd_run)

    score = sub.add_parser("score", help="re-score an existing run, optionally judge it, rewrite the reports",
                           description=DESCRIPTION, epilog=EPILOG, formatter_class=formatter)  # fmt: skip
    score.add_argument("--out", required=True, metavar="DIR", help="a run directory written by 'run'")
    score.add_argument("--bench", metavar="FILE", help="bench file (default: the one in run.json)")
    score.add_argument("--dataset-root", metavar="DIR", help="dataset root (default: the one in run.json)")
    _add_judge_args(score)
    _add_report_args(score)
    score.set_defaults(handler=cmd_score)

    add_recovery_parser(sub)
    return parser


# --- shared steps ------------------------------------------------------------------------------------------------


def _log(args: argparse.Namespace, message: str) -> None:
    if not getattr(args, "quiet", False):
        print(message, file=sys.stderr, flush=True)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _check_and_write_manifest(out: Path, manifest: dict[str, Any]) -> None:
    path = out / MANIFEST_FILE
    if path.is_file():
        stored = read_json(path)
        if stored.get("frames", "given") != manifest.get("frames", "given"):
            raise ViFailbackError(
                f"{out} holds a run with --frames {stored.get('frames', 'given')}; expected the same frames to "
                "resume: use another --out"
            )
        old = stored.get("generator", {})
        new = manifest["generator"]
        changed = [k for k in _IDENTITY_KEYS if old.get(k) != new.get(k)]
        if changed:
            raise ViFailbackError(
                f"{out} holds a run of {old.get('model') or old.get('backend')!r} with other settings "
                f"({', '.join(changed)}); expected the same model to resume: use another --out"
            )
        manifest = {**stored, **{k: v for k, v in manifest.items() if k != "created"}}
    write_json_atomic(path, manifest)


def _judge(args: argparse.Namespace, samples: list[dict[str, Any]], out: Path) -> dict[str, Any] | None:
    if not args.judge_url:
        return None
    key, key_source = api_key(args.judge_api_key_env)
    client = ChatClient(
        args.judge_url,
        args.judge_model,
        api_key=key,
        timeout_s=args.judge_timeout,
        retries=args.judge_retries,
        backoff_s=BACKOFF_S,
        key_source=key_source,
    )
    judge = LLMJudge(client, retries=args.judge_retries)
    _log(args, f"eval: judging Hard samples with {args.judge_model} at {client.url}")
    stats = judge_samples(samples, judge, out, concurrency=args.judge_concurrency, log=lambda m: _log(args, m))
    return {"model": args.judge_model, "url": client.url, **stats.__dict__}


def _finish(
    args: argparse.Namespace, out: Path, items: Sequence[BenchItem] | None, manifest: dict[str, Any], bench_name: str
) -> int:
    """Re-score stored samples, judge (if asked), aggregate, write the reports; returns the exit code."""
    samples: list[dict[str, Any]] = []
    seen: set[str] = set()
    for s in read_jsonl(out / SAMPLES_FILE):
        if s.get("id") in seen or "tag" not in s:
            continue
        seen.add(s["id"])
        s["offline"] = score_sample(s)  # scorers may be newer than the stored line
        samples.append(s)
    judge_info = _judge(args, samples, out)
    judgements = {str(j["id"]): j for j in read_jsonl(out / JUDGEMENTS_FILE) if "id" in j and "score" in j}
    expected = {it.id: it.tag for it in items} if items is not None else None
    summary = summarize(samples, judgements, expected=expected)
    meta = {**manifest, "bench_name": bench_name, "judge": judge_info, "reported": time.strftime("%Y-%m-%dT%H:%M:%S")}
    meta["model"] = manifest.get("generator", {}).get("model") or manifest.get("generator", {}).get("backend")
    official = looks_official(bench_name, manifest.get("dataset_root"))
    compare = args.compare_paper == "yes" or (args.compare_paper == "auto" and official)
    paths = write_reports(out, summary, meta, compare_paper=compare)
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        print(
            f"Lite {summary['lite']}  Hard {summary['hard']} ({summary['hard_source']})  Average {summary['average']}"
            f"  [{summary['counts']['scored']}/{summary['counts']['expected']} items] -> {paths['json']}"
        )
    incomplete = []
    if not summary["complete"]:
        incomplete.append(f"{summary['counts']['missing']} items have no result")
    if judge_info is not None and summary["counts"]["judged"] < summary["counts"]["hard"]:
        incomplete.append(f"{summary['counts']['hard'] - summary['counts']['judged']} Hard items have no judgement")
    if incomplete:
        print(f"python -m eval: incomplete: {'; '.join(incomplete)}; rerun the same command to resume", file=sys.stderr)
        return EXIT_INCOMPLETE
    return 0


# --- commands ----------------------------------------------------------------------------------------------------


def cmd_run(args: argparse.Namespace) -> int:
    tags = select_tags(args.tasks)
    bench = Path(args.bench)
    root = Path(args.dataset_root) if args.dataset_root else dataset_root_of(bench)
    items = load_bench(bench, root, tags=tags, limit=args.limit)
    if args.frames == "shuffled":
        items, kept = shuffle_frames(items)
        _log(args, f"eval: frames shuffled between episodes of equal length ({kept} items kept their own)")
    elif args.frames == "sampled":
        items, left_out = sampled_frames(items)
        _log(args, f"eval: frames as the app samples them ({left_out} keyframe-localisation items left out)")
    model_info = describe(args)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    manifest = {
        "bench": str(bench.resolve()),
        "bench_sha256": _sha256(bench),
        "dataset_root": str(root.resolve()),
        "tasks": list(tags),
        "limit": args.limit,
        "frames": args.frames,
        "generator": model_info,  # the field's name predates the one backend interface; kept for resuming
        "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
    }
    _check_and_write_manifest(out, manifest)
    in_flight = concurrency(args)
    backend = build_backend(args, items)
    _log(args, f"eval: {len(items)} items selected, backend {model_info['backend']}, concurrency {in_flight}")
    aborted: str | None = None
    try:
        stats = generate_samples(
            items, backend, root, out, settings=generation_settings(args), concurrency=in_flight,
            batch_size=args.batch_size, log=lambda m: _log(args, m),
        )  # fmt: skip
        _log(args, f"eval: {stats.written} generated, {stats.skipped} already done, {stats.failed} failed")
    except RunAborted as exc:
        aborted = str(exc)
    code = _finish(args, out, items, read_json(out / MANIFEST_FILE), bench.name)
    if aborted:
        print(f"python -m eval run: error: {aborted}", file=sys.stderr)
        return EXIT_INCOMPLETE
    return code


def cmd_score(args: argparse.Namespace) -> int:
    out = Path(args.out)
    manifest_path = out / MANIFEST_FILE
    if not manifest_path.is_file():
        raise ViFailbackError(f"{out} is not a run directory: expected {MANIFEST_FILE} written by 'python -m eval run'")
    manifest = read_json(manifest_path)
    bench = Path(args.bench or manifest.get("bench", ""))
    items = None
    if bench.is_file():
        root = Path(args.dataset_root or manifest.get("dataset_root") or dataset_root_of(bench))
        items = load_bench(bench, root, tags=manifest.get("tasks"), limit=manifest.get("limit"), check_images=False)
    else:
        _log(args, f"eval: bench {bench} not found; reporting the stored samples without a missing-item count")
    return _finish(args, out, items, manifest, bench.name)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, or a usage error already printed as one line
        return int(exc.code or 0)
    if not getattr(args, "handler", None):
        parser.print_help()
        return EXIT_USER_ERROR
    for name in ("limit", "batch_size", "concurrency", "judge_concurrency"):
        value = getattr(args, name, None)
        if value is not None and value < (0 if name == "limit" else 1):
            print(f"python -m eval {args.command}: error: --{name.replace('_', '-')} must be >= "
                  f"{0 if name == 'limit' else 1}, got {value}", file=sys.stderr)  # fmt: skip
            return EXIT_USER_ERROR
    try:
        return args.handler(args)
    except (ViFailbackError, ValueError, OSError) as exc:
        # User input and backend configuration problems: one line, no traceback.
        print(f"python -m eval {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        print(f"python -m eval {args.command}: interrupted; rerun the same command to resume", file=sys.stderr)
        return 130
