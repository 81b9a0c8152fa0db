"""``vifailback parse``, ``render`` and ``draw``: the symbol language on the command line."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from vifailback_demo.cli.main import EXIT_USER_ERROR, CommandResult
from vifailback_demo.core.answer import parse_answer
from vifailback_demo.core.dataset import (
    AnnotationRecord,
    VQARecord,
    find_in_root,
    read_records,
    record_kind,
)
from vifailback_demo.core.symbol_codec import symbols_from_code
from vifailback_demo.core.symbols import check_symbols
from vifailback_demo.errors import DatasetError, ImageError, SymbolError, ViFailbackError

#: Inputs larger than this are refused by ``parse`` (a model answer is a few kB).
MAX_PARSE_BYTES = 16 * 1024 * 1024


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser(
        "parse",
        parents=[common],
        help="parse a model answer (<Think>/<Answer>) into fields and symbols",
        description="Parse model output text (a file, or - for stdin). A JSON file of ShareGPT records is read too: "
        "the assistant message of --record N is parsed. Never fails on odd text: problems are listed.",
    )
    p.add_argument("file", help="text file with the model output, a JSON record file, or - for stdin")
    p.add_argument("--record", type=int, default=1, help="1-based record number when FILE holds JSON records")
    p.set_defaults(handler=cmd_parse)

    r = sub.add_parser(
        "render",
        parents=[common],
        help="draw symbols onto an image",
        description="Draw symbols from a canonical symbol JSON list (--symbols, a file or inline JSON) or from a "
        "model answer (--answer) onto IMAGE. Coordinates are the model's 0-1000 space unless --pixels.",
    )
    r.add_argument("--image", required=True, help="input image (JPEG/PNG)")
    src = r.add_mutually_exclusive_group(required=True)
    src.add_argument(
        "--symbols",
        help='canonical symbols: a JSON file or inline JSON like \'[{"type": "crosshair", "pos": [500, 500]}]\'',
    )
    src.add_argument("--answer", help="a file with model output (or - for stdin); its visual prompts are drawn")
    r.add_argument("--pixels", action="store_true", help="coordinates are pixels, not 0-1000 normalised")
    r.add_argument("--out", required=True, help="output image path (.png or .jpg)")
    r.set_defaults(handler=cmd_render)

    # ``--json FILE`` is the input here, so the JSON summary flag is ``--print-json``.
    d = sub.add_parser(
        "draw",
        help="render every record of a ViFailback JSON file (like the official direct_draw.py)",
        description="For ShareGPT records (model outputs) the keyframe named in the answer is drawn with normalised "
        "coordinates; for raw annotation records the avoidance and correction keyframes are drawn with pixel "
        "coordinates. Images are looked up under the dataset root and under <root>/annotated_data/.",
    )
    d.add_argument("--json", dest="json_file", required=True, metavar="FILE", help="JSON file of records")
    d.add_argument("--dataset-root", required=True, help="dataset root that record paths are relative to")
    d.add_argument("--out", required=True, help="output directory")
    d.add_argument("--print-json", dest="json", action="store_true", help="print the summary as JSON")
    d.set_defaults(handler=cmd_draw)


# --- parse -------------------------------------------------------------------------------------------------------


def _read_text_arg(source: str) -> str:
    if source == "-":
        data = sys.stdin.buffer.read(MAX_PARSE_BYTES + 1)
    else:
        path = Path(source)
        if not path.is_file():
            raise DatasetError(f"input not found: expected a readable file at {path}")
        if path.stat().st_size > MAX_PARSE_BYTES:
            raise DatasetError(
                f"{path} is {path.stat().st_size} bytes; expected a model answer under {MAX_PARSE_BYTES}"
            )
        data = path.read_bytes()
    if len(data) > MAX_PARSE_BYTES:
        raise DatasetError(f"input is over {MAX_PARSE_BYTES} bytes; expected a model answer")
    return data.decode("utf-8", errors="replace")


def _answer_text(text: str, record: int) -> str:
    """Plain text stays; a JSON string or ShareGPT record(s) yield the assistant message."""
    stripped = text.lstrip("\ufeff \t\r\n")
    if stripped[:1] not in ('"', "[", "{"):
        return text
    try:
        data = json.loads(stripped)
    except (json.JSONDecodeError, RecursionError):
        return text
    if isinstance(data, str):
        return data
    items = data if isinstance(data, list) else [data]
    if not items or not all(isinstance(i, dict) for i in items):
        return text
    if not 1 <= record <= len(items):
        raise DatasetError(f"--record {record}: expected 1-{len(items)}")
    vqa = VQARecord.from_dict(items[record - 1]) if "messages" in items[record - 1] else None
    if vqa is None or vqa.response is None:
        raise DatasetError(f"record {record} has no assistant message to parse")
    return vqa.response


def cmd_parse(args: argparse.Namespace) -> CommandResult:
    text = _answer_text(_read_text_arg(args.file), args.record)
    parsed = parse_answer(text)
    data = parsed.to_dict()
    lines = [
        f"success: {data['success']}",
        f"keyframe: {data['keyframe']}",
        f"failure type: {data['failure_type']}",
        f"low level: {data['low_level']}",
        f"symbols ({len(parsed.symbols)}):",
        *(f"  {json.dumps(s)}" for s in data["symbols"]),
    ]
    if parsed.problems:
        lines += ["problems:", *(f"  - {p}" for p in parsed.problems)]
    return CommandResult(data=data, text="\n".join(lines))


# --- render ------------------------------------------------------------------------------------------------------


def _load_symbol_json(value: str, allowed: str) -> Any:
    path = Path(value)
    if not value.lstrip().startswith(("[", "{")) and path.is_file():
        value = path.read_text(encoding="utf-8")
    elif not value.lstrip().startswith(("[", "{")):
        raise SymbolError(f"--symbols: expected a JSON file or inline JSON list, got {value!r:.60} (no such file)")
    try:
        data = json.loads(value)
    except json.JSONDecodeError as exc:
        raise SymbolError(f"--symbols: not valid JSON ({exc.msg} at column {exc.colno})") from None
    except ValueError:  # Python refuses to read an int of over 4300 digits
        raise SymbolError(f"--symbols: a number has thousands of digits; coordinates must be in {allowed}") from None
    except RecursionError:
        raise SymbolError("--symbols: the JSON is nested too deeply; expected a list of symbol objects") from None
    return [data] if isinstance(data, dict) else data


def cmd_render(args: argparse.Namespace) -> CommandResult:
    from vifailback_demo.imageio import read_image_rgb, write_image_rgb
    from vifailback_demo.render import SymbolRenderer

    out = Path(args.out)
    if out.suffix.lower() not in (".png", ".jpg", ".jpeg"):
        raise ImageError(f"--out {out}: expected a .png or .jpg file name")
    image = read_image_rgb(args.image)
    h, w = image.shape[:2]
    problems: list[str] = []
    if args.symbols is not None:
        # Every symbol error names the field and this range (huge, infinite, NaN or negative coordinates).
        allowed = f"0-{w} x 0-{h} (pixels)" if args.pixels else "0-1000 x 0-1000 (normalised; --pixels for pixels)"
        symbols = symbols_from_code(_load_symbol_json(args.symbols, allowed), allowed=allowed)
        check_symbols(symbols, width=w if args.pixels else 1000, height=h if args.pixels else 1000)
    else:
        parsed = parse_answer(_read_text_arg(args.answer))
        symbols, problems = parsed.symbols, parsed.problems
    rendered = SymbolRenderer().render(image, symbols, normalized=not args.pixels)
    write_image_rgb(out, rendered)
    data = {"out": str(out), "width": w, "height": h, "symbols": len(symbols), "problems": problems}
    return CommandResult(data=data, text=f"drew {len(symbols)} symbols on {w}x{h} -> {out}", warnings=problems)


# --- draw --------------------------------------------------------------------------------------------------------


def _draw_vqa(item: dict, index: int, root: str, out_dir: Path) -> list[dict]:
    from vifailback_demo.imageio import read_image_rgb, write_image_rgb
    from vifailback_demo.render import SymbolRenderer

    record = VQARecord.from_dict(item)
    parsed = parse_answer(record.response or "")
    entry: dict[str, Any] = {"record": index, "kind": "vqa", "phase": None, "problems": list(parsed.problems)}
    if parsed.keyframe is None:
        entry.update(status="skipped", reason="the answer names no keyframe")
        return [entry]
    if not 1 <= parsed.keyframe <= len(record.images):
        raise DatasetError(f"keyframe {parsed.keyframe} is outside the record's {len(record.images)} images")
    src = find_in_root(root, record.images[parsed.keyframe - 1])
    image = read_image_rgb(src)
    out = out_dir / f"task_{index}_format1_keyframe_{parsed.keyframe}.jpg"
    write_image_rgb(out, SymbolRenderer().render(image, parsed.symbols, normalized=True))
    entry.update(status="drawn", image=str(src), out=str(out), symbols=len(parsed.symbols))
    return [entry]


def _draw_annotation(item: dict, index: int, root: str, out_dir: Path) -> list[dict]:
    from vifailback_demo.imageio import read_image_rgb, write_image_rgb
    from vifailback_demo.render import SymbolRenderer

    record = AnnotationRecord.from_dict(item)
    entries = []
    for phase, keyframe, annotation in (
        ("avoidance", record.avoid_keyframe, record.avoidance),
        ("correction", record.correct_keyframe, record.correction),
    ):
        entry: dict[str, Any] = {
            "record": index,
            "kind": "annotation",
            "phase": phase,
            "problems": list(record.problems),
        }
        if not keyframe or not annotation.symbols:
            entry.update(status="skipped", reason=f"no {phase} keyframe or symbols")
        else:
            src = find_in_root(root, keyframe)
            out = out_dir / f"task_{index}_format2_{phase}.jpg"
            write_image_rgb(out, SymbolRenderer().render(read_image_rgb(src), annotation.symbols, normalized=False))
            entry.update(status="drawn", image=str(src), out=str(out), symbols=len(annotation.symbols))
        entries.append(entry)
    return entries


def cmd_draw(args: argparse.Namespace) -> CommandResult:
    root = Path(args.dataset_root)
    if not root.is_dir():
        raise DatasetError(f"--dataset-root {root}: expected an existing directory")
    records = read_records(args.json_file)
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    results: list[dict] = []
    for index, item in enumerate(records, start=1):
        kind = record_kind(item)
        try:
            if kind == "vqa":
                results.extend(_draw_vqa(item, index, str(root), out_dir))
            elif kind == "annotation":
                results.extend(_draw_annotation(item, index, str(root), out_dir))
            else:
                results.append({"record": index, "kind": None, "status": "skipped", "reason": "unknown record format"})
        except ViFailbackError as exc:
            results.append({"record": index, "kind": kind, "status": "error", "error": str(exc)})
    errors = [r for r in results if r["status"] == "error"]
    drawn = [r for r in results if r["status"] == "drawn"]
    lines = [
        f"record {r['record']} {r.get('phase') or ''}: {r['status']} {r.get('out') or r.get('reason') or r.get('error')}"
        for r in results
    ]
    lines.append(f"{len(drawn)} images drawn, {len(errors)} errors -> {out_dir}")
    return CommandResult(
        data={"out": str(out_dir), "drawn": len(drawn), "errors": len(errors), "items": results},
        text="\n".join(lines),
        exit_code=EXIT_USER_ERROR if errors else 0,
        warnings=[f"record {e['record']}: {e['error']}" for e in errors],
    )
