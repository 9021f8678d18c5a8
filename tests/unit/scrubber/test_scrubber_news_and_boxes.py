"""Address line shapes and organisation mentions added for issue 28 (round 3): post-office boxes in
several languages, street corners with and without a number, cross streets, "S/N" and ordinal
floors, " - " between an address's parts; organisations in news-style sentences (reporting verbs,
possessive business nouns, dotted acronyms), surname particles, legal forms before "'s". Also the
cheap gates in front of the structured patterns: they must never hide a match."""

from __future__ import annotations

import ipaddress
import re

import pytest
from faker import Faker

from crucible.scrubber.bench import _covered, _union
from crucible.scrubber.detect import Detector
from crucible.scrubber.structured import find_structured


def _covers(detector: Detector, text: str, value: str, entity: str | None = None) -> bool:
    start = text.index(value)
    spans = [s for s in detector.detect(text) if entity is None or s.entity_type == entity]
    return _covered(start, start + len(value), _union([(s.start, s.end) for s in spans]), text) >= 0.9


@pytest.mark.parametrize(
    ("text", "address"),
    [
        ("Please write to Post Office Box 1290, Denver, CO 80201.", "Post Office Box 1290, Denver, CO 80201"),
        ("Mail goes to P. O. Box 77, Kingston.", "P. O. Box 77, Kingston"),
        ("A morada é Caixa Postal 2231, Campinas.", "Caixa Postal 2231, Campinas"),
        ("Schick es an Postfach 4411, 80331 München.", "Postfach 4411, 80331 München"),
        ("Stuur het naar Postbus 512, 3500 AM Utrecht.", "Postbus 512, 3500 AM Utrecht"),
        ("Meet me at the corner of Elm Street and Oak Avenue.", "the corner of Elm Street and Oak Avenue"),
        (
            "The bakery is at the intersection of Maple Ave and 5th Street.",
            "the intersection of Maple Ave and 5th Street",
        ),
        ("Fica na Rua Augusto Severo, S/N, Lapa.", "Rua Augusto Severo, S/N, Lapa"),
        ("Vivo en Calle Mayor, 5, 3º B, 28013 Madrid.", "Calle Mayor, 5, 3º B, 28013 Madrid"),
        ("O escritório fica na Avenida Paulista, 1578 - Bela Vista, São Paulo.", "Avenida Paulista, 1578 - Bela Vista"),
        ("We are at Kowalska and ul. Polna 12.", "Kowalska and ul. Polna 12"),
        ("Ship to:\nArany jános utca 151.\nH-1069 Szeged\nThanks!", "Arany jános utca 151.\nH-1069 Szeged"),
        ("meet me at Jírova 7, 738 97 Náměšť nad Oslavou", "Jírova 7, 738 97 Náměšť nad Oslavou"),
        ("send it to\n12 calle luna 8, durban, south africa.", "12 calle luna 8, durban, south africa"),
        # a bare "Box" or "BP" before a postcode: the box number is the address's first line
        ("Can you send it to Box 881, Westfield 45967?", "Box 881, Westfield 45967"),
        ("Écrivez à BP 45, 75008 Paris.", "BP 45, 75008 Paris"),
        ("Send it to\nBox 12\nLincoln, NE 68501", "Box 12\nLincoln, NE 68501"),
        ("Ship to: Box 881, East Rosemarymouth E2 7BU", "Box 881, East Rosemarymouth E2 7BU"),
        ("Ship to: Box 881, Enya Ville N29VTC8", "Box 881, Enya Ville N29VTC8"),
        # a German street abbreviated before its number, not a person and a bare number
        ("Please send it to Puntigamstr. 53, Apt 4C, Weiz.", "Puntigamstr. 53, Apt 4C, Weiz"),
        ("Ship to:\nLöchelstr. 79\n53861 Einbeck\nThanks!", "Löchelstr. 79\n53861 Einbeck"),
        # Philippine block and lot before the street
        ("I live at B12 L88 Cypress Village Phase 2, Davidson Avenue, Ternate.", "B12 L88 Cypress Village Phase 2"),
        ("Block 4, Lot 7 Sampaguita Street, Quezon City", "Block 4, Lot 7 Sampaguita Street"),
    ],
)
def test_address_shapes(detector: Detector, text: str, address: str) -> None:
    assert _covers(detector, text, address, "STREET_ADDRESS")


