"""Feature building: vocabularies, skills, places, salaries and pair features."""

import math
from dataclasses import replace

import pytest
import torch

from ml.config import FeatureConfig
from ml.features import FeatureSpace, fields_of, proximity, salary_fit, skill_match
from ml.locations import make_place, parse_location
from ml.records import JobRecord, UserRecord
from ml.salary import Salary, SalaryError, parse_salary_text, to_annual_usd
from ml.skills import SkillExtractor, canonical_skill, learn_terms
from ml.text import fold, name_key
from ml.vocab import PAD, UNK, Vocabulary
from tests.support.builders import fitted_space, random_model, random_records


def test_vocabulary_reserves_padding_and_unknown():
    vocab = Vocabulary.build(["b", "a", "b", None, ""], min_count=1)
    assert vocab.tokens[:2] == ["<pad>", "<unk>"]
    assert vocab.index("b") == 2 and vocab.index("a") == 3  # most frequent first
    assert vocab.index("zzz") == UNK and vocab.index(None) == PAD and vocab.index("") == PAD
    assert Vocabulary.from_json(vocab.to_json()).tokens == vocab.tokens
    assert len(Vocabulary.build(["x", "y", "y"], min_count=2)) == 3


def test_text_folding():
    assert fold("  São   Paulo ") == "sao paulo"
    assert fold(" Node.JS\tDEVELOPER\n") == "node.js developer"  # ASCII: the fast path
    assert fold("Straße Zürich") == "strasse zurich"  # casefold after decomposing
    assert name_key("Macy's, Inc.") == name_key("MACYS INC")


def test_skill_extraction_and_learned_terms():
    extractor = SkillExtractor(["package handler", "sorter"])
    text = "Package Handler / Sorter: forklift, Excel, MS Office; Python/SQL a plus. R and SAS."
    # a learned term that spells a maintained skill yields the maintained one
    assert extractor.extract(text) == [
        "excel",
        "forklift",
        "microsoft office",
        "package handling",
        "python",
        "r",
        "sas",
        "sorter",
        "sql",
    ]
    assert "r" not in extractor.extract("a rare role for a reader")
    assert canonical_skill("PySpark") == "spark" and canonical_skill("Node.js") == "node.js"
    titles = ["Night Stocker", "Stocker - Days", "Stocker", "Cashier"]
    assert learn_terms(titles, min_df=3) == ["stocker"]


@pytest.mark.parametrize(
    "text,city,region_code,country,remote",
    [
        ("San Francisco, CA", "San Francisco", "CA", "US", False),
        ("austin, texas", "Austin", "TX", "US", False),
        ("Remote", None, None, None, True),
        ("Remote - US", None, None, "US", True),
        ("Paris, France", "Paris", None, "FR", False),
        ("Massachusetts", None, "MA", "US", False),
    ],
)
def test_places_are_normalised(text, city, region_code, country, remote):
    loc = parse_location(text)
    assert loc.remote is remote
    place = loc.place
    if city is None and region_code is None and country is None:
        assert place is None
        return
    assert (place.city, place.region_code, place.country) == (city, region_code, country)


def test_known_cities_get_coordinates():
    place = make_place("San Jose", "California")
    assert place.has_coordinates and abs(place.latitude - 37.34) < 0.1
    assert make_place("Nowhereville", "CA").has_coordinates is False


@pytest.mark.parametrize(
    "text,period,annual_min,annual_max",
    [
        ("$53K-$91K (Glassdoor est.)", "year", 53_000, 91_000),
        ("Employer Provided Salary:$150K-$160K", "year", 150_000, 160_000),
        ("$17-$24 Per Hour(Glassdoor est.)", "hour", 17 * 2080, 24 * 2080),
        ("Employer Provided Salary:$25-$28 Per Hour", "hour", 25 * 2080, 28 * 2080),
        ("$120,000 - $150,000 a year", "year", 120_000, 150_000),
    ],
)
def test_salary_strings_are_annualised(text, period, annual_min, annual_max):
    salary = parse_salary_text(text)
    assert salary.period == period
    assert (salary.annual_min_usd, salary.annual_max_usd) == (annual_min, annual_max)


def test_salary_validation_and_periods():
    assert parse_salary_text("-1") is None and parse_salary_text("") is None
    assert to_annual_usd(10, "USD", "month") == 120
    assert to_annual_usd(100, "EUR", "day") == pytest.approx(100 * 260 * 1.08)
    with pytest.raises(SalaryError):
        Salary(100, 50)
    with pytest.raises(SalaryError):
        Salary(None, None)
    with pytest.raises(SalaryError):
        Salary(10, 20, currency="XXX")


