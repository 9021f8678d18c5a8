"""Organisations and street addresses in messages typed without capitals: the capitalised-run
rules cannot see them, so cues, designators, company shapes and house numbers do the work. Also
the other side of capitals: quoted titles and derived words ("Gnomes", "Sorrowful") are not names."""

from __future__ import annotations

import pytest

from crucible.scrubber.bench import _covered, _union
from crucible.scrubber.detect import Detector


def _covers(detector: Detector, text: str, value: str, entity: str | None = None) -> bool:
    start = text.index(value)
    spans = [s for s in detector.detect(text) if entity is None or s.entity_type == entity]
    return _covered(start, start + len(value), _union([(s.start, s.end) for s in spans]), text) >= 0.9


@pytest.mark.parametrize(
    ("text", "org"),
    [
        ("finally got promoted at brightwater insurance!!", "brightwater insurance"),
        ("my shift at kowalczyk bakery starts at 5am ugh", "kowalczyk bakery"),
        ("i have an interview with okafor-lindqvist on thursday", "okafor-lindqvist"),
        ("he got hired by okonkwo, brandvold and quinby last month", "okonkwo, brandvold and quinby"),
        ("we've been members of pettersen and sons since 2010", "pettersen and sons"),
        ("i've worked at van der bijl logistics for years", "van der bijl logistics"),
        ("i quit dunmore llc yesterday", "dunmore llc"),
        ("my son goes to hartwell middle school now", "hartwell middle school"),
        ("she banks with oakhurst federal credit union", "oakhurst federal credit union"),
        ("my dad was admitted to st. brannigan's hospital", "brannigan's hospital"),
    ],
)
def test_lower_case_organisations_are_found_and_typed(detector: Detector, text: str, org: str) -> None:
    assert _covers(detector, text, org, "ORGANIZATION")


@pytest.mark.parametrize(
    ("text", "org"),
    [
        ("hartley, voss and okafor announced layoffs today", "hartley, voss and okafor"),
        ("honestly the reviews of okafor-voss are awful", "okafor-voss"),
        ("Got my first paycheck from Horvatić j.d.o.o.!", "Horvatić j.d.o.o."),
        ("She left Mojca Zupančič s.p. in May.", "Mojca Zupančič s.p."),
    ],
)
def test_firm_shapes_without_a_cue(detector: Detector, text: str, org: str) -> None:
    assert _covers(detector, text, org, "ORGANIZATION")


def test_people_listed_after_a_plural_relation_are_not_a_firm(detector: Detector) -> None:
    text = "my cousins hartley, voss and okafor came over"
    assert not [s for s in detector.detect(text) if s.entity_type == "ORGANIZATION"]


@pytest.mark.parametrize(
    ("text", "org"),
    [
        ("i got promoted at golden corral!!", "golden corral"),
        ("my first day at blue kestrel went fine", "blue kestrel"),
    ],
)
def test_lower_case_names_may_open_with_everyday_words(detector: Detector, text: str, org: str) -> None:
    # after a workplace cue, "little", "golden", "blue" open a name when a name-like word follows
    assert _covers(detector, text, org, "ORGANIZATION")


@pytest.mark.parametrize(
    "text",
    [
        "i work at least three shifts a week",
        "i start at noon tomorrow",
        "my shift at work ran late",
        "i was hired by some people from church",
    ],
)
def test_everyday_words_after_a_cue_need_a_name_after_them(detector: Detector, text: str) -> None:
    assert not [s for s in detector.detect(text) if s.entity_type == "ORGANIZATION"]


@pytest.mark.parametrize(
    "text",
    [
        "my shift at the hospital starts at six",
        "we booked the check-in for monday and a follow-up after",
        "i work at home on fridays",
        "we went to the farmers market and the local library",
        "i got a job offer from my old boss!",
        "an appointment at the dental clinic on monday",
        "she goes to the high school near us",
    ],
)
def test_lower_case_everyday_places_are_not_organisations(detector: Detector, text: str) -> None:
    assert not [s for s in detector.detect(text) if s.entity_type == "ORGANIZATION"]


def test_capitalised_messages_keep_lower_case_words() -> None:
    # A writer who capitalises sentences capitalises names: "at costco-size prices" is a phrase.
    det = Detector.create()
    text = "We bought it at bargain-basement prices."
    assert not [s for s in det.detect(text) if s.entity_type == "ORGANIZATION"]


