"""Address line shapes: ordinal numbers, countries and qualifiers, lower-case street types,
military lines, contact blocks (sentences of our own)."""

from __future__ import annotations

import pytest

from crucible.scrubber.detect import Detector


@pytest.mark.parametrize(
    "address",
    [
        "Petőfi utca 173., H-9755 Alsótapolca",
        "Hörlplatz 36, 5971 Bruck an der Leitha",
        "plac Żwirki i Wigury 425, 11-777 Nowa Ruda",
        "1610 ul. Zakrzowska 92 Apt. 399, Larnaca, Cyprus (Greek) 72423",
        "USNV Kairys\nFPO AP 99134",
        "4 Elm Court, Unit 7\nLeeds LS6 2AB\nUnited Kingdom",
        "PO Box 4521\nSpringfield, IL 62704",
    ],
)
def test_address_shapes_are_covered_whole(detector: Detector, address: str) -> None:
    text = f"Please send it to:\n{address}\nThanks!"
    start = text.index(address)
    spans = [s for s in detector.detect(text) if s.entity_type == "STREET_ADDRESS"]
    inside = [i for i in range(start, start + len(address)) if text[i].isalnum()]
    covered = [i for i in inside if any(s.start <= i < s.end for s in spans)]
    assert len(covered) >= 0.9 * len(inside), [(text[s.start : s.end]) for s in spans]
    assert not any("Thanks" in text[s.start : s.end] for s in spans)


def test_name_line_above_an_address_is_not_part_of_it(detector: Detector) -> None:
    text = "Contact:\nJo Doe\nKistamásii utca 55., H-7686 Békésmindszentvár"
    found = [(text[s.start : s.end], s.entity_type) for s in detector.detect(text)]
    assert ("Jo Doe", "PERSON") in found
    assert any(t == "STREET_ADDRESS" and v.startswith("Kistamásii") for v, t in found)
