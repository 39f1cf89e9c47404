"""Location filters: what a request's place text or structured place asks for, folded
for matching against the catalog's places ("Austin, TX", "Remote", "SF", "Bay Area")."""

from __future__ import annotations

from dataclasses import dataclass, replace

from ml.geo import Circle
from ml.locations.gazetteer import AREAS, PLACE_ALIASES, gazetteer
from ml.locations.places import mentions_remote, without_remote_words
from ml.text import fold


@dataclass(frozen=True, slots=True)
class LocationQuery:
    """What a location filter asks for, folded for matching; None parts match anything.

    `region` is a US state code ("ca") where the text names a state, otherwise the
    folded region name; `country` is ISO2 ("us"); `within` is the circle of a
    metropolitan area ("Bay Area"). `city_names` are the city's other folded names: the
    gazetteer's name for it when the text gave one of its alternate names ("san
    fransisco" -> "san francisco"); a job in either matches.
    """

    city: str | None = None
    region: str | None = None
    country: str | None = None
    remote: bool = False
    within: Circle | None = None
    city_names: tuple[str, ...] = ()

    @property
    def is_empty(self) -> bool:
        return not (self.city or self.region or self.country or self.remote or self.within)


def parse_location_query(text: str | None) -> LocationQuery:
    """Parse a filter such as "San Francisco", "CA", "Texas", "Austin, TX", "USA",
    "Remote", "SF", "Bay Area". Only what the text says is kept (a city is not widened
    to its state).

    A single word that names a US state means the state ("Washington" -> WA; write
    "Washington, DC" for the capital); "Remote" means remote jobs; common short names
    (`PLACE_ALIASES`) mean their city, and metropolitan areas (`AREAS`) a circle.

    >>> parse_location_query("austin, texas")
    LocationQuery(city='austin', region='tx', country='us', remote=False, within=None, \
city_names=())
    >>> parse_location_query("Remote").remote
    True
    >>> parse_location_query("SF").city
    'san francisco'
    >>> parse_location_query("San Fransisco").city_names
    ('san francisco',)
    """
    return _with_city_names(_parse_location_query(text))


def _parse_location_query(text: str | None) -> LocationQuery:
    folded = fold(text)
    if not folded:
        return LocationQuery()
    if folded in PLACE_ALIASES:
        return parse_location_query(PLACE_ALIASES[folded])
    if folded in AREAS:
        return LocationQuery(within=area_circle(folded))
    if mentions_remote(folded):
        rest = without_remote_words(folded)
        inner = parse_location_query(rest) if rest else LocationQuery()
        return replace(inner, remote=True)
    parts = [fold(p) for p in folded.split(",") if p.strip()]
    if len(parts) == 1:
        return _one_part_query(parts[0])
    if len(parts) == 2:
        return _two_part_query(*parts)
    return location_query(parts[0], parts[1], parts[-1])


def _one_part_query(part: str) -> LocationQuery:
    """ "ca", "texas", "usa" or a city."""
    state = _us_state_key(part)
    if state:
        return LocationQuery(region=state, country="us")
    country = _country_key(part)
    if country:
        return LocationQuery(country=country)
    return LocationQuery(city=part)


def _two_part_query(first: str, second: str) -> LocationQuery:
    """ "austin, tx", "texas, usa", "paris, france" or a city and a region."""
    state = _us_state_key(second)
    if state:
        return LocationQuery(city=first, region=state, country="us")
    country = _country_key(second)
    if country:
        if country == "us" and _us_state_key(first):
            return LocationQuery(region=_us_state_key(first), country="us")
        return LocationQuery(city=first, country=country)
    return LocationQuery(city=first, region=second)


def area_circle(name: str) -> Circle:
    """The circle of a metropolitan area of `AREAS` (by its folded name)."""
    city, country, state, radius_km = AREAS[name]
    found = gazetteer().find_city(city, country, state)
    if found is None:  # the table names gazetteer cities; a test holds it to that
        raise LookupError(f"area {name!r}: {city} is not in the gazetteer")
    return Circle(found["latitude"], found["longitude"], radius_km)


def location_query(city: str | None, region: str | None, country: str | None) -> LocationQuery:
    """A query from structured parts; a region may be a name or a code.

    >>> location_query("Toronto", "Ontario", "Canada").region
    'ontario'
    """
    iso = (_country_key(country) or fold(country)) if country else None
    region_key = None
    if region:
        state = _us_state_key(region) if iso in (None, "us") else None
        region_key = state or fold(region)
        iso = iso or ("us" if state else None)
    return _with_city_names(LocationQuery(city=fold(city) or None, region=region_key, country=iso))


def _with_city_names(query: LocationQuery) -> LocationQuery:
    """`query` with the gazetteer's name of its city where the text gave another one."""
    if not query.city:
        return query
    country = query.country.upper() if query.country else None
    state = query.region.upper() if query.region and country == "US" else None
    found = gazetteer().find_city(query.city, country, state)
    if found is None or fold(found["name"]) == query.city:
        return query
    return replace(query, city_names=(fold(found["name"]),))


def _us_state_key(part: str) -> str | None:
    code = gazetteer().us_state_code(part)
    return fold(code) if code else None


def _country_key(part: str) -> str | None:
    code = gazetteer().country_code(part)
    return fold(code) if code else None
