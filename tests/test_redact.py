"""Redaction (no personal data or secrets in reports) and escaping (model text stays inert)."""

from __future__ import annotations

import re
import secrets

import pytest

from canaryflow.redact import (
    escape_markdown,
    luhn_valid,
    redact,
    safe_block,
    safe_cell,
    safe_inline,
    truncate,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("mail john.doe+x@example.co.uk now", "mail [EMAIL] now"),
        ("a@b.io,c.d@mail.example.com", "[EMAIL],[EMAIL]"),
        ("call +44 20 7946 0958 today", "call [PHONE] today"),
        ("call +1 (555) 123-4567", "call [PHONE]"),
        ("call 0049 30 1234567", "call [PHONE]"),
        ("+33612345678", "[PHONE]"),
        ("(555) 123-4567 / 555-123-4567", "[PHONE] / [PHONE]"),
        ("555.123.4567 or 1-555-123-4567", "[PHONE] or [PHONE]"),
        ("030 1234567", "[PHONE]"),
        ("06 12 34 56 78", "[PHONE]"),
        ("020 7946 0958", "[PHONE]"),
        ("4111 1111 1111 1111", "[CARD]"),
        ("4111-1111-1111-1111", "[CARD]"),
        ("pay 4111111111111111.", "pay [CARD]."),
        ("amex 3782 822463 10005", "amex [CARD]"),
        ("card 4111 1111 1111 1111 2 items", "card [CARD] 2 items"),
        ("sk-ant-api03-abcdefghijklmnopqrstuvwxyz0123", "[SECRET]"),
        ("sk-proj-ABCdef1234567890abcdEF", "[SECRET]"),
        ("Authorization: Bearer abc123def456ghi789", "Authorization: Bearer [SECRET]"),
        ("AKIAIOSFODNN7EXAMPLE", "[SECRET]"),
        ("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "[SECRET]"),
        ("sha 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08", "sha [SECRET]"),
        ("ghp_" + "a1B2" * 9, "[SECRET]"),
        ("password: hunter2hunter", "password: [SECRET]"),
        ('api_key="abcdef123456"', 'api_key="[SECRET]"'),
    ],
)
def test_redacts(text: str, expected: str) -> None:
    assert redact(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "03/04/2024",
        "the invoice dated 03/04/2024 is due 04/03/2024",
        "2024-04-03",
        "2024-04-03 2024-04-05 2024-04-07 2024-04-09",
        "2024-04-03T10:00:00Z",
        "03.04.2024 and 3-4-24",
        "from 10:00 to 12:30",
        "$1,234.56 and € 1 250 and 1.250,00 EUR",
        "12 items, 3 probes, 0.70 -> 1.00, p = 0.0012",
        "3.14159265358979",
        "version 3.11.2, build 20240403",
        "order 1234567890123 shipped",  # 13 digits, not Luhn-valid
        "4111 1111 1111 1112",  # Luhn-invalid
        "0000 0000 0000 0000",  # Luhn-valid but not a card
        "ref 12-34-56",
        "the token limitation and Basic authentication",
        "reports/incidents/INC-20240403-dates_eu-Correctness.md",
        "123e4567-e89b-12d3-a456-426614174000",
        "[EMAIL] [PHONE] [CARD] [SECRET]",
        "",
    ],
)
def test_no_false_positives(text: str) -> None:
    assert redact(text) == text


def test_idempotent_and_random_tokens() -> None:
    text = "x sk-ant-abcdefghijkl0123 4111 1111 1111 1111 +44 20 7946 0958 a@b.io 2024-04-03"
    once = redact(text)
    assert redact(once) == once
    assert "2024-04-03" in once
    tokens = [secrets.token_urlsafe(32) for _ in range(200)]
    caught = sum(redact(t) == "[SECRET]" for t in tokens)
    assert caught >= 195


def test_luhn() -> None:
    assert luhn_valid("4111111111111111")
    assert not luhn_valid("4111111111111112")
    assert not luhn_valid("41x1")


def test_escape_markdown_html_and_markdown() -> None:
    out = escape_markdown("</details><script>alert(1)</script> | `x` *b* [l](u) @team & ~s~")
    assert "<" not in out and ">" not in out
    assert "&lt;/details&gt;" in out
    assert "\\|" in out and "\\`" in out and "\\*" in out and "\\[" in out
    assert "@" not in out and "&#64;team" in out
    assert "&amp;" in out
    assert escape_markdown("# title\n- item\n1. first") == "\\# title\n\\- item\n1\\. first"


