"""Run a Qwen3-VL / Qwen2.5-VL checkpoint in-process with transformers.

Loads through ``AutoModelForImageTextToText`` + ``AutoProcessor`` (the classes ViFailback-8B and the bundled tiny
model both use), from a local directory or the local Hugging Face cache only: ``HF_HUB_OFFLINE`` is set while
loading, so start-up never touches the network. Options: dtype, ``device_map`` (accelerate), 8-bit or 4-bit nf4
through ``BitsAndBytesConfig``, a LoRA adapter on its base (optionally merged), the attention implementation and the
image pixel budget. Remote code is refused unless asked for; weights must be safetensors. :meth:`generate_batch`
answers several requests in one left-padded forward pass (``python -m eval run --batch-size``).

torch and transformers are imported inside functions, so importing this module stays cheap.
"""

from __future__ import annotations

import json
import os
import queue
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from vifailback_demo.errors import BackendError, BackendTimeoutError, ModelNotFoundError
from vifailback_demo.models.backend import (
    BatchRequest,
    GenerationResult,
    GenerationSettings,
    TextCallback,
    check_frames,
)

Quantization = Literal["none", "8bit", "nf4"]
QUANTIZATIONS: tuple[str, ...] = ("none", "8bit", "nf4")
DTYPES: tuple[str, ...] = ("auto", "bfloat16", "float16", "float32")
ADAPTER_CONFIG = "adapter_config.json"


@dataclass(frozen=True)
class TransformersOptions:
    """How to load and run a checkpoint. ``model`` is a directory or a Hub id already in the local cache."""

    model: str
    adapter: str | None = None
    #: Base for an adapter when its ``adapter_config.json`` names a base that is not available here.
    base_model: str | None = None
    merge_adapter: bool = False
    dtype: str = "auto"
    device_map: str | dict | None = None
    quantization: Quantization = "none"
    attn_implementation: str | None = None
    min_pixels: int | None = None
    max_pixels: int | None = None
    trust_remote_code: bool = False
    #: Seconds to wait between streamed pieces before giving up (a hung generation must not hang the app).
    stream_timeout_s: float = 600.0

    def __post_init__(self) -> None:
        if self.quantization not in QUANTIZATIONS:
            raise ValueError(f"quantization: expected one of {list(QUANTIZATIONS)}, got {self.quantization!r}")
        if self.dtype not in DTYPES:
            raise ValueError(f"dtype: expected one of {list(DTYPES)}, got {self.dtype!r}")


def resolve_dtype(name: str):
    """``auto``: bf16 on a GPU that supports it, else fp32 (bf16 matmuls are slow on most CPUs)."""
    import torch

    if name == "auto":
        if torch.cuda.is_available() and torch.cuda.is_bf16_supported():
            return torch.bfloat16
        return torch.float32
    return getattr(torch, name)


def quantization_config(kind: Quantization, compute_dtype=None):
    """The ``BitsAndBytesConfig`` for ``8bit`` or ``nf4`` (None for ``none``)."""
    if kind == "none":
        return None
    from transformers import BitsAndBytesConfig

    if kind == "8bit":
        return BitsAndBytesConfig(load_in_8bit=True)
    # The paper's usual QLoRA recipe: nf4 with double quantisation, compute in the model's dtype.
    return BitsAndBytesConfig(
        load_in_4bit=True,
        bnb_4bit_quant_type="nf4",
        bnb_4bit_use_double_quant=True,
        bnb_4bit_compute_dtype=compute_dtype,
    )


def _local_dir(name_or_path: str, what: str) -> Path:
    """A checkpoint directory on disk: the path itself, or the snapshot in the local Hugging Face cache."""
    from vifailback_demo.models.resolve import cached_snapshot, looks_like_path, missing_model_message

    p = Path(name_or_path).expanduser()
    if p.is_dir():
        return p
    if looks_like_path(name_or_path):
        raise ModelNotFoundError(f"{what} {name_or_path}: expected a model directory (config.json + *.safetensors)")
    snapshot = cached_snapshot(name_or_path)
    if snapshot is None:
        raise ModelNotFoundError(missing_model_message(name_or_path))
    return snapshot


