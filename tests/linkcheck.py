"""Every internal link, fragment and asset of a built site resolves to one of its files.

    python -m tests.linkcheck SITE_DIR --base-url https://constat.example/

Reads the files only (no server, no network). In HTML pages it follows every URL attribute
(href, src, srcset, poster, data, action, cite, SVG href, the og:/twitter: URLs of <meta>) and
every url() of a style attribute or element; in stylesheets, url() and @import; in XML files
(sitemap, Atom feed), <loc> and href; in robots.txt, the Sitemap: lines.

- A link of the site is site-absolute (``/…``) and starts with the base path of ``base_url``
  (``/`` or e.g. ``/dossier/``), or is an absolute URL under ``base_url`` itself (canonical
  links, feeds). A relative link in a page is an error: it would break on the 404 page, which is
  served at any depth. Stylesheets may use relative url()s: they resolve against the file.
- It resolves to a file of the site; a link to a folder ends with ``/`` and resolves to its
  ``index.html``.
- ``#fragment`` needs an element with that id in the target page (or in the page itself).
- Other http(s) URLs are external: they are not fetched. mailto:, tel: and data: are skipped;
  javascript: is an error.
"""

from __future__ import annotations

import argparse
import re
import sys
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urljoin, urlsplit

# Attributes that hold one URL, by element (html.parser gives lowercase names).
URL_ATTRIBUTES: dict[str, tuple[str, ...]] = {
    "a": ("href",),
    "area": ("href",),
    "link": ("href",),
    "img": ("src",),
    "source": ("src",),
    "script": ("src",),
    "iframe": ("src",),
    "embed": ("src",),
    "object": ("data",),
    "video": ("src", "poster"),
    "audio": ("src",),
    "track": ("src",),
    "input": ("src",),
    "form": ("action",),
    "blockquote": ("cite",),
    "q": ("cite",),
    "ins": ("cite",),
    "del": ("cite",),
    "use": ("href", "xlink:href"),
    "image": ("href", "xlink:href"),
}
# Attributes that hold a srcset: "url 2x, url 640w".
SRCSET_ATTRIBUTES: dict[str, tuple[str, ...]] = {
    "img": ("srcset",),
    "source": ("srcset",),
    "link": ("imagesrcset",),
}
# <meta> whose content is a URL of the page (Open Graph, Twitter cards).
META_URL_KEYS = frozenset({"og:url", "og:image", "og:image:url", "og:image:secure_url", "og:video", "og:audio",
                           "twitter:image", "twitter:url"})
CSS_URL = re.compile(r"""url\(\s*(?:"([^"]*)"|'([^']*)'|([^)'"\s]*))\s*\)|@import\s+(?:"([^"]*)"|'([^']*)')""")
SKIPPED_SCHEMES = frozenset({"mailto", "tel", "sms", "data", "blob", "about"})


@dataclass(frozen=True, order=True)
class Broken:
    """A URL that does not resolve: where it is, what it says, why it fails."""

    file: str
    line: int
    column: int
    url: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}: {self.url!r}: {self.message}"


@dataclass(frozen=True)
class Link:
    line: int
    column: int
    url: str
    relative_ok: bool = False  # stylesheets resolve url() against themselves


