"""``vifailback corrections list|stats|export|clean``: look into the corrections store, turn it into training data,
remove files a crash left behind."""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

from vifailback_demo.cli.main import CommandResult


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser(
        "corrections",
        help="the corrections store: list, stats, export as training data, clean crash leftovers",
        description="Human-reviewed corrections live in a SQLite store under the data directory (--data-dir, else "
        "$VIFAILBACK_DATA_DIR, else ./vifailback_data).",
    )
    csub = p.add_subparsers(dest="corrections_command", metavar="SUBCOMMAND")
    store_args = argparse.ArgumentParser(add_help=False)
    store_args.add_argument(
        "--data-dir", help="data directory of the store (default $VIFAILBACK_DATA_DIR or ./vifailback_data)"
    )

    ls = csub.add_parser("list", parents=[common, store_args], help="list stored corrections, newest first")
    ls.add_argument("--decision", choices=["accepted", "rejected", "skipped"], help="only this decision")
    ls.add_argument("--status", choices=["unreviewed", "reviewed"], help="only this review status")
    ls.add_argument("--failure-type", help="only this failure type, e.g. 'gripper state'")
    ls.add_argument("--search", help="text contained in the task instruction")
    ls.add_argument("--limit", type=int, default=20, help="records per page (default 20)")
    ls.add_argument("--offset", type=int, default=0, help="records to skip (default 0)")
    ls.set_defaults(handler=cmd_list)

    st = csub.add_parser(
        "stats", parents=[common, store_args], help="counts by failure type, decision and review status"
    )
    st.set_defaults(handler=cmd_stats)

    ex = csub.add_parser(
        "export",
        parents=[common, store_args],
        help="write accepted corrections as VQA training data",
        description="Derive VQA pairs (CoT, Lite and Hard tags) from accepted corrections and write them as "
        "LLaMA-Factory ShareGPT JSON plus images/ and dataset_info.json (--format sharegpt), or as a Hugging Face "
        "dataset saved with save_to_disk (--format hf). The export is written to a temporary directory and renamed "
        "to --out when complete.",
    )
    ex.add_argument("--format", choices=["sharegpt", "hf"], required=True, help="output format")
    ex.add_argument("--out", required=True, help="output directory (must not exist or be empty, see --overwrite)")
    ex.add_argument("--reviewed-only", action="store_true", help="only records marked reviewed")
    ex.add_argument("--failure-type", help="only this failure type")
    ex.add_argument("--overwrite", action="store_true", help="replace an existing non-empty --out")
    ex.add_argument(
        "--push-to-hub",
        metavar="REPO_ID",
        help="with --format hf: also push (private) to this Hub repo; needs HF_TOKEN",
    )
    ex.set_defaults(handler=cmd_export)

    cl = csub.add_parser(
        "clean",
        parents=[common, store_args],
        help="find (and with --delete remove) files a crash left in the store",
        description="List temporary files from interrupted image writes and image files that no record names, "
        "under DATA_DIR/images. Nothing is removed unless --delete is given; then only those at least --min-age "
        "seconds old are removed (younger ones may belong to a write in progress). A file that a record names is "
        "never removed; the database itself is not changed.",
    )
    mode = cl.add_mutually_exclusive_group()
    mode.add_argument("--dry-run", action="store_true", help="only report (the default)")
    mode.add_argument("--delete", action="store_true", help="remove the leftovers at least --min-age seconds old")
    cl.add_argument(
        "--min-age",
        type=float,
        default=3600.0,
        metavar="SECONDS",
        help="grace period: keep files modified less than this many seconds ago (default 3600)",
    )
    cl.set_defaults(handler=cmd_clean)
    p.set_defaults(handler=_need_subcommand)


def _need_subcommand(args: argparse.Namespace) -> CommandResult:
    from vifailback_demo.errors import StoreError

    raise StoreError("expected a subcommand: 'vifailback corrections list|stats|export|clean ...'")


def data_dir_and_source(data_dir: str | None) -> tuple[Path, str]:
    """The store's data directory and where that choice came from (for error messages)."""
    from vifailback_demo.store.store import DATA_DIR_ENV, default_data_dir

    if data_dir:
        return Path(data_dir), "from --data-dir"
    if os.environ.get(DATA_DIR_ENV):
        return default_data_dir(), f"from ${DATA_DIR_ENV}"
    return default_data_dir(), f"the default, in the current folder; set --data-dir or ${DATA_DIR_ENV}"


def _shown(path: Path) -> str:
    return str(path) if path.is_absolute() or not path.parts or path.parts[0] == ".." else f"./{path}"


