"""Keyboard shortcuts for the Diagnose tab's editor: one table for the page's JavaScript and the Help tab.

:data:`SHORTCUTS` pairs a key (as the browser's ``KeyboardEvent.key`` names it, letters lower-case, ``Ctrl+`` for
Ctrl or Cmd) with an action; :data:`TARGETS` says which element an action clicks. :data:`SHORTCUTS_JS` (a
``launch(js=...)`` function) and :func:`shortcuts_markdown` (the Help tab) are both built from them, so the keys
the page answers and the keys the help lists cannot drift apart.

The page's listener acts only while the Diagnose tab's editor is on screen, never while the focus is in a text
field (except Escape), never on Alt or Ctrl/Cmd combinations other than Ctrl/Cmd+Z, never on a key another
component already handled, and never on a disabled button: a shortcut is exactly a click on a button the reviewer
could click. While the accept confirmation box is shown only its keys act. Escape in a text field leaves it, so a
reviewer who typed a command goes on with the keys.
"""

from __future__ import annotations

import json

from vifailback_demo.editing import MOVE_TOOL
from vifailback_demo.ui.views import TOOL_LABELS

EDITOR = "#keyframe-editor"  # the shortcuts act only while this (the Diagnose tab's picture) is visible
CONFIRM = "#accept-confirm"  # the accept confirmation box: while shown, only its keys act
_SYMBOL_TOOLS = [label for label, tool in TOOL_LABELS.items() if tool != MOVE_TOOL]
_MOVE_LABEL = next(label for label, tool in TOOL_LABELS.items() if tool == MOVE_TOOL)

#: Action -> the CSS selector of the element a shortcut clicks (tools: the radio input inside ``#tool``).
TARGETS: dict[str, str] = {
    "Accept": "#accept",
    "Reject": "#reject",
    "Skip": "#skip",
    "Next keyframe": "#key-next",
    "Previous keyframe": "#key-prev",
    "Undo": "#undo",
    "Next clip in the review queue": "#queue-next",
    **{f"Tool: {label}": f'#tool input[value="{label}"]' for label in TOOL_LABELS},
    "Confirmation box: accept anyway": "#accept-anyway",
    "Confirmation box: cancel": "#accept-cancel",
}
_CONFIRM_ACTIONS = ("Confirmation box: accept anyway", "Confirmation box: cancel")

#: (key, action) pairs, in the order the Help tab lists them.
SHORTCUTS: tuple[tuple[str, str], ...] = (
    ("a", "Accept"),
    ("r", "Reject"),
    ("s", "Skip"),
    ("ArrowRight", "Next keyframe"),
    (".", "Next keyframe"),
    ("ArrowLeft", "Previous keyframe"),
    (",", "Previous keyframe"),
    ("z", "Undo"),
    ("Ctrl+z", "Undo"),
    *((str(i), f"Tool: {label}") for i, label in enumerate(_SYMBOL_TOOLS, start=1)),
    ("m", f"Tool: {_MOVE_LABEL}"),
    ("n", "Next clip in the review queue"),
    ("Enter", "Confirmation box: accept anyway"),
    ("y", "Confirmation box: accept anyway"),
    ("Escape", "Confirmation box: cancel"),
)


def _selectors(confirm: bool) -> dict[str, str]:
    """key -> selector for the editor's keys (``confirm=False``) or the confirmation box's keys."""
    return {key: TARGETS[action] for key, action in SHORTCUTS if (action in _CONFIRM_ACTIONS) == confirm}


SHORTCUTS_JS = f"""() => {{
  if (window.vifailbackShortcuts) return;  // one listener, however often gradio runs this
  window.vifailbackShortcuts = true;
  const EDITOR_KEYS = {json.dumps(_selectors(False))};
  const CONFIRM_KEYS = {json.dumps(_selectors(True))};
  const TYPING = "textarea, select, input:not([type=radio]):not([type=checkbox]), [role=grid]";
  const shown = (selector) => document.querySelector(selector)?.offsetParent != null;
  document.addEventListener("keydown", (event) => {{
    const ctrl = event.ctrlKey || event.metaKey;
    if (event.defaultPrevented || event.altKey || (ctrl && event.shiftKey)) return;
    const key = (ctrl ? "Ctrl+" : "") + (event.key.length === 1 ? event.key.toLowerCase() : event.key);
    const target = event.target instanceof Element ? event.target : null;
    const typing = target !== null && (target.isContentEditable || target.closest(TYPING) !== null);
    if ((typing && key !== "Escape") || !shown({json.dumps(EDITOR)})) return;
    if (typing && !shown({json.dumps(CONFIRM)})) {{  // Escape leaves a text field: the keys work again
      target.blur();
      return;
    }}
    const keys = shown({json.dumps(CONFIRM)}) ? CONFIRM_KEYS : EDITOR_KEYS;
    const button = keys[key] ? document.querySelector(keys[key]) : null;
    if (button === null || button.disabled) return;
    event.preventDefault();
    button.click();
  }});
}}"""


def shortcuts_markdown() -> str:
    """The shortcuts as a markdown table (keys grouped by action, in :data:`SHORTCUTS` order)."""
    keys: dict[str, list[str]] = {}
    for key, action in SHORTCUTS:
        keys.setdefault(action, []).append(f"`{key}`")
    rows = "\n".join(f"| {' or '.join(k)} | {action} |" for action, k in keys.items())
    return f"| Key | Action |\n| --- | --- |\n{rows}\n\n`Ctrl` is `Cmd` on a Mac."
