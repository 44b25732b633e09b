// Progressive enhancement only: every page works without this file.
"use strict";

// Activation dates: a preset and custom dates cannot both be chosen. Picking a preset clears
// the dates; typing a date switches the preset to "Custom dates".
const coupleDates = (root) => {
  const preset = root.querySelector("#preset");
  const from = root.querySelector("#from");
  const to = root.querySelector("#to");
  if (!preset || !from || !to) return;
  preset.addEventListener("change", () => {
    if (preset.value !== "custom") {
      from.value = "";
      to.value = "";
    }
  });
  for (const input of [from, to]) {
    input.addEventListener("change", () => {
      if (from.value || to.value) preset.value = "custom";
    });
  }
};

// A panel or page waiting for the first copy of a key's activations polls the copy's status,
// fast at first and then less often, says the progress in its polite live region, and when the
// copy is ready fills the waiting parts in from the page as it is now: the panels marked
// `data-fill`, or the whole of `<main>`. It never reloads the page, so nothing the person is
// doing (a click on Log out, a form) can be lost to a reload.
const waitForCopy = () => {
  const waiting = document.querySelector("[data-copy-status]");
  if (!waiting) return;
  const statusUrl = waiting.getAttribute("data-copy-status");
  const live = waiting.querySelector("[data-progress]") || waiting;
  for (const hint of document.querySelectorAll(".no-js-reload, #no-js-hint")) hint.hidden = true;
  let delay = 150;
  let leaving = false;
  addEventListener("beforeunload", () => {
    leaving = true;
  });
  const later = () => {
    delay = Math.min(delay * 2, 5000);
    setTimeout(poll, delay);
  };
  const fill = async () => {
    const r = await fetch(location.href, { credentials: "same-origin" });
    if (leaving) return;
    const page = new DOMParser().parseFromString(await r.text(), "text/html");
    const marked = [...document.querySelectorAll("[data-fill][id]")];
    const targets = marked.length > 0 ? marked : [document.querySelector("main")];
    live.textContent = "Ready.";
    for (const target of targets) {
      const fresh = target && page.getElementById(target.id);
      if (fresh) target.replaceWith(document.importNode(fresh, true));
    }
    if (marked.length === 0 && page.title) document.title = page.title;
    // Long breakdowns start folded on a phone; without JavaScript they stay open.
if (window.matchMedia && window.matchMedia("(max-width: 40rem)").matches) {
  for (const d of document.querySelectorAll("details[data-fold-on-phone]")) d.open = false;
}

coupleDates(document);
    // Still waiting (the fresh page says the copy failed, or another panel waits): start over.
    waitForCopy();
  };
  const poll = async () => {
    if (leaving) return;
    let answer;
    try {
      const r = await fetch(statusUrl, { credentials: "same-origin", headers: { accept: "application/json" } });
      const json = (r.headers.get("content-type") || "").includes("application/json");
      if (!r.ok || !json) {
        // Logged out, or the key went away: the page as it is now says what happened.
        if (!leaving) location.reload();
        return;
      }
      answer = await r.json();
    } catch (_) {
      later(); // offline for a moment: keep waiting
      return;
    }
    if (answer.ready || answer.failed) {
      // Ready: the figures; failed: the page says why, with its Try again.
      fill().catch(later);
    } else {
      if (answer.progress) live.textContent = answer.progress;
      later();
    }
  };
  setTimeout(poll, delay);
};

// Copy buttons (the Team page's invite link, an activation's ids), where the browser allows
// the clipboard: they stay hidden without it, and without JavaScript.
const copyButtons = (root) => {
  for (const button of root.querySelectorAll("button[data-copy]")) {
    const field = document.getElementById(button.dataset.copy);
    if (!field || !navigator.clipboard) continue;
    button.hidden = false;
    button.addEventListener("click", () => {
      const text = "value" in field ? field.value : field.textContent.trim();
      navigator.clipboard.writeText(text).then(
        () => { button.firstChild.textContent = "Copied"; },
        () => { if (field.select) field.select(); },
      );
    });
  }
};

coupleDates(document);
copyButtons(document);
waitForCopy();