@pytest.mark.parametrize(
    "text",
    [
        "I ran 5 km and then 3 more on the way home.",
        "Turn left at the corner of the park and walk on.",
        "The score was 2 - 1 at half time.",
        "Thank u. 5 stars from me",
        "Please tick Box 3 on the form.",
        "Put it in Box 4, Shelf 2.",
        "I got B2 L4 Shelves",
    ],
)
def test_not_addresses(detector: Detector, text: str) -> None:
    assert not [s for s in detector.detect(text) if s.entity_type == "STREET_ADDRESS"]


@pytest.mark.parametrize(
    ("text", "org"),
    [
        ("IBM said it would cut jobs.", "IBM"),
        ("General Electric said on Monday that profits rose.", "General Electric"),
        ("The U.N. office is closed today.", "U.N."),
        ("Noack KG's CEO stepped down last week.", "Noack KG"),
        ("van Brenen BV is hiring again.", "van Brenen BV"),
        ("Bright Harbor engineers built the new app.", "Bright Harbor"),
        ("Analysts expect van der Horst Groep to beat estimates.", "van der Horst Groep"),
    ],
)
def test_news_style_organisations(detector: Detector, text: str, org: str) -> None:
    assert _covers(detector, text, org, "ORGANIZATION")


def test_surname_particles_join_the_name(detector: Detector) -> None:
    assert _covers(detector, "I had lunch with Pieter van den Berg today.", "Pieter van den Berg", "PERSON")
    text = "Yesterday de Vries called me."
    assert _covers(detector, text, "de Vries")


@pytest.mark.parametrize(
    "text",
    [
        "Mom said we should leave early.",
        "OK said the driver, and off we went.",
        "The U.S. office of my company is in Texas.",
        "Good Morning said nobody ever.",
        "The Uber driver took the long way round.",
    ],
)
def test_not_news_organisations(detector: Detector, text: str) -> None:
    assert not [s for s in detector.detect(text) if s.entity_type == "ORGANIZATION"]


def test_reporting_verb_leaves_people_people(detector: Detector) -> None:
    spans = detector.detect("Anna Kowalski said she would come.")
    assert [(s.entity_type) for s in spans] == ["PERSON"]


# The patterns the gates stand in front of, without their gates (the combined SSN pattern as it was).
_UNGATED = {
    "US_SSN": re.compile(
        r"(?<![\d-])\d{3}([- .])\d{2}\1\d{4}(?![\d-])|(?:(?<=ssn: )|(?<=ssn# )|(?<=ssn is ))\d{9}\b", re.IGNORECASE
    ),
}


def test_structured_gates_hide_nothing() -> None:
    """Faker SSNs, cards, IPv4 and IPv6 addresses in sentences of our own: everything the validated
    patterns find without the gates is still found with them."""
    from crucible.scrubber import structured as st

    fake = Faker("en_US")
    fake.seed_instance(28)
    card_rec, _iban_rec, ssn_rec = st._validators()
    for _ in range(300):
        value = fake.random_element(
            [fake.ssn(), fake.credit_card_number(), fake.ipv4(), fake.ipv6(), fake.ssn().replace("-", "")]
        )
        text = fake.random_element(
            ["my ssn: {}", "SSN is {}.", "card {} ok", "from {} at 10:30", "ip: {} - {}"]
        ).format(value, fake.ipv4())
        found = {(s.start, s.end, s.entity_type) for s in find_structured(text)}
        for m in _UNGATED["US_SSN"].finditer(text):
            if not ssn_rec.invalidate_result(m.group()):
                assert (m.start(), m.end(), "US_SSN") in found, text
        for m in st.CARD.finditer(text):
            if card_rec.validate_result(m.group()):
                assert (m.start(), m.end(), "CREDIT_CARD") in found, text
        for m in st.IPV4.finditer(text):
            if all(int(p) <= 255 for p in m.group().split(".")):
                assert (m.start(), m.end(), "IP_ADDRESS") in found, text
        for m in st.IPV6.finditer(text):
            try:
                ipaddress.IPv6Address(m.group())
            except ValueError:
                continue
            assert (m.start(), m.end(), "IP_ADDRESS") in found, text
