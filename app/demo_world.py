"""The demo's world (`app.demo`): its metros, occupations with their skills and pay,
and the words its company names are made of."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

CITIES = [  # (city, state, weight, state name, latitude, longitude: the gazetteer's)
    ("San Francisco", "CA", 1.2, "California", 37.77493, -122.41942),
    ("San Jose", "CA", 0.7, "California", 37.33939, -121.89496),
    ("Los Angeles", "CA", 1.4, "California", 34.05223, -118.24368),
    ("Seattle", "WA", 1.0, "Washington", 47.60621, -122.33207),
    ("Portland", "OR", 0.6, "Oregon", 45.52345, -122.67621),
    ("Denver", "CO", 0.7, "Colorado", 39.73915, -104.9847),
    ("Austin", "TX", 0.8, "Texas", 30.26715, -97.74306),
    ("Dallas", "TX", 0.9, "Texas", 32.78306, -96.80667),
    ("Houston", "TX", 0.9, "Texas", 29.76328, -95.36327),
    ("Chicago", "IL", 1.2, "Illinois", 41.85003, -87.65005),
    ("New York", "NY", 1.6, "New York", 40.71427, -74.00597),
    ("Boston", "MA", 0.9, "Massachusetts", 42.35843, -71.05977),
    ("Atlanta", "GA", 0.8, "Georgia", 33.749, -84.38798),
    ("Miami", "FL", 0.7, "Florida", 25.77427, -80.19366),
    ("Washington", "DC", 0.8, "District of Columbia", 38.89511, -77.03637),
    ("Philadelphia", "PA", 0.8, "Pennsylvania", 39.95238, -75.16362),
]
HIGH_COST = {"San Francisco", "San Jose", "New York", "Boston", "Seattle"}


@dataclass(frozen=True)
class Occupation:
    name: str
    titles: tuple[str, ...]
    skills: tuple[str, ...]  # core skills first
    annual_median: float  # USD per year
    hourly: bool
    remote_friendly: bool
    employment: tuple[str, ...]


OCCUPATIONS = (
    Occupation(
        "data",
        ("Data Scientist", "Machine Learning Engineer", "Data Analyst", "Analytics Engineer"),
        (
            "python",
            "sql",
            "machine learning",
            "statistics",
            "pandas",
            "scikit-learn",
            "tableau",
            "spark",
            "deep learning",
            "r",
            "a/b testing",
            "pytorch",
        ),
        140_000,
        False,
        True,
        ("full_time", "contract"),
    ),
    Occupation(
        "backend",
        (
            "Backend Engineer",
            "Software Engineer",
            "Python Developer",
            "Java Developer",
            "Platform Engineer",
        ),
        (
            "python",
            "java",
            "sql",
            "docker",
            "rest api",
            "golang",
            "kubernetes",
            "aws",
            "kafka",
            "redis",
            "linux",
            "git",
        ),
        150_000,
        False,
        True,
        ("full_time", "contract"),
    ),
    Occupation(
        "frontend",
        ("Frontend Engineer", "Web Developer", "UI Engineer", "JavaScript Developer"),
        (
            "javascript",
            "typescript",
            "react",
            "css",
            "html",
            "node.js",
            "graphql",
            "vue",
            "angular",
            "git",
        ),
        130_000,
        False,
        True,
        ("full_time", "contract"),
    ),
    Occupation(
        "cloud",
        ("DevOps Engineer", "Cloud Engineer", "Site Reliability Engineer", "Systems Administrator"),
        (
            "aws",
            "terraform",
            "kubernetes",
            "linux",
            "docker",
            "devops",
            "azure",
            "gcp",
            "networking",
            "security",
        ),
        145_000,
        False,
        True,
        ("full_time",),
    ),
    Occupation(
        "nursing",
        ("Registered Nurse", "Charge Nurse", "Certified Nursing Assistant", "Home Health Aide"),
        ("nursing", "patient care", "cpr", "cna", "caregiving", "medical assistant"),
        82_000,
        True,
        False,
        ("full_time", "part_time"),
    ),
    Occupation(
        "retail",
        ("Cashier", "Sales Associate", "Store Associate", "Retail Supervisor"),
        ("cashier", "retail", "customer service", "stocking", "sales"),
        33_000,
        True,
        False,
        ("part_time", "full_time", "temporary"),
    ),
    Occupation(
        "warehouse",
        ("Warehouse Associate", "Forklift Operator", "Package Handler", "Delivery Driver"),
        ("warehouse", "forklift", "package handling", "shipping", "driving"),
        40_000,
        True,
        False,
        ("full_time", "part_time", "temporary"),
    ),
    Occupation(
        "food",
        ("Line Cook", "Server", "Barista", "Bartender", "Dishwasher"),
        ("cooking", "server", "barista", "bartender", "food service", "dishwasher"),
        31_000,
        True,
        False,
        ("part_time", "full_time"),
    ),
    Occupation(
        "office",
        ("Administrative Assistant", "Receptionist", "Office Manager", "Data Entry Clerk"),
        ("administrative", "receptionist", "microsoft office", "scheduling", "data entry", "excel"),
        52_000,
        False,
        False,
        ("full_time", "part_time"),
    ),
    Occupation(
        "finance",
        ("Accountant", "Financial Analyst", "Bookkeeper", "Payroll Specialist"),
        ("accounting", "excel", "finance", "bookkeeping", "payroll", "quickbooks"),
        85_000,
        False,
        True,
        ("full_time",),
    ),
    Occupation(
        "marketing",
        (
            "Marketing Manager",
            "Account Executive",
            "Sales Development Representative",
            "Content Writer",
        ),
        ("marketing", "sales", "salesforce", "writing", "data analysis"),
        90_000,
        False,
        True,
        ("full_time", "contract"),
    ),
    Occupation(
        "hospitality",
        ("Housekeeper", "Front Desk Agent", "Security Officer", "Janitor"),
        ("housekeeping", "hospitality", "security guard", "customer service"),
        35_000,
        True,
        False,
        ("full_time", "part_time"),
    ),
)
COMPANY_WORDS = (
    "Acme",
    "Blue Harbor",
    "Summit",
    "Northwind",
    "Redwood",
    "Bright",
    "Granite",
    "Pioneer",
    "Silver Lake",
    "Evergreen",
    "Lumen",
    "Cobalt",
    "Harbor",
    "Keystone",
    "Meridian",
    "Atlas",
    "Beacon",
    "Cedar",
    "Orbit",
    "Vista",
)
COMPANY_SUFFIX = {
    "data": "Analytics",
    "backend": "Software",
    "frontend": "Digital",
    "cloud": "Cloud",
    "nursing": "Health",
    "retail": "Stores",
    "warehouse": "Logistics",
    "food": "Kitchens",
    "office": "Services",
    "finance": "Financial",
    "marketing": "Media",
    "hospitality": "Hotels",
}

# every skill an occupation asks for: the columns of the jobs' and users' skill matrices
SKILL_NAMES = np.array(sorted({s for occ in OCCUPATIONS for s in occ.skills}), dtype=object)
SKILL_COLUMN = {name: i for i, name in enumerate(SKILL_NAMES)}
