"""Which file a prompt plays from: the line's own audio, or a fallback, never dead air.

A published line has audio for every prompt it needs in every language (publishing
checks it). Should one still be missing (a prompt outside that list, a library file
lost from disk), the caller hears the line's first language instead, then the
shipped recording of that prompt; each fallback is logged once per line version and
counted (``alerta_prompt_fallbacks_total``).
"""

from __future__ import annotations

import functools
import logging
import os
from pathlib import Path

from ivr.core.ports import PublishedLine
from ivr.metrics import process_metrics

logger = logging.getLogger(__name__)

MAX_LOGGED = 2000
_logged: set[tuple[int, int, str, str, str]] = set()


def prompt_path(line: PublishedLine, shipped: Path, language: str, prompt_id: str) -> str:
    """``<folder>/<lang>/<id>`` (no extension) as Asterisk sees it."""
    config = line.config
    if config.audio(prompt_id, language):
        return _join(str(line.prompts), language, prompt_id)
    first = config.languages[0]
    if language != first and config.audio(prompt_id, first):
        _fell_back(line, language, prompt_id, "language")
        return _join(str(line.prompts), first, prompt_id)
    for lang in dict.fromkeys((language, first)):
        if _shipped(str(shipped), lang, prompt_id):
            _fell_back(line, language, prompt_id, "shipped")
            return _join(str(shipped), lang, prompt_id)
    _fell_back(line, language, prompt_id, "missing")
    return _join(str(shipped), first, "beep")  # a short tone rather than silence


def _fell_back(line: PublishedLine, language: str, prompt_id: str, kind: str) -> None:
    process_metrics().prompt_fallback(kind)
    key = (line.line_id, line.version, language, prompt_id, kind)
    if key in _logged or len(_logged) >= MAX_LOGGED:
        return
    _logged.add(key)
    how = {"language": f"played in {line.config.languages[0]}",
           "shipped": "played from the shipped recording",
           "missing": "replaced by a tone"}[kind]
    logger.warning("line %s v%d: prompt %s has no audio in %s; %s",
                   line.config.slug, line.version, prompt_id, language, how)


@functools.lru_cache(maxsize=8192)
def _join(folder: str, language: str, prompt_id: str) -> str:
    """The same few hundred strings every call: built once."""
    return f"{folder}/{language}/{prompt_id}"


@functools.lru_cache(maxsize=4096)
def _shipped(folder: str, language: str, prompt_id: str) -> bool:
    return os.path.isfile(f"{folder}/{language}/{prompt_id}.wav")
