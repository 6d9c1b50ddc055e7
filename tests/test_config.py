"""flue.toml + .env + environment -> FlueConfig, and the one-line errors a wrong setting gives."""

from __future__ import annotations

from pathlib import Path

import pytest

from flue_py.config import DEFAULT_STORE, load_config
from flue_py.exceptions import ConfigError

ENV_VARS = (
    "FLUE_MODEL",
    "FLUE_STORE",
    "FLUE_HOST",
    "FLUE_PORT",
    "PORT",
    "FLUE_CORS_ORIGINS",
    "FLUE_AUTH_TOKEN",
    "MY_TOKEN",
)


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    # setenv first so monkeypatch restores each variable's original state, even after .env loading set it.
    for var in ENV_VARS:
        monkeypatch.setenv(var, "")
        monkeypatch.delenv(var)


def write(root: Path, text: str) -> Path:
    (root / "flue.toml").write_text(text, encoding="utf-8")
    return root


def test_defaults_without_a_file(tmp_path: Path) -> None:
    config = load_config(tmp_path)
    assert config.root == tmp_path.resolve()
    assert config.name == tmp_path.name
    assert config.model is None
    assert config.store.url == DEFAULT_STORE
    assert config.store_url() == f"sqlite:///{tmp_path.resolve()}/.flue/flue.db"
    assert (config.server.host, config.server.port, config.server.cors_origins) == ("127.0.0.1", 8000, [])
    assert config.token is None


def test_every_key_is_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(
        tmp_path,
        """
[project]
name = "demo"
model = "test"
[store]
url = "sqlite:////var/lib/demo.db"
[server]
host = "0.0.0.0"
port = 9000
token_env = "MY_TOKEN"
cors_origins = ["https://a.example"]
""",
    )
    monkeypatch.setenv("MY_TOKEN", "s3cret")
    config = load_config(tmp_path)
    assert (config.name, config.model) == ("demo", "test")
    assert config.store_url() == "sqlite:////var/lib/demo.db"  # absolute paths stay as they are
    assert (config.server.host, config.server.port) == ("0.0.0.0", 9000)
    assert config.server.cors_origins == ["https://a.example"]
    assert config.token == "s3cret"


def test_environment_beats_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(tmp_path, '[project]\nmodel = "anthropic/x"\n[server]\nport = 9000\nhost = "::1"\n')
    monkeypatch.setenv("FLUE_MODEL", "test")
    monkeypatch.setenv("FLUE_STORE", "memory://")
    monkeypatch.setenv("FLUE_HOST", "0.0.0.0")
    monkeypatch.setenv("FLUE_CORS_ORIGINS", "https://a.example, https://b.example")
    monkeypatch.setenv("PORT", "7000")
    config = load_config(tmp_path)
    assert config.model == "test"
    assert config.store_url() == "memory://"
    assert config.server.host == "0.0.0.0"
    assert config.server.port == 7000
    assert config.server.cors_origins == ["https://a.example", "https://b.example"]
    monkeypatch.setenv("FLUE_PORT", "7001")  # the explicit one wins over the platform's PORT
    assert load_config(tmp_path).server.port == 7001


def test_dotenv_fills_gaps_but_never_overrides(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / ".env").write_text(
        "FLUE_MODEL=from-dotenv\nFLUE_HOST=10.0.0.1\nFLUE_AUTH_TOKEN=tok\n", encoding="utf-8"
    )
    monkeypatch.setenv("FLUE_HOST", "192.168.0.1")
    config = load_config(tmp_path)
    assert config.model == "from-dotenv"
    assert config.server.host == "192.168.0.1"
    assert config.token == "tok"


def test_env_false_reads_only_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(tmp_path, "[server]\nport = 9000\n")
    monkeypatch.setenv("PORT", "1")
    assert load_config(tmp_path, env=False).server.port == 9000


@pytest.mark.parametrize(
    ("toml", "expected"),
    [
        (
            '[server]\nport = "eighty"\n',
            "flue.toml: [server] port: Input should be a valid integer — set it to a number like 8000",
        ),
        (
            "[server]\nprot = 8000\n",
            (
                "flue.toml: [server] prot: unknown key — remove it or fix the spelling "
                "(known: host, port, token_env, cors_origins)"
            ),
        ),
        (
            "[sever]\nport = 8000\n",
            "flue.toml: [sever]: unknown section — remove it or fix the spelling (known: project, store, server)",
        ),
        ("server = 8000\n", "flue.toml: [server]: should be a table — write it as a [server] section"),
        (
            "[server]\ncors_origins = 3\n",
            (
                "flue.toml: [server] cors_origins: Input should be a valid list — set it to a list like "
                '["http://localhost:5173"]'
            ),
        ),
        (
            "[server]\nport = 70000\n",
            "flue.toml: [server] port: Input should be less than or equal to 65535 — set it to a number like 8000",
        ),
        ('root = "/"\n', "flue.toml: unknown key 'root' — remove it (known sections: project, store, server)"),
    ],
)
def test_invalid_file_gives_one_line(tmp_path: Path, toml: str, expected: str) -> None:
    write(tmp_path, toml)
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path)
    assert str(info.value) == expected
    assert "\n" not in str(info.value)


def test_bad_toml_syntax_names_the_file(tmp_path: Path) -> None:
    write(tmp_path, "[server\n")
    with pytest.raises(ConfigError, match=r"^flue\.toml: not valid TOML \(.*line 1.*\) — fix the syntax"):
        load_config(tmp_path)


def test_invalid_environment_names_the_variable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PORT", "abc")
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path)
    assert str(info.value) == (
        "environment variable PORT: Input should be a valid integer (got 'abc') — set it to a number like 8000"
    )
