"""Organisations by any cue: whole names with their designators, typed ORGANIZATION, not PERSON."""

from __future__ import annotations

import pytest

from crucible.scrubber.detect import Detector


def _typed(detector: Detector, text: str) -> list[tuple[str, str]]:
    return [(text[s.start : s.end], s.entity_type) for s in detector.detect(text)]


@pytest.mark.parametrize(
    ("text", "org"),
    [
        ("I finally got promoted at Harbor Freight Tools last week!", "Harbor Freight Tools"),
        ("Had my second interview at Mercy Health today.", "Mercy Health"),
        ("She works as a cashier at Flores Elementary.", "Flores Elementary"),
        ("I bank with Lake Kathleenside Credit Union.", "Lake Kathleenside Credit Union"),
        ("My mom is a patient at Riverside Medical Center.", "Riverside Medical Center"),
        ("Closing shift at St. Luke's Clinic tonight, ugh.", "St. Luke's Clinic"),
        ("I got an offer from Wagner Construction!", "Wagner Construction"),
        ("I just got a promotion at University of Georgia.", "University of Georgia"),
        ("I work for 48 Factoring Inc", "48 Factoring Inc"),
        ("I work for Us News Schools", "Us News Schools"),
        ("We're members of Grace Community Church.", "Grace Community Church"),
        ("I quit Obrien Logistics after six years.", "Obrien Logistics"),
        ("Verdafero is the brainchild of our founders.", "Verdafero"),
        ("She read her Allianz resignation letter aloud.", "Allianz"),
    ],
)
def test_workplaces_are_whole_and_typed(detector: Detector, text: str, org: str) -> None:
    assert (org, "ORGANIZATION") in _typed(detector, text)


def test_a_person_after_an_ambiguous_preposition_stays_a_person(detector: Detector) -> None:
    assert _typed(detector, "I had an interview with Sarah Hall today.") == [("Sarah Hall", "PERSON")]


def test_founders_listed_are_people(detector: Detector) -> None:
    text = "Acme is the brainchild of our 3 founders: Eklund, Michael and Hodge."
    found = _typed(detector, text)
    assert ("Eklund", "PERSON") in found and ("Hodge", "PERSON") in found


def test_contact_block_company_line(detector: Detector) -> None:
    text = "Thomas Svendsen\nAssistant property manager\nHopstop\nPSC 6477, Box 2981\nAPO AE 83700"
    found = _typed(detector, text)
    assert ("Hopstop", "ORGANIZATION") in found
    assert any(t == "STREET_ADDRESS" and v.startswith("PSC 6477") for v, t in found)


@pytest.mark.parametrize(
    "text",
    [
        "I forgot my umbrella at the office.",
        "We spent Saturday at the beach.",
        "The Treaty on European Union was signed long ago.",
        "I'm volunteering at the food bank on Saturdays now.",
    ],
)
def test_everyday_sentences_have_no_workplace(detector: Detector, text: str) -> None:
    assert [t for _, t in _typed(detector, text) if t == "ORGANIZATION"] == []


@pytest.mark.parametrize(
    ("text", "org"),
    [
        ("After my shift at Home Depot I just want to sleep.", "Home Depot"),
        ("Best Buy offered me the manager position.", "Best Buy"),
        ("Started my new job with Little Caesars today.", "Little Caesars"),
        ("I've been at Dollar General for two years.", "Dollar General"),
        ("I just bought shares in Clean Power Finance.", "Clean Power Finance"),
    ],
)
def test_employers_by_other_cues(detector: Detector, text: str, org: str) -> None:
    assert (org, "ORGANIZATION") in _typed(detector, text)


@pytest.mark.parametrize(
    "text", ["Sarah offered me the job.", "I lived with Sarah for two years.", "I got a card from Sarah."]
)
def test_people_in_the_same_frames_stay_people(detector: Detector, text: str) -> None:
    assert _typed(detector, text) == [("Sarah", "PERSON")]


@pytest.mark.parametrize(
    ("text", "org"),
    [
        # starting, leaving and moving inside an employer
        ("My first day at Golden Lantern went great.", "Golden Lantern"),
        ("I start at Red Fern Studios on Monday.", "Red Fern Studios"),
        ("Dad retired from Kessler Yates last year.", "Kessler Yates"),
        ("They transferred me to Northwind Traders in May.", "Northwind Traders"),
        # an occupation before the preposition
        ("He's a bartender at Copper Kettle downtown.", "Copper Kettle"),
        # care and membership
        ("Our baby was born at Lakeview General.", "Lakeview General"),
        ("We subscribed to Bright Path for the kids.", "Bright Path"),
    ],
)
def test_employers_by_starting_leaving_occupation_and_care_cues(detector: Detector, text: str, org: str) -> None:
    assert (org, "ORGANIZATION") in _typed(detector, text)


@pytest.mark.parametrize(
    "text", ["I start at noon tomorrow.", "My first day at the new office went fine.", "She retired from teaching."]
)
def test_new_cues_leave_everyday_words(detector: Detector, text: str) -> None:
    assert _typed(detector, text) == []


def test_three_first_names_listed_are_people_not_a_firm(detector: Detector) -> None:
    # Faker's "X, Y and Z" firms join surnames; three given names are three people
    found = _typed(detector, "Priya, Tomasz and Ingrid went home early.")
    assert [t for _, t in found] == ["PERSON", "PERSON", "PERSON"]
    assert ("Hall, Newton and Morse", "ORGANIZATION") in _typed(detector, "I work at Hall, Newton and Morse.")


