"""Skill extraction: a maintained skill list plus terms learned from the data.

A skill is a folded, canonical string ("python", "machine learning", "forklift").
Two sources feed it:

* `SKILL_ALIASES`, the maintained list below: canonical skills with the spellings that
  stand for them (phrases of up to three words). It covers software and data work as well
  as the hourly retail, food-service, warehouse, care and office work of our job boards.
* terms learned from the training catalog by `learn_terms`: the title words (and
  two-word phrases) that occur in at least `min_df` job titles and are not stop words.
  They are saved in the checkpoint, so serving extracts exactly what training did.

`SkillExtractor.extract` returns the sorted union of both found in a text.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence
from itertools import pairwise

from ml.text import fold, tokenize

# canonical skill -> other spellings (folded; multi-word phrases allowed, up to 3 words)
SKILL_ALIASES: dict[str, tuple[str, ...]] = {
    # software and data
    "python": ("python3", "py"),
    "sql": ("mysql", "postgresql", "postgres", "t-sql", "tsql", "pl/sql", "sql server"),
    "r": ("r programming", "rstudio"),
    "java": (),
    "scala": (),
    "javascript": ("js", "ecmascript", "es6"),
    "typescript": ("ts",),
    "c++": ("cpp",),
    "c#": ("csharp",),
    "golang": ("go lang",),
    "rust": (),
    "ruby": ("rails", "ruby on rails"),
    "php": (),
    "dotnet": ("asp net",),
    "react": ("reactjs", "react.js"),
    "angular": ("angularjs",),
    "vue": ("vue.js", "vuejs"),
    "node.js": ("nodejs", "node"),
    "html": ("html5",),
    "css": ("css3",),
    "django": (),
    "flask": (),
    "fastapi": (),
    "spring": ("spring boot",),
    "rest api": ("rest", "restful", "restful api", "rest apis"),
    "graphql": (),
    "git": ("github", "gitlab"),
    "linux": ("unix", "bash", "shell scripting"),
    "docker": ("containers",),
    "kubernetes": ("k8s",),
    "terraform": (),
    "aws": ("amazon web services", "ec2", "s3", "redshift", "lambda"),
    "azure": ("microsoft azure",),
    "gcp": ("google cloud", "bigquery", "google cloud platform"),
    "spark": ("pyspark", "apache spark"),
    "hadoop": ("hive", "mapreduce", "hdfs"),
    "kafka": ("apache kafka",),
    "airflow": ("apache airflow",),
    "snowflake": (),
    "nosql": ("mongodb", "cassandra", "dynamodb"),
    "redis": (),
    "elasticsearch": ("elastic search",),
    "etl": ("data pipelines", "data pipeline"),
    "data warehousing": ("data warehouse",),
    "excel": ("ms excel", "microsoft excel", "spreadsheets", "vlookup", "pivot tables"),
    "tableau": (),
    "power bi": ("powerbi",),
    "looker": (),
    "sas": (),
    "spss": (),
    "stata": (),
    "matlab": (),
    "pandas": (),
    "numpy": (),
    "scikit-learn": ("sklearn", "scikit learn", "scikit"),
    "tensorflow": ("keras",),
    "pytorch": ("torch",),
    "machine learning": ("ml",),
    "deep learning": ("neural networks", "neural network"),
    "nlp": ("natural language processing",),
    "computer vision": ("image processing",),
    "statistics": ("statistical", "statistical analysis", "statistical modeling"),
    "data analysis": ("data analytics", "analytics"),
    "data visualization": ("visualization", "dashboards", "dashboard"),
    "data mining": (),
    "a/b testing": ("ab testing", "experimentation", "experiment design"),
    "big data": (),
    "cloud": ("cloud computing",),
    "devops": ("ci/cd", "ci cd", "continuous integration"),
    "security": ("cybersecurity", "information security", "infosec"),
    "networking": ("tcp/ip", "network administration"),
    "qa testing": ("quality assurance", "test automation", "selenium"),
    "agile": ("scrum", "kanban"),
    "project management": ("pmp", "project manager"),
    "product management": ("product manager",),
    "jira": (),
    "salesforce": ("crm",),
    "sap": ("erp",),
    "microsoft office": ("ms office", "word", "powerpoint", "outlook", "office 365"),
    "quickbooks": (),
    # business and office
    "accounting": ("accountant", "accounts payable", "accounts receivable", "gaap"),
    "bookkeeping": ("bookkeeper",),
    "payroll": (),
    "finance": ("financial analysis", "financial modeling", "fp&a"),
    "marketing": ("digital marketing", "seo", "sem", "social media"),
    "sales": ("inside sales", "outside sales", "business development", "account executive"),
    "customer service": (
        "customer support",
        "client service",
        "customer care",
        "call center",
        "customer satisfaction",
    ),
    "administrative": ("admin", "administrative assistant", "office assistant", "clerical"),
    "receptionist": ("front desk", "reception"),
    "data entry": ("typing",),
    "scheduling": ("calendar management",),
    "bilingual": ("spanish", "bilingual spanish"),
    "management": ("supervisor", "manager", "team lead", "leadership"),
    "human resources": ("hr", "recruiting", "recruiter", "talent acquisition"),
    "teaching": ("teacher", "tutor", "tutoring", "education"),
    "writing": ("copywriting", "content writing", "editing"),
    "research": ("researcher",),
    # retail, food service, hospitality
    "cashier": ("cash handling", "pos", "point of sale", "register"),
    "retail": ("retail sales", "sales associate", "store associate", "merchandising"),
    "stocking": ("stocker", "stock associate", "inventory", "replenishment"),
    "food service": ("food prep", "food preparation", "crew member"),
    "cooking": ("cook", "line cook", "prep cook", "chef", "kitchen"),
    "server": ("waiter", "waitress", "food server", "banquet server"),
    "bartender": ("bartending", "barback"),
    "barista": ("coffee",),
    "host": ("hostess",),
    "dishwasher": ("dish washer",),
    "housekeeping": (
        "housekeeper",
        "room attendant",
        "cleaning",
        "janitorial",
        "janitor",
        "custodian",
        "custodial",
    ),
    "hospitality": ("hotel", "guest services", "concierge"),
    # logistics and trades
    "warehouse": (
        "warehouse associate",
        "picking",
        "packing",
        "picker",
        "packer",
        "order picker",
        "fulfillment",
    ),
    "package handling": ("package handler", "material handler", "loader", "unloader"),
    "forklift": ("forklift operator", "pallet jack", "reach truck"),
    "shipping": ("receiving", "shipping and receiving", "logistics"),
    "driving": ("driver", "delivery driver", "cdl", "truck driver", "courier", "delivery"),
    "maintenance": ("maintenance technician", "facilities", "repair"),
    "construction": ("carpentry", "carpenter", "laborer"),
    "electrical": ("electrician",),
    "plumbing": ("plumber",),
    "hvac": (),
    "welding": ("welder",),
    "machine operation": (
        "machine operator",
        "cnc",
        "assembly",
        "assembler",
        "production",
        "manufacturing",
    ),
    "security guard": ("security officer", "loss prevention", "guard"),
    # health and care
    "nursing": ("nurse", "rn", "lpn", "registered nurse"),
    "cna": ("certified nursing assistant", "nursing assistant"),
    "caregiving": ("caregiver", "home health aide", "personal care", "home care", "companion"),
    "childcare": ("child care", "nanny", "babysitter", "daycare"),
    "medical assistant": ("phlebotomy", "phlebotomist"),
    "pharmacy": ("pharmacy technician", "pharmacist"),
    "patient care": ("patient", "patients", "healthcare", "health care"),
    "cpr": ("first aid", "bls"),
}

# A capital R on its own in mixed-case text is the R language ("Python, R, SQL").
_CAPITAL_R = re.compile(r"(?<![A-Za-z0-9&])R(?![A-Za-z0-9&'])")

STOP_WORDS = frozenset(
    """a an and or the of for to in on at by with from as is are be we you our your
    job jobs position positions hiring now immediately immediate apply today new needed
    wanted seeking opening openings opportunity opportunities ft pt full part time
    temporary temp seasonal permanent hourly shift shifts day night weekend weekends
    per hour hr hrs pay paid salary bonus benefits week weekly am pm level entry senior
    sr jr junior i ii iii iv lead associate team member members staff worker workers
    work working career careers company inc llc corp co usa us all store location
    locations area various multiple must no experience required plus up get join
    specialist representative rep""".split()  # noqa: SIM905
)


def _build_phrase_index() -> dict[tuple[str, ...], str]:
    index: dict[tuple[str, ...], str] = {}
    for canonical, aliases in SKILL_ALIASES.items():
        for spelling in (canonical, *aliases):
            tokens = tuple(tokenize(spelling))
            if tokens:
                index.setdefault(tokens, canonical)
    return index


_PHRASES = _build_phrase_index()
MAX_PHRASE_WORDS = 3


class SkillExtractor:
    """Finds skills in free text: the maintained list plus `learned_terms`.

    >>> SkillExtractor(["cashier"]).extract("Part-time Cashier, Python & SQL")
    ['cashier', 'python', 'sql']
    """

    def __init__(self, learned_terms: Iterable[str] = ()) -> None:
        self.learned_terms = sorted(set(learned_terms))
        self._phrases = dict(_PHRASES)
        for term in self.learned_terms:
            self._phrases.setdefault(tuple(term.split(" ")), term)

    def extract(self, text: str | None) -> list[str]:
        if not text:
            return []
        tokens = tokenize(text)
        found: set[str] = set()
        for n in range(1, MAX_PHRASE_WORDS + 1):
            for start in range(len(tokens) - n + 1):
                skill = self._phrases.get(tuple(tokens[start : start + n]))
                if skill is not None:
                    found.add(skill)
        # "r" alone is too ambiguous in folded text; trust only a capital R.
        found.discard("r")
        if _CAPITAL_R.search(text) or any(t in ("rstudio",) for t in tokens):
            found.add("r")
        if "r programming" in fold(text):
            found.add("r")
        return sorted(found)


def canonical_skill(name: str) -> str:
    """The canonical spelling of one explicitly given skill ("PySpark" -> "spark")."""
    tokens = tuple(tokenize(name))
    return _PHRASES.get(tokens, " ".join(tokens))


def learn_terms(titles: Sequence[str], *, min_df: int = 3, max_terms: int = 2000) -> list[str]:
    """Title words and two-word phrases found in >= `min_df` titles (document frequency).

    Stop words, numbers and one- or two-letter words are skipped; the `max_terms` most
    frequent are kept (ties broken alphabetically, so the result is deterministic).
    """
    df: Counter[str] = Counter()
    for title in titles:
        words = [t for t in tokenize(title) if _is_term(t)]
        grams = set(words)
        grams.update(f"{a} {b}" for a, b in pairwise(words))
        df.update(grams)
    frequent = [(term, n) for term, n in df.items() if n >= min_df]
    frequent.sort(key=lambda item: (-item[1], item[0]))
    return sorted(term for term, _ in frequent[:max_terms])


def _is_term(token: str) -> bool:
    return len(token) > 2 and not token.isdigit() and token not in STOP_WORDS