def test_pair_features():
    user = torch.tensor([[2, 3, 1, 0]])  # two known skills, one unknown
    job = torch.tensor([[3, 1, 0, 0]])
    # common known skills: {3}; sizes 3 and 2
    assert skill_match(user, job).item() == pytest.approx(1 / math.sqrt(6))
    assert skill_match(torch.zeros(1, 2, dtype=torch.long), job).item() == 0.0
    sf = torch.tensor([[37.77, -122.42]])
    oakland = torch.tensor([[37.80, -122.27]])
    unknown = torch.tensor([[math.nan, math.nan]])
    assert 0.7 < proximity(sf, oakland, 50.0).item() < 1.0
    assert proximity(sf, unknown, 50.0).item() == 0.0
    fit = salary_fit(torch.tensor([100.0, 100.0, math.nan]), torch.tensor([150.0, 20.0, 5.0]))
    assert fit.tolist() == pytest.approx([0.5, -0.8, 0.0])


def test_padding_does_not_change_pooled_skills_or_scores():
    users, jobs, interactions = random_records()
    space = fitted_space(users, jobs, interactions, max_skills=4)
    wide = fitted_space(users, jobs, interactions, max_skills=64)  # same vocabularies
    assert wide.vocabularies["skill"].tokens == space.vocabularies["skill"].tokens
    model = random_model(space)
    rows = torch.arange(len(jobs))
    user = [replace(users[0], skills=users[0].skills[:3], headline="", history=())]
    narrow_u, narrow_j = space.encode_users(user), space.encode_jobs(jobs)
    wide_u, wide_j = wide.encode_users(user), wide.encode_jobs(jobs)
    assert wide_j.skills.shape[1] == 64 and narrow_j.skills.shape[1] == 4
    keep = (narrow_j.skills != 0).sum(1) < 4  # jobs whose skills all fit in 4 slots
    x_narrow = space.pairs(narrow_u, torch.zeros_like(rows), narrow_j, rows)
    x_wide = wide.pairs(wide_u, torch.zeros_like(rows), wide_j, rows)
    padded = x_narrow._replace(bags=torch.nn.functional.pad(x_narrow.bags, (0, 9)))
    torch.testing.assert_close(model.predict(x_narrow), model.predict(padded))
    torch.testing.assert_close(model.predict(x_narrow)[keep], model.predict(x_wide)[keep])
    e1 = model.field_embeddings(x_narrow)
    e2 = model.field_embeddings(padded)
    torch.testing.assert_close(e1, e2)


def test_feature_space_round_trips_through_json():
    users, jobs, interactions = random_records()
    space = fitted_space(users, jobs, interactions)
    again = FeatureSpace.from_json(space.to_json())
    u1, u2 = space.encode_users(users), again.encode_users(users)
    j1, j2 = space.encode_jobs(jobs), again.encode_jobs(jobs)
    for a, b in ((u1, u2), (j1, j2)):
        assert torch.equal(a.categorical, b.categorical) and torch.equal(a.skills, b.skills)
    bad = space.to_json() | {"fields": [["user", "categorical", "user", "user"]]}
    with pytest.raises(ValueError, match="fields"):
        FeatureSpace.from_json(bad)


def test_user_and_job_sides_share_vocabularies():
    place = make_place("Austin", "TX")
    user = UserRecord("u1", skills=("Python",), place=place, company="Acme Corp")
    job = JobRecord("j1", title="Engineer", skills=("python",), place=place, company="ACME corp")
    space = FeatureSpace.fit([user], [job], [("u1", "j1")])
    u, j = space.encode_users([user]), space.encode_jobs([job])
    assert torch.equal(u.categorical[0, 1:], j.categorical[0, 1:])  # city, region, company
    x = space.pairs(u, torch.tensor([0]), j, torch.tensor([0]))
    for name in ("skill_match", "same_city", "proximity", "same_region"):
        assert dense_value(x, name) == 1.0


def dense_value(x, name, row=0):
    names = [f.name for f in fields_of("dense")]
    return x.dense[row, names.index(name)].item()