@pytest.mark.parametrize(
    ("text", "org"),
    [
        # everyday nouns after a surname or a coined word finish a firm's name: neither half is left
        ("He drives for Bright Horizons.", "Bright Horizons"),
        ("After six years Northwind Traders finally made me a supervisor.", "Northwind Traders"),
        ("Gavrilova Holdings bought the building.", "Gavrilova Holdings"),
        # the employer's own departments after a possessive
        ("Certara's HR department never answers.", "Certara"),
        ("Datamyne's night shift is brutal.", "Datamyne"),
        # pay and the places a job is done
        ("The pay at Blue Apron is better.", "Blue Apron"),
        ("I clean offices for Blue Apron.", "Blue Apron"),
    ],
)
def test_employers_whole_by_their_shape_and_departments(detector: Detector, text: str, org: str) -> None:
    assert (org, "ORGANIZATION") in _typed(detector, text)


@pytest.mark.parametrize(
    ("text", "person"),
    [
        ("Steve Jobs gave a talk.", "Steve Jobs"),  # a listed first name keeps its everyday surname
        ("I met Tom Rivers today.", "Tom Rivers"),
        ("Dr. Svenningsen's office called.", "Svenningsen"),  # a person cue wins over the possessive
        ("Sarah's shift ends at six.", "Sarah"),
        ("Mrs. Gavrilova's staff were kind.", "Gavrilova"),
        ("See you soon Kyle Thanks", "Kyle"),
        ("I paid for dinner with Sarah.", "Sarah"),
    ],
)
def test_people_near_the_new_firm_cues_stay_people(detector: Detector, text: str, person: str) -> None:
    assert _typed(detector, text) == [(person, "PERSON")]


@pytest.mark.parametrize(
    "frame",
    [
        "I've been clocking in at {o} for years.",
        "I'm waiting tables at {o} this summer.",
        "I've been stocking shelves at {o} since May.",
        "I flip burgers at {o}.",
        "Night audit at {o} again.",
        "I'm a temp at {o}.",
        "Six years at {o} and still no raise.",
        "Got bumped to full-time at {o}.",
        "I'm in my probation period at {o}.",
    ],
)
def test_the_work_itself_is_a_cue(detector: Detector, frame: str) -> None:
    # an everyday first word and a surname: without the cue the first word stayed in the text and
    # the surname was read as a person
    text = frame.format(o="Summit Whitfield")
    assert _typed(detector, text) == [("Summit Whitfield", "ORGANIZATION")]


@pytest.mark.parametrize(
    ("text", "org"),
    [
        # what follows a cued employer's run and still belongs to its name
        ("My shift at Wendy's ran late again.", "Wendy's"),
        ("My interview at Dick's Sporting Goods went well.", "Dick's Sporting Goods"),
        ("Got a job offer from Procter & Gamble today.", "Procter & Gamble"),
        ("I start at Bed Bath & Beyond on Monday.", "Bed Bath & Beyond"),
        ("I work for Desarrollo del Levante S.L.N.E. now", "Desarrollo del Levante S.L.N.E."),
        ("I worked at van der Sloot & Huijben for years.", "van der Sloot & Huijben"),
    ],
)
def test_cued_employers_keep_possessives_ampersands_and_legal_forms(detector: Detector, text: str, org: str) -> None:
    assert _typed(detector, text) == [(org, "ORGANIZATION")]


def test_a_weekday_after_a_cued_possessive_name_is_not_part_of_it(detector: Detector) -> None:
    assert _typed(detector, "My shift at Wendy's Monday was long.") == [("Wendy's", "ORGANIZATION")]


def test_names_joined_after_with_are_people_unless_a_workplace_cue_precedes(detector: Detector) -> None:
    assert _typed(detector, "Had coffee with Jane and John today.") == [("Jane", "PERSON"), ("John", "PERSON")]
    assert _typed(detector, "Had coffee with Rebecca Wilson and Jessica.") == [
        ("Rebecca Wilson", "PERSON"),
        ("Jessica", "PERSON"),
    ]
    assert _typed(detector, "I had a job interview with Thomas & Jones.") == [("Thomas & Jones", "ORGANIZATION")]
    assert _typed(detector, "I signed with Eriksson & Norberg.") == [("Eriksson & Norberg", "ORGANIZATION")]


@pytest.mark.parametrize(
    ("text", "org"),
    [
        ("I just got an email from Harbor Point Lending about my loan.", "Harbor Point Lending"),
        ("Did you see what Open Door Care posted today?", "Open Door Care"),
        ("According to Prime Data Analytics, the outage is over.", "Prime Data Analytics"),
        ("The movers from Atlas Van Lines broke my lamp.", "Atlas Van Lines"),
        ("I got a letter from Green Hill Mortgage today.", "Green Hill Mortgage"),
        ("The Quill Ridge Tribune ran the story on Sunday.", "Quill Ridge Tribune"),
    ],
)
def test_a_trade_word_last_ends_a_business_name_without_a_cue(detector: Detector, text: str, org: str) -> None:
    assert (org, "ORGANIZATION") in _typed(detector, text)


@pytest.mark.parametrize(
    "text",
    [
        "My Mortgage Payments went up again.",
        "He works in Civil Engineering now.",
        "We need more Cleaning Supplies for the apartment.",
        "The Urgent Care wait was two hours.",
        "Mom's in Intensive Care but stable.",
        "The Secret Service guys were everywhere.",
        "My Home Security camera caught the raccoon.",
        "Skin Care products are so expensive now.",
    ],
)
def test_two_everyday_words_ending_in_a_trade_word_stay_text(detector: Detector, text: str) -> None:
    assert _typed(detector, text) == []
