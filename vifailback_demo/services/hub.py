"""Who may make the server push an export to the Hugging Face Hub, and where (no gradio here).

A push uses the server's ``HF_TOKEN``, so a client must never pick where the operator's credentials write unless
the operator vouched for that client. The rules:

* ``--auth`` set: a logged-in user may push; to the repo they type, or only to ``--hub-repo`` when that is set.
* ``--hub-repo`` set without ``--auth``: anyone who can reach the app may push, but only to that repo. The
  operator named the destination explicitly, so the token can write nowhere else, and the pushed data is the
  store's own export, which any visitor can already download as a zip. Requiring a login here as well would make
  ``--hub-repo`` useless on an open demo, which is exactly where an operator wants a fixed, known destination.
* Neither: pushing is disabled; the UI hides the control and a client asking for a push is refused.

``HF_TOKEN`` must still be set on the server; without it nothing is pushed (the zip is still made).
"""

from __future__ import annotations

import os
import re

from vifailback_demo.store.export import REPO_PART

HUB_REPO_ENV = "VIFAILBACK_HUB_REPO"
DISABLED_MESSAGE = (
    "Hub push is disabled: start the app with --auth or --hub-repo REPO (and HF_TOKEN set on the server); "
    "nothing was exported."
)
#: ``namespace/name`` only (the store's rule also takes a bare name, which the app does not).
_REPO_ID = re.compile(rf"{REPO_PART}/{REPO_PART}", re.ASCII)


def validate_repo_id(text: str | None, what: str = "hub repo") -> str:
    """``namespace/name`` as the Hub accepts it, stripped; anything else is a one-line ValueError naming ``what``."""
    repo = (text or "").strip()
    if _REPO_ID.fullmatch(repo) and ".." not in repo and "--" not in repo and not repo.endswith(".git"):
        return repo
    shown = repr(repo[:80] + ("..." if len(repo) > 80 else ""))  # repr: a pasted newline stays on one line
    raise ValueError(
        f"{what}: expected namespace/name (letters, digits, '-', '_', '.'; each part 1-96 characters, "
        f"starting and ending with a letter or digit), got {shown}"
    )


def push_enabled(auth: bool, fixed_repo: str | None) -> bool:
    """Whether this app pushes at all (the UI shows the control only then)."""
    return auth or fixed_repo is not None


def push_target(requested: str | None, *, auth: bool, username: str | None, fixed_repo: str | None) -> str | None:
    """The repo a push asked for with ``requested`` may go to; None when none was asked for.

    ``auth`` says the app was started with ``--auth``; ``username`` is who gradio logged in for this request (both
    are required, so a handler called without a logged-in request never counts as authenticated). Raises
    ValueError with :data:`DISABLED_MESSAGE` when pushing is not allowed, or for a malformed repo id.
    """
    if not (requested or "").strip():
        return None
    logged_in = auth and bool(username)
    if not (logged_in or fixed_repo is not None):
        raise ValueError(DISABLED_MESSAGE)
    # With a fixed repo, what the client sent only means "push"; the destination is the operator's.
    return fixed_repo if fixed_repo is not None else validate_repo_id(requested)


def hub_token_set() -> bool:
    return bool(os.environ.get("HF_TOKEN", "").strip())


def usable_target(target: str | None, fmt: str, *, fixed: bool) -> tuple[str | None, str | None]:
    """``(repo to push to or None, warning or None)``: only the Hugging Face format is pushed, only with HF_TOKEN."""
    if target is None:
        return None, None
    if fmt != "hf":
        # A fixed repo's read-only box always asks for a push; a ShareGPT export then just stays local, unwarned.
        return None, None if fixed else "Not pushed to the Hub: only the Hugging Face format is pushed."
    if not hub_token_set():
        return None, "Not pushed to the Hub: HF_TOKEN is not set on the server."
    return target, None
