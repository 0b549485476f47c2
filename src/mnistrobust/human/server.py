"""The experiment page: a small Flask app that shows one stimulus at a time and stores each answer at once.

Every request is checked before anything is stored: subject ids must be ids of the
stimulus file, image ids must exist in that subject's set, answers are integers 0..9,
bodies are small JSON objects with exactly the expected keys. A bad request gets a 4xx
with a message and changes nothing. Nothing from a request is used as a path: the page's
files are read once at start-up and served from memory, images are rendered from the
stimulus arrays.
"""

from __future__ import annotations

import functools
import io
import os
import re
from importlib import resources

import numpy as np
from flask import Flask, Response, jsonify, request
from PIL import Image
from werkzeug.exceptions import HTTPException
from werkzeug.serving import make_server

from ..errors import ConfigError
from ..io.hdf5 import StimulusSets, load_stimuli
from .responses import AnswerConflict, ResponseStore

PathLike = str | os.PathLike

MAX_BODY_BYTES = 1024
MAX_RESPONSE_MS = 60 * 60 * 1000  # an answer after an hour is not a response time
IMAGE_SCALE = 12  # 28 px -> 336 px, nearest neighbour: every pixel a crisp square
SUBJECT_ID = re.compile(r"^[A-Za-z0-9_-]{1,32}$")
ASSETS = {
    "index.html": "text/html; charset=utf-8",
    "experiment.js": "text/javascript; charset=utf-8",
    "experiment.css": "text/css; charset=utf-8",
}
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self'; object-src 'none'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


class BadRequest(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status, self.message = status, message


def _load_assets() -> dict[str, bytes]:
    folder = resources.files(__package__) / "static"
    return {name: (folder / name).read_bytes() for name in ASSETS}


def create_app(stimuli: StimulusSets, store: ResponseStore) -> Flask:
    """The experiment for the subjects of ``stimuli`` (group ``subjects``), answers into ``store``."""
    app = Flask(__name__, static_folder=None)
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY_BYTES
    assets = _load_assets()
    subjects = {subject_id: index for index, subject_id in enumerate(stimuli.set_ids)}
    total = stimuli.images_per_set

    def known_subject(subject_id: str, must_have_consented: bool = True) -> int:
        if not SUBJECT_ID.match(subject_id) or subject_id not in subjects:
            raise BadRequest(404, f"unknown subject id {subject_id[:40]!r}: use the id the experimenter gave you")
        if must_have_consented and not store.is_registered(subject_id):
            raise BadRequest(403, f"subject {subject_id!r} has not given consent yet")
        return subjects[subject_id]

    def status(subject_id: str) -> dict:
        answered = store.answered(subject_id)
        unanswered = [image_id for image_id in range(total) if image_id not in answered]
        return {
            "subject_id": subject_id,
            "consented": store.is_registered(subject_id),
            "total": total,
            "answered": len(answered),
            "next_image": unanswered[0] if unanswered else None,
        }

    @app.errorhandler(BadRequest)
    def bad_request(error: BadRequest):
        return jsonify(error=error.message), error.status

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException):
        return jsonify(error=error.description or error.name), error.code

    @app.after_request
    def secure(response: Response) -> Response:
        response.headers.update(SECURITY_HEADERS)
        return response

    @app.get("/")
    def index():
        return Response(assets["index.html"], mimetype=ASSETS["index.html"])

    @app.get("/static/<name>")
    def asset(name: str):
        if name not in assets:
            raise BadRequest(404, "no such file")
        return Response(assets[name], content_type=ASSETS[name])

    @app.get("/api/subjects/<subject_id>")
    def subject_status(subject_id: str):
        known_subject(subject_id, must_have_consented=False)
        return jsonify(status(subject_id))

    @app.post("/api/subjects")
    def consent():
        body = _json_body({"subject_id": str, "consent": bool})
        known_subject(body["subject_id"], must_have_consented=False)
        if body["consent"] is not True:
            raise BadRequest(400, "consent must be given (consent: true) before the first image")
        store.register(body["subject_id"])
        return jsonify(status(body["subject_id"]))

    @app.post("/api/answers")
    def answer():
        body = _json_body({"subject_id": str, "image_id": int, "answer": int, "response_ms": int})
        known_subject(body["subject_id"])
        _check_range("image_id", body["image_id"], 0, total - 1)
        _check_range("answer", body["answer"], 0, 9)
        _check_range("response_ms", body["response_ms"], 0, MAX_RESPONSE_MS)
        try:
            recorded = store.record(body["subject_id"], body["image_id"], body["answer"], body["response_ms"])
        except AnswerConflict as exc:
            raise BadRequest(409, str(exc)) from exc
        return jsonify(stored=recorded.stored, **status(body["subject_id"])), 201 if recorded.stored else 200

    @app.get("/images/<subject_id>/<int:image_id>.png")
    def image(subject_id: str, image_id: int):
        set_index = known_subject(subject_id)
        _check_range("image_id", image_id, 0, total - 1, status=404)
        return Response(render_png(stimuli.images, set_index, image_id), mimetype="image/png")

    return app


@functools.lru_cache(maxsize=4096)
def _png(pixels: bytes) -> bytes:
    side = int(len(pixels) ** 0.5)
    image = Image.frombytes("L", (side, side), pixels).resize((side * IMAGE_SCALE, side * IMAGE_SCALE), Image.NEAREST)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def render_png(images: np.ndarray, set_index: int, image_id: int) -> bytes:
    """One stimulus as a PNG, scaled up without smoothing (the page also asks for pixelated rendering)."""
    return _png(np.ascontiguousarray(images[set_index, image_id]).tobytes())


def _json_body(fields: dict[str, type]) -> dict:
    if not request.is_json:
        raise BadRequest(415, "send the body as JSON (Content-Type: application/json)")
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise BadRequest(400, "the body must be a JSON object")
    if set(body) != set(fields):
        raise BadRequest(
            400, f"the body must have exactly the keys {sorted(fields)}, got {sorted(map(str, body))[:10]}"
        )
    for key, kind in fields.items():
        value = body[key]
        # bool is an int in Python; JSON true is not an answer.
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise BadRequest(400, f"{key} must be a JSON {'integer' if kind is int else kind.__name__}")
    return body


def _check_range(name: str, value: int, low: int, high: int, status: int = 400) -> None:
    if not low <= value <= high:
        raise BadRequest(status, f"{name} {value} is outside {low}..{high}")


def open_experiment(stimuli_path: PathLike, db_path: PathLike, simulated: bool = False) -> Flask:
    """The app for a stimulus file and a database (``simulated``: tests' simulated subjects)."""
    stimuli = load_stimuli(stimuli_path)
    if stimuli.attrs.get("group") != "subjects":
        raise ConfigError(
            f"{stimuli_path} holds the {stimuli.attrs.get('group')!r} sets; serve the subjects' stimulus file"
        )
    return create_app(stimuli, ResponseStore(db_path, stimuli.digest, simulated=simulated))


def make_experiment_server(
    stimuli_path: PathLike, db_path: PathLike, host: str = "127.0.0.1", port: int = 8000, simulated: bool = False
):
    """A threaded WSGI server for the experiment (tests run it in a thread; ``serve`` forever)."""
    return make_server(host, port, open_experiment(stimuli_path, db_path, simulated), threaded=True)
