"""The experiment server: every bad request is refused with a 4xx and changes nothing; answers
are stored at once, exactly once, and a subject resumes at the first unanswered image."""

from __future__ import annotations

import json
import sqlite3
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import pytest
from human_support import LiveServer

from mnistrobust.errors import ConfigError, DataError
from mnistrobust.human.responses import ResponseStore
from mnistrobust.human.server import MAX_BODY_BYTES, open_experiment
from mnistrobust.human.simulated import simulated_answers
from mnistrobust.io.hdf5 import load_stimuli

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def rows(db) -> list[tuple]:
    with sqlite3.connect(db) as connection:
        return connection.execute(
            "SELECT subject_id, image_id, answer, response_ms FROM answers ORDER BY 1, 2"
        ).fetchall()


def subjects(db) -> list[str]:
    with sqlite3.connect(db) as connection:
        return [row[0] for row in connection.execute("SELECT subject_id FROM subjects ORDER BY 1")]


@pytest.fixture
def client(tiny_stimuli, tmp_path):
    app = open_experiment(tiny_stimuli, tmp_path / "responses.sqlite", simulated=True)
    client = app.test_client()
    client.db = tmp_path / "responses.sqlite"
    return client


def consent(client, subject="s01"):
    response = client.post("/api/subjects", json={"subject_id": subject, "consent": True})
    assert response.status_code == 200, response.json
    return response.json


def answer(client, image_id, digit, subject="s01", response_ms=800):
    return client.post(
        "/api/answers", json={"subject_id": subject, "image_id": image_id, "answer": digit, "response_ms": response_ms}
    )


def test_page_and_its_assets_are_served_with_protective_headers(client):
    page = client.get("/")
    assert page.status_code == 200 and b'id="consent-form"' in page.data and b'id="digit-buttons"' in page.data
    assert "default-src 'self'" in page.headers["Content-Security-Policy"]
    assert client.get("/static/experiment.js").status_code == 200
    assert client.get("/static/experiment.css").mimetype == "text/css"


def test_consent_then_answers_are_stored_at_once_and_progress_advances(client):
    status = consent(client)
    assert status == {"subject_id": "s01", "consented": True, "total": 20, "answered": 0, "next_image": 0}
    stored = answer(client, 0, 7)
    assert stored.status_code == 201 and stored.json["stored"] is True
    assert stored.json["answered"] == 1 and stored.json["next_image"] == 1
    assert rows(client.db) == [("s01", 0, 7, 800)]
    image = client.get("/images/s01/1.png")
    assert image.status_code == 200 and image.data.startswith(PNG_MAGIC)


def test_resubmitting_the_same_answer_stores_it_once_and_a_different_one_is_refused(client):
    consent(client)
    assert answer(client, 3, 5).status_code == 201
    again = answer(client, 3, 5)
    assert again.status_code == 200 and again.json["stored"] is False
    changed = answer(client, 3, 6)
    assert changed.status_code == 409 and "first answer stands" in changed.json["error"]
    assert rows(client.db) == [("s01", 3, 5, 800)]


def test_a_returning_subject_resumes_at_the_first_unanswered_image(client):
    consent(client)
    for image_id in (0, 1, 3):
        answer(client, image_id, 1)
    assert consent(client)["next_image"] == 2  # consenting again changes nothing
    status = client.get("/api/subjects/s01").json
    assert status["answered"] == 3 and status["next_image"] == 2
    assert subjects(client.db) == ["s01"]


BAD_ANSWERS = [
    ({"subject_id": "s01", "image_id": 0, "answer": 10, "response_ms": 5}, 400, "answer 10 is outside 0..9"),
    ({"subject_id": "s01", "image_id": 0, "answer": -1, "response_ms": 5}, 400, "answer"),
    ({"subject_id": "s01", "image_id": 0, "answer": "7", "response_ms": 5}, 400, "answer must be a JSON integer"),
    ({"subject_id": "s01", "image_id": 0, "answer": 7.0, "response_ms": 5}, 400, "integer"),
    ({"subject_id": "s01", "image_id": 0, "answer": True, "response_ms": 5}, 400, "integer"),
    ({"subject_id": "s01", "image_id": 20, "answer": 7, "response_ms": 5}, 400, "image_id 20 is outside 0..19"),
    ({"subject_id": "s01", "image_id": -1, "answer": 7, "response_ms": 5}, 400, "image_id"),
    ({"subject_id": "s01", "image_id": 0, "answer": 7, "response_ms": -3}, 400, "response_ms"),
    ({"subject_id": "s99", "image_id": 0, "answer": 7, "response_ms": 5}, 404, "unknown subject id"),
    ({"subject_id": "../../etc/passwd", "image_id": 0, "answer": 7, "response_ms": 5}, 404, "unknown subject id"),
    ({"subject_id": "s02", "image_id": 0, "answer": 7, "response_ms": 5}, 403, "has not given consent"),
    ({"subject_id": "s01", "image_id": 0, "answer": 7}, 400, "exactly the keys"),
    ({"subject_id": "s01", "image_id": 0, "answer": 7, "response_ms": 5, "label": 7}, 400, "exactly the keys"),
    ([1, 2, 3], 400, "JSON object"),
]