class PageScan(HTMLParser):
    """The ids of one HTML page and every URL it refers to."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.ids: set[str] = set()
        self.links: list[Link] = []
        self.duplicate_ids: list[tuple[int, int, str]] = []
        self._in_style = False

    def _add(self, url: str) -> None:
        line, column = self.getpos()
        self.links.append(Link(line, column + 1, url))

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {name: value for name, value in attrs if value is not None}
        if "id" in values:
            if values["id"] in self.ids:
                line, column = self.getpos()
                self.duplicate_ids.append((line, column + 1, values["id"]))
            self.ids.add(values["id"])
        for name in URL_ATTRIBUTES.get(tag, ()):
            if name in values:
                self._add(values[name])
        for name in SRCSET_ATTRIBUTES.get(tag, ()):
            if name in values:
                for url in srcset_urls(values[name]):
                    self._add(url)
        if tag == "meta":
            key = (values.get("property") or values.get("name") or "").lower()
            if key in META_URL_KEYS and "content" in values:
                self._add(values["content"])
        if "style" in values:
            for url in css_urls(values["style"]):
                self._add(url)
        self._in_style = tag == "style"

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        self._in_style = False

    def handle_endtag(self, tag: str) -> None:
        self._in_style = False

    def handle_data(self, data: str) -> None:
        if self._in_style:
            for url in css_urls(data):
                self._add(url)


def srcset_urls(srcset: str) -> list[str]:
    """The URLs of a srcset (each candidate is "URL [descriptor]", separated by commas)."""
    return [candidate.split()[0] for candidate in srcset.split(",") if candidate.strip()]


def css_urls(css: str) -> list[str]:
    return [next(group for group in match.groups() if group is not None) for match in CSS_URL.finditer(css)]


class Site:
    """A built site on disk, addressed at ``base_url``."""

    def __init__(self, root: Path, base_url: str) -> None:
        if not base_url.endswith("/"):
            raise ValueError(f"base_url must end with a slash: {base_url!r}")
        self.root = root
        self.base_url = base_url
        self.base_path = urlsplit(base_url).path or "/"
        self._pages: dict[str, PageScan] = {}

    def page(self, relative: str) -> PageScan:
        """The scan of an HTML file of the site (parsed once)."""
        if relative not in self._pages:
            scan = PageScan()
            scan.feed((self.root / relative).read_text(encoding="utf-8"))
            scan.close()
            self._pages[relative] = scan
        return self._pages[relative]

    def site_path(self, relative: str) -> str:
        """The URL path at which a file is served: ``a/index.html`` -> ``/base/a/index.html``."""
        return self.base_path + relative

    def check(self) -> list[Broken]:
        broken: list[Broken] = []
        files = sorted(p.relative_to(self.root).as_posix() for p in self.root.rglob("*") if p.is_file())
        for relative in files:
            if relative.endswith(".html"):
                scan = self.page(relative)
                broken += [Broken(relative, line, column, f'id="{value}"', "duplicate id in the page")
                           for line, column, value in scan.duplicate_ids]
                links: list[Link] = scan.links
            elif relative.endswith(".css"):
                links = list(_css_links((self.root / relative).read_text(encoding="utf-8")))
            elif relative.endswith(".xml"):
                links = list(_xml_links(self.root / relative))
            elif relative == "robots.txt":
                links = list(_robots_links((self.root / relative).read_text(encoding="utf-8")))
            else:
                continue
            for link in links:
                message = self.resolve(relative, link)
                if message:
                    broken.append(Broken(relative, link.line, link.column, link.url, message))
        return sorted(broken)

    def resolve(self, relative: str, link: Link) -> str | None:
        """Why ``link`` (found in the file ``relative``) does not resolve; None when it does."""
        url = link.url.strip(" \t\n\r\f")
        if not url:
            return "empty URL"
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        if scheme == "javascript":
            return "javascript: URL"
        if scheme in SKIPPED_SCHEMES:
            return None
        if scheme in {"http", "https"} or url.startswith("//"):
            if not url.lower().startswith(self.base_url.lower()):
                return None  # external: never fetched
            path = parts.path
        elif scheme:
            return None  # another protocol (ftp:, …): not ours to check
        elif not parts.path:
            path = self.site_path(relative)  # "#id" or "?q": this very file
        elif parts.path.startswith("/"):
            path = parts.path
        elif link.relative_ok:
            path = urlsplit(urljoin(self.site_path(relative), url)).path
        else:
            return f"relative URL: links are site-absolute, starting with {self.base_path}"

        if not path.startswith(self.base_path):
            return f"outside the site's base path {self.base_path}"
        target = unquote(path[len(self.base_path):])
        if any(segment in {".", ".."} for segment in target.split("/")):
            return "not a canonical path (. or .. segments)"
        if target == "" or target.endswith("/"):
            target += "index.html"
        file = self.root / target
        if file.is_dir():
            return f"a folder: link to {path}/ (with the final slash)"
        if not file.is_file():
            return f"no such file in the site: {target}"
        if "#" in url and parts.fragment and target.endswith(".html"):
            fragment = unquote(parts.fragment)
            if fragment not in self.page(target).ids:
                return f'no element with id="{fragment}" in {target}'
        return None


def _css_links(css: str) -> Iterator[Link]:
    for match in CSS_URL.finditer(css):
        url = next(group for group in match.groups() if group is not None)
        line = css.count("\n", 0, match.start()) + 1
        column = match.start() - css.rfind("\n", 0, match.start())
        yield Link(line, column, url, relative_ok=True)


def _xml_links(file: Path) -> Iterator[Link]:
    """Sitemap <loc> and Atom/RSS link hrefs (absolute URLs; only those under base_url are checked)."""
    text = file.read_text(encoding="utf-8")
    urls: list[str] = []
    for element in ET.fromstring(text).iter():
        local = str(element.tag).rsplit("}", 1)[-1]
        if local == "loc" and element.text:
            urls.append(element.text.strip())
        if local == "link" and element.get("href"):
            urls.append(element.get("href", ""))
    for url in urls:  # ElementTree keeps no positions: the line is where the URL first appears
        line = text.count("\n", 0, max(text.find(url), 0)) + 1
        yield Link(line, 1, url)


def _robots_links(text: str) -> Iterator[Link]:
    for number, line in enumerate(text.splitlines(), 1):
        key, _, value = line.partition(":")
        if key.strip().lower() == "sitemap":
            yield Link(number, 1, value.strip())


def check_site(root: Path, base_url: str) -> list[Broken]:
    """Every broken link of the site built in ``root`` for ``base_url``, sorted by file and line."""
    return Site(root, base_url).check()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("site", type=Path, help="the built site folder")
    parser.add_argument("--base-url", required=True, help="site.yaml's base_url, e.g. https://constat.example/")
    args = parser.parse_args(argv)
    broken = check_site(args.site, args.base_url)
    for problem in broken:
        print(problem)
    print(f"linkcheck: {len(broken)} broken link(s)", file=sys.stderr)
    return 1 if broken else 0


if __name__ == "__main__":
    sys.exit(main())