def _open(args: argparse.Namespace):
    from vifailback_demo.errors import StoreError
    from vifailback_demo.store import CorrectionsStore
    from vifailback_demo.store.db import DB_FILE

    data_dir, source = data_dir_and_source(args.data_dir)
    if not (data_dir / DB_FILE).is_file():
        raise StoreError(f"no corrections store at {_shown(data_dir)} ({source})")
    return CorrectionsStore(data_dir, create=False)


def cmd_list(args: argparse.Namespace) -> CommandResult:
    with _open(args) as store:
        page = store.list(
            decision=args.decision,
            review_status=args.status,
            failure_type=args.failure_type,
            search=args.search,
            offset=args.offset,
            limit=args.limit,
        )
    items = [
        {
            "id": r.id,
            "created_at": r.created_at,
            "who": r.who,
            "task": r.task,
            "mode": r.mode,
            "decision": r.decision,
            "review_status": r.review_status,
            "failure_type": r.final.failure_type if r.final else None,
            "frames": len(r.frames),
            "revision": r.revision,
        }
        for r in page.records
    ]
    lines = [
        f"#{i['id']:<5} {i['decision']:<8} {i['review_status']:<10} {i['failure_type'] or '-'!s:<18} {i['task'][:60]}"
        for i in items
    ]
    lines.append(f"{len(items)} of {page.total} shown (offset {page.offset})")
    return CommandResult(
        data={"total": page.total, "offset": page.offset, "limit": page.limit, "items": items}, text="\n".join(lines)
    )


def cmd_stats(args: argparse.Namespace) -> CommandResult:
    with _open(args) as store:
        stats = store.stats()
    lines = [f"total: {stats['total']} records, {stats['images']} images"]
    for key in ("by_decision", "by_review_status", "by_failure_type"):
        lines.append(f"{key.replace('_', ' ')}: " + ", ".join(f"{k} {v}" for k, v in sorted(stats[key].items())))
    return CommandResult(data=stats, text="\n".join(lines))


def cmd_export(args: argparse.Namespace) -> CommandResult:
    from vifailback_demo.store.export import ExportFilter, export

    flt = ExportFilter(reviewed_only=args.reviewed_only, failure_type=args.failure_type)
    with _open(args) as store:
        result = export(store, args.format, args.out, flt, overwrite=args.overwrite, push_to_hub=args.push_to_hub)
    data = result.to_json()
    text = (
        f"exported {result.records} records as {result.vqa_pairs} VQA pairs ({result.images} images) "
        f"in {result.format} format -> {result.out}"
    )
    warnings = [] if result.records else ["no record matched the filters; the export is empty"]
    return CommandResult(data=data, text=text, warnings=warnings)


def _size(n: int) -> str:
    return f"{n} B" if n < 1024 else f"{n / 1024:.1f} KiB" if n < 1024 * 1024 else f"{n / 1024 / 1024:.1f} MiB"


def cmd_clean(args: argparse.Namespace) -> CommandResult:
    from vifailback_demo.store.maintenance import check_min_age

    min_age = check_min_age(args.min_age)  # a clear error before the store is opened
    with _open(args) as store:
        result = store.clean_orphans(min_age_s=min_age, dry_run=not args.delete)
    removed = {f.relpath for f in result.removed}
    lines = []
    for f in result.stale:
        state = "would remove" if result.dry_run else "removed" if f.relpath in removed else "kept (in use now)"
        lines.append(f"{state:<18} {f.kind:<5} {_size(f.bytes):>10}  {f.age_s:>9.0f} s old  {f.relpath}")
    for f in result.recent:
        lines.append(f"{'kept (too recent)':<18} {f.kind:<5} {_size(f.bytes):>10}  {f.age_s:>9.0f} s old  {f.relpath}")
    tmp = sum(f.kind == "tmp" for f in result.stale)
    found = (
        f"{len(result.stale)} leftover file(s) at least {min_age:g} s old ({tmp} temporary, "
        f"{len(result.stale) - tmp} unreferenced images, {_size(sum(f.bytes for f in result.stale))}), "
        f"{len(result.recent)} younger kept"
    )
    if result.dry_run:
        tail = "dry run: nothing removed (add --delete to remove them)" if result.stale else "nothing to remove"
    else:
        tail = f"removed {len(result.removed)} file(s), {_size(sum(f.bytes for f in result.removed))}"
    lines += [found, tail]
    return CommandResult(data=result.to_json(), text="\n".join(lines))
