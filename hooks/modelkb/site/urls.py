"""Page addresses as MkDocs computes them; the page code's only contact with MkDocs' URLs.

A page's URL is MkDocs' ``File.url`` of its source path (so ``use_directory_urls`` means
what it means to MkDocs), and a link from one page to another or to a published file is
``mkdocs.utils.get_relative_url``. Pages, figures and exports get a :class:`Urls` and never
compute a URL by hand; another site generator would hand them its own.
"""

from __future__ import annotations

from mkdocs.structure.files import File
from mkdocs.utils import get_relative_url


class Urls:
    """URLs of a site's pages, relative to the site root ('answers/x/', 'models/y.html')."""

    def __init__(self, use_directory_urls: bool = True):
        self.use_directory_urls = use_directory_urls
        self._pages: dict[str, str] = {}

    def page(self, src_uri: str) -> str:
        """The URL the page made from ``src_uri`` is served at; '' for none (no page)."""
        if not src_uri:
            return ""
        url = self._pages.get(src_uri)
        if url is None:
            url = File(src_uri, None, "", self.use_directory_urls).url
            self._pages[src_uri] = url
        return url

    @staticmethod
    def relative(target: str, here: str) -> str:
        """Site path ``target`` (a page URL or a file) as a link from the page at ``here``."""
        return get_relative_url(target, here)

    def link(self, src_uri: str, from_uri: str) -> str:
        """A link to the page of ``src_uri`` from the page of ``from_uri``."""
        return self.relative(self.page(src_uri), self.page(from_uri))
