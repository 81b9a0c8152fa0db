"""App configuration: flags over environment over defaults; bad values are refused with a clear message."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.ui.helpers import make_services, start_app
from vifailback_demo.errors import ModelNotFoundError
from vifailback_demo.services.config import load_config
from vifailback_demo.services.diagnosis import DiagnosisService


def test_defaults_env_and_flags(tmp_path: Path) -> None:
    default = load_config([], env={})
    assert (default.host, default.port, default.auth, default.max_upload_mb) == ("127.0.0.1", 7860, (), 200)
    assert default.data_dir == Path("vifailback_data") and default.backend == "auto" and not default.share
    env = {"GRADIO_SERVER_NAME": "0.0.0.0", "GRADIO_SERVER_PORT": "7000", "VIFAILBACK_AUTH": "ann:pw",
           "VIFAILBACK_DATA_DIR": str(tmp_path / "d")}  # fmt: skip
    from_env = load_config([], env=env)
    assert (from_env.host, from_env.port, from_env.auth) == ("0.0.0.0", 7000, (("ann", "pw"),))
    assert from_env.data_dir == tmp_path / "d"
    flags = load_config(["--host", "10.0.0.1", "--port", "9000", "--auth", "a:b,c:d", "--data-dir", "x",
                         "--max-upload-mb", "5", "--backend", "scripted"], env=env)  # fmt: skip
    assert (flags.host, flags.port, flags.auth) == ("10.0.0.1", 9000, (("a", "b"), ("c", "d")))
    assert flags.max_upload_bytes == 5 * 1024 * 1024 and flags.backend == "scripted"
    assert "b" not in str(flags.describe()["auth"]), "passwords are never logged"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--auth", "nopassword"], "user:password"),
        (["--max-upload-mb", "0"], "positive"),
        (["--dataset-root", "/does/not/exist"], "directory"),
    ],
)
def test_bad_config_is_refused(argv: list[str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        load_config(argv, env={})


def test_launch_settings_carry_limits_auth_and_allowed_paths(tmp_path: Path) -> None:
    from vifailback_demo.ui import launch_kwargs

    s = make_services(tmp_path / "data", max_upload_mb=7, auth=(("u", "p"),), port=0)
    kw = launch_kwargs(s)
    assert kw["max_file_size"] == 7 * 1024 * 1024 and kw["auth"] == [("u", "p")]
    data = str((tmp_path / "data").resolve())
    assert kw["blocked_paths"] == [data] and kw["theme"] is not None, "the store is never served"
    assert not any(data.startswith(p) or p.startswith(data) for p in kw["allowed_paths"])
    s.close()


def test_a_data_dir_that_holds_a_served_folder_is_refused(tmp_path: Path) -> None:
    from vifailback_demo.ui import launch_kwargs

    s = make_services(tmp_path / "data", dataset_root=tmp_path / "data" / "dataset")
    with pytest.raises(ValueError, match="--data-dir: the corrections store must be a folder of its own"):
        launch_kwargs(s)
    s.close()


def test_config_repr_and_the_launched_app_never_show_the_password(tmp_path: Path, capsys) -> None:
    secret = "s3cret-Pa55word"
    config = load_config(["--auth", f"ann:{secret},bob:{secret}2", "--data-dir", str(tmp_path / "d")], env={})
    for text in (repr(config), str(config), f"{config}", str(config.describe()), repr([config])):
        assert secret not in text and "ann" in text, text
    assert "auth=(('ann', '***'), ('bob', '***'))" in repr(config)
    s = make_services(tmp_path / "data", auth=(("ann", secret),))
    demo, client = start_app(s, login=("ann", secret))  # launch_kwargs passes the config's auth to gradio
    try:
        pages = [client.view_api(print_info=False, return_format="str") or ""]
        with httpx.Client(base_url=demo.local_url, timeout=30) as http:
            assert http.post("/login", data={"username": "ann", "password": secret}).status_code == 200
            for url in ("/config", "/gradio_api/info", "/"):
                response = http.get(url)
                assert response.status_code == 200, (url, response.status_code)
                pages.append(response.text)
    finally:
        demo.close()
        s.close()
    captured = capsys.readouterr()
    assert all(secret not in text for text in (*pages, captured.out, captured.err))


def test_a_named_model_that_is_missing_fails_at_start_not_silently(tmp_path: Path) -> None:
    config = load_config(["--model", str(tmp_path / "nope"), "--data-dir", str(tmp_path)], env={})
    with pytest.raises(ModelNotFoundError, match="not found"):
        DiagnosisService(config)
