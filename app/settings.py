"""The one module that reads the environment (prefix ``LIANTU_``).

Every setting is typed and checked when the process starts; a bad value stops start-up with
a message that names the setting, in Chinese and English. Nothing else in Liantu reads
``os.environ``.
"""

from __future__ import annotations

import hmac
import os
import secrets
from enum import StrEnum
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

PREFIX = "LIANTU_"

# Variables with the prefix that are read by the test and CI tooling, not by the platform.
_TOOLING_VARIABLES = frozenset(
    {
        "LIANTU_REQUIRE_SERVICES",
        "LIANTU_TEST_POSTGRES_URL",
        "LIANTU_TEST_REDIS_URL",
        "LIANTU_SAMPLES",
    }
)


class SettingsError(ValueError):
    """A setting is missing or wrong; the message names it."""


class Mode(StrEnum):
    DEVELOPMENT = "development"
    PRODUCTION = "production"


class StoreKind(StrEnum):
    LOCAL = "local"
    S3 = "s3"


class Settings(BaseSettings):
    """Liantu's configuration. Field names map to ``LIANTU_<NAME>`` environment variables."""

    model_config = SettingsConfigDict(env_prefix=PREFIX, extra="forbid", frozen=True)

    mode: Mode = Mode.DEVELOPMENT
    """development: a secret key is generated and kept under the data folder; production: it is required."""

    data_dir: Path = Path("var")
    """Folder for the embedded database, local object store, embedded broker and the generated secret key."""

    database_url: str = ""
    """SQLAlchemy URL. Empty: SQLite at ``<data_dir>/liantu.sqlite3``. PostgreSQL: ``postgresql+psycopg://…``."""

    store: StoreKind = StoreKind.LOCAL
    """Object store for originals and derived artefacts: ``local`` (a folder) or ``s3`` (MinIO or any S3)."""

    store_path: Path | None = None
    """Folder of the local object store. Empty: ``<data_dir>/objects``."""

    s3_endpoint: str = ""
    """S3 endpoint as ``host:port`` (no scheme), e.g. ``minio:9000``."""

    s3_access_key: str = ""
    """S3 access key."""

    s3_secret_key: str = ""
    """S3 secret key."""

    s3_bucket: str = "liantu"
    """S3 bucket; created on start when missing."""

    s3_secure: bool = False
    """Use HTTPS to reach the S3 endpoint."""

    s3_region: str = "us-east-1"
    """S3 region name sent with signed requests."""

    broker_url: str = "embedded"
    """Task queue broker. ``embedded``: a SQLite file under the data folder, no server. Or ``redis://host:port/n``."""

    secret_key: str = ""
    """Key for session cookies and CSRF tokens. Required (32+ characters) in production mode."""

    max_upload_bytes: Annotated[int, Field(gt=0)] = 2 * 1024**3
    """Largest file accepted for upload, in bytes (default 2 GiB)."""

    multipart_threshold_bytes: Annotated[int, Field(ge=5 * 1024**2)] = 64 * 1024**2
    """Uploads to S3 larger than this are sent in parts of this size (at least 5 MiB)."""

    default_locale: Literal["zh-CN", "en"] = "zh-CN"
    """Interface language when the user has not chosen one."""

    host: str = "127.0.0.1"
    """Address the web server binds to."""

    port: Annotated[int, Field(gt=0, lt=65536)] = 8000
    """Port the web server listens on."""

    public_url: str = ""
    """Address users reach Liantu at (used in links and QR codes). Empty: ``http://<host>:<port>``."""

    login_attempts: Annotated[int, Field(gt=0)] = 5
    """Failed logins allowed per account and per client address in ``login_window_seconds``."""

    login_window_seconds: Annotated[int, Field(gt=0)] = 300
    """Window of the login rate limit, in seconds."""

    session_max_age_seconds: Annotated[int, Field(gt=0)] = 8 * 3600
    """A browser session expires after this many seconds."""

    principal_cache_seconds: Annotated[float, Field(ge=0)] = 5.0
    """How long a web process keeps a signed-in user's roles (and what they may read) without asking the
    database again. A change made in the same process takes effect at once; one made in another
    process or on the command line within this many seconds. 0 turns the cache off."""

    task_time_limit_seconds: Annotated[int, Field(gt=0)] = 1800
    """Hard time limit of one background task; the worker process is replaced when it is exceeded."""

    worker_concurrency: Annotated[int, Field(gt=0)] = 2
    """Worker processes started by ``liantu run`` and ``liantu worker``."""

    oda_converter: Path | None = None
    """Path of the ``ODAFileConverter`` executable. Set: DWG uploads are accepted and converted to DXF in the worker."""

    dwg_timeout_seconds: Annotated[int, Field(gt=0)] = 300
    """Longest one DWG conversion may run before the file is rejected, in seconds."""

    trust_roots: Annotated[tuple[Path, ...], NoDecode] = ()
    """PEM files of the CAs whose certificates seals are trusted by (comma-separated; several CAs at once)."""

    tsa_url: str = ""
    """RFC 3161 timestamp authority used when seals are applied (the result's signatures, the permit)."""

    signing_key: str = ""
    """Key that encrypts stored signing identities (PKCS#12) at rest; 32+ characters, required in production.
    Development: derived from the secret key."""

    pkcs11_module: Path | None = None
    """PKCS#11 library of the signing tokens (HSM, USB key), e.g. ``/usr/lib/softhsm/libsofthsm2.so``."""

    pkcs11_pin: str = ""
    """User PIN of the signing tokens."""

    signing_order: Annotated[tuple[str, ...], NoDecode] = ("fire", "civil_air_defence", "construction")
    """Track codes in the order their departments seal the result (comma-separated); other tracks follow."""

    verify_max_bytes: Annotated[int, Field(gt=0)] = 64 * 1024**2
    """Largest PDF accepted by the verification pages (签章验证), in bytes."""

    verify_attempts: Annotated[int, Field(gt=0)] = 20
    """Verifications allowed per client address on the public page within ``verify_window_seconds``."""

    verify_window_seconds: Annotated[int, Field(gt=0)] = 600
    """Window of the public verification rate limit, in seconds."""

    smtp_host: str = ""
    """SMTP server for e-mail notifications. Empty: mails are kept in the outbox (development) and not sent."""

    smtp_port: Annotated[int, Field(gt=0, lt=65536)] = 587
    """Port of the SMTP server."""

    smtp_username: str = ""
    """SMTP login; empty for a server that needs none."""

    smtp_password: str = ""
    """SMTP password."""

    smtp_starttls: bool = True
    """Upgrade the SMTP connection with STARTTLS before logging in."""

    smtp_sender: str = "liantu@localhost"
    """The From address of notification mails."""

    smtp_timeout_seconds: Annotated[float, Field(gt=0)] = 10.0
    """Longest wait for the SMTP server, in seconds; a slow server is retried later."""

    time_limits_file: Path | None = None
    """JSON file of the time limits per track (审查时限). Empty: the shipped ``app/deadlines/time_limits.json``."""

    calendar_allow_provisional: bool = False
    """Compute deadlines in a year whose holiday data is provisional (statutory days, no official notice yet)."""

    reminder_interval_seconds: Annotated[int, Field(ge=0)] = 3600
    """How often a worker looks for due-soon and overdue reviews to remind; 0: never (use ``liantu remind``)."""

    fee_schedule_file: Path | None = None
    """JSON fee schedule (收费标准) approved for this bureau. Empty: the shipped example, marked as such on invoices."""

    payment_secret: str = ""
    """Key (32+ characters) shared with the payment gateway to sign callbacks. Empty: derived from the secret key."""

    @field_validator("trust_roots", mode="before")
    @classmethod
    def _comma_separated(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(Path(part.strip()) for part in value.split(",") if part.strip())
        return value

    @field_validator("signing_order", mode="before")
    @classmethod
    def _comma_separated_codes(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(part.strip() for part in value.split(",") if part.strip())
        return value

    @field_validator("pkcs11_module", mode="before")
    @classmethod
    def _empty_module_is_unset(cls, value: object) -> object:
        return None if value == "" else value

    @field_validator("trust_roots")
    @classmethod
    def _readable_trust_roots(cls, value: tuple[Path, ...]) -> tuple[Path, ...]:
        for path in value:
            if not path.is_file():
                raise ValueError(f"no such certificate file: {path} / 找不到证书文件：{path}")
        return value

    @field_validator("database_url")
    @classmethod
    def _known_database(cls, value: str) -> str:
        if value and not value.startswith(("sqlite", "postgresql")):
            raise ValueError(
                "only sqlite:/// and postgresql+psycopg:// URLs are supported / 仅支持 SQLite 与 PostgreSQL"
            )
        return value

    @field_validator("broker_url")
    @classmethod
    def _known_broker(cls, value: str) -> str:
        if value != "embedded" and not value.startswith(("redis://", "rediss://", "amqp://", "memory://")):
            raise ValueError("use 'embedded', redis://… or amqp://… / 请使用 embedded、redis:// 或 amqp://")
        return value

    @field_validator("oda_converter", "time_limits_file", "fee_schedule_file", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        return None if value == "" else value

    @field_validator("oda_converter")
    @classmethod
    def _runnable_converter(cls, value: Path | None) -> Path | None:
        if value is not None and not (value.is_file() and os.access(value, os.X_OK)):
            raise ValueError(
                f"{value} is not an executable file / {value} 不存在或不可执行（应为 ODAFileConverter 程序）"
            )
        return value

    @field_validator("time_limits_file")
    @classmethod
    def _complete_time_limits(cls, value: Path | None) -> Path | None:
        from app.deadlines.config import check_time_limits_file

        check_time_limits_file(value)
        return value

    @field_validator("fee_schedule_file")
    @classmethod
    def _valid_fee_schedule(cls, value: Path | None) -> Path | None:
        from app.fees.config import check_fee_schedule_file

        check_fee_schedule_file(value)
        return value

    @model_validator(mode="after")
    def _consistent(self) -> Settings:
        if self.store is StoreKind.S3 and not (self.s3_endpoint and self.s3_access_key and self.s3_secret_key):
            raise ValueError(
                "LIANTU_STORE=s3 needs LIANTU_S3_ENDPOINT, LIANTU_S3_ACCESS_KEY and LIANTU_S3_SECRET_KEY"
                " / S3 存储需要配置端点与密钥"
            )
        if self.mode is Mode.PRODUCTION and len(self.secret_key) < 32:
            raise ValueError("LIANTU_SECRET_KEY must be set (32+ characters) in production / 生产模式必须设置密钥")
        if self.payment_secret and len(self.payment_secret) < 32:
            raise ValueError("LIANTU_PAYMENT_SECRET must have 32+ characters / 支付回调密钥至少 32 个字符")
        from app.deadlines.config import check_calendar

        check_calendar()
        return self

    # Derived values -------------------------------------------------------------------

    @property
    def effective_database_url(self) -> str:
        return self.database_url or f"sqlite:///{(self.data_dir / 'liantu.sqlite3').resolve()}"

    @property
    def effective_store_path(self) -> Path:
        return (self.store_path or self.data_dir / "objects").resolve()

    @property
    def effective_broker_url(self) -> str:
        if self.broker_url == "embedded":
            return f"sqla+sqlite:///{(self.data_dir / 'broker.sqlite3').resolve()}"
        return self.broker_url

    @property
    def embedded_broker(self) -> bool:
        return self.broker_url == "embedded"

    @property
    def effective_public_url(self) -> str:
        return (self.public_url or f"http://{self.host}:{self.port}").rstrip("/")

    @property
    def effective_secret_key(self) -> str:
        if self.secret_key:
            return self.secret_key
        return _development_secret(self.data_dir)

    @property
    def secure_cookies(self) -> bool:
        return self.mode is Mode.PRODUCTION

    @property
    def effective_signing_key(self) -> bytes:
        """32 bytes for AES-GCM; in development derived from the secret key, so no setup is needed.

        Production needs ``signing_key`` only once identities are stored or used, so a bureau that does not
        seal in Liantu is not asked for it.
        """
        if self.mode is Mode.PRODUCTION and len(self.signing_key) < 32:
            raise SettingsError(
                "LIANTU_SIGNING_KEY must be set (32+ characters) in production / 生产模式必须设置签章证书加密密钥"
            )
        material = self.signing_key or self.effective_secret_key
        return hmac.new(material.encode("utf-8"), b"liantu signing identities at rest", "sha256").digest()

    @property
    def effective_payment_secret(self) -> bytes:
        """The callback key; when not set, derived from the secret key (known to the fake gateway only)."""
        if self.payment_secret:
            return self.payment_secret.encode("utf-8")
        return hmac.new(self.effective_secret_key.encode("utf-8"), b"liantu payment callbacks", "sha256").digest()


def _development_secret(data_dir: Path) -> str:
    """Generate the key on the first development run and keep it, so sessions survive restarts."""
    path = data_dir / "secret_key"
    if path.exists():
        return path.read_text().strip()
    data_dir.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(48)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(key)
    return key


def load_settings(environ: dict[str, str] | None = None) -> Settings:
    """Read and check the settings; raise :class:`SettingsError` naming the bad setting."""
    env = dict(os.environ if environ is None else environ)
    fields = {PREFIX + name.upper() for name in Settings.model_fields}
    unknown = sorted(k for k in env if k.startswith(PREFIX) and k not in fields and k not in _TOOLING_VARIABLES)
    if unknown:
        raise SettingsError(f"未知设置 / unknown setting: {', '.join(unknown)}")
    values = {name: env[PREFIX + name.upper()] for name in Settings.model_fields if PREFIX + name.upper() in env}
    try:
        return Settings.model_validate(values)
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            location = ".".join(str(part) for part in error["loc"])
            name = PREFIX + location.upper() if location else "settings"
            problems.append(f"{name}: {error['msg']}")
        raise SettingsError("设置错误 / invalid setting — " + "; ".join(problems)) from None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once."""
    return load_settings()