def _require_safetensors(directory: Path, what: str) -> None:
    if any(directory.glob("*.safetensors")):
        return
    if any(directory.glob("*.bin")) or any(directory.glob("*.pt")):
        raise BackendError(
            f"{what} {directory} has only pickle weights (*.bin/*.pt); expected safetensors (convert it, or load a "
            "safetensors revision) - pickle files can run code when loaded"
        )
    raise ModelNotFoundError(f"{what} {directory}: no *.safetensors weights found")


def adapter_base(adapter_dir: Path) -> str | None:
    try:
        config = json.loads((adapter_dir / ADAPTER_CONFIG).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise BackendError(f"{adapter_dir / ADAPTER_CONFIG}: unreadable adapter config ({exc})") from None
    return config.get("base_model_name_or_path") or None


def load_kwargs(options: TransformersOptions) -> dict[str, Any]:
    """Keyword arguments for ``from_pretrained`` (exposed so tests can check the quantised path on a CPU)."""
    dtype = resolve_dtype(options.dtype)
    kwargs: dict[str, Any] = {
        "dtype": dtype,
        "use_safetensors": True,
        "trust_remote_code": options.trust_remote_code,
        "local_files_only": True,
    }
    if options.device_map is not None:
        kwargs["device_map"] = options.device_map
    q = quantization_config(options.quantization, dtype)
    if q is not None:
        kwargs["quantization_config"] = q
        # bitsandbytes places weights while loading; without a map everything would land on the CPU.
        kwargs.setdefault("device_map", "auto")
    if options.attn_implementation:
        kwargs["attn_implementation"] = options.attn_implementation
    return kwargs


class TransformersBackend:
    """A loaded model + processor; :meth:`generate` is serialised with a lock (one generation at a time)."""

    def __init__(self, options: TransformersOptions) -> None:
        self.options = options
        self.name = Path(options.model).name if Path(options.model).is_dir() else options.model
        if options.adapter:
            self.name += f"+{Path(options.adapter).name}"
        self.load_seconds = 0.0
        self._lock = threading.Lock()
        self.model, self.processor = self._load()

    def _load(self):
        os.environ["HF_HUB_OFFLINE"] = "1"  # never a network call at start-up
        from transformers import AutoModelForImageTextToText, AutoProcessor

        start = time.perf_counter()
        opts = self.options
        model_dir = _local_dir(opts.model, "model")
        adapter_dir = None
        if opts.adapter:
            adapter_dir = _local_dir(opts.adapter, "adapter")
        elif (model_dir / ADAPTER_CONFIG).is_file():
            adapter_dir = model_dir  # --model points at an adapter: load its base underneath
        if adapter_dir is not None and adapter_dir == model_dir:
            base = opts.base_model or adapter_base(adapter_dir)
            if not base:
                raise BackendError(f"{adapter_dir}: adapter names no base model; pass the base with --base-model")
            model_dir = _local_dir(base, "base model")
        if adapter_dir is not None:
            _require_safetensors(adapter_dir, "adapter")
        _require_safetensors(model_dir, "model")
        kwargs = load_kwargs(opts)
        try:
            model = AutoModelForImageTextToText.from_pretrained(str(model_dir), **kwargs)
            processor_dir = (
                adapter_dir if adapter_dir and (adapter_dir / "preprocessor_config.json").is_file() else model_dir
            )
            if adapter_dir and (adapter_dir / "processor_config.json").is_file():
                processor_dir = adapter_dir
            processor = AutoProcessor.from_pretrained(
                str(processor_dir), trust_remote_code=opts.trust_remote_code, local_files_only=True
            )
        except (OSError, ValueError, KeyError) as exc:
            raise BackendError(
                f"cannot load {model_dir} with AutoModelForImageTextToText/AutoProcessor: {exc}"
            ) from None
        if adapter_dir is not None:
            model = self._apply_adapter(model, adapter_dir)
        model.eval()
        self._set_pixel_budget(processor)
        self.load_seconds = time.perf_counter() - start
        return model, processor

    def _apply_adapter(self, model, adapter_dir: Path):
        try:
            from peft import PeftModel
        except ImportError:
            raise BackendError("a LoRA adapter needs the 'peft' package: pip install peft") from None
        model = PeftModel.from_pretrained(model, str(adapter_dir), is_trainable=False)
        if self.options.merge_adapter:
            if self.options.quantization != "none":
                raise BackendError("cannot merge a LoRA adapter into a quantised model; load in bf16/fp32 to merge")
            model = model.merge_and_unload()
        return model

    def _set_pixel_budget(self, processor) -> None:
        lo, hi = self.options.min_pixels, self.options.max_pixels
        if lo is None and hi is None:
            return
        size = processor.image_processor.size
        current = {"shortest_edge": size.shortest_edge, "longest_edge": size.longest_edge}
        # Qwen image processors keep the pixel budget in ``size``: shortest_edge = min pixels, longest_edge = max.
        processor.image_processor.size = {
            "shortest_edge": lo if lo is not None else current["shortest_edge"],
            "longest_edge": hi if hi is not None else current["longest_edge"],
        }

    @staticmethod
    def _messages(frames: Sequence[np.ndarray], prompt: str) -> list[dict[str, Any]]:
        from PIL import Image

        content: list[dict[str, Any]] = [{"type": "image", "image": Image.fromarray(f)} for f in frames]
        content.append({"type": "text", "text": prompt})
        return [{"role": "user", "content": content}]

    def _inputs(self, frames: Sequence[np.ndarray], prompt: str):
        return self._tokenize(self._messages(frames, prompt))

    def _batch_inputs(self, requests: Sequence[BatchRequest]):
        """One padded batch; padding on the left, so that every row's new tokens start at the same column."""
        conversations = [self._messages(frames, prompt) for frames, prompt in requests]
        return self._tokenize(conversations, processor_kwargs={"padding": True, "padding_side": "left"})

    def _tokenize(self, conversation, **kwargs: Any):
        inputs = self.processor.apply_chat_template(
            conversation, tokenize=True, add_generation_prompt=True, return_dict=True, return_tensors="pt", **kwargs
        )
        return inputs.to(self.model.device)

    def _generate_kwargs(self, settings: GenerationSettings) -> dict[str, Any]:
        kwargs: dict[str, Any] = {"max_new_tokens": settings.max_new_tokens}
        if settings.temperature > 0:
            kwargs.update(do_sample=True, temperature=settings.temperature)
        else:
            kwargs.update(do_sample=False, temperature=None, top_p=None, top_k=None)
        if settings.min_new_tokens:
            kwargs["min_new_tokens"] = settings.min_new_tokens
        return kwargs

    def generate(
        self,
        frames: Sequence[np.ndarray],
        prompt: str,
        *,
        settings: GenerationSettings | None = None,
        on_text: TextCallback | None = None,
    ) -> GenerationResult:
        import torch

        check_frames(frames)
        settings = settings or GenerationSettings()
        with self._lock:
            t0 = time.perf_counter()
            try:
                inputs = self._inputs(frames, prompt)
            except (ValueError, TypeError) as exc:
                raise BackendError(f"the processor rejected the input: {exc}") from None
            prompt_len = int(inputs["input_ids"].shape[1])
            t1 = time.perf_counter()
            kwargs = {**inputs, **self._generate_kwargs(settings)}
            first_token = None
            try:
                if on_text is None:
                    with torch.inference_mode():
                        output = self.model.generate(**kwargs)
                    new_ids = output[0, prompt_len:]
                    text = self.processor.decode(new_ids, skip_special_tokens=True)
                    count = int(new_ids.shape[0])
                else:
                    text, count, first_token = self._generate_streaming(kwargs, on_text, t1)
            except torch.cuda.OutOfMemoryError:
                raise BackendError(
                    "out of GPU memory; try --quantization nf4, a smaller pixel budget (--max-pixels) or fewer frames"
                ) from None
            t2 = time.perf_counter()
        timings = {"prepare": t1 - t0, "generate": t2 - t1}
        if first_token is not None:
            timings["first_token"] = first_token
        return GenerationResult(text=text, prompt_tokens=prompt_len, new_tokens=count, timings=timings, model=self.name)

    def generate_batch(
        self, requests: Sequence[BatchRequest], *, settings: GenerationSettings | None = None
    ) -> list[GenerationResult]:
        """One result per ``(frames, prompt)``, from one left-padded forward pass over all of them. Greedy, each
        text is the one :meth:`generate` gives alone (exactly in fp32; in bf16 the padded shapes may tip a near-tie).
        Timings are the whole batch's; ``extra["batch_size"]`` says so."""
        import torch

        if not requests:
            return []
        for frames, _ in requests:
            check_frames(frames)
        if len(requests) == 1:
            frames, prompt = requests[0]
            return [self.generate(frames, prompt, settings=settings)]
        settings = settings or GenerationSettings()
        with self._lock:
            t0 = time.perf_counter()
            try:
                inputs = self._batch_inputs(requests)
            except (ValueError, TypeError) as exc:
                raise BackendError(f"the processor rejected the input: {exc}") from None
            width = int(inputs["input_ids"].shape[1])
            prompt_lens = inputs["attention_mask"].sum(dim=1).tolist()
            t1 = time.perf_counter()
            try:
                with torch.inference_mode():
                    output = self.model.generate(**inputs, **self._generate_kwargs(settings))
            except torch.cuda.OutOfMemoryError:
                raise BackendError(
                    f"out of GPU memory on a batch of {len(requests)}; try a smaller --batch-size, --quantization "
                    "nf4 or a smaller pixel budget (--max-pixels)"
                ) from None
            t2 = time.perf_counter()
        eos = self.model.generation_config.eos_token_id
        eos_ids = set(eos if isinstance(eos, list | tuple) else [] if eos is None else [eos])
        results = []
        for row, prompt_len in zip(output, prompt_lens):
            new_ids = row[width:].tolist()
            # After its end-of-sequence token a finished row is padded until the longest one ends.
            end = next((i + 1 for i, t in enumerate(new_ids) if t in eos_ids), len(new_ids))
            results.append(
                GenerationResult(
                    text=self.processor.decode(new_ids[:end], skip_special_tokens=True),
                    prompt_tokens=int(prompt_len),
                    new_tokens=end,
                    timings={"prepare": t1 - t0, "generate": t2 - t1},
                    model=self.name,
                    extra={"batch_size": len(requests)},
                )
            )
        return results

    def _generate_streaming(self, kwargs: dict[str, Any], on_text: TextCallback, started: float):
        """``generate`` in a worker thread feeding a ``TextIteratorStreamer``; pieces go to ``on_text`` here."""
        import torch
        from transformers import TextIteratorStreamer

        streamer = TextIteratorStreamer(
            self.processor.tokenizer, skip_prompt=True, skip_special_tokens=True, timeout=self.options.stream_timeout_s
        )
        holder: dict[str, Any] = {}

        def work() -> None:
            try:
                with torch.inference_mode():
                    holder["output"] = self.model.generate(**kwargs, streamer=streamer)
            except BaseException as exc:
                holder["error"] = exc
                streamer.end()

        thread = threading.Thread(target=work, name="transformers-generate", daemon=True)
        thread.start()
        pieces: list[str] = []
        first = None
        stream = iter(streamer)
        while True:
            try:
                piece = next(stream)
            except StopIteration:
                break
            except queue.Empty:
                raise BackendTimeoutError(
                    f"{self.name}: no token for {self.options.stream_timeout_s:.0f} s; generation looks stuck"
                ) from None
            if piece:
                first = first if first is not None else time.perf_counter() - started
                pieces.append(piece)
                on_text(piece)
        thread.join()
        if "error" in holder:
            raise holder["error"]
        prompt_len = int(kwargs["input_ids"].shape[1])
        new_ids = holder["output"][0, prompt_len:]
        # The decoded ids are the reference text; streamed pieces are for display only.
        return self.processor.decode(new_ids, skip_special_tokens=True), int(new_ids.shape[0]), first
