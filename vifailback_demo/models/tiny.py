"""Build a tiny, randomly initialised Qwen3-VL checkpoint (model + tokenizer + processor) offline.

The checkpoint has exactly the layout of a real Qwen3-VL repository (``config.json``, ``model.safetensors``,
``tokenizer.json``, ``chat_template.jinja``, ``preprocessor_config.json``...), so it loads through
``AutoModelForImageTextToText`` / ``AutoProcessor`` like ViFailback-8B does. Tests use it to exercise the real
transformers code path in milliseconds; the bundled model's recipe (training/tiny_recipe.py) starts from it.

Heavy imports (torch, transformers, tokenizers) happen inside :func:`build_tiny_qwen3vl`.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from vifailback_demo.core.answer import FAILURE_TYPES, format_cot_answer
from vifailback_demo.core.prompts import HARD_TAGS, cot_prompt, hard_prompt
from vifailback_demo.core.symbols import Crosshair, RotatingArrow, StraightArrow

#: Qwen special tokens, in the order real Qwen checkpoints give them ids after the BPE vocabulary.
QWEN_SPECIAL_TOKENS: tuple[str, ...] = (
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|vision_start|>",
    "<|vision_end|>",
    "<|image_pad|>",
    "<|video_pad|>",
)

_CHAT_TEMPLATE = r"""{%- set label = LABEL_TEST %}
{%- set image_count = namespace(value=0) %}
{%- for message in messages %}
{{- '<|im_start|>' + message['role'] + '\n' }}
{%- if message['content'] is string %}{{- message['content'] }}
{%- else %}{%- for item in message['content'] %}
{%- if item['type'] == 'image' or 'image' in item or 'image_url' in item %}
{%- set image_count.value = image_count.value + 1 %}
{%- if label %}{{- 'image number ' + image_count.value|string + ': ' }}{%- endif %}
{{- '<|vision_start|><|image_pad|><|vision_end|>' }}
{%- elif item['type'] == 'video' or 'video' in item %}{{- '<|vision_start|><|video_pad|><|vision_end|>' }}
{%- elif item['type'] == 'text' %}{{- item['text'] }}
{%- endif %}{%- endfor %}{%- endif %}
{{- '<|im_end|>\n' }}
{%- endfor %}
{%- if add_generation_prompt %}{{- '<|im_start|>assistant\n' }}{%- endif %}"""

#: A Qwen-style chat template: ``<|im_start|>role\n...<|im_end|>\n``, images as
#: ``<|vision_start|><|image_pad|><|vision_end|>`` in content order (the layout of real Qwen3-VL checkpoints).
#: ``add_vision_id=True`` puts a label before each image, as below.
QWEN_CHAT_TEMPLATE = _CHAT_TEMPLATE.replace("LABEL_TEST", "add_vision_id is defined and add_vision_id")

#: The same template labelling each image by default ("image number 1: ", "image number 2: "...;
#: ``add_vision_id=False`` turns them off), like Qwen2-VL's ``add_vision_id`` ("Picture 1: "). Answers name keyframes
#: by their image number ("image number 6"); a small model finds that number far more easily by copying the label
#: than by counting images. The wording is the answers' own, which the tiny tokenizer holds as one token.
IMAGE_LABELS_CHAT_TEMPLATE = _CHAT_TEMPLATE.replace("LABEL_TEST", "add_vision_id is not defined or add_vision_id")

#: Built-in templates by name, for ``python -m training ... --set chat_template=<name>``.
CHAT_TEMPLATES = {"qwen": QWEN_CHAT_TEMPLATE, "image_labels": IMAGE_LABELS_CHAT_TEMPLATE}

#: Pixel budget of the tiny processor: 32x32-pixel merged patches, 4 to 64 of them per image (fast on CPU).
TINY_MIN_PIXELS = 32 * 32 * 4
TINY_MAX_PIXELS = 32 * 32 * 64


def default_corpus() -> list[str]:
    """Text the tokenizer is trained on: every prompt and official-format answers (so both tokenize compactly)."""
    task = "Use the right arm to place the orange block into the bowl."
    texts = [cot_prompt(task, "avoidance"), cot_prompt(task, "correction")]
    texts += [hard_prompt(tag, task) for tag in HARD_TAGS]
    symbols = [
        StraightArrow(start=(602, 179), end=(689, 325), colors=("green", "red")),
        RotatingArrow(center=(550, 179), direction="clockwise"),
        Crosshair(pos=(806, 196)),
    ]
    for i, ftype in enumerate(FAILURE_TYPES):
        texts.append(
            format_cot_answer(
                success=False,
                keyframe=i + 3,
                failure_type=ftype,
                low_level="Move the left gripper upward slightly and forward significantly, and grasp open.",
                symbols=symbols,
                mode=("avoidance", "correction")[i % 2],
            )
        )
    texts.append(format_cot_answer(success=True))
    texts.append("0123456789 [], {}: '\" left right upward downward forward backward clockwise counter-clockwise")
    return texts


def build_tokenizer(corpus: Iterable[str] | None = None, *, vocab_size: int = 1024, merge_across_words: bool = False):
    """A byte-level BPE tokenizer with the Qwen special tokens and chat template (``PreTrainedTokenizerFast``).

    ``merge_across_words=True`` lets merges span spaces while keeping every digit a token of its own: the fixed
    ViFailback prompt and answer phrases collapse to a few tokens (an unseen task's CoT prompt: ~40 tokens instead
    of ~670), which is what makes the bundled tiny model fast to train and run on a CPU, while coordinates stay
    digit by digit so new numbers are still spelled out.
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    if merge_across_words:
        tok.pre_tokenizer = pre_tokenizers.Sequence(
            [
                pre_tokenizers.Digits(individual_digits=True),
                pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
            ]
        )
    else:
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=list(QWEN_SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(list(corpus if corpus is not None else default_corpus()), trainer=trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token=None,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        unk_token=None,
        chat_template=QWEN_CHAT_TEMPLATE,
        model_max_length=32768,
        padding_side="left",
        clean_up_tokenization_spaces=False,
    )


def mrope_sections(head_dim: int) -> list[int]:
    """Temporal/height/width rotary sections; they must sum to head_dim / 2 ([2, 3, 3] for 16, [4, 6, 6] for 32)."""
    hw = 3 * head_dim // 16
    return [head_dim // 2 - 2 * hw, hw, hw]


def tiny_qwen3vl_config(
    tokenizer,
    *,
    hidden_size: int = 64,
    num_layers: int = 2,
    num_heads: int = 4,
    num_kv_heads: int = 2,
    head_dim: int = 16,
    intermediate_size: int | None = None,
    vision_depth: int = 2,
    vision_hidden_size: int = 64,
    vision_heads: int = 4,
):
    """A small Qwen3-VL config wired to ``tokenizer``'s special-token ids (~0.5 M parameters by default)."""
    from transformers import Qwen3VLConfig

    ids = {t: tokenizer.convert_tokens_to_ids(t) for t in QWEN_SPECIAL_TOKENS}
    return Qwen3VLConfig(
        text_config=dict(
            vocab_size=len(tokenizer),
            hidden_size=hidden_size,
            intermediate_size=intermediate_size or hidden_size * 2,
            num_hidden_layers=num_layers,
            num_attention_heads=num_heads,
            num_key_value_heads=num_kv_heads,
            head_dim=head_dim,
            max_position_embeddings=32768,
            rope_parameters={
                "rope_type": "default",
                "rope_theta": 1e4,
                "mrope_section": mrope_sections(head_dim),
                "mrope_interleaved": True,
            },
            pad_token_id=ids["<|endoftext|>"],
        ),
        vision_config=dict(
            depth=vision_depth,
            hidden_size=vision_hidden_size,
            intermediate_size=vision_hidden_size * 2,
            num_heads=vision_heads,
            patch_size=16,
            spatial_merge_size=2,
            temporal_patch_size=2,
            out_hidden_size=hidden_size,
            num_position_embeddings=256,
            deepstack_visual_indexes=[0],
        ),
        image_token_id=ids["<|image_pad|>"],
        video_token_id=ids["<|video_pad|>"],
        vision_start_token_id=ids["<|vision_start|>"],
        vision_end_token_id=ids["<|vision_end|>"],
        tie_word_embeddings=True,
    )


def build_tiny_processor(tokenizer, *, min_pixels: int = TINY_MIN_PIXELS, max_pixels: int = TINY_MAX_PIXELS):
    from transformers import Qwen3VLProcessor
    from transformers.models.qwen2_vl.image_processing_qwen2_vl import Qwen2VLImageProcessor
    from transformers.models.qwen3_vl.video_processing_qwen3_vl import Qwen3VLVideoProcessor

    # Patch 16 + merge 2 as in Qwen3-VL; ``size`` holds the pixel budget (shortest_edge = min, longest_edge = max).
    image_processor = Qwen2VLImageProcessor(
        patch_size=16,
        merge_size=2,
        temporal_patch_size=2,
        size={"shortest_edge": min_pixels, "longest_edge": max_pixels},
    )
    video_processor = Qwen3VLVideoProcessor(patch_size=16, merge_size=2, temporal_patch_size=2)
    return Qwen3VLProcessor(
        image_processor=image_processor,
        tokenizer=tokenizer,
        video_processor=video_processor,
        chat_template=QWEN_CHAT_TEMPLATE,
    )


def build_tiny_qwen3vl(
    out_dir: str | os.PathLike,
    *,
    seed: int = 0,
    corpus: Iterable[str] | None = None,
    vocab_size: int = 1024,
    merge_across_words: bool = False,
    min_pixels: int = TINY_MIN_PIXELS,
    max_pixels: int = TINY_MAX_PIXELS,
    **config: Any,
) -> Path:
    """Write a tiny random Qwen3-VL checkpoint to ``out_dir`` (safetensors) and return the directory.

    ``config`` takes the keyword arguments of :func:`tiny_qwen3vl_config` (hidden_size, num_layers, head_dim...).
    Deterministic for a seed. Loads with ``AutoModelForImageTextToText.from_pretrained(out_dir)`` and
    ``AutoProcessor.from_pretrained(out_dir)``.
    """
    import torch
    from transformers import GenerationConfig, Qwen3VLForConditionalGeneration

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tokenizer = build_tokenizer(corpus, vocab_size=vocab_size, merge_across_words=merge_across_words)
    model_config = tiny_qwen3vl_config(tokenizer, **config)
    torch.manual_seed(seed)
    model = Qwen3VLForConditionalGeneration(model_config).eval()
    eos = tokenizer.convert_tokens_to_ids("<|im_end|>")
    pad = tokenizer.convert_tokens_to_ids("<|endoftext|>")
    # Greedy by default, as the paper evaluates (temperature 0).
    model.generation_config = GenerationConfig(
        do_sample=False, eos_token_id=[eos, pad], pad_token_id=pad, max_new_tokens=2048
    )
    model.save_pretrained(out, safe_serialization=True)
    build_tiny_processor(tokenizer, min_pixels=min_pixels, max_pixels=max_pixels).save_pretrained(out)
    return out


def count_parameters(model) -> int:
    return sum(p.numel() for p in model.parameters())
