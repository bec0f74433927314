"""``liantu pki init``: the development PKI, signing identities and seals for the demo."""

from __future__ import annotations

from pathlib import Path

import click

from app.platform import get_platform
from storage.db import transaction


@click.group("pki")
def pki() -> None:
    """数字证书 / Certificates for electronic seals."""


@pki.command("init")
@click.option(
    "--dir",
    "directory",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="证书目录（默认 <data_dir>/pki）/ folder of the PKI (default <data_dir>/pki)",
)
def init(directory: Path | None) -> None:
    """创建开发用证书体系并导入各部门签章证书 / Create the development PKI and import every department's identity."""
    from app.sealing.devpki import init_dev_pki

    platform = get_platform()
    try:
        with transaction(platform.sessions) as session:
            report = init_dev_pki(session, platform.store, platform.settings, directory)
    except RuntimeError as exc:
        raise click.ClickException(str(exc)) from exc
    state = "已创建 / created" if report.created else "已存在，沿用 / exists, reused"
    click.echo(f"证书目录 / PKI folder: {report.directory} ({state})")
    click.echo(f"信任根证书 / trust root: {report.directory / 'root.pem'}")
    for name in report.identities:
        click.echo(f"  签章证书 / signing certificate: {name}")
    for name in report.seals:
        click.echo(f"  印章图像 / seal image: {name}")
    if not platform.settings.tsa_url:
        click.echo("时间戳服务：liantu run 在本机启动开发用 TSA / timestamps: liantu run starts the development TSA")


commands = [pki]
