"""Places normalised to city / region / country, a remote flag, and coordinates.

A place the gazetteer does not know is kept as given (folded for matching) without
coordinates.
"""

from __future__ import annotations

from dataclasses import dataclass

from ml.locations.gazetteer import gazetteer
from ml.text import fold

REMOTE_WORDS = frozenset(
    {"remote", "anywhere", "work from home", "wfh", "telecommute", "virtual", "home based"}
)


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
        return "|".join(
            fold(x or "") for x in (self.city, self.region_code or self.region, self.country)
        )

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
    if mentions_remote(folded):
        rest = without_remote_words(folded)
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


def mentions_remote(folded: str) -> bool:
    """Whether folded text says the work is remote ("Remote - US", "work from home")."""
    return any(word in folded for word in REMOTE_WORDS)


def without_remote_words(folded: str) -> str:
    """Folded text with the remote words and the separators around them taken out:
    "remote - austin, tx" -> "austin, tx"."""
    rest = folded
    for word in REMOTE_WORDS:
        rest = rest.replace(word, " ")
    return rest.strip(" -,()/")


def _clean(value: str | None) -> str | None:
    if value is None:
        return None
    value = " ".join(str(value).split())
    if not value or value.upper() in {"NA", "N/A", "NONE", "NULL", "-1", "NAN"}:
        return None
    return value