def test_history_features_leave_the_job_itself_out():
    austin, boston = make_place("Austin", "TX"), make_place("Boston", "MA")
    liked = [
        JobRecord("a", "Data Engineer", skills=("python", "sql"), place=austin, company="Acme"),
        JobRecord("b", "Cashier", skills=("cashier",), place=boston, company="Globex"),
    ]
    candidates = [
        *liked,
        JobRecord("c", "Data Engineer", skills=("python", "sql"), place=austin, company="Acme"),
        JobRecord("d", "Nurse", skills=("nursing",), place=make_place("Austin", "TX")),
    ]
    user = UserRecord("u", history=tuple(liked))
    space = FeatureSpace.fit(
        [user],
        candidates,
        [("u", "a"), ("u", "b")],
        FeatureConfig(min_skill_count=1, history_decay=1.0),
    )
    users, jobs = space.encode_users([user]), space.encode_jobs(candidates)
    x = space.pairs(users, torch.zeros(4, dtype=torch.long), jobs, torch.arange(4))
    # "a" itself: its only other history job is "b" (Boston, Globex, cashier)
    assert [dense_value(x, "history_city", r) for r in range(4)] == [0.0, 0.0, 0.5, 0.5]
    assert [dense_value(x, "history_company", r) for r in range(4)] == [0.0, 0.0, 0.5, 0.0]
    assert dense_value(x, "history_region", 0) == 0.0 and dense_value(x, "history_region", 2) == 0.5
    assert dense_value(x, "history_skill", 0) == 0.0  # "b" shares no skill with "a"
    assert dense_value(x, "history_skill", 2) == pytest.approx(1.0)  # same skills as "a"
    assert dense_value(x, "history_skill", 3) == 0.0
    nobody = space.encode_users([UserRecord("v")])
    empty = space.pairs(nobody, torch.zeros(4, dtype=torch.long), jobs, torch.arange(4))
    assert all(
        dense_value(empty, f"history_{n}", r) == 0.0
        for n in ("city", "region", "company", "skill")
        for r in range(4)
    )


def test_the_latest_history_jobs_weigh_most():
    """decay 0.5: the latest liked job weighs 1, the one before 0.5 (shares are
    weighted shares; the best proximity and skill overlap are the best weighted)."""
    austin, boston = make_place("Austin", "TX"), make_place("Boston", "MA")
    latest = JobRecord("a", "Data Engineer", skills=("python",), place=austin, company="Acme")
    before = JobRecord("b", "Cashier", skills=("cashier",), place=boston, company="Globex")
    candidates = [
        JobRecord("c", "Engineer", skills=("python",), place=austin, company="Acme"),
        JobRecord("d", "Clerk", skills=("cashier",), place=boston, company="Globex"),
    ]
    user = UserRecord("u", history=(latest, before))  # most recent first
    space = FeatureSpace.fit(
        [user],
        [latest, before, *candidates],
        [("u", "a"), ("u", "b")],
        FeatureConfig(min_skill_count=1, history_decay=0.5),
    )
    users, jobs = space.encode_users([user]), space.encode_jobs(candidates)
    x = space.pairs(users, torch.zeros(2, dtype=torch.long), jobs, torch.arange(2))
    for name in ("history_city", "history_company", "history_region"):
        assert [dense_value(x, name, r) for r in range(2)] == pytest.approx([2 / 3, 1 / 3])
    assert [dense_value(x, "history_proximity", r) for r in range(2)] == pytest.approx([1, 0.5])
    assert [dense_value(x, "history_skill", r) for r in range(2)] == pytest.approx([1, 0.5])


@pytest.mark.parametrize("decay", [1.0, 0.5])
def test_one_user_dense_features_equal_the_batched_ones(decay):
    from ml.features import dense_features_of_user

    for seed in range(3):
        users, jobs, interactions = random_records(n_users=8, n_jobs=30, seed=seed)
        space = fitted_space(users, jobs, interactions, history_decay=decay)
        u, j = space.encode_users(users), space.encode_jobs(jobs)
        # the users' own history jobs are among the candidates: self-exclusion matters
        for row in range(len(users)):
            rows = torch.arange(len(jobs))
            batched = space.dense_features(u, torch.full_like(rows, row), j, rows)
            torch.testing.assert_close(
                dense_features_of_user(space, u, row, j), batched, rtol=0, atol=0
            )


def test_rare_values_map_to_unknown_but_still_match():
    place = make_place("Tiny Town", "VT")
    user = UserRecord("u", place=place, company="Solo Shop")
    job = JobRecord("j", "Clerk", place=place, company="Solo Shop")
    space = FeatureSpace.fit([user], [job], [("u", "j")], FeatureConfig(min_attribute_count=5))
    u, j = space.encode_users([user]), space.encode_jobs([job])
    assert u.categorical[0, 1:].tolist() == [UNK, UNK, UNK]  # city, region, company
    x = space.pairs(u, torch.tensor([0]), j, torch.tensor([0]))
    assert dense_value(x, "same_city") == 1.0 and dense_value(x, "same_region") == 1.0
