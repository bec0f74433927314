"""Deep Zoom tiles served by Liantu from the local store, against nginx serving the same files (the ceiling).

A generated A1 sheet is rendered into its tile pyramid in a fresh data folder (embedded SQLite, local
store); Liantu's web server then runs as ``liantu serve --workers 2`` runs it, and ``wrk`` (Debian
``wrk``) requests every tile of the pyramid in turn with a signed-in reviewer's session cookie, as the
viewer does: each request authenticates the session, checks that the reviewer may see the sheet and
reads the tile from the store. nginx (Debian ``nginx-light``, 2 worker processes, access log off, its
own ETag) serves the same tile files from the same folder on the same loopback: the ceiling.

Three loads, each ``--seconds`` long with ``--connections`` keep-alive connections on 2 wrk threads:
full tiles (200), revalidation (``If-None-Match`` with the tile's ETag → 304), and nginx's 200s. wrk,
the server and the database share the machine's cores, as they would on one small host.

    .venv/bin/python bench/bench_tile_serving.py [--seconds 10] [--connections 32]
    .venv/bin/python bench/bench_tile_serving.py --in-process 3000   # CPU and SQL per tile, no HTTP, no wrk
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
GOAL_TILES_PER_SECOND = 1000.0
SECRET_KEY = "bench-secret-key-for-signed-session-cookies-0123456789"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def vm_hwm_kb(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def descendants(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            children = (task / "children").read_text().split()
        except OSError:
            continue
        for child in children:
            found.append(int(child))
            found.extend(descendants(int(child)))
    return found


def liantu_env(data_dir: Path, database_url: str = "") -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LIANTU_")}
    env.update(
        {
            "LIANTU_DATA_DIR": str(data_dir),
            "LIANTU_SECRET_KEY": SECRET_KEY,
            "LIANTU_BROKER_URL": "memory://",
            "LIANTU_DATABASE_URL": database_url,
        }
    )
    return env


@dataclass
class Server:
    """A process tree listening on ``port``; stopped with :meth:`stop`, reporting its peak memory."""

    process: subprocess.Popen[bytes]
    port: int

    def peak_rss_mb(self) -> float:
        pids = [self.process.pid, *descendants(self.process.pid)]
        return sum(vm_hwm_kb(pid) for pid in pids) / 1024

    def cpu_seconds(self) -> float:
        """User and system CPU time used so far by the server's processes."""
        total = 0
        for pid in [self.process.pid, *descendants(self.process.pid)]:
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of stat)
        return total / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def wait_until_up(url: str, process: subprocess.Popen[bytes], deadline_s: float = 60.0) -> None:
    """Poll ``url`` until it answers; a server that exits or never answers is stopped and reported."""
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"server exited with {process.returncode} before answering {url}")
        try:
            with urllib.request.urlopen(url, timeout=1):
                return
        except OSError:
            time.sleep(0.05)
    Server(process, 0).stop()
    raise SystemExit(f"{url} did not answer within {deadline_s:.0f} s")


def start_liantu(env: dict[str, str], workers: int = 2) -> Server:
    """``liantu serve`` with ``workers`` processes, as the distributed deployment runs it."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "app", "serve", "--port", str(port), "--workers", str(workers)],
        cwd=ROOT,
        env={**env, "LIANTU_HOST": "127.0.0.1"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    wait_until_up(f"http://127.0.0.1:{port}/healthz", process)
    return Server(process, port)


def session_cookie(user_id: int) -> str:
    from app.web.sessions import COOKIE_NAME, encode_session

    value = encode_session(SECRET_KEY, {"uid": user_id, "csrf": secrets.token_urlsafe(32), "iat": int(time.time())})
    return f"{COOKIE_NAME}={value}"


def a1_sheet_pdf() -> bytes:
    """An A1 sheet with a grid of rooms and Chinese labels: enough linework for real tiles."""
    import pymupdf

    document = pymupdf.open()
    page = document.new_page(width=2384, height=1684)
    shape = page.new_shape()
    for x in range(40, 2340, 60):
        for y in range(40, 1640, 60):
            shape.draw_rect(pymupdf.Rect(x, y, x + 50, y + 50))
    shape.finish(color=(0, 0, 0), width=0.6)
    shape.commit()
    for y in range(80, 1640, 120):
        page.insert_text((60, y), "防火分区 疏散楼梯 消防车道 人防地下室", fontname="china-s", fontsize=11)
    return bytes(document.tobytes(deflate=True))


@dataclass(frozen=True)
class TiledSheet:
    revision_id: int
    reviewer_id: int
    tile_dir: Path
    """Folder of the pyramid's ``<level>/<col>_<row>.png`` files in the local store."""
    tiles: tuple[tuple[str, str], ...]
    """(level/col_row.png, ETag) of every tile."""


