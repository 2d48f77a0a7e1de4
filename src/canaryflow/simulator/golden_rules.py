"""Simulator answers for the shipped golden sets (``golden_sets/*.yaml`` + ``.jsonl``).

Like the probe rules, each rule recognises its set by the system prompt and *computes* the
answer from the rendered prompt (reads the requested field from the document, finds the context
sentence that answers the question, picks the support procedure for the customer's problem), so
editing an item changes the simulated answer with it. Each answer also carries:

- ``alternatives``: other correct wordings (natural noise, ``silent_update``);
- ``transposed``: a day/month swap for day-first dates (``date_transposition``);
- ``degraded``: what a silently worse candidate says (``candidate_regression``): the wrong
  context sentence, a support reply without the procedure, a transposed or misread field.

==========================  ===============================================================
rule                        recognises (system prompt)
==========================  ===============================================================
golden-extraction           "You extract fields from financial documents"
golden-rag                  "Answer the question using only the context passage"
golden-support              "You are the support assistant for Nimbus Cloud"
==========================  ===============================================================
"""

from __future__ import annotations

import datetime as dt
import re

from canaryflow.simulator.rules import SimAnswer, SimRequest, rule

__all__: list[str] = []

# ------------------------------------------------------------------------------ extraction

_SLASH_DATE = re.compile(r"^\s*(\d{1,2})/(\d{1,2})/(\d{4})\s*$")
_AMOUNT = re.compile(r"(\d{1,3}(?:,\d{3})*(?:\.\d+)?|\d+(?:\.\d+)?)")
_CONVENTION = re.compile(r"Date convention:\s*(DD/MM/YYYY|MM/DD/YYYY)")
_EXTRACT = re.compile(r"Extract:\s*(?P<field>.+?)\s*$", re.MULTILINE)


def _field_value(document: str, field: str) -> str | None:
    for line in document.splitlines():
        label, sep, value = line.partition(":")
        if sep and label.strip().lower() == field.lower():
            return value.strip()
    return None


@rule("golden-extraction", priority=80)
def extraction(req: SimRequest) -> SimAnswer | None:
    """Read the requested field; dates in the stated convention -> ISO, amounts -> 2 decimals."""
    if "You extract fields from financial documents" not in req.system:
        return None
    prompt = req.prompt
    conv, want = _CONVENTION.search(prompt), _EXTRACT.search(prompt)
    if conv is None or want is None:
        return None
    field = want.group("field")
    document = prompt.split("Document:", 1)[-1].split("Extract:", 1)[0]
    value = _field_value(document, field)
    if value is None:
        return SimAnswer(text="NOT FOUND", tag="golden_extraction")
    date = _SLASH_DATE.match(value)
    transposed = degraded = None
    if date:
        a, b, year = int(date.group(1)), int(date.group(2)), int(date.group(3))
        day_first = conv.group(1) == "DD/MM/YYYY"
        day, month = (a, b) if day_first else (b, a)
        text = dt.date(year, month, day).isoformat()
        if day <= 12 and day != month:
            swapped = dt.date(year, day, month).isoformat()
            degraded = swapped
            if day_first:
                transposed = swapped
    elif "amount" in field.lower() or "total" in field.lower():
        m = _AMOUNT.search(value)
        if m is None:
            return None
        number = float(m.group(1).replace(",", ""))
        text = f"{number:.2f}"
        degraded = f"{number * 0.9:.2f}" if number else None
    else:
        text = value
    return SimAnswer(
        text=text,
        alternatives=(f"The {field} is {text}.", f"{field[0].upper()}{field[1:]}: {text}"),
        transposed=transposed,
        degraded=degraded,
        tag="golden_extraction",
    )


# ------------------------------------------------------------------------------------- RAG

_WORD = re.compile(r"[a-z0-9]+")
_STOP = frozenset(
    "the a an of in on at to for and or is was were did does do what when where who which how "
    "many much by with from its it this that as be are has have had long".split()
)
_SENTENCE = re.compile(r"(?<=[.!?])\s+")


def _stems(text: str) -> set[str]:
    return {w[:5] for w in _WORD.findall(text.lower()) if w not in _STOP}


