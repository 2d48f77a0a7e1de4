"""Make model and user text safe to show: redact personal data and secrets, escape Markdown.

Two separate jobs, applied in this order to any production or model text that reaches a report,
an artifact, an issue or a webhook (DESIGN.md §8):

1. :func:`redact` replaces emails, phone numbers, payment card numbers, IBANs, IP addresses and
   API-key-like strings with ``[EMAIL]``, ``[PHONE]``, ``[CARD]``, ``[IBAN]``, ``[IP]`` and
   ``[SECRET]``, after removing bidirectional override characters (which can make a report show
   text in another order than it holds, and split a number so no pattern sees it). It is tuned
   against false positives on what reports are full of: dates (``03/04/2024``, ``2024-04-03``,
   ``03.04.2024``), times, amounts (``1,234.56``, ``€ 1 250``) and small numbers are left alone.
2. :func:`escape_markdown`, :func:`safe_inline`, :func:`safe_cell` and :func:`safe_block` make the
   text inert in GitHub-flavoured Markdown: no HTML (``<script>``, ``</details>``), no table
   breaking pipes, no code spans, no @-mentions, and code fences the content cannot close.
   Truncation is always marked in the output, never silent.

Redaction is pattern based: it lowers the chance that personal data reaches a report, it does not
prove that none does. ``redact`` is idempotent (``redact(redact(s)) == redact(s)``).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable

__all__ = [
    "escape_markdown",
    "iban_valid",
    "luhn_valid",
    "redact",
    "safe_block",
    "safe_cell",
    "safe_inline",
    "truncate",
]

# --- redaction -----------------------------------------------------------------------------

_SECRET_PATTERNS: tuple[re.Pattern[str], ...] = (
    # Provider keys: Anthropic, OpenAI (incl. sk-proj-), generic sk-.
    re.compile(r"\bsk-ant-[A-Za-z0-9_\-]{8,}"),
    re.compile(r"\bsk-[A-Za-z0-9_\-]{16,}"),
    # AWS access key ids, GitHub and Slack tokens, JWTs, PEM private keys.
    re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"),
    re.compile(r"\b(?:gh[pousr]_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{30,})"),
    re.compile(r"\bxox[abposr]-[A-Za-z0-9\-]{10,}"),
    re.compile(r"\beyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}"),
    re.compile(
        r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?(?:-----END [A-Z ]*PRIVATE KEY-----|\Z)", re.S
    ),
    # Long hex secrets (>= 32 hex chars with at least one letter and one digit).
    re.compile(
        r"(?<![A-Za-z0-9])(?=[0-9a-fA-F]*[a-fA-F])(?=[0-9a-fA-F]*\d)[0-9a-fA-F]{32,}(?![A-Za-z0-9])"
    ),
)

# Long base64/base64url secrets: >= 32 chars mixing upper case, lower case and digits, whose
# character class changes often (random keys do ~65 % of the time; slugs and paths such as
# ``reports/INC-20240403-dates_eu`` rarely do).
_BASE64 = re.compile(
    r"(?<![A-Za-z0-9+/_\-])"
    r"(?=[A-Za-z0-9+/_\-]*[A-Z])(?=[A-Za-z0-9+/_\-]*[a-z])(?=[A-Za-z0-9+/_\-]*\d)"
    r"[A-Za-z0-9+/_\-]{32,}={0,2}(?![A-Za-z0-9+/_\-])"
)


def _char_class(ch: str) -> int:
    return 0 if ch.islower() else 1 if ch.isupper() else 2


def _base64_sub(m: re.Match[str]) -> str:
    chars = [ch for ch in m.group(0) if ch.isalnum()]
    changes = sum(_char_class(a) != _char_class(b) for a, b in zip(chars, chars[1:], strict=False))
    return "[SECRET]" if changes >= 0.3 * len(chars) else m.group(0)


# Keep the scheme word or the key name, drop the value.
_BEARER = re.compile(
    r"(?i)\b(bearer|basic)(\s+)(?!\[SECRET\])(?=[A-Za-z0-9\-._~+/]*\d)[A-Za-z0-9\-._~+/]{8,}=*"
)
_KEY_VALUE = re.compile(
    r"(?i)\b((?:api[_\-]?key|x-api-key|secret|client[_\-]?secret|password|passwd|access[_\-]?token"
    r"|auth[_\-]?token|authorization)[\"']?\s*[:=]\s*[\"']?)(?!\[SECRET\])"
    r"(?!bearer\b|basic\b)([^\s\"',;]{6,})"
)

_EMAIL = re.compile(
    r"(?<![A-Za-z0-9._%+\-])[A-Za-z0-9][A-Za-z0-9._%+\-]*@"
    r"[A-Za-z0-9](?:[A-Za-z0-9\-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9\-]*[A-Za-z0-9])?)*"
    r"\.[A-Za-z]{2,24}\b"
)

# Digit runs with single space or dash separators; Luhn and length decide in the callback.
# Punctuation around the number ("card:4111...", "(4111...)," "#4111...") does not protect it;
# only a word character or the decimal part of a number (0.1234567890123456) does.
_CARD = re.compile(r"(?<!\w)(?<!\w-)\d(?:[ \-]?\d){12,18}(?!\w)")
_LEADING_NUMBER = re.compile(r"(?<!\d)(\d+)[.,]$")
_TRAILING_NUMBER = re.compile(r"^[.,](\d+)(?!\d)")

# Bidirectional embeddings, overrides and isolates (U+202A-202E, U+2066-2069), and invisible
# separators (zero width space, word joiner, BOM) that would split a number for the patterns.
_INVISIBLE = re.compile("[\u202a-\u202e\u2066-\u2069\u200b\u2060\ufeff]")

# Country code, check digits, then 11-30 letters/digits, optionally in groups of four; the
# ISO 13616 mod-97 check decides (in the callback) how many groups belong to the IBAN.
_IBAN = re.compile(r"(?i)(?<![\w])[A-Z]{2}\d{2}(?: ?[A-Z0-9]{1,4}){3,8}(?!\w)")

_IPV4 = re.compile(r"(?<![\w.])(?:\d{1,3}\.){3}\d{1,3}(?![\w]|\.\d)")
_IPV6 = re.compile(
    r"(?<![\w:.])(?=[0-9A-Fa-f:.]*[0-9A-Fa-f])[0-9A-Fa-f]{0,4}(?::[0-9A-Fa-f]{0,4}){2,7}"
    r"(?:(?:\.\d{1,3}){3})?(?:%[A-Za-z0-9_.]+)?(?![\w:])"
)

_PHONE_PATTERNS: tuple[re.Pattern[str], ...] = (
    # International: +CC or 00CC, then groups separated by space, dot or dash, optional (area).
    re.compile(
        r"(?<![\w+])(?:\+|00)[1-9]\d{0,2}(?:[ .\-]?\(\d{1,4}\))?(?:[ .\-]?\d{1,5}){1,6}(?![\w])"
    ),
    # US/NANP: (555) 123-4567, 555-123-4567, 555.123.4567, 1-555-123-4567.
    re.compile(
        r"(?<![\w.\-])(?:1[ .\-])?(?:\(\d{3}\)[ ]?|\d{3}[ .\-])\d{3}[ .\-]\d{4}(?![\w]|[.\-]\d)"
    ),
    # European national format with trunk prefix 0: 030 1234567, 06 12 34 56 78, 020 7946 0958.
    re.compile(r"(?<![\w.\-])0\d{1,4}(?:[ .\-]\d{2,8}){1,4}(?![\w]|[.\-]\d)"),
)

# Spans that must never be taken for a phone or card number.
_PROTECTED = re.compile(
    r"\b\d{4}-\d{1,2}-\d{1,2}(?:[T ]\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?"  # ISO dates/times
    r"|\b\d{1,2}[/.\-]\d{1,2}[/.\-]\d{2,4}\b"  # 03/04/2024, 03.04.2024, 3-4-24
    r"|\b\d{4}/\d{1,2}/\d{1,2}\b"
    r"|\b\d{1,2}:\d{2}(?::\d{2})?\b"  # times
)


def luhn_valid(digits: str) -> bool:
    """True when ``digits`` (only 0-9) passes the Luhn checksum used by payment cards."""
    if not digits.isdigit():
        return False
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2 == 1:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def iban_valid(text: str) -> bool:
    """True when ``text`` (spaces ignored) is 15-34 characters passing the IBAN mod-97 check."""
    compact = text.replace(" ", "").upper()
    if not 15 <= len(compact) <= 34 or not compact.isalnum() or not compact.isascii():
        return False
    rearranged = compact[4:] + compact[:4]
    return int("".join(str(int(ch, 36)) for ch in rearranged)) % 97 == 1


def _iban_sub(m: re.Match[str]) -> str:
    groups = m.group(0).split(" ")
    # Longest prefix of whole groups that is an IBAN ("GB82 WEST ... 32 THEN" keeps "THEN").
    for end in range(len(groups), 0, -1):
        if iban_valid("".join(groups[:end])):
            rest = " ".join(groups[end:])
            return "[IBAN]" + (f" {rest}" if rest else "")
    return m.group(0)


def _ip_sub(m: re.Match[str]) -> str:
    try:
        ipaddress.ip_address(m.group(0).partition("%")[0])
    except ValueError:
        return m.group(0)  # 12:30:45, 999.1.1.1, a C++ scope...
    return "[IP]"


def _overlaps(spans: list[tuple[int, int]], start: int, end: int) -> bool:
    return any(s < end and start < e for s, e in spans)


def _part_of_a_number(m: re.Match[str]) -> bool:
    """The digits are the fraction of ``0.4111...`` or the integer part of ``4111....25``.

    Two card numbers separated by a comma are not: a short digit run (< 13) is what makes
    ``.``/``,`` a decimal separator here.
    """
    before = _LEADING_NUMBER.search(m.string, max(0, m.start() - 20), m.start())
    after = _TRAILING_NUMBER.match(m.string[m.end() : m.end() + 21])
    return any(x is not None and len(x.group(1)) < 13 for x in (before, after))


def _card_sub(protected: list[tuple[int, int]]) -> Callable[[re.Match[str]], str]:
    def sub(m: re.Match[str]) -> str:
        text = m.group(0)
        if _overlaps(protected, m.start(), m.end()) or _part_of_a_number(m):
            return text
        groups = re.split(r"([ \-])", text)  # keep separators to rebuild the remainder
        # Longest prefix of whole groups that is a valid card number (a card followed by
        # another number, e.g. "4111 1111 1111 1111 2", keeps the trailing number).
        for end in range(len(groups), 0, -2):
            digits = "".join(groups[:end:2])
            if 13 <= len(digits) <= 19 and luhn_valid(digits) and len(set(digits)) > 1:
                return "[CARD]" + "".join(groups[end:])
        return text

    return sub


def _phone_sub(protected: list[tuple[int, int]], kind: int) -> Callable[[re.Match[str]], str]:
    def sub(m: re.Match[str]) -> str:
        text = m.group(0)
        if _overlaps(protected, m.start(), m.end()):
            return text
        n = sum(ch.isdigit() for ch in text)
        if kind == 0:
            ok = 8 <= n <= 15
        elif kind == 1:
            ok = n in (10, 11)
        else:
            ok = 9 <= n <= 12
        return "[PHONE]" if ok else text

    return sub


def _protected_spans(text: str) -> list[tuple[int, int]]:
    return [m.span() for m in _PROTECTED.finditer(text)]


def redact(text: str) -> str:
    """Replace personal data and secrets in ``text`` with placeholders.

    Bidi override and invisible separator characters are removed first. Placeholders are
    ``[EMAIL]``, ``[PHONE]``, ``[CARD]``, ``[IBAN]``, ``[IP]`` and ``[SECRET]``. Secrets go first
    (a key may contain digit runs), then emails, IP addresses (v4 and v6, checked by
    :mod:`ipaddress`), IBANs (mod-97 checked), cards (13-19 digits, Luhn-valid, separated by
    nothing, spaces or dashes) and phones (international ``+CC``/``00CC``, US, European national
    with a leading 0). Dates, times and amounts are protected from the number patterns.

    Args:
        text: Any text; non-strings are converted with ``str``.

    Returns:
        The redacted text (unchanged when nothing matched).
    """
    if not isinstance(text, str):
        text = str(text)
    if not text:
        return text
    text = _INVISIBLE.sub("", text)
    for pat in _SECRET_PATTERNS:
        text = pat.sub("[SECRET]", text)
    text = _BASE64.sub(_base64_sub, text)
    text = _BEARER.sub(lambda m: f"{m.group(1)}{m.group(2)}[SECRET]", text)
    text = _KEY_VALUE.sub(lambda m: f"{m.group(1)}[SECRET]", text)
    text = _EMAIL.sub("[EMAIL]", text)
    text = _IPV6.sub(_ip_sub, text)
    text = _IPV4.sub(_ip_sub, text)
    text = _IBAN.sub(_iban_sub, text)
    text = _CARD.sub(_card_sub(_protected_spans(text)), text)
    for kind, pat in enumerate(_PHONE_PATTERNS):
        text = pat.sub(_phone_sub(_protected_spans(text), kind), text)
    return text


# --- escaping ------------------------------------------------------------------------------

# Control characters, and bidi overrides/isolates (escaped text must read as it is stored).
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\u202a-\u202e\u2066-\u2069]")
_HTML = {"&": "&amp;", "<": "&lt;", ">": "&gt;"}
# Markdown punctuation that can start emphasis, links, code spans, tables or strikethrough.
_MD_SPECIAL = re.compile(r"([\\`*_\[\]|~])")
_LINE_START = re.compile(r"^(\s*)(?:([#+\-=])|(\d+)([.)]))", re.M)


def truncate(text: str, max_len: int) -> str:
    """Cut ``text`` to at most ``max_len`` characters plus an explicit truncation marker."""
    if max_len < 0:
        raise ValueError(f"max_len must be >= 0, got {max_len!r}")
    if len(text) <= max_len:
        return text
    return f"{text[:max_len]}… [truncated: {len(text) - max_len} more chars]"


def escape_markdown(text: str) -> str:
    """Escape ``text`` so GitHub renders it literally: no HTML, links, emphasis or mentions.

    HTML-significant characters become entities (so ``</details>`` or ``<script>`` cannot close
    or open anything), Markdown punctuation is backslash-escaped (including ``|`` so a table
    cell cannot be split, and backticks so no code span can start), ``@`` becomes ``&#64;`` (no
    notifications from model output) and block markers at line starts (``#``, ``-``, ``1.``)
    are escaped. Control characters are dropped.
    """
    text = _CONTROL.sub("", str(text))
    text = "".join(_HTML.get(ch, ch) for ch in text)
    text = _MD_SPECIAL.sub(r"\\\1", text)
    text = text.replace("@", "&#64;")
    return _LINE_START.sub(_escape_line_start, text)


def _escape_line_start(m: re.Match[str]) -> str:
    if m.group(2):
        return f"{m.group(1)}\\{m.group(2)}"
    return f"{m.group(1)}{m.group(3)}\\{m.group(4)}"


def safe_inline(text: str, max_len: int = 200) -> str:
    """One line of escaped text: whitespace collapsed, cut at ``max_len`` with a marker."""
    flat = " ".join(_CONTROL.sub("", str(text)).split())
    return escape_markdown(truncate(flat, max_len))


def safe_cell(text: object, max_len: int = 120) -> str:
    """A table cell: like :func:`safe_inline`; ``None`` becomes an em dash."""
    if text is None:
        return "—"
    return safe_inline(str(text), max_len) or "—"


_BACKTICK_RUN = re.compile(r"`+")


def safe_block(text: str, max_len: int = 4000, *, info: str = "text") -> str:
    """A fenced code block that ``text`` cannot close, cut at ``max_len`` with a marker.

    The fence is one backtick longer than the longest backtick run in the text (at least three),
    so no line of the content can end the block; inside a code block GitHub renders HTML and
    Markdown literally. ``info`` (the language tag) is restricted to ``[A-Za-z0-9_+-]``.
    """
    body = _CONTROL.sub("", str(text).replace("\r\n", "\n").replace("\r", "\n"))
    body = truncate(body, max_len)
    longest = max((len(m.group(0)) for m in _BACKTICK_RUN.finditer(body)), default=0)
    fence = "`" * max(3, longest + 1)
    tag = re.sub(r"[^A-Za-z0-9_+\-]", "", info)
    return f"{fence}{tag}\n{body}\n{fence}"