def prepare_tiled_sheet(data_dir: Path) -> TiledSheet:
    """A migrated, seeded data folder with a rendered A1 sheet routed to the fire track."""
    import io

    from sqlalchemy import select

    from app.intake.keys import tile_key
    from app.intake.pipeline import render_sheet_revision
    from app.intake.steps_render import ViewOptions, tile_prefix_of
    from app.platform import Platform
    from app.seed import DESIGN_INSTITUTE, seed_demo
    from app.settings import load_settings
    from storage.db import transaction
    from storage.migrate import upgrade
    from storage.models import (
        DrawingFile,
        Organization,
        Project,
        Round,
        Sheet,
        SheetRevision,
        Submission,
        SubmissionState,
        TrackReview,
        TrackReviewState,
        User,
    )

    platform = Platform(load_settings(liantu_env(data_dir)))
    upgrade(platform.engine)
    with transaction(platform.sessions) as db:
        seed_demo(db)
    info = platform.store.put_original(io.BytesIO(a1_sheet_pdf()), content_type="application/pdf")
    with transaction(platform.sessions) as db:
        institute = db.scalars(select(Organization).where(Organization.name == DESIGN_INSTITUTE)).one()
        project = Project(organization_id=institute.id, code="BENCH-TILES", name="基准测试项目")
        db.add(project)
        db.flush()
        submission = Submission(project_id=project.id, state=SubmissionState.IN_REVIEW)
        db.add(submission)
        db.flush()
        round_ = Round(submission_id=submission.id, number=1)
        round_.track_reviews = [TrackReview(track_code="fire", state=TrackReviewState.IN_REVIEW)]
        db.add(round_)
        sheet = Sheet(submission_id=submission.id, number="建施-01", title="一层平面图")
        db.add(sheet)
        db.flush()
        drawing = DrawingFile(
            submission_id=submission.id,
            sha256=info.sha256 or "",
            size=info.size,
            original_name="建施.pdf",
            media_type="application/pdf",
            object_key=info.key,
        )
        db.add(drawing)
        db.flush()
        revision = SheetRevision(
            sheet_id=sheet.id,
            round_id=round_.id,
            drawing_file_id=drawing.id,
            width_pt=2384,
            height_pt=1684,
            pdf_key=info.key,
        )
        db.add(revision)
        db.flush()
        revision_id = revision.id
        reviewer_id = db.scalars(select(User.id).where(User.username == "fire.reviewer")).one()
    render_sheet_revision(platform.sessions, platform.store, revision_id, options=ViewOptions(dpi=150))
    with platform.sessions() as db:
        dzi = db.get_one(SheetRevision, revision_id).tiles_key
    assert dzi is not None
    prefix = tile_prefix_of(dzi)
    tile_dir = Path(platform.settings.effective_store_path).joinpath(*tile_key(prefix, "").rstrip("/").split("/"))
    names = sorted(str(p.relative_to(tile_dir)) for p in tile_dir.rglob("*.png"))
    etags = tuple(
        (name, '"' + hashlib.sha256(tile_key(prefix, name).encode()).hexdigest()[:40] + '"') for name in names
    )
    platform.close()
    return TiledSheet(revision_id, reviewer_id, tile_dir, etags)


@dataclass(frozen=True)
class WrkResult:
    requests_per_s: float
    p50_ms: float
    p99_ms: float
    requests: int
    bad: int
    """Non-2xx/3xx answers and socket errors."""
    cpu_ms: float = float("nan")
    """Server CPU time per request (all its processes), independent of what else runs on the machine."""


_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def _latency(text: str, percentile: str) -> float:
    found = re.search(rf"^\s*{percentile}%\s+([\d.]+)(us|ms|s)\s*$", text, re.MULTILINE)
    return float(found.group(1)) * _UNITS[found.group(2)] if found else float("nan")


