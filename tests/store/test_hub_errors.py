"""Hub push failures are one-line StoreErrors naming the repo and the cause, never a traceback or the token.
No network: ``datasets.Dataset.push_to_hub`` is replaced by a function that raises what the Hub client raises."""

from __future__ import annotations

import json

import pytest

from tests.store.store_worker import make_item
from vifailback_demo.cli.main import main
from vifailback_demo.errors import StoreError
from vifailback_demo.store.export import export

datasets = pytest.importorskip("datasets")

TOKEN = "hf_FAKEsecretTOKEN0123456789abcdef"
REPO = "someone/vifailback-corrections"


def _http_error() -> Exception:
    from huggingface_hub.errors import HfHubHTTPError

    try:
        import httpx2 as httpx  # what this huggingface_hub uses
    except ImportError:
        import httpx
    request = httpx.Request("POST", "https://huggingface.co/api/repos/create", headers={"authorization": TOKEN})
    response = httpx.Response(401, request=request, text="Invalid credentials")
    return HfHubHTTPError(
        f"401 Client Error: Unauthorized for url: https://huggingface.co/api/repos/create (token {TOKEN})\n"
        "Invalid credentials in Authorization header",
        response=response,
    )


ERRORS = {
    "connection": lambda: ConnectionError(f"('Connection aborted.', RemoteDisconnected()) Bearer {TOKEN}"),
    "not_json": lambda: json.JSONDecodeError("Expecting value", "<html>502 Bad Gateway</html>", 0),
    "http_401": _http_error,
    "timeout": lambda: TimeoutError("read timed out\nwhile uploading shard 1"),
}


@pytest.fixture
def failing_push(monkeypatch):
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    calls = []

    def install(make_error):
        def push(self, repo_id, **kwargs):
            calls.append((repo_id, kwargs.get("token")))
            raise make_error()

        monkeypatch.setattr(datasets.Dataset, "push_to_hub", push)
        return calls

    return install


@pytest.mark.parametrize("kind", list(ERRORS))
def test_push_errors_are_one_line_with_repo_and_no_token(store, tmp_path, failing_push, kind):
    calls = failing_push(ERRORS[kind])
    store.add(make_item("hub", 1))
    with pytest.raises(StoreError) as info:
        export(store, "hf", tmp_path / "hf", push_to_hub=REPO)
    text = str(info.value)
    assert calls == [(REPO, TOKEN)]  # the token went to the client, and nowhere else
    assert "\n" not in text and REPO in text and "FAKEsecret" not in text, text
    assert info.value.__cause__ is None and info.value.__suppress_context__  # no chained traceback to log
    assert (tmp_path / "hf" / "dataset_info.json").is_file()  # the local export stands; the message says so
    assert "local export" in text


def test_cli_push_error_is_one_line_without_token(store, tmp_path, failing_push, capsys):
    failing_push(ERRORS["http_401"])
    store.add(make_item("hub", 1))
    code = main(["corrections", "export", "--data-dir", str(store.data_dir), "--format", "hf",
                 "--out", str(tmp_path / "hf"), "--push-to-hub", REPO])  # fmt: skip
    err = capsys.readouterr().err  # also holds datasets' "Saving the dataset" progress bar (\r-separated)
    errors = [line for line in err.splitlines() if ": error:" in line]
    assert code == 2 and len(errors) == 1 and errors[0].startswith("vifailback corrections: error: pushing")
    assert REPO in errors[0] and "HfHubHTTPError" in errors[0]
    assert "FAKEsecret" not in err and "Traceback" not in err


@pytest.mark.parametrize("repo", ["a/b/c", "../x", "", "x" * 97, "me/da..ta", "me/x y", 7])
def test_bad_repo_id_is_refused_before_any_work(store, tmp_path, failing_push, repo):
    calls = failing_push(ERRORS["connection"])
    store.add(make_item("hub", 1))
    with pytest.raises(StoreError, match="Hub repo id: expected 'namespace/name'"):
        export(store, "hf", tmp_path / "hf", push_to_hub=repo)
    assert calls == [] and not (tmp_path / "hf").exists()
