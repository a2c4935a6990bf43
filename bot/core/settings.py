"""Settings from the environment (and a local `.env`); secrets never come from anywhere else."""
from __future__ import annotations

import base64
import ipaddress
import logging
import os
import re
import secrets
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path

from bot.core.crypto import weak_key_reason

log = logging.getLogger(__name__)

DEFAULT_DB_URL = "sqlite+aiosqlite:///var/wegobot.db"
# The generated key lives apart from the database's folder: a copy of var/ (a backup, a stolen
# disk image of the app's folder) then holds no key to decrypt it. $XDG_CONFIG_HOME is honoured.
DEFAULT_KEY_FILE = "~/.config/wego-bot/data.key"
LEGACY_KEY_FILE = "var/data.key"  # where earlier versions put it, beside the database


MAKE_KEY = ("python -c 'import secrets,base64;"
            "print(base64.urlsafe_b64encode(secrets.token_bytes(32)).decode())'")
DEFAULT_VIBER_SENDER_NAME = "Assistant"
VIBER_SENDER_NAME_MAX = 28  # Viber refuses a longer sender.name
CURRENCY_RE = re.compile(r"^[A-Z]{3}$")


class SettingsError(RuntimeError):
    """A setting is missing or malformed; the message says which and how to fix it."""


def _bool(value: str | None, default: bool) -> bool:
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _int(env: dict[str, str], name: str, default: int) -> int:
    raw = env.get(name, "")
    if raw == "":
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise SettingsError(f"{name} must be a whole number") from exc


@dataclass(frozen=True)
class Settings:
    database_url: str = DEFAULT_DB_URL
    http_host: str = "127.0.0.1"
    http_port: int = 8080
    public_url: str = ""
    telegram_token: str = ""
    telegram_api_base_url: str = "https://api.telegram.org/bot"
    telegram_webhook_secret: str = ""
    viber_token: str = ""
    viber_api_base_url: str = "https://chatapi.viber.com/pa/"
    # The name and picture her chat list and lock screen show: neutral, nothing about violence.
    viber_sender_name: str = DEFAULT_VIBER_SENDER_NAME
    viber_avatar_url: str = ""
    # What one bot-initiated Viber message costs under the NGO's agreement (None: not shown).
    viber_price_per_message: Decimal | None = None
    viber_price_currency: str = "EUR"
    data_key: bytes = field(default=b"", repr=False)
    redis_url: str = ""
    log_level: str = "INFO"
    session_ttl_seconds: int = 1800
    auto_migrate: bool = True
    demo_data: str = "auto"
    webchat_enabled: bool = True
    scheduler_enabled: bool = True
    # How often a worker without the scheduler's leader lock asks for it again (bot/scheduler.py):
    # the longest the scheduled work waits after the leader died.
    scheduler_leader_retry_seconds: int = 60
    retention_days: int = 180
    invite_ttl_hours: int = 72
    # Addresses or networks of the reverse proxy in front of this server (one hop): only from
    # these is X-Forwarded-For believed, so the web chat can limit per client behind it.
    trusted_proxies: tuple[str, ...] = ()

    @property
    def has_channel_token(self) -> bool:
        return bool(self.telegram_token or self.viber_token)

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None, *, load_dotenv: bool = True,
                 create_key: bool = False) -> Settings:
        """Read the settings; with create_key, make a local data key on first start."""
        if env is None:
            if load_dotenv:
                from dotenv import load_dotenv as _load

                _load(override=False)
            env = dict(os.environ)
        key = _load_data_key(env, create=create_key)
        return cls(
            database_url=env.get("DATABASE_URL") or DEFAULT_DB_URL,
            http_host=env.get("HTTP_HOST") or "127.0.0.1",
            http_port=_int(env, "HTTP_PORT", 8080),
            public_url=(env.get("PUBLIC_URL") or "").rstrip("/"),
            telegram_token=env.get("TELEGRAM_TOKEN", ""),
            telegram_api_base_url=env.get("TELEGRAM_API_BASE_URL")
            or "https://api.telegram.org/bot",
            telegram_webhook_secret=env.get("TELEGRAM_WEBHOOK_SECRET", ""),
            viber_token=env.get("VIBER_TOKEN", ""),
            viber_api_base_url=env.get("VIBER_API_BASE_URL") or "https://chatapi.viber.com/pa/",
            viber_sender_name=_sender_name(env.get("VIBER_SENDER_NAME", "")),
            viber_avatar_url=_avatar_url(env.get("VIBER_AVATAR_URL", "")),
            viber_price_per_message=_price(env.get("VIBER_PRICE_PER_MESSAGE", "")),
            viber_price_currency=_currency(env.get("VIBER_PRICE_CURRENCY", "")),
            data_key=key,
            redis_url=env.get("REDIS_URL", ""),
            log_level=(env.get("LOG_LEVEL") or "INFO").upper(),
            session_ttl_seconds=_int(env, "SESSION_TTL_SECONDS", 1800),
            auto_migrate=_bool(env.get("AUTO_MIGRATE"), True),
            demo_data=(env.get("DEMO_DATA") or "auto").lower(),
            webchat_enabled=_bool(env.get("WEBCHAT_ENABLED"), True),
            scheduler_enabled=_bool(env.get("SCHEDULER_ENABLED"), True),
            scheduler_leader_retry_seconds=max(1, _int(env, "SCHEDULER_LEADER_RETRY_SECONDS",
                                                       60)),
            retention_days=_int(env, "RETENTION_DAYS", 180),
            invite_ttl_hours=_int(env, "INVITE_TTL_HOURS", 72),
            trusted_proxies=_networks(env, "TRUSTED_PROXIES"),
        )


