// The unibind demo page: plain JavaScript over the JSON API (no build step, no outside scripts).
"use strict";

const $ = (selector) => document.querySelector(selector);
let lastQuery = null; // the last search, repeated when the targets change
let searches = 0; // searches started so far

async function api(path, options) {
  const response = await fetch(path, options);
  const body = await response.json().catch(() => ({ detail: response.statusText }));
  if (!response.ok) throw new Error(`${response.status}: ${body.detail}`);
  return body;
}

function targets() {
  return [...document.querySelectorAll("#targets input:checked")].map((box) => box.value);
}

function topK() {
  return Number($("#top-k").value) || 10;
}

function showStatus(text, isError = false) {
  $("#status").textContent = text;
  $("#status").classList.toggle("error", isError);
}

function mediaElement(hit) {
  if (!hit.media_url) return null;
  if (hit.media_type && hit.media_type.startsWith("audio/")) {
    const audio = document.createElement("audio");
    audio.controls = true;
    audio.preload = "none";
    audio.src = hit.media_url;
    return audio;
  }
  const image = document.createElement("img");
  image.loading = "lazy";
  image.src = hit.media_url;
  image.alt = hit.modality === "motion" ? `stick figure: ${hit.text || hit.id}` : hit.text || hit.id;
  return image;
}

function neighbourList(hit) {
  const list = document.createElement("ul");
  list.className = "neighbours";
  for (const neighbour of hit.neighbours) {
    const entry = document.createElement("li");
    const name = neighbour.text + (neighbour.relation ? ` (${neighbour.relation})` : "");
    if (neighbour.id) {
      const link = document.createElement("button");
      link.type = "button";
      link.textContent = name;
      link.title = "more like this neighbour";
      link.addEventListener("click", () => searchItem(neighbour.id));
      entry.append(link);
    } else {
      entry.textContent = name;
    }
    list.append(entry);
  }
  return list;
}

function render(answer) {
  const results = $("#results");
  results.replaceChildren();
  for (const hit of answer.results) {
    const card = $("#result-template").content.firstElementChild.cloneNode(true);
    card.dataset.modality = hit.modality;
    card.dataset.id = hit.id;
    card.querySelector(".rank").textContent = `#${hit.rank}`;
    card.querySelector(".modality").textContent = hit.modality;
    card.querySelector(".score").textContent = `score ${hit.score.toFixed(3)}`;
    const media = mediaElement(hit);
    if (media) card.querySelector(".media").append(media);
    card.querySelector(".text").textContent = hit.text || hit.id;
    card.querySelector(".label").textContent = hit.label || "";
    if (hit.neighbours.length) card.querySelector(".label").after(neighbourList(hit));
    card.querySelector(".more").addEventListener("click", () => searchItem(hit.id));
    results.append(card);
  }
  const how = answer.reranked ? ", reranked by E2Rank" : "";
  showStatus(`${answer.results.length} results for the ${answer.query.modality} query in ${answer.took_ms} ms${how}`);
}

async function run(request) {
  lastQuery = request;
  const ticket = ++searches; // answers to earlier searches that arrive late are dropped
  showStatus("Searching…");
  try {
    const answer = await request();
    if (ticket === searches) render(answer);
  } catch (error) {
    if (ticket !== searches) return;
    $("#results").replaceChildren();
    showStatus(error.message, true);
  }
}

function postJson(body) {
  return api("/api/search", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ ...body, modalities: targets(), top_k: topK() }),
  });
}

function searchText(text) {
  run(() => postJson({ text, rerank: $("#rerank").checked }));
}

function searchItem(itemId) {
  run(() => postJson({ item_id: itemId }));
}

function searchFile(file) {
  run(() => {
    const form = new FormData();
    form.append("file", file);
    for (const modality of targets()) form.append("modalities", modality);
    form.append("top_k", String(topK()));
    return api("/api/search/file", { method: "POST", body: form });
  });
}

async function start() {
  const info = await api("/api/info");
  const counts = Object.entries(info.index_modalities).map(([m, n]) => `${n} ${m}`);
  $("#info").textContent = `Index: ${counts.join(", ")}. Query by ${info.query_modalities.join(", ")}.`;
  $("#top-k").max = String(info.limits.max_top_k);
  $("#rerank-option").hidden = !info.reranker;
  for (const modality of Object.keys(info.index_modalities)) {
    const label = document.createElement("label");
    const box = document.createElement("input");
    box.type = "checkbox";
    box.value = modality;
    box.checked = true;
    box.addEventListener("change", () => lastQuery && run(lastQuery));
    label.append(box, ` ${modality}`);
    $("#targets").append(label);
  }
  $("#search-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const text = $("#query").value.trim();
    if (text) searchText(text);
  });
  $("#file").addEventListener("change", () => {
    if ($("#file").files.length) searchFile($("#file").files[0]);
  });
}

start().catch((error) => showStatus(`Cannot reach the server: ${error.message}`, true));
