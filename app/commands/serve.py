"""``liantu serve``: the web server (uvicorn) with Liantu's app; several processes with ``--workers``."""

from __future__ import annotations

import click


@click.command("serve")
@click.option("--host", default=None, help="监听地址 / address to bind (default: LIANTU_HOST)")
@click.option("--port", type=int, default=None, help="端口 / port (default: LIANTU_PORT)")
@click.option(
    "--workers", type=click.IntRange(min=1), default=1, show_default=True, help="Web 进程数 / number of web processes"
)
@click.option(
    "--forwarded-allow-ips",
    default="127.0.0.1",
    show_default=True,
    help="信任其 X-Forwarded-For 的代理地址（逗号分隔，* 为全部）/ proxies whose X-Forwarded-For is trusted",
)
@click.option(
    "--access-log/--no-access-log",
    default=False,
    show_default=True,
    help="逐个请求记录访问日志 / log every request (the reverse proxy usually does)",
)
def serve(host: str | None, port: int | None, workers: int, forwarded_allow_ips: str, access_log: bool) -> None:
    """启动 Web 服务 / Start the web server.

    Behind a reverse proxy on another host (docker/compose.yaml), pass that proxy's address with
    ``--forwarded-allow-ips`` so that the login rate limit counts real client addresses, not the proxy's.

    uvicorn runs on httptools and uvloop (dependencies of Liantu): far less CPU per request than h11
    and asyncio. The access log is off unless asked for: a line per tile costs more than the tile.
    """
    import uvicorn

    from app.platform import get_platform

    settings = get_platform().settings
    # With several workers uvicorn imports the factory in each process, so it is named, not passed.
    uvicorn.run(
        "app.web:asgi",
        factory=True,
        host=host or settings.host,
        port=port or settings.port,
        workers=workers,
        proxy_headers=True,
        forwarded_allow_ips=forwarded_allow_ips,
        log_level="info",
        access_log=access_log,
        http="httptools",
        loop="auto",  # uvloop where installed (not on Windows)
    )


commands = [serve]
