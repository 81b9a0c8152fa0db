"""The Help tab's text (markdown) and the symbol legend picture."""

from __future__ import annotations

import numpy as np

from vifailback_demo.ui.shortcuts import shortcuts_markdown

HELP_MARKDOWN = (
    """
## How to use
1. **Diagnose**: upload a robot video (mp4, mov, mkv, webm; or record one with the webcam), or pick a bundled
   example or a dataset episode; write the task instruction; choose *avoidance* (what should have been done at
   the keyframe, before the failure) or *correction* (how to recover after it). Press **Run**: the model's
   reasoning streams in as it is written.
2. **Result**: every field is editable. Click a thumbnail (or use **◀ Previous / Next keyframe ▶**) to make it
   the keyframe.
3. **Symbols**: pick a tool and click on the keyframe picture. Straight arrows and dual crosshairs take two
   clicks (start, then end). Arrow colours name the robot axis: **red** x forward/backward, **green** y
   left/right, **blue** z up/down (leave all unticked to have them suggested from the drag). Edit numbers in the
   table (0-1000 coordinates), delete a row, undo, clear. A warning appears when the command and the symbols
   disagree.

   **Move a symbol**: choose **move point**, click on a symbol's point (an arrow's start or end, a dual
   crosshair's either end, the centre of any other symbol; a ring marks it), then click where it should go. The
   picture takes clicks, not drags, hence the two clicks. The move is one undo step; Undo before the second click
   drops the selection, and so does choosing another tool.
4. **Accept / Reject / Skip**: every decision is stored. Accept stores the model's raw answer, your final version,
   the frames and the source, and shows the VQA training pairs derived from it. Before you accept, the model's
   proposal sits beside a table of model vs your fields (changed ones highlighted); while the command and the
   symbols disagree, Accept asks first (**Accept anyway** / **Cancel**).
5. **Review queue** (when the app was started with `--queue DIR`): type your name once (not needed with a login),
   press **Next clip in the queue** (or Enter in the name box, or `n`). Each clip arrives already diagnosed; Accept,
   Reject or Skip store your decision and load the next clip. Reviewers never get the same clip; the queue survives
   a restart.
6. **Send to VLA**: writes the accepted correction (JSON + overlay PNG) to `<data-dir>/outbox/`, where a policy
   runtime can pick it up. To drive a connected robot directly use the Live robot tab (robots and openpi policy
   servers: docs/robots.md; also the `vifailback robot` / `vifailback policy` commands).
7. **Corrections**: browse, filter, reopen and re-edit, mark reviewed, export as LLaMA-Factory ShareGPT or a
   Hugging Face dataset (zip download). Pushing to the Hub needs `HF_TOKEN` on the server and is offered only when
   the app was started with `--auth` (a logged-in user names the repo) or `--hub-repo REPO` (always that repo).

## Keyboard shortcuts (Diagnose tab)
They act while the Diagnose tab is shown and the cursor is not in a text field (Escape leaves a field), and click
exactly the button or tool they name (a greyed-out button stays unclicked). The Live robot tab's editor has the same buttons and the
move tool but no shortcuts: a stray key press there must never send anything to a robot.

"""
    + shortcuts_markdown()
    + """

## Getting ViFailback-8B
```bash
hf download sii-rhos-ai/ViFailback-8B          # about 17 GB; older hubs: huggingface-cli download ...
python app.py                                    # found in the local Hugging Face cache automatically
python app.py --model /path/to/ViFailback-8B     # or a directory; or: VIFAILBACK_MODEL=... python app.py
```
It needs about 20-24 GB of GPU memory in bf16. The app never downloads at run time.

## Serving the model separately (vLLM / SGLang)
```bash
vllm serve sii-rhos-ai/ViFailback-8B --limit-mm-per-prompt '{"image": 32, "video": 0}'
python app.py --backend openai --model sii-rhos-ai/ViFailback-8B --openai-base-url http://127.0.0.1:8000/v1
```
The API key, if the server needs one, comes from `VIFAILBACK_API_KEY` (or `OPENAI_API_KEY`).

## Demo mode and the tiny model
Without a model the app runs in **demo mode**: the scripted backend answers with the ground truth of the bundled
examples (and a fixed demo answer for other clips), so the whole loop can be tried offline. The bundled tiny
model (`assets/models/vifailback-tiny`, when present) is a real Qwen3-VL-architecture model trained only on the
synthetic world: it shows that the real model path works on a CPU, but its diagnoses of real robot videos are
not meaningful. Use ViFailback-8B for real clips.

## Privacy
Uploaded clips are processed on this server. Only corrections you decide on (accept, reject, skip) are stored,
in the server's data directory.
"""
)


def legend_image() -> np.ndarray | None:
    """The 7 symbols with their meanings; None if the renderer is unavailable (the text still explains them)."""
    try:
        from vifailback_demo.render.legend import render_legend

        return render_legend()
    except Exception:  # a missing optional font or codec must not break the Help tab
        return None
