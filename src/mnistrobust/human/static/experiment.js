// The experiment page: consent, instructions, then one image at a time until every image
// of the subject's set is answered. The server decides what comes next (the first
// unanswered image), so a reload or a new tab resumes where the subject left off.
"use strict";

const state = { subject: null, total: 0, answered: 0, next: null, shownAt: null, busy: false };
const $ = (id) => document.getElementById(id);

function show(screen) {
  for (const section of document.querySelectorAll(".screen")) section.hidden = section.id !== screen;
}

async function api(method, path, body) {
  const response = await fetch(path, {
    method,
    headers: body ? { "Content-Type": "application/json" } : {},
    body: body ? JSON.stringify(body) : undefined,
  });
  const data = await response.json().catch(() => ({ error: `HTTP ${response.status}` }));
  if (!response.ok) throw new Error(data.error || `HTTP ${response.status}`);
  return data;
}

function adopt(status) {
  state.subject = status.subject_id;
  state.total = status.total;
  state.answered = status.answered;
  state.next = status.next_image;
  // The id in the address lets a reload find the subject again.
  history.replaceState(null, "", `?subject=${encodeURIComponent(state.subject)}`);
}

function showTrial() {
  if (state.next === null) { show("done-screen"); return; }
  show("trial-screen");
  $("progress-text").textContent = `Image ${state.answered + 1} of ${state.total}`;
  $("progress-bar").max = state.total;
  $("progress-bar").value = state.answered;
  $("trial-error").textContent = "";
  const image = $("stimulus");
  image.classList.add("waiting");
  state.shownAt = null;
  image.onload = () => { image.classList.remove("waiting"); state.shownAt = performance.now(); };
  image.src = `/images/${encodeURIComponent(state.subject)}/${state.next}.png`;
}

async function answer(digit) {
  if (state.busy || state.shownAt === null || state.next === null) return;
  state.busy = true;
  const responseMs = Math.round(performance.now() - state.shownAt);
  try {
    const status = await api("POST", "/api/answers", {
      subject_id: state.subject, image_id: state.next, answer: digit, response_ms: responseMs,
    });
    adopt(status);
    showTrial();
  } catch (error) {
    $("trial-error").textContent = `Not saved: ${error.message}. Please answer again.`;
  } finally {
    state.busy = false;
  }
}

async function giveConsent(event) {
  event.preventDefault();
  $("consent-error").textContent = "";
  try {
    const status = await api("POST", "/api/subjects", {
      subject_id: $("subject-id").value.trim(), consent: $("consent").checked,
    });
    adopt(status);
    $("resume-note").textContent = status.answered > 0
      ? `Welcome back: you continue with image ${status.answered + 1} of ${status.total}.`
      : `There are ${status.total} images.`;
    show("instructions-screen");
    $("start-button").focus();
  } catch (error) {
    $("consent-error").textContent = error.message;
  }
}

async function resumeFromAddress() {
  const subject = new URLSearchParams(location.search).get("subject");
  if (!subject) return;
  try {
    const status = await api("GET", `/api/subjects/${encodeURIComponent(subject)}`);
    if (status.consented) { adopt(status); showTrial(); return; }
    $("subject-id").value = subject;
  } catch (error) {
    $("consent-error").textContent = error.message;
  }
}

function setUp() {
  const buttons = $("digit-buttons");
  for (let digit = 0; digit <= 9; digit++) {
    const button = document.createElement("button");
    button.type = "button";
    button.textContent = String(digit);
    button.dataset.digit = String(digit);
    button.addEventListener("click", () => answer(digit));
    buttons.appendChild(button);
  }
  $("consent-form").addEventListener("submit", giveConsent);
  $("start-button").addEventListener("click", showTrial);
  document.addEventListener("keydown", (event) => {
    if ($("trial-screen").hidden || event.repeat || !/^[0-9]$/.test(event.key)) return;
    event.preventDefault();
    answer(Number(event.key));
  });
  resumeFromAddress();
}

setUp();
