"""GraphiQL's page, with its scripts and styles served by shopgraph itself.

strawberry's page loads React, GraphiQL and its explorer plugin from a public
CDN, each pinned by version and by a Subresource Integrity hash. The same files
come from the npm packages in graphiql/ (their lock file pins them), so this
module points the page at /graphiql/<package>@<version>/<path> and serves exactly
the files the page names. Each file must match the page's integrity hash, so the
browser checks that what we serve is byte for byte what strawberry's page asks
for. Without the packages installed the stock page is served, which needs
internet access in the browser.
"""

from __future__ import annotations

import base64
import functools
import gzip
import hashlib
import json
import logging
import mimetypes
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

from aiohttp import web
from strawberry.http.ides import get_graphql_ide_html

log = logging.getLogger(__name__)

ASSET_PREFIX = "/graphiql/"
# Where `npm ci` in graphiql/ puts the packages, beside the source tree.
DEFAULT_ASSET_ROOT = Path(__file__).resolve().parents[2] / "graphiql" / "node_modules"

# A CDN reference in strawberry's page: the package (maybe scoped), its version,
# the file inside it, and the integrity hash the browser checks it against.
REFERENCE = re.compile(
    r'(?P<attribute>src|href)="https://[^/"]+/'
    r'(?P<package>(?:@[\w.-]+/)?[\w.-]+)@(?P<version>[\w.-]+)/(?P<path>[^"]+)"'
    r'(?P<between>\s+)integrity="(?P<integrity>sha(?P<bits>256|384|512)-[^"]+)"'
)
INLINE_SCRIPT = re.compile(r"<script>(?P<body>.*?)</script>", re.DOTALL)


@dataclass
class Asset:
    file: Path
    content_type: str
    etag: str
    _body: bytes | None = field(default=None, repr=False)
    _gzipped: bytes | None = field(default=None, repr=False)

    def body(self, gzipped: bool) -> bytes:
        # Read and compressed once, on first use: GraphiQL's bundle is 3.5 MB,
        # about a quarter of that gzipped.
        if self._body is None:
            self._body = self.file.read_bytes()
        if not gzipped:
            return self._body
        if self._gzipped is None:
            self._gzipped = gzip.compress(self._body, compresslevel=6, mtime=0)
        return self._gzipped


@dataclass
class GraphiQLPage:
    html: str
    assets: dict[str, Asset]
    # Content-Security-Policy for the page, when everything it loads is ours.
    policy: str | None


def integrity_of(data: bytes, bits: str) -> str:
    digest = hashlib.new(f"sha{bits}", data).digest()
    return f"sha{bits}-{base64.b64encode(digest).decode()}"


def installed_version(root: Path, package: str) -> str | None:
    try:
        return str(json.loads((root / package / "package.json").read_text())["version"])
    except (OSError, ValueError, KeyError):
        return None


def content_security_policy(html: str) -> str:
    # The page's own inline script is allowed by its hash; nothing else inline
    # runs, and the page talks to its own origin only (the GraphQL endpoint,
    # over HTTP and over WebSocket).
    scripts = " ".join(
        f"'{integrity_of(m['body'].encode(), '256')}'" for m in INLINE_SCRIPT.finditer(html)
    )
    return "; ".join(
        (
            "default-src 'self'",
            f"script-src 'self' {scripts}",
            # GraphiQL's editors set style attributes; its fonts are data: URLs.
            "style-src 'self' 'unsafe-inline'",
            "img-src 'self' data:",
            "font-src 'self' data:",
            "connect-src 'self'",
            "base-uri 'none'",
            "form-action 'none'",
            "frame-ancestors 'none'",
        )
    )


# One page per asset folder: the files are hashed once, and their bytes are
# loaded once, however many apps a process creates.
@functools.lru_cache(maxsize=8)
def build_page(root: Path | None = None) -> GraphiQLPage:
    """strawberry's GraphiQL page, pointed at local copies of its assets if all are there."""
    root = DEFAULT_ASSET_ROOT if root is None else root
    stock = get_graphql_ide_html("graphiql")
    assets: dict[str, Asset] = {}
    problems: list[str] = []

    def local(match: re.Match[str]) -> str:
        package, version, path = match["package"], match["version"], match["path"]
        integrity = match["integrity"]
        file = (root / package / path).resolve()
        found = installed_version(root, package)
        if found != version:
            problems.append(f"{package}@{version} is not installed (found {found})")
        elif not file.is_file() or not file.is_relative_to(root.resolve()):
            problems.append(f"{package}@{version} has no {path}")
        elif integrity_of(file.read_bytes(), match["bits"]) != integrity:
            problems.append(f"{package}@{version}/{path} does not match the page's integrity hash")
        else:
            url = f"{ASSET_PREFIX}{package}@{version}/{path}"
            content_type = mimetypes.guess_type(path)[0] or "application/octet-stream"
            assets[url] = Asset(file=file, content_type=content_type, etag=f'"{integrity}"')
            return f'{match["attribute"]}="{url}"{match["between"]}integrity="{integrity}"'
        return match[0]

    html = REFERENCE.sub(local, stock)
    if problems or not assets:
        log.warning(
            "GraphiQL's assets are not installed in %s (%s): the page will load them from "
            "the internet; run `npm ci` in graphiql/ or set SHOPGRAPH_GRAPHIQL_ASSETS",
            root,
            "; ".join(dict.fromkeys(problems)) or "the page names no assets",
        )
        return GraphiQLPage(html=stock, assets={}, policy=None)
    return GraphiQLPage(html=html, assets=assets, policy=content_security_policy(html))


def accepts_gzip(request: web.Request) -> bool:
    return any(
        part.split(";")[0].strip().lower() == "gzip"
        for part in request.headers.get("Accept-Encoding", "").split(",")
    )


def asset_handler(page: GraphiQLPage) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    async def serve_asset(request: web.Request) -> web.StreamResponse:
        asset = page.assets.get(request.path)
        if asset is None:
            raise web.HTTPNotFound()
        # Versioned URLs never change content: cache for a year, revalidate by hash.
        headers = {
            "Cache-Control": "public, max-age=31536000, immutable",
            "ETag": asset.etag,
            "Vary": "Accept-Encoding",
            "X-Content-Type-Options": "nosniff",
        }
        if request.headers.get("If-None-Match") == asset.etag:
            return web.Response(status=304, headers=headers)
        gzipped = accepts_gzip(request)
        if gzipped:
            headers["Content-Encoding"] = "gzip"
        return web.Response(
            body=asset.body(gzipped), content_type=asset.content_type, headers=headers
        )

    return serve_asset
