// Progressive enhancement only: every page works without this file.
"use strict";

// A panel or page waiting for the first copy of a key's activations polls the copy's status,
// fast at first and then less often, says the progress in its polite live region, and when the
// copy is ready fills the waiting parts in from the page as it is now (or reloads the page).
(() => {
  const waiting = document.querySelector("[data-copy-status]");
  if (!waiting) return;
  const statusUrl = waiting.getAttribute("data-copy-status");
  const live = waiting.querySelector("[data-progress]") || waiting;
  for (const link of document.querySelectorAll(".no-js-reload, #no-js-hint")) link.hidden = true;
  let delay = 150;
  // Once the person follows a link or sends a form (Log out), the page is theirs: no reload
  // from here may replace that navigation.
  let leaving = false;
  addEventListener("beforeunload", () => {
    leaving = true;
  });
  document.addEventListener("submit", () => {
    leaving = true;
  });
  const reload = () => {
    if (!leaving) location.reload();
  };
  const later = () => {
    delay = Math.min(delay * 2, 5000);
    setTimeout(poll, delay);
  };
  const fill = async () => {
    const targets = [...document.querySelectorAll("[data-fill][id]")];
    if (targets.length === 0) {
      reload();
      return;
    }
    const r = await fetch(location.href, { credentials: "same-origin" });
    if (!r.ok || leaving) {
      reload();
      return;
    }
    const page = new DOMParser().parseFromString(await r.text(), "text/html");
    live.textContent = "Ready.";
    for (const target of targets) {
      const fresh = page.getElementById(target.id);
      if (fresh) target.replaceWith(document.importNode(fresh, true));
    }
  };
  const poll = async () => {
    if (leaving) return;
    let answer;
    try {
      const r = await fetch(statusUrl, { credentials: "same-origin", headers: { accept: "application/json" } });
      const json = (r.headers.get("content-type") || "").includes("application/json");
      if (!r.ok || !json) {
        // Logged out, or the key went away: the page itself says what happened.
        reload();
        return;
      }
      answer = await r.json();
    } catch (_) {
      later(); // offline for a moment: keep waiting
      return;
    }
    if (answer.ready) {
      fill().catch(reload);
    } else if (answer.failed) {
      reload(); // the page shows why, with its Try again
    } else {
      if (answer.progress) live.textContent = answer.progress;
      later();
    }
  };
  setTimeout(poll, delay);
})();

// Activation dates: a preset and custom dates cannot both be chosen. Picking a preset clears
// the dates; typing a date switches the preset to "Custom dates".
(() => {
  const preset = document.getElementById("preset");
  const from = document.getElementById("from");
  const to = document.getElementById("to");
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
})();