def _sender_name(raw: str) -> str:
    name = raw.strip()
    if not name:
        return DEFAULT_VIBER_SENDER_NAME
    if len(name) > VIBER_SENDER_NAME_MAX:
        raise SettingsError(f"VIBER_SENDER_NAME must be at most {VIBER_SENDER_NAME_MAX} "
                            "characters (Viber refuses longer names)")
    return name


def _avatar_url(raw: str) -> str:
    url = raw.strip()
    if url and not url.startswith("https://"):
        raise SettingsError("VIBER_AVATAR_URL must be an https:// address of a picture "
                            "(under 100 KB, 720x720 recommended)")
    return url


def _price(raw: str) -> Decimal | None:
    if not raw.strip():
        return None
    try:
        price = Decimal(raw.strip().replace(",", "."))
    except InvalidOperation as exc:
        raise SettingsError("VIBER_PRICE_PER_MESSAGE must be a number such as 0.0125") from exc
    if not price.is_finite() or price < 0:
        raise SettingsError("VIBER_PRICE_PER_MESSAGE must be zero or more")
    return price


def _currency(raw: str) -> str:
    code = raw.strip().upper() or "EUR"
    if not CURRENCY_RE.match(code):
        raise SettingsError("VIBER_PRICE_CURRENCY must be a three-letter ISO 4217 code "
                            "such as EUR")
    return code


def _networks(env: dict[str, str], name: str) -> tuple[str, ...]:
    values = tuple(v.strip() for v in env.get(name, "").split(",") if v.strip())
    for value in values:
        try:
            ipaddress.ip_network(value)
        except ValueError as exc:
            raise SettingsError(f"{name}: {value!r} is not an IP address or network") from exc
    return values


def _decode_key(raw: str, source: str) -> bytes:
    try:
        key = base64.urlsafe_b64decode(raw.strip() + "=" * (-len(raw.strip()) % 4))
    except ValueError as exc:
        raise SettingsError(f"{source} is not base64") from exc
    if len(key) != 32:
        raise SettingsError(f"{source} must decode to 32 bytes ({MAKE_KEY})")
    weak = weak_key_reason(key)
    if weak:
        raise SettingsError(f"{source} is not a random key ({weak}); make one with {MAKE_KEY}")
    return key


def decode_key(raw: str, source: str) -> bytes:
    """A key given as URL-safe base64 (DATA_KEY, NEW_DATA_KEY, a key file), checked."""
    return _decode_key(raw, source)


def key_file_path(env: dict[str, str]) -> Path:
    """The key file in use: DATA_KEY_FILE, else the default (not the legacy one)."""
    return Path(env["DATA_KEY_FILE"]).expanduser() if env.get("DATA_KEY_FILE") \
        else default_key_file(env)


def default_key_file(env: dict[str, str]) -> Path:
    config_home = Path(env["XDG_CONFIG_HOME"]) if env.get("XDG_CONFIG_HOME") \
        else Path.home() / ".config"
    return config_home / "wego-bot" / "data.key"


def _load_data_key(env: dict[str, str], *, create: bool) -> bytes:
    """DATA_KEY, else the key file; on a first local start, a new key in that file."""
    if env.get("DATA_KEY"):
        return _decode_key(env["DATA_KEY"], "DATA_KEY")
    path = key_file_path(env)
    if path.exists():
        return _decode_key(path.read_text(encoding="ascii"), str(path))
    legacy = Path(LEGACY_KEY_FILE)
    if not env.get("DATA_KEY_FILE") and legacy.exists():
        log.warning("The data key is in %s, beside the database: move it to %s (or set "
                    "DATA_KEY_FILE), so that a copy of the database folder holds no key",
                    legacy, path)
        return _decode_key(legacy.read_text(encoding="ascii"), str(legacy))
    if not create:
        return b""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    raw = base64.urlsafe_b64encode(secrets.token_bytes(32)).decode("ascii")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as fh:
        fh.write(raw + "\n")
    log.warning("No DATA_KEY was set: created a new data key in %s (keep it safe and back it up;"
                " without it the stored channel addresses cannot be read)", path.resolve())
    return _decode_key(raw, str(path))
