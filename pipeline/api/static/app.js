// The try-on page: plain browser APIs only (no framework, nothing from a CDN), talking to /api/v1.
"use strict";

const $ = (id) => document.getElementById(id);
// What the previews show is what is sent: the last file chosen or example clicked, per side.
let chosenPerson = null;
let chosenGarment = null;

function showTab(name) {
  for (const tab of document.querySelectorAll(".tab")) tab.classList.toggle("active", tab.dataset.tab === name);
  for (const panel of document.querySelectorAll(".panel")) panel.hidden = panel.id !== name;
}
for (const tab of document.querySelectorAll(".tab")) tab.addEventListener("click", () => showTab(tab.dataset.tab));

// An API error as a sentence for people: the server's message, with what to do for the common cases.
async function readableError(resp) {
  let code = "", message = "";
  try {
    const body = await resp.json();
    code = body.error ? body.error.code : "";
    message = body.error ? body.error.message : JSON.stringify(body);
  } catch (e) {
    message = `the server answered HTTP ${resp.status}`;
  }
  const hints = {
    no_person: "No person was found in the person photo. Use a photo of one person, facing the camera.",
    queue_full: `The server is busy. Try again in ${resp.headers.get("Retry-After") || "a few"} seconds.`,
    upload_too_large: "A picture is too large to upload.",
    image_too_large: "A picture has too many pixels.",
    unsupported_media_type: "A file is not a picture (JPEG, PNG, WebP...).",
    model_not_loaded: "No try-on model is loaded on the server.",
    garment_mask_failed: "No garment was found on a plain background in the garment shot.",
    category_not_trained: "The model was not trained for this kind of garment.",
  };
  return hints[code] ? `${hints[code]} (${message})` : message;
}

function showError(id, text) {
  const el = $(id);
  el.textContent = text;
  el.hidden = !text;
}

function preview(img, blob) {
  if (blob) img.src = URL.createObjectURL(blob);
}

function clearResult() {
  // A new choice or a refused request must not leave an older result beside the new inputs.
  $("result").removeAttribute("src");
  $("timing").textContent = "";
  $("download").hidden = true;
}

$("person").addEventListener("change", () => {
  chosenPerson = $("person").files[0] || null;
  preview($("person-preview"), chosenPerson);
  clearResult();
});
$("garment").addEventListener("change", () => {
  chosenGarment = $("garment").files[0] || null;
  preview($("garment-preview"), chosenGarment);
  clearResult();
});

async function loadHealth() {
  const el = $("health");
  try {
    const resp = await fetch("/api/v1/health");
    const body = await resp.json();
    el.textContent = body.model_loaded ? `model ready: ${body.model || "?"} (v${body.version})` : `no model: ${body.detail || ""}`;
    el.className = "health " + (body.model_loaded ? "ok" : "bad");
  } catch (e) {
    el.textContent = "the server cannot be reached";
    el.className = "health bad";
  }
}

async function loadExamples() {
  try {
    const resp = await fetch("/api/v1/examples");
    if (!resp.ok) return;
    const examples = await resp.json();
    const list = $("example-list");
    for (const ex of examples.items) {
      const img = document.createElement("img");
      img.src = ex.person_url;
      img.alt = ex.name;
      img.title = ex.name;
      img.className = "example";
      img.addEventListener("click", async () => {
        chosenPerson = await (await fetch(ex.person_url)).blob();
        chosenGarment = await (await fetch(ex.garment_url)).blob();
        // The file inputs would otherwise still name the files chosen before.
        $("person").value = "";
        $("garment").value = "";
        preview($("person-preview"), chosenPerson);
        preview($("garment-preview"), chosenGarment);
        clearResult();
      });
      list.appendChild(img);
    }
    $("examples").hidden = examples.items.length === 0;
  } catch (e) { /* no examples: the upload still works */ }
}

$("tryon-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  showError("error", "");
  clearResult();
  const person = chosenPerson;
  const garment = chosenGarment;
  if (!person || !garment) {
    showError("error", "Choose a person photo and a garment shot (or pick an example).");
    return;
  }
  const form = new FormData();
  form.append("person_image", person, person.name || "person.jpg");
  form.append("garment_image", garment, garment.name || "garment.jpg");
  const options = { output_format: "jpeg" };
  if ($("category").value) options.category = $("category").value;
  form.append("options", JSON.stringify(options));
  const button = $("tryon-button");
  button.disabled = true;
  button.textContent = "Trying on…";
  try {
    const resp = await fetch("/api/v1/tryon", { method: "POST", body: form });
    if (!resp.ok) {
      showError("error", await readableError(resp));
      return;
    }
    const body = await resp.json();
    const url = `data:image/jpeg;base64,${body.result}`;
    $("result").src = url;
    $("timing").textContent = `(${body.processing_time.toFixed(2)} s)`;
    const link = $("download");
    link.href = url;
    link.hidden = false;
  } catch (e) {
    showError("error", `The request failed: ${e}`);
  } finally {
    button.disabled = false;
    button.textContent = "Try on";
  }
});

function parsePairs(text) {
  return text.split(/\r?\n/).map((l) => l.trim()).filter((l) => l && !l.startsWith("#"))
    .map((l) => l.split(/[\s,]+/)).filter((p) => p.length >= 2)
    .map(([person_url, garment_url]) => ({ person_url, garment_url }));
}

$("batch-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  showError("batch-error", "");
  $("batch-download").hidden = true;
  let text = $("batch-urls").value;
  if ($("batch-file").files[0]) text += "\n" + await $("batch-file").files[0].text();
  const items = parsePairs(text);
  if (!items.length) {
    showError("batch-error", "Give at least one line: a person image URL and a garment image URL.");
    return;
  }
  const resp = await fetch("/api/v1/batch", { method: "POST", headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ items }) });
  if (!resp.ok) {
    showError("batch-error", await readableError(resp));
    return;
  }
  const job = await resp.json();
  const progress = $("batch-progress");
  let status = null;
  let failures = 0;
  for (;;) {
    let answer;
    try {
      answer = await fetch(`/api/v1/batch/${job.job_id}`);
    } catch (e) {
      // The server restarting or the network dropping: retry a while, then say so.
      failures += 1;
      progress.textContent = `the server cannot be reached (try ${failures} of 30)…`;
      if (failures >= 30) {
        showError("batch-error", `Lost contact with the server while job ${job.job_id} ran (${e}).`);
        return;
      }
      await new Promise((r) => setTimeout(r, 2000));
      continue;
    }
    failures = 0;
    if (answer.status === 404) {
      showError("batch-error", `The server no longer knows job ${job.job_id} (restarted without it, or it expired).`);
      return;
    }
    if (!answer.ok) {
      showError("batch-error", await readableError(answer));
      return;
    }
    status = await answer.json();
    progress.textContent = `${status.completed} of ${status.total} done (${status.succeeded} ok, ${status.failed} failed)`;
    if (status.status === "done" || status.status === "interrupted") break;
    await new Promise((r) => setTimeout(r, 1000));
  }
  if (status.status === "interrupted") {
    showError("batch-error", `The server stopped while job ${job.job_id} ran: ${status.completed} of ${status.total} finished ` +
      "and are in the download; submit the other pairs again.");
  }
  const link = $("batch-download");
  link.href = `/api/v1/batch/${job.job_id}/results.zip`;
  link.hidden = false;
});

loadHealth();
loadExamples();
