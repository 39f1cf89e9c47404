"""Place filters: aliases, metropolitan areas, alternate names and suggestions."""

from __future__ import annotations

import pytest

from ml.locations import AREAS, PLACE_ALIASES, area_circle, gazetteer, parse_location_query


@pytest.mark.parametrize(("alias", "same_as"), [
    ("SF", "San Francisco, CA"), ("nyc", "New York, NY"), ("NYC", "new york, ny"),
    ("Philly", "Philadelphia, PA"), ("Remote - SF", "Remote - San Francisco, CA"),
])
def test_aliases_mean_their_city(alias, same_as):
    assert parse_location_query(alias) == parse_location_query(same_as)


def test_every_alias_and_area_names_a_gazetteer_place():
    for place in PLACE_ALIASES.values():
        query = parse_location_query(place)
        assert gazetteer().knows_city(query.city), place
    for name, (_, _, _, radius_km) in AREAS.items():
        circle = area_circle(name)
        assert circle.radius_km == radius_km and -90 <= circle.latitude <= 90


def test_state_codes_win_over_aliases():
    assert parse_location_query("LA").region == "la"  # Louisiana, not Los Angeles
    assert parse_location_query("DC").region == "dc"


def test_an_area_is_a_circle_around_its_centre():
    query = parse_location_query("bay area")
    sf = gazetteer().find_city("San Francisco", "US", "CA")
    assert query.city is None and not query.is_empty
    assert (query.within.latitude, query.within.longitude) == (sf["latitude"],
                                                               sf["longitude"])


def test_an_alternate_name_also_matches_the_gazetteer_name():
    assert parse_location_query("San Fransisco").city_names == ("san francisco",)
    assert parse_location_query("San Francisco").city_names == ()
    assert parse_location_query("Nowhereville").city_names == ()


@pytest.mark.parametrize(("typed", "first"), [
    ("San Fransico", "San Francisco, CA"), ("Sna Jose", "San Jose, CA"),
    ("Seatle", "Seattle, WA"), ("Californa", "California"), ("Bay Aera", "Bay Area"),
    ("Londn", "London, United Kingdom"),
])
def test_suggestions_put_the_likely_place_first(typed, first):
    assert gazetteer().suggest(typed)[0] == first


def test_no_suggestion_for_a_name_like_no_place():
    assert gazetteer().suggest("Nowhereville") == []
    assert len(gazetteer().suggest("Austn", n=2)) == 2