def test_safe_inline_truncates_explicitly() -> None:
    out = safe_inline("line one\nline two " * 50, 30)
    assert "\n" not in out
    assert "truncated" in out and "more chars" in out
    assert safe_inline("short", 30) == "short"
    assert truncate("abc", 3) == "abc"
    with pytest.raises(ValueError):
        truncate("abc", -1)


def test_safe_cell() -> None:
    assert safe_cell(None) == "—"
    assert safe_cell("a|b") == "a\\|b"
    assert safe_cell("") == "—"


@pytest.mark.parametrize(
    "content",
    [
        "```\n</details>\n```",
        "````` nested\n```python\nx\n```\n`````",
        "~~~\n<script>alert(1)</script>\n~~~",
        "   ```\nindented fence",
        "no backticks at all",
    ],
)
def test_safe_block_cannot_be_closed(content: str) -> None:
    block = safe_block(content)
    fence = re.match(r"`+", block).group(0)
    assert len(fence) >= 3
    inner = block[len(fence) :].split("\n", 1)[1].rsplit("\n", 1)[0]
    longest = max((len(r) for r in re.findall(r"`+", inner)), default=0)
    assert longest < len(fence)
    assert block.endswith("\n" + fence)


def test_safe_block_truncates_and_strips_control() -> None:
    block = safe_block("a\x00b\r\nc" + "x" * 100, max_len=10, info="py;rm -rf")
    assert "\x00" not in block and "\r" not in block
    assert "truncated" in block
    assert block.startswith("```pyrm-rf\n")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # Cards glued to punctuation (regression: all of these were left in clear).
        ("card:4111111111111111", "card:[CARD]"),
        ("(4111111111111111)", "([CARD])"),
        ("cards 4111111111111111,5500005555555559", "cards [CARD],[CARD]"),
        ("#4111 1111 1111 1111;", "#[CARD];"),
        ('{"pan":"4111-1111-1111-1111"}', '{"pan":"[CARD]"}'),
        ("card/4111111111111111/x", "card/[CARD]/x"),
        # IBANs, grouped or not, any case; a trailing word is kept.
        ("IBAN GB82 WEST 1234 5698 7654 32 please", "IBAN [IBAN] please"),
        ("to DE89370400440532013000.", "to [IBAN]."),
        ("iban: fr1420041010050500013m02606", "iban: [IBAN]"),
        # IPs, v4 and v6 (with embedded v4, zone, compressed, loopback).
        ("from 192.168.1.20, then 10.0.0.1.", "from [IP], then [IP]."),
        ("host=203.0.113.7:8080", "host=[IP]:8080"),
        ("v6 2001:db8:85a3::8a2e:370:7334 ok", "v6 [IP] ok"),
        ("[fe80::1%eth0]:443 and ::1", "[[IP]]:443 and [IP]"),
        ("mapped ::ffff:192.0.2.128", "mapped [IP]"),
        # Bidi overrides and isolates are removed (and cannot split a card number).
        ("pay \u202e4111 1111 1111 1111\u202c now", "pay [CARD] now"),
        ("abc\u2066def\u2069 \u202aghi\u202b\u202d", "abcdef ghi"),
        ("41111111\u200b11111111", "[CARD]"),
    ],
)
def test_redacts_punctuated_cards_ibans_ips_and_bidi(text: str, expected: str) -> None:
    assert redact(text) == expected
    assert redact(expected) == expected


@pytest.mark.parametrize(
    "text",
    [
        "p = 0.4111111111111111",  # a decimal part is not a card
        "run canary-bot-4111111111111111",  # an identifier is not a card
        "GB82 WEST 1234 5698 7654 33",  # IBAN check digits wrong
        "DE00 1234 5678 9012 3456 78",
        "at 12:30:45, 999.1.1.1 and 1.2.3",
        "std::vector and a::b::c",
        "sha 2001:db8",
        "version 3.11.2 built 2024-04-03T10:00:00Z",
        "שלום עולם",  # right-to-left text itself is kept
    ],
)
def test_new_patterns_have_no_false_positives(text: str) -> None:
    assert redact(text) == text


def test_escaping_drops_bidi_controls() -> None:
    """Regression: a reversed span (U+202E) made a report show text in another order."""
    evil = "approve \u202eedoc\u202c \u2067x\u2069"
    for out in (escape_markdown(evil), safe_inline(evil), safe_cell(evil), safe_block(evil)):
        assert not any(ch in out for ch in "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
    assert safe_inline(evil) == "approve edoc x"
