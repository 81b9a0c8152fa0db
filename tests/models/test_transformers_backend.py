"""The transformers backend on a tiny random Qwen3-VL saved to disk: Auto classes, streaming, pixel budget,
8-bit / nf4 quantisation (as far as a CPU allows), LoRA adapters, and refusals."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.video.clips import random_frames
from vifailback_demo.errors import BackendError, ModelNotFoundError
from vifailback_demo.models.backend import GenerationSettings, VLMBackend, stream_text
from vifailback_demo.models.transformers_backend import (
    TransformersBackend,
    TransformersOptions,
    load_kwargs,
    quantization_config,
)

SHORT = GenerationSettings(max_new_tokens=12)


def test_tiny_checkpoint_has_the_real_layout_and_loads_through_auto_classes(tiny_model_dir: Path) -> None:
    from transformers import AutoModelForImageTextToText, AutoProcessor

    names = {p.name for p in tiny_model_dir.iterdir()}
    assert {
        "config.json",
        "model.safetensors",
        "tokenizer.json",
        "chat_template.jinja",
        "generation_config.json",
    } <= names
    assert not any(n.endswith(".bin") for n in names)
    model = AutoModelForImageTextToText.from_pretrained(tiny_model_dir)
    processor = AutoProcessor.from_pretrained(tiny_model_dir)
    assert type(model).__name__ == "Qwen3VLForConditionalGeneration"
    assert type(processor).__name__ == "Qwen3VLProcessor"
    assert 300_000 < sum(p.numel() for p in model.parameters()) < 1_000_000
    assert model.generation_config.do_sample is False


def test_backend_generates_text_and_streams_the_same_text(tiny_backend: TransformersBackend) -> None:
    assert isinstance(tiny_backend, VLMBackend)
    frames = random_frames(3)
    result = tiny_backend.generate(frames, "Describe.", settings=SHORT)
    assert result.new_tokens == 12 and result.prompt_tokens > 3 * 4
    assert result.text
    pieces: list[str] = []
    streamed = tiny_backend.generate(frames, "Describe.", settings=SHORT, on_text=pieces.append)
    assert "".join(pieces).strip() == streamed.text.strip() == result.text.strip()  # greedy: deterministic
    assert "first_token" in streamed.timings
    items = list(stream_text(tiny_backend, frames, "Describe.", settings=SHORT))
    assert items[-1].text == result.text and all(isinstance(i, str) for i in items[:-1])


def test_images_reach_the_model_one_block_per_frame(tiny_backend: TransformersBackend) -> None:
    inputs = tiny_backend._inputs(random_frames(4), "Describe.")
    assert inputs["image_grid_thw"].shape[0] == 4
    vision_start = tiny_backend.processor.tokenizer.convert_tokens_to_ids("<|vision_start|>")
    assert int((inputs["input_ids"] == vision_start).sum()) == 4


def test_pixel_budget_changes_the_number_of_image_tokens(tiny_model_dir: Path) -> None:
    frames = random_frames(2, size=(240, 320))
    small = TransformersBackend(
        TransformersOptions(model=str(tiny_model_dir), max_pixels=32 * 32 * 4, min_pixels=32 * 32)
    )
    large = TransformersBackend(TransformersOptions(model=str(tiny_model_dir), max_pixels=32 * 32 * 48))
    n_small = small._inputs(frames, "x")["input_ids"].shape[1]
    n_large = large._inputs(frames, "x")["input_ids"].shape[1]
    assert n_small < n_large


def test_bad_frames_are_refused(tiny_backend: TransformersBackend) -> None:
    with pytest.raises(BackendError, match="at least one RGB image"):
        tiny_backend.generate([], "x")
    with pytest.raises(BackendError, match="RGB uint8"):
        tiny_backend.generate([random_frames(1)[0][..., 0]], "x")


def test_quantisation_configs_and_load_kwargs() -> None:
    import torch

    q8 = quantization_config("8bit")
    assert q8.load_in_8bit and not q8.load_in_4bit
    q4 = quantization_config("nf4", torch.bfloat16)
    assert q4.load_in_4bit and q4.bnb_4bit_quant_type == "nf4" and q4.bnb_4bit_compute_dtype == torch.bfloat16
    assert quantization_config("none") is None
    kw = load_kwargs(TransformersOptions(model="m", quantization="nf4", dtype="bfloat16", attn_implementation="sdpa"))
    assert kw["quantization_config"].bnb_4bit_quant_type == "nf4"
    assert kw["device_map"] == "auto" and kw["use_safetensors"] is True and kw["trust_remote_code"] is False
    assert kw["attn_implementation"] == "sdpa" and kw["local_files_only"] is True
    with pytest.raises(ValueError, match="quantization"):
        TransformersOptions(model="m", quantization="int3")  # type: ignore[arg-type]


@pytest.mark.parametrize("kind, layer", [("8bit", "Linear8bitLt"), ("nf4", "Linear4bit")])
def test_quantised_tiny_model_loads_and_generates_on_cpu(tiny_model_dir: Path, kind: str, layer: str) -> None:
    # bitsandbytes 0.50 runs 8-bit and 4-bit layers on a CPU (slowly): enough to prove the loading path.
    backend = TransformersBackend(TransformersOptions(model=str(tiny_model_dir), quantization=kind, device_map="cpu"))
    layers = {type(m).__name__ for m in backend.model.modules()}
    assert layer in layers
    result = backend.generate(random_frames(2), "Describe.", settings=GenerationSettings(max_new_tokens=4))
    assert result.new_tokens == 4


@pytest.mark.gpu
@pytest.mark.parametrize("kind", ["8bit", "nf4"])
def test_quantised_tiny_model_on_gpu_uses_less_weight_memory(tiny_model_dir: Path, kind: str) -> None:
    import torch

    assert torch.cuda.is_available(), "the gpu marker needs a CUDA device"
    base = TransformersBackend(TransformersOptions(model=str(tiny_model_dir), device_map="cuda:0", dtype="float16"))
    quant = TransformersBackend(
        TransformersOptions(model=str(tiny_model_dir), quantization=kind, device_map="cuda:0", dtype="float16")
    )
    assert quant.model.get_memory_footprint() < base.model.get_memory_footprint()
    assert quant.generate(random_frames(2), "x", settings=SHORT).new_tokens == 12


@pytest.fixture(scope="module")
def lora_dir(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForImageTextToText

    torch.manual_seed(1)
    base = AutoModelForImageTextToText.from_pretrained(tiny_model_dir)
    # Random A and B (not the zero init of training) so the adapter visibly changes the output.
    config = LoraConfig(
        r=8, lora_alpha=128, target_modules=["q_proj", "v_proj", "up_proj", "down_proj"], init_lora_weights=False
    )
    peft_model = get_peft_model(base, config)
    out = tmp_path_factory.mktemp("lora")
    peft_model.save_pretrained(out)
    return out


def test_lora_adapter_changes_the_output_and_merges(
    tiny_model_dir: Path, tiny_backend: TransformersBackend, lora_dir: Path
) -> None:
    assert (lora_dir / "adapter_model.safetensors").is_file()
    assert json.loads((lora_dir / "adapter_config.json").read_text())["base_model_name_or_path"] == str(tiny_model_dir)
    frames = random_frames(2)
    settings = GenerationSettings(max_new_tokens=16)
    base_text = tiny_backend.generate(frames, "Describe.", settings=settings).text
    adapted = TransformersBackend(TransformersOptions(model=str(tiny_model_dir), adapter=str(lora_dir)))
    assert type(adapted.model).__name__ == "PeftModel"
    lora_text = adapted.generate(frames, "Describe.", settings=settings).text
    assert lora_text != base_text
    # --model pointing at the adapter loads its base underneath; merging gives the same greedy text
    merged = TransformersBackend(TransformersOptions(model=str(lora_dir), merge_adapter=True))
    assert type(merged.model).__name__ == "Qwen3VLForConditionalGeneration"
    assert merged.generate(frames, "Describe.", settings=settings).text == lora_text


def test_refuses_pickle_weights_and_missing_models(tiny_model_dir: Path, tmp_path: Path) -> None:
    pickled = tmp_path / "pickled"
    shutil.copytree(tiny_model_dir, pickled)
    (pickled / "model.safetensors").rename(pickled / "pytorch_model.bin")
    with pytest.raises(BackendError, match="expected safetensors"):
        TransformersBackend(TransformersOptions(model=str(pickled)))
    with pytest.raises(ModelNotFoundError, match="hf download some-org/NotCached"):
        TransformersBackend(TransformersOptions(model="some-org/NotCached"))
    with pytest.raises(ModelNotFoundError, match="expected a model directory"):
        TransformersBackend(TransformersOptions(model=str(tmp_path / "nowhere" / "x")))
