// The exam's page: the task list, the countdown to the attempt's deadline, the terminal, Submit.
// Every request carries the token of the URL; the server keeps the attempt, the page keeps nothing.
"use strict";
const token = document.body.dataset.token;
const withToken = (path) => `${path}${path.includes("?") ? "&" : "?"}token=${encodeURIComponent(token)}`;
let current = null;   // the last /api/state answer
let skew = 0;         // the server's clock minus the browser's, in ms
let asking = false;

async function api(path, method = "GET") {
  const response = await fetch(withToken(path), { method });
  const body = await response.json();
  if (!response.ok) throw new Error(body.error || response.statusText);
  return body;
}

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  for (const child of children) node.append(child);
  return node;
}

// A statement's text as the exam shows it: paragraphs reflowed to the column, "- " lines as a list,
// indented blocks as code; its "Use context" line is the context line above it.
function statement(text, context) {
  const box = el("div", { class: "statement" });
  for (const para of text.split(/\n\s*\n/)) {
    const lines = para.split("\n").filter((l) => l.trim());
    if (!lines.length || para.trim() === `Use context: kubectl config use-context ${context}`) continue;
    if (lines.every((l) => /^\s{2,}\S/.test(l))) {
      box.append(el("pre", {}, lines.map((l) => l.replace(/^ {2}/, "")).join("\n")));
    } else if (lines[0].startsWith("- ")) {
      const list = el("ul");
      let item = null;
      for (const l of lines) {
        if (l.startsWith("- ") || !item) { item = el("li", {}, l.replace(/^- /, "")); list.append(item); }
        else item.append(" " + l.trim());
      }
      box.append(list);
    } else {
      box.append(el("p", {}, lines.map((l) => l.trim()).join(" ")));
    }
  }
  return box;
}

function renderTasks(state) {
  const list = document.getElementById("tasks");
  list.replaceChildren();
  for (const t of state.tasks) {
    const flag = el("button", { class: "flag", type: "button", "aria-pressed": String(t.flagged), "data-task": t.id },
                    t.flagged ? "\u2691 Flagged" : "\u2690 Flag");
    flag.addEventListener("click", () => toggleFlag(t.id));
    const box = el("article", { class: "task", id: `task-${t.number}`, "data-task": t.id },
      el("h2", {}, el("span", { class: "title" }, `Task ${t.number}: ${t.title}`),
         el("span", { class: "weight" }, `${t.weight} points`), flag),
      el("div", { class: "context" }, "Context: ", el("code", {}, `kubectl config use-context ${t.context}`)),
      statement(t.statement, t.context));
    if (t.flagged) box.classList.add("flagged");
    if (t.left_out) { box.classList.add("left-out"); box.append(el("p", { class: "note" }, t.left_out)); }
    list.append(box);
  }
}

function showClock() {
  const clock = document.getElementById("clock");
  if (!current) return;
  if (current.submitted) { clock.textContent = ""; return; }  // the button says it, the debrief shows the rest
  if (current.practice) { clock.textContent = "practice: no clock"; clock.className = "practice"; return; }
  const left = Math.max(0, Math.floor((Date.parse(current.deadline) - (Date.now() + skew)) / 1000));
  const pad = (n) => String(n).padStart(2, "0");
  clock.textContent = `${Math.floor(left / 3600)}:${pad(Math.floor(left / 60) % 60)}:${pad(left % 60)} left`;
  clock.dataset.seconds = String(left);
  clock.className = left < 600 ? "low" : "";
  if (left === 0 && !asking) refresh();  // the server grades the exam as it stands
}

function show(state) {
  const same = current && JSON.stringify(current.tasks) === JSON.stringify(state.tasks);
  current = state;
  skew = Date.parse(state.now) - Date.now();
  document.getElementById("title").textContent = `ckslab exam, seed ${state.seed}: ${state.tasks.length} task${state.tasks.length === 1 ? "" : "s"}`;
  if (state.submitted) return showDebrief(state);
  if (!same) renderTasks(state);  // unchanged: keep what the candidate selected in the statements
  showClock();
}

async function refresh() {
  asking = true;
  try { show(await api("/api/state")); } catch (err) { document.getElementById("clock").textContent = err.message; }
  finally { asking = false; }
}

async function toggleFlag(id) {
  try { await api(`/api/flag/${id}`, "POST"); } catch (err) { alert(err.message); }
  await refresh();
}

function showDebrief(state) {
  document.getElementById("exam").hidden = true;
  document.getElementById("exam").style.display = "none";
  const button = document.getElementById("submit");
  button.disabled = true;
  button.textContent = state.submitted.startsWith("abandoned") ? "Abandoned" : "Submitted";
  document.getElementById("clock").textContent = "";
  const frame = document.getElementById("debrief");
  if (!state.submitted.startsWith("abandoned") && frame.hidden) {
    frame.src = withToken("/debrief");
    frame.hidden = false;
  }
}

document.getElementById("submit").addEventListener("click", async () => {
  if (!confirm("Submit the exam? It is graded as it stands: nothing you do afterwards counts.")) return;
  const button = document.getElementById("submit");
  button.disabled = true;
  button.textContent = "Grading\u2026";
  try { show(await api("/api/submit", "POST")); } catch (err) { alert(err.message); button.disabled = false; }
});

function startTerminal() {
  const term = new Terminal({ fontSize: 14, cursorBlink: true, scrollback: 5000 });
  const fit = new FitAddon.FitAddon();
  term.loadAddon(fit);
  term.open(document.getElementById("terminal"));
  const socket = new WebSocket(withToken(`ws://${location.host}/terminal`));
  const resize = () => {
    fit.fit();
    if (socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify(["set_size", term.rows, term.cols]));
  };
  socket.onopen = resize;
  socket.onmessage = (event) => {
    const [kind, data] = JSON.parse(event.data);
    if (kind === "stdout") term.write(data);
    else if (kind === "disconnect") term.write("\r\n[the shell ended: reload the page for a new one]\r\n");
  };
  socket.onclose = () => term.write("\r\n[disconnected from the exam's page server]\r\n");
  term.onData((data) => socket.send(JSON.stringify(["stdin", data])));
  window.addEventListener("resize", resize);
  fit.fit();
  term.focus();
  window.examTerminal = term;  // for the browser test, which reads what the terminal shows
}

startTerminal();
refresh();
setInterval(showClock, 1000);
setInterval(() => { if (!asking) refresh(); }, 10000);  // a flag or submit typed with `ckslab exam` in the terminal
