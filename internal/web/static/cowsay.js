// The cowsay demo's page script (internal/demo): no script is inline, so
// that the page's Content-Security-Policy can forbid inline script.
//
// The demo's own stream (/demo/cowsay/events) carries markup that herd
// made, escaped quotes in a <div>, and is swapped in as HTML. A hub topic
// carries whatever its publishers sent, so the hub variants show each
// event's data as text, never as markup.
"use strict";

const quotes = document.getElementById("quotes");
const client = quotes.dataset.client;

function setState(s) {
  document.body.dataset.state = s;
  document.getElementById("state").textContent = s;
}

function appendText(text) {
  const div = document.createElement("div");
  div.textContent = text;
  quotes.append(div);
}

if (client === "eventsource" || client === "hub") {
  // The seed post's plain script, which stops at the close event. If the
  // server restarts, the browser resumes by itself with Last-Event-ID.
  const source = new EventSource(quotes.dataset.stream);
  source.onopen = () => setState("streaming");
  source.onmessage = (event) => {
    if (client === "hub") appendText(event.data);
    else quotes.insertAdjacentHTML("beforeend", event.data);
  };
  source.addEventListener(quotes.dataset.close, () => { source.close(); setState("closed"); });
} else if (client === "htmx2" || client === "hub-htmx2") {
  document.body.addEventListener("htmx:sseOpen", () => setState("streaming"));
  document.body.addEventListener("htmx:sseClose", () => setState("closed"));
  if (client === "hub-htmx2") {
    // htmx would swap the data in as markup: take it as text instead.
    quotes.addEventListener("htmx:sseBeforeMessage", (e) => {
      e.preventDefault();
      appendText(e.detail.data);
    });
  }
} else if (client === "htmx4") {
  document.body.addEventListener("htmx:sse:after:connection", () => setState("streaming"));
  document.body.addEventListener("htmx:sse:close", () => setState("closed"));
}
