"""Place filters: aliases, metropolitan areas, alternate names and suggestions; the
great-circle distance (`ml.geo`)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from ml.geo import EARTH_RADIUS_KM, Circle, chord_km, great_circle_km, unit_vectors
from ml.locations import AREAS, PLACE_ALIASES, area_circle, gazetteer, parse_location_query


@pytest.mark.parametrize(
    ("alias", "same_as"),
    [
        ("SF", "San Francisco, CA"),
        ("nyc", "New York, NY"),
        ("NYC", "new york, ny"),
        ("Philly", "Philadelphia, PA"),
        ("Remote - SF", "Remote - San Francisco, CA"),
    ],
)
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
    assert (query.within.latitude, query.within.longitude) == (sf["latitude"], sf["longitude"])


def test_an_alternate_name_also_matches_the_gazetteer_name():
    assert parse_location_query("San Fransisco").city_names == ("san francisco",)
    assert parse_location_query("San Francisco").city_names == ()
    assert parse_location_query("Nowhereville").city_names == ()


@pytest.mark.parametrize(
    ("typed", "first"),
    [
        ("San Fransico", "San Francisco, CA"),
        ("Sna Jose", "San Jose, CA"),
        ("Seatle", "Seattle, WA"),
        ("Californa", "California"),
        ("Bay Aera", "Bay Area"),
        ("Londn", "London, United Kingdom"),
    ],
)
def test_suggestions_put_the_likely_place_first(typed, first):
    assert gazetteer().suggest(typed)[0] == first


def test_no_suggestion_for_a_name_like_no_place():
    assert gazetteer().suggest("Nowhereville") == []
    assert len(gazetteer().suggest("Austn", n=2)) == 2


# San Francisco, Los Angeles, London, Sydney: latitude, longitude in degrees
CITIES = [(37.7749, -122.4194), (34.0522, -118.2437), (51.5074, -0.1278), (-33.8688, 151.2093)]


def _written_out_km(lat1, lon1, lat2, lon2):
    p1, p2 = math.radians(lat1), math.radians(lat2)
    h = (
        math.sin((p2 - p1) / 2) ** 2
        + math.cos(p1) * math.cos(p2) * math.sin(math.radians(lon2 - lon1) / 2) ** 2
    )
    return 2 * EARTH_RADIUS_KM * math.asin(math.sqrt(h))


def test_great_circle_km_on_floats_numpy_and_torch():
    lat = np.array([c[0] for c in CITIES])
    lon = np.array([c[1] for c in CITIES])
    expected = np.array([[_written_out_km(*a, *b) for b in CITIES] for a in CITIES])
    assert round(float(great_circle_km(*CITIES[0], *CITIES[1]))) == 559
    on_numpy = great_circle_km(lat[:, None], lon[:, None], lat[None], lon[None])  # broadcast
    np.testing.assert_allclose(on_numpy, expected, rtol=1e-12, atol=1e-9)
    lat_t, lon_t = torch.from_numpy(lat), torch.from_numpy(lon)
    on_torch = great_circle_km(lat_t[:, None], lon_t[:, None], lat_t[None], lon_t[None])
    assert isinstance(on_torch, torch.Tensor) and on_torch.dtype == torch.float64
    np.testing.assert_allclose(on_torch.numpy(), expected, rtol=1e-12, atol=1e-9)
    assert np.diag(on_numpy).max() == 0.0


def test_great_circle_km_of_an_unknown_place_is_nan_without_a_warning():
    with np.errstate(all="raise"):
        km = great_circle_km(
            37.7749, -122.4194, np.array([34.0522, np.nan]), np.array([-118.2437, np.nan])
        )
    assert not np.isnan(km[0]) and np.isnan(km[1]) and not (km <= 1e9)[1]
    nan = torch.tensor([math.nan])
    assert great_circle_km(nan, nan, nan, nan).isnan().all()


def test_chord_km_equals_the_haversine():
    coords = torch.tensor([*CITIES, (math.nan, math.nan)], dtype=torch.float32)
    units = unit_vectors(coords)
    assert units.shape == (5, 3) and units.dtype == torch.float64
    km = chord_km(units, units[:4])  # [5, 4]
    points = coords[:4].double().tolist()
    expected = torch.tensor(
        [[_written_out_km(*a, *b) for b in points] for a in points], dtype=torch.float64
    )
    torch.testing.assert_close(km[:4], expected, rtol=1e-9, atol=1e-6)
    assert km[4].isnan().all()


def test_a_circle_contains_the_points_within_its_radius():
    around_sf = Circle(*CITIES[0], radius_km=600.0)
    lat = np.array([CITIES[1][0], CITIES[2][0], np.nan])
    lon = np.array([CITIES[1][1], CITIES[2][1], np.nan])
    with np.errstate(all="raise"):
        assert around_sf.contains(lat, lon).tolist() == [True, False, False]
    assert not Circle(*CITIES[0], radius_km=500.0).contains(lat, lon).any()