@pytest.mark.parametrize(("body", "status", "message"), BAD_ANSWERS)
def test_bad_answers_get_a_4xx_with_a_message_and_change_nothing(client, body, status, message):
    consent(client)
    answer(client, 1, 4)
    before = rows(client.db), subjects(client.db)
    response = client.post("/api/answers", json=body)
    assert response.status_code == status and message in response.json["error"]
    assert (rows(client.db), subjects(client.db)) == before


@pytest.mark.parametrize(
    ("kwargs", "status", "message"),
    [
        ({"data": "{not json", "content_type": "application/json"}, 400, ""),
        ({"data": "answer=7", "content_type": "application/x-www-form-urlencoded"}, 415, "JSON"),
        ({"data": json.dumps({"pad": "x" * MAX_BODY_BYTES}), "content_type": "application/json"}, 413, ""),
    ],
)
def test_malformed_or_oversized_bodies_are_refused(client, kwargs, status, message):
    consent(client)
    response = client.post("/api/answers", **kwargs)
    assert response.status_code == status and message in response.json["error"]
    assert rows(client.db) == []


def test_consent_must_be_given_explicitly_by_a_known_subject(client):
    refused = client.post("/api/subjects", json={"subject_id": "s01", "consent": False})
    assert refused.status_code == 400 and "consent" in refused.json["error"]
    assert client.post("/api/subjects", json={"subject_id": "nobody", "consent": True}).status_code == 404
    assert client.post("/api/subjects", json={"subject_id": "s01", "consent": "yes"}).status_code == 400
    assert subjects(client.db) == []


@pytest.mark.parametrize(
    "path",
    [
        "/images/s01/20.png",
        "/images/s99/0.png",
        "/images/s01/-1.png",
        "/static/server.py",
        "/static/..%2fserver.py",
        "/../pyproject.toml",
    ],
)
def test_nothing_outside_the_stimuli_and_the_page_is_reachable(client, path):
    consent(client)
    response = client.get(path)
    assert response.status_code == 404 and response.mimetype == "application/json"


def test_images_only_after_consent(client):
    assert client.get("/images/s01/0.png").status_code == 403


def test_a_database_of_another_stimulus_file_or_kind_is_refused(tiny_stimuli, tmp_path):
    db = tmp_path / "responses.sqlite"
    ResponseStore(db, "another-digest")
    with pytest.raises(DataError, match="another stimulus file"):
        open_experiment(tiny_stimuli, db)
    simulated_db = tmp_path / "simulated.sqlite"
    ResponseStore(simulated_db, load_stimuli(tiny_stimuli).digest, simulated=True)
    with pytest.raises(DataError, match="mixes simulated and real"):
        open_experiment(tiny_stimuli, simulated_db, simulated=False)


def test_the_lenets_stimulus_file_cannot_be_served(human_inputs, tmp_path):
    from human_support import TINY_DESIGN, build

    lenets = build(
        human_inputs, tmp_path / "lenets.h5", group="lenets", sets=["lenet", "lenet_seed2"], settings=TINY_DESIGN
    )
    with pytest.raises(ConfigError, match="lenets"):
        open_experiment(lenets, tmp_path / "db.sqlite")


def _post(url: str, body: dict) -> int:
    request = urllib.request.Request(url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def test_twenty_simulated_subjects_answering_concurrently_are_each_stored_exactly_once(tiny_stimuli, tmp_path):
    """Every subject sends every answer twice from racing threads (a double click, a retry)."""
    sets = load_stimuli(tiny_stimuli)
    db = tmp_path / "responses.sqlite"
    with LiveServer(tiny_stimuli, db) as live:
        for subject in sets.set_ids:
            assert _post(f"{live.url}/api/subjects", {"subject_id": subject, "consent": True}) == 200
        requests = [
            {"subject_id": subject, "image_id": image_id, "answer": digit, "response_ms": ms}
            for subject in sets.set_ids
            for image_id, digit, ms in simulated_answers(sets, subject)
            for _copy in range(2)
        ]
        with ThreadPoolExecutor(max_workers=20) as pool:
            statuses = list(pool.map(lambda body: _post(f"{live.url}/api/answers", body), requests))
    expected = sorted(
        (subject, image_id, digit, ms)
        for subject in sets.set_ids
        for image_id, digit, ms in simulated_answers(sets, subject)
    )
    assert len(sets.set_ids) == 20 and len(expected) == 20 * 20
    assert rows(db) == expected  # each answer exactly once, none mixed between subjects
    assert statuses.count(201) == len(expected) and statuses.count(200) == len(expected)