@rule("golden-rag", priority=80)
def rag(req: SimRequest) -> SimAnswer | None:
    """Answer with the context sentence that shares the most words with the question."""
    if "Answer the question using only the context passage" not in req.system:
        return None
    prompt = req.prompt
    if "Context:" not in prompt or "Question:" not in prompt:
        return None
    context = prompt.split("Context:", 1)[1].split("Question:", 1)[0].strip()
    question = prompt.split("Question:", 1)[1].strip()
    sentences = [s.strip() for s in _SENTENCE.split(context) if s.strip()]
    if not sentences:
        return None
    q = _stems(question)
    ranked = sorted(sentences, key=lambda s: (-len(q & _stems(s)), sentences.index(s)))
    best = ranked[0]
    worse = ranked[-1] if len(ranked) > 1 else None
    return SimAnswer(
        text=best,
        alternatives=(f"According to the context: {best}", f"The passage says: {best}"),
        degraded=worse,
        tag="golden_rag",
    )


# --------------------------------------------------------------------------------- support

_PROCEDURES: tuple[tuple[tuple[str, ...], str], ...] = (
    (
        ("password", "log in", "login", "locked out"),
        "To regain access, open the sign-in page, choose 'Forgot password' and follow the reset "
        "link we email you; it is valid for 30 minutes.",
    ),
    (
        ("refund", "charged twice", "double charge", "money back"),
        "I have asked our billing team to review the charge; an eligible refund goes back to the "
        "original payment method within 5 business days.",
    ),
    (
        ("invoice", "receipt", "vat"),
        "You can download every invoice as a PDF under Settings > Billing > Invoices; the VAT "
        "number is printed on each one.",
    ),
    (
        ("cancel", "close my subscription", "stop my plan"),
        "You can cancel any time under Settings > Subscription > Cancel plan; your data stays "
        "available until the end of the billing period.",
    ),
    (
        ("upgrade", "more storage", "bigger plan"),
        "To upgrade, go to Settings > Subscription > Change plan; the price difference is "
        "prorated for the current month.",
    ),
    (
        ("is down", "outage", "not loading", "error 503", "unavailable"),
        "We are sorry for the disruption; please check status.nimbus.example for live incident "
        "updates, and clear your browser cache if the problem persists after recovery.",
    ),
    (
        ("delete my account", "delete account", "erase my data", "gdpr"),
        "You can delete your account under Settings > Privacy > Delete account; all data is "
        "erased within 30 days, as required by GDPR.",
    ),
    (
        ("api key", "token", "rotate"),
        "Create a new API key under Settings > Developer > API keys, update your applications, "
        "then revoke the old key from the same page.",
    ),
    (
        ("two-factor", "2fa", "authenticator"),
        "To set up two-factor authentication, open Settings > Security > Two-factor and scan "
        "the QR code with your authenticator app; keep the backup codes somewhere safe.",
    ),
    (
        ("export", "download my data", "backup"),
        "You can export all your files under Settings > Data > Export; we email you a download "
        "link when the archive is ready.",
    ),
)
_NAME = re.compile(r"Customer name:\s*(?P<name>[^\n]+)")


@rule("golden-support", priority=80)
def support(req: SimRequest) -> SimAnswer | None:
    """A polite reply with the procedure for the customer's problem (keyword intents)."""
    if "You are the support assistant for Nimbus Cloud" not in req.system:
        return None
    prompt = req.prompt
    message = prompt.split("Customer message:", 1)[-1].lower()
    m = _NAME.search(prompt)
    name = m.group("name").strip() if m else "there"
    procedure = next(
        (text for keys, text in _PROCEDURES if any(k in message for k in keys)),
        "Could you tell me a little more about what you are trying to do, so I can point you to "
        "the right steps?",
    )
    text = f"Hi {name}, thanks for reaching out. {procedure} Let me know if anything else comes up."
    alt = (
        f"Hello {name}, thank you for contacting Nimbus Cloud support. {procedure} "
        "Happy to help further."
    )
    return SimAnswer(
        text=text,
        alternatives=(alt,),
        degraded=f"Hi {name}. Please see our help centre for this.",
        tag="golden_support",
    )