@pytest.mark.parametrize(
    ("text", "address"),
    [
        ("send it to brunnenweg 14\n8472 seuzach please", "brunnenweg 14\n8472 seuzach"),
        (
            "we moved to 221 tarrow creek road apt. 9, millbrook, ny 12545",
            "221 tarrow creek road apt. 9, millbrook, ny 12545",
        ),
        ("my new flat: ulica kwiatkowa 18, 62-300 wrzesnia", "ulica kwiatkowa 18, 62-300 wrzesnia"),
        ("address:\n7 ferry lane\nkilnamona\nv95 x2k7", "7 ferry lane\nkilnamona\nv95 x2k7"),
        ("i live at rua das acácias, 412\n4450-102 matosinhos", "rua das acácias, 412\n4450-102 matosinhos"),
        ("come over to 58 west larkfield avenue tonight", "58 west larkfield avenue"),
        # a Faker street suffix after the house number, a city line opening with an everyday word
        ("it's 318 brennan crossing\nnorth orlaview, ks 66102 now", "318 brennan crossing\nnorth orlaview, ks 66102"),
        ("parcel goes to 77 quill landing, port halden, 4410", "77 quill landing, port halden, 4410"),
        # town and region names that are known words, after the street
        ("mail it to 52 copper avenue unit 4 winnipeg manitoba", "52 copper avenue unit 4 winnipeg manitoba"),
        ("my address:\n19 rúa do sol 3, vigo, spain.", "19 rúa do sol 3, vigo, spain"),
    ],
)
def test_lower_case_addresses_are_found(detector: Detector, text: str, address: str) -> None:
    assert _covers(detector, text, address)


@pytest.mark.parametrize(
    ("text", "address"),
    [
        # Street types written after the name (Slovene, Croatian, Czech, Hungarian, Estonian)
        ("We moved to Gorenjska pot 14\n4240 Radovljica in May.", "Gorenjska pot 14\n4240 Radovljica"),
        ("Send it to Vukovarski put 7, 21000 Split please.", "Vukovarski put 7, 21000 Split"),
        ("Her office is on Kossuth Lajos tér 3., 6720 Szeged.", "Kossuth Lajos tér 3., 6720 Szeged"),
        ("Address: Pärnu tee 41, 10141 Tallinn", "Pärnu tee 41, 10141 Tallinn"),
        # street types before the name: Polish "pl.", Indonesian "Jl." / "Gang"
        ("Mieszkam na pl. Wolności 8\n61-739 Poznań.", "pl. Wolności 8\n61-739 Poznań"),
        ("Kirim ke Jl. Merpati No. 21, Bandung 40115 ya", "Jl. Merpati No. 21, Bandung 40115"),
        ("Office: Gang Melati 7\nJakarta 10110", "Gang Melati 7\nJakarta 10110"),
    ],
)
def test_street_types_after_the_name(detector: Detector, text: str, address: str) -> None:
    assert _covers(detector, text, address)


@pytest.mark.parametrize(
    "text",
    [
        "i got 8 out of 10 on my quiz!",
        "i ran 5 miles today and i'm dead",
        "meet at 7 at the station",
        "my kids are 4 and 9 now",
        "we need 2 cartons of milk and 12 eggs",
        "anna turns 30 next week",
        "flight leaves at 6 tomorrow, gate 22",
    ],
)
def test_lower_case_numbers_are_not_addresses(detector: Detector, text: str) -> None:
    assert not [s for s in detector.detect(text) if s.entity_type == "STREET_ADDRESS"]


@pytest.mark.parametrize(
    ("text", "kept"),
    [
        ('My grandad hummed "Take Me Home To Galway" all day.', "Take Me Home To Galway"),
        ("They wrote ballads about Gnomes and Wizards in Ostrowska's Sorrowful Chronicles.", "Gnomes"),
        ("They wrote ballads about Gnomes and Wizards in Ostrowska's Sorrowful Chronicles.", "Sorrowful"),
    ],
)
def test_titles_and_derived_words_are_not_names(detector: Detector, text: str, kept: str) -> None:
    start = text.index(kept)
    assert not any(s.start < start + len(kept) and start < s.end for s in detector.detect(text))


def test_names_next_to_titles_are_still_found(detector: Detector) -> None:
    text = "They wrote ballads about Gnomes in Zofia Ostrowska's Sorrowful Chronicles."
    assert _covers(detector, text, "Zofia Ostrowska", "PERSON")


@pytest.mark.parametrize(
    ("text", "org"),
    [
        ("i've been clocking in at golden mills for years", "golden mills"),
        ("night audit at bright harris again", "bright harris"),
    ],
)
def test_an_everyday_word_and_a_name_after_a_cue_are_one_employer(detector: Detector, text: str, org: str) -> None:
    # before, the everyday word stayed in the text and the name was read as a person
    assert [(text[s.start : s.end], s.entity_type) for s in detector.detect(text)] == [(org, "ORGANIZATION")]


@pytest.mark.parametrize("text", ["i think i'm going to quit social media for a while", "i work at best buy lol"])
def test_two_everyday_words_after_a_cue_stay_words(detector: Detector, text: str) -> None:
    assert detector.detect(text) == []