def run_wrk(
    base: str,
    paths: list[str],
    headers: dict[str, str],
    *,
    seconds: int,
    connections: int,
    etags: list[str] | None = None,
) -> WrkResult:
    """wrk cycling through ``paths`` (with ``If-None-Match`` from ``etags`` when given)."""

    def lua_string(text: str) -> str:
        return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'

    lines = ["local paths = {" + ",".join(lua_string(p) for p in paths) + "}"]
    lines.append("local tags = {" + ",".join(lua_string(t) for t in (etags or [])) + "}")
    lines.append("local n = 0")
    for name, value in headers.items():
        lines.append(f"wrk.headers[{lua_string(name)}] = {lua_string(value)}")
    lines.append(
        """request = function()
  n = n + 1
  local i = (n % #paths) + 1
  if #tags > 0 then
    wrk.headers["If-None-Match"] = tags[i]
  end
  return wrk.format("GET", paths[i])
end"""
    )
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write("\n".join(lines))
    try:
        out = subprocess.run(
            ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", "-s", script.name, base],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    finally:
        os.unlink(script.name)
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    total = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    bad = sum(int(n) for n in re.findall(r"Non-2xx or 3xx responses: (\d+)", out))
    bad += sum(int(n) for n in re.findall(r"(?:connect|read|write|timeout) (\d+)", out))
    return WrkResult(rate, _latency(out, "50"), _latency(out, "99"), total, bad)


def measured(server: Server, base: str, paths: list[str], headers: dict[str, str], **options: Any) -> WrkResult:
    """:func:`run_wrk` against ``server``, with the server's CPU time per request."""
    before = server.cpu_seconds()
    result = run_wrk(base, paths, headers, **options)
    spent = server.cpu_seconds() - before
    return replace(result, cpu_ms=spent * 1000 / max(1, result.requests))


def start_nginx(root: Path, url_prefix: str, work: Path) -> Server:
    port = free_port()
    conf = work / "nginx.conf"
    conf.write_text(
        f"""user root;
worker_processes 2;
daemon off;
pid {work}/nginx.pid;
error_log {work}/nginx-error.log;
events {{ worker_connections 1024; }}
http {{
  access_log off;
  sendfile on;
  tcp_nopush on;
  keepalive_requests 1000000;
  client_body_temp_path {work}/body;
  proxy_temp_path {work}/proxy;
  fastcgi_temp_path {work}/fastcgi;
  uwsgi_temp_path {work}/uwsgi;
  scgi_temp_path {work}/scgi;
  types {{ image/png png; }}
  server {{
    listen 127.0.0.1:{port};
    location {url_prefix} {{
      alias {root}/;
      add_header Cache-Control "private, max-age=31536000, immutable";
    }}
  }}
}}
"""
    )
    process = subprocess.Popen(
        ["nginx", "-c", str(conf), "-p", str(work)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    wait_until_up(f"http://127.0.0.1:{port}{url_prefix}0/0_0.png", process)
    return Server(process, port)


def in_process(requests: int) -> None:
    """Tile requests through the ASGI app in this process, without HTTP: CPU time and SQL statements per tile.

    Independent of the machine's load (CPU time of this process, which also runs the worker threads).
    """
    import asyncio

    from sqlalchemy import event

    from app.platform import Platform
    from app.settings import load_settings
    from app.web import create_app

    with tempfile.TemporaryDirectory(prefix="liantu-bench-tiles-") as folder:
        sheet = prepare_tiled_sheet(Path(folder) / "data")
        platform = Platform(load_settings(liantu_env(Path(folder) / "data")))
        app = create_app(platform)
        statements = 0

        def count(*_: object) -> None:
            nonlocal statements
            statements += 1

        event.listen(platform.engine, "before_cursor_execute", count)
        cookie = session_cookie(sheet.reviewer_id).encode()
        prefix = f"/api/v1/sheet-revisions/{sheet.revision_id}/tiles/"

        async def get(path: str, etag: str | None) -> int:
            headers = [(b"host", b"bench"), (b"cookie", cookie)]
            if etag:
                headers.append((b"if-none-match", etag.encode()))
            scope = {
                "type": "http",
                "asgi": {"version": "3.0"},
                "http_version": "1.1",
                "method": "GET",
                "scheme": "http",
                "path": path,
                "raw_path": path.encode(),
                "query_string": b"",
                "root_path": "",
                "headers": headers,
                "client": ("127.0.0.1", 1),
                "server": ("127.0.0.1", 80),
                "state": {},
            }
            status = 0

            async def receive() -> dict[str, Any]:
                return {"type": "http.request", "body": b"", "more_body": False}

            async def send(message: dict[str, Any]) -> None:
                nonlocal status
                if message["type"] == "http.response.start":
                    status = message["status"]

            await app(scope, receive, send)  # type: ignore[arg-type]
            return status

        async def run(count: int, revalidate: bool) -> None:
            for i in range(count):
                name, etag = sheet.tiles[i % len(sheet.tiles)]
                status = await get(prefix + name, etag if revalidate else None)
                assert status == (304 if revalidate else 200), status

        for revalidate in (False, True):
            asyncio.run(run(len(sheet.tiles), revalidate))  # the first tile of a sheet pays for the access query
            statements = 0
            started = time.process_time()
            asyncio.run(run(requests, revalidate))
            spent = time.process_time() - started
            print(
                f"in-process {'304' if revalidate else '200'}: {spent * 1000 / requests:.3f} ms CPU per tile, "
                f"{statements / requests:.2f} SQL statements per tile ({requests} requests)"
            )
        platform.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument(
        "--in-process", type=int, metavar="N", default=0, help="only N requests through the ASGI app, no HTTP"
    )
    args = parser.parse_args()
    if args.in_process:
        in_process(args.in_process)
        return
    for tool in ("wrk", "nginx"):
        if shutil.which(tool) is None:
            raise SystemExit(f"{tool} is not installed (Debian: apt-get install wrk nginx-light)")

    print(f"load average before: {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    with tempfile.TemporaryDirectory(prefix="liantu-bench-tiles-") as folder:
        work = Path(folder)
        started = time.perf_counter()
        sheet = prepare_tiled_sheet(work / "data")
        print(f"A1 sheet at 150 dpi: {len(sheet.tiles)} tiles, prepared in {time.perf_counter() - started:.1f} s")
        prefix = f"/api/v1/sheet-revisions/{sheet.revision_id}/tiles/"
        paths = [prefix + name for name, _ in sheet.tiles]
        tags = [tag for _, tag in sheet.tiles]
        cookie = {"Cookie": session_cookie(sheet.reviewer_id)}

        liantu = start_liantu(liantu_env(work / "data"))
        try:
            base = f"http://127.0.0.1:{liantu.port}"
            request = urllib.request.Request(base + paths[-1], headers=cookie)
            with urllib.request.urlopen(request, timeout=5) as answer:
                assert answer.status == 200
                assert answer.headers["Cache-Control"] == "private, max-age=31536000, immutable"
                assert answer.headers["ETag"] == tags[-1], (answer.headers["ETag"], tags[-1])
            full = measured(liantu, base, paths, cookie, seconds=args.seconds, connections=args.connections)
            revalidated = measured(
                liantu, base, paths, cookie, seconds=args.seconds, connections=args.connections, etags=tags
            )
            liantu_rss = liantu.peak_rss_mb()
        finally:
            liantu.stop()

        nginx_work = work / "nginx"
        nginx_work.mkdir()
        nginx = start_nginx(sheet.tile_dir, prefix, nginx_work)
        try:
            ceiling = measured(
                nginx, f"http://127.0.0.1:{nginx.port}", paths, {}, seconds=args.seconds, connections=args.connections
            )
            nginx_rss = nginx.peak_rss_mb()
        finally:
            nginx.stop()

    print(f"load average after: {os.getloadavg()[0]:.2f}")
    print(f"\nwrk -t2 -c{args.connections} -d{args.seconds}s, every tile in turn, 2 cores shared by all")
    print(
        f"{'server':<34} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'requests':>9} {'errors':>7} "
        f"{'CPU ms/req':>10} {'peak RSS':>9}"
    )
    for label, result, rss in (
        ("Liantu 200 (session, policy, store)", full, liantu_rss),
        ("Liantu 304 (If-None-Match)", revalidated, liantu_rss),
        ("nginx 200 (same files, ceiling)", ceiling, nginx_rss),
    ):
        print(
            f"{label:<34} {result.requests_per_s:>9.0f} {result.p50_ms:>8.2f} {result.p99_ms:>8.2f} "
            f"{result.requests:>9} {result.bad:>7} {result.cpu_ms:>10.2f} {rss:>7.0f} MB"
        )
    print(
        f"\nLiantu / nginx: {full.requests_per_s / ceiling.requests_per_s:.3f} (200), "
        f"{revalidated.requests_per_s / ceiling.requests_per_s:.3f} (304)"
    )
    print(
        f"server CPU per tile: Liantu {full.cpu_ms:.2f} ms (200), {revalidated.cpu_ms:.2f} ms (304), nginx "
        f"{ceiling.cpu_ms:.3f} ms; two cores to itself, Liantu could serve at most "
        f"{2000 / full.cpu_ms:.0f} tiles/s (200) and {2000 / revalidated.cpu_ms:.0f} (304)"
    )
    verdict = "met" if full.requests_per_s >= GOAL_TILES_PER_SECOND and full.bad == 0 else "NOT met"
    print(f"goal ≥ {GOAL_TILES_PER_SECOND:.0f} tiles/s with no errors: {verdict}")


if __name__ == "__main__":
    main()
