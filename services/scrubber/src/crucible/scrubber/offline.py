"""Keep Presidio offline: its email recognizer calls `tldextract.extract`, whose default extractor
downloads the public-suffix list on first use (and logs a warning when it cannot). Point the
module-level extractor at the copy bundled with tldextract, once, before any analyzer runs."""

from __future__ import annotations

from functools import lru_cache


@lru_cache(maxsize=1)
def use_bundled_suffix_list() -> None:
    import tldextract.tldextract as tld

    tld.TLD_EXTRACTOR = tld.TLDExtract(suffix_list_urls=(), cache_dir=None)
