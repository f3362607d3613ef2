// genforge web UI, the Chat tab: a conversation with a text run or a chat model over
// POST /v1/chat, the reply streamed in as server-sent events (fetch + ReadableStream), Stop
// aborts it (the partial reply stays). The conversation's id is kept in localStorage, so a
// reload shows it again. Uses app.js's helpers ($, el, api, headers, say, guard).
// Every text from the user or a model is shown as text (textContent), never parsed as HTML.
"use strict";

const chat = { id: localStorage.getItem("genforge-chat"), source: null, abort: null };

function chatSource() {
  const [kind, ...rest] = ($("#chat-source").value || "").split(":");
  return kind ? { kind, name: rest.join(":") } : null;
}

function setConversation(id, source) {
  chat.id = id;
  chat.source = source;
  if (id) localStorage.setItem("genforge-chat", id);
  else localStorage.removeItem("genforge-chat");
  $("#chat-title").textContent = id ? `Conversation ${id}` : "New conversation";
}

function chatTurn(role, text, note) {
  const turn = el("div", { class: `turn ${role}` }, el("span", { class: "text" }, text));
  if (note) turn.append(el("span", { class: "note" }, note));
  const log = $("#chat-log");
  log.querySelector(".empty")?.remove();
  log.append(turn);
  log.scrollTop = log.scrollHeight;
  return turn;
}

function addNote(turn, note) {
  turn.querySelector(".note")?.remove();
  turn.append(el("span", { class: "note" }, note));
}

function newConversation() {
  chat.abort?.abort();
  setConversation(null, null);
  $("#chat-log").replaceChildren(el("p", { class: "empty" }, "Say something to start."));
}

const loadChat = guard(async () => {
  const [runs, models] = await Promise.all([api("/runs"), api("/chat/models")]);
  const sel = $("#chat-source");
  const keep = sel.value;
  const runOpts = runs.filter((r) => r.modality === "text" && r.checkpoint_step > 0)
    .map((r) => el("option", { value: `run:${r.name}` }, r.name));
  const modelOpts = models.models.map((m) => el("option", { value: `model:${m}` }, m));
  sel.replaceChildren(
    ...(runOpts.length ? [el("optgroup", { label: "text runs" }, ...runOpts)] : []),
    ...(modelOpts.length ? [el("optgroup", { label: "chat models" }, ...modelOpts)] : []),
  );
  if (!runOpts.length && !modelOpts.length) say("no text run or chat model to chat with yet", true);
  if (keep) sel.value = keep;
  if (chat.id && !chat.source) await restoreConversation(chat.id);
  else if (!chat.id) newConversation();
});

async function restoreConversation(id) {
  let conv;
  try { conv = await api(`/chat/${id}`); } catch (e) { newConversation(); return; }  // gone
  const source = conv.run ? `run:${conv.run}` : `model:${conv.model}`;
  setConversation(conv.id, source);
  $("#chat-source").value = source;
  $("#chat-log").replaceChildren();
  for (const t of conv.turns) {
    chatTurn("user", t.user);
    chatTurn("bot", t.bot, t.stopped ? "stopped" : undefined);
  }
  if (!conv.turns.length) newConversation();
}

// (event, data) pairs of a text/event-stream response, as they arrive.
async function* sseEvents(res) {
  const reader = res.body.getReader();
  const decoder = new TextDecoder();
  let buf = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buf += decoder.decode(value, { stream: true });
    let cut;
    while ((cut = buf.indexOf("\n\n")) >= 0) {
      const block = buf.slice(0, cut);
      buf = buf.slice(cut + 2);
      let kind = "message";
      const data = [];
      for (const line of block.split("\n")) {
        if (line.startsWith("event:")) kind = line.slice(6).trim();
        else if (line.startsWith("data:")) data.push(line.slice(5).trimStart());
      }
      if (data.length) yield [kind, JSON.parse(data.join("\n"))];
    }
  }
}

function chatBody(message) {
  const body = { message, conversation: chat.id, stream: true };
  const src = chatSource();
  if (!chat.id) body[src.kind] = src.name;
  const maxTokens = $("#chat-max-tokens").value;
  if (maxTokens) body.max_new_tokens = Number(maxTokens);
  const temperature = $("#chat-temperature").value;
  if (temperature) body.temperature = Number(temperature);
  return body;
}

async function postChat(body, signal) {
  const res = await fetch("/v1/chat", {
    method: "POST", body: JSON.stringify(body), signal,
    headers: headers({ "Content-Type": "application/json", "X-Genforge-CSRF": "1" }),
  });
  if (res.status === 401) { $("#keyform").hidden = false; throw new Error("this server needs an API key"); }
  if (!res.ok) {
    let detail = res.statusText;
    try { const j = await res.json(); detail = typeof j.detail === "string" ? j.detail : JSON.stringify(j.detail); } catch (_) {}
    throw new Error(`${res.status}: ${detail}`);
  }
  return res;
}

function setBusy(busy) {
  $("#chat-send").disabled = busy;
  $("#chat-stop").disabled = !busy;
}

async function sendChat(e) {
  e?.preventDefault();
  const box = $("#chat-message");
  if (chat.abort || !box.value.trim()) return;
  if (!chatSource()) { say("pick a text run or a chat model first", true); return; }
  const message = box.value;
  const body = chatBody(message);
  box.value = "";
  chatTurn("user", message);
  const bot = chatTurn("bot", "");
  const text = bot.querySelector(".text");
  bot.classList.add("streaming");
  chat.abort = new AbortController();
  setBusy(true);
  say("");
  try {
    const res = await postChat(body, chat.abort.signal);
    for await (const [kind, data] of sseEvents(res)) {
      if (kind === "start") setConversation(data.conversation, $("#chat-source").value);
      else if (kind === "token") { text.textContent += data.text; $("#chat-log").scrollTop = 1e9; }
      else if (kind === "done") { text.textContent = data.reply; bot.dataset.output = data.output.id; }
      else if (kind === "error") throw new Error(data.detail);
    }
  } catch (err) {
    if (err.name === "AbortError") addNote(bot, "stopped");
    else { bot.classList.add("error"); addNote(bot, err.message); say(err.message, true); }
  } finally {
    bot.classList.remove("streaming");
    chat.abort = null;
    setBusy(false);
    box.focus();
  }
}

function startChat() {
  $("#chat-form").addEventListener("submit", sendChat);
  $("#chat-message").addEventListener("keydown", (e) => {  // Enter sends, Shift+Enter: new line
    if (e.key === "Enter" && !e.shiftKey && !e.isComposing) { e.preventDefault(); sendChat(); }
  });
  $("#chat-stop").addEventListener("click", () => chat.abort?.abort());
  $("#chat-new").addEventListener("click", newConversation);
  $("#chat-source").addEventListener("change", () => {
    if (chat.id && chat.source !== $("#chat-source").value) newConversation();  // one source each
  });
  // app.js shows a tab by its class: load the chat whenever this tab becomes the active one
  const section = $("#chat");
  new MutationObserver(() => { if (section.classList.contains("active")) loadChat(); })
    .observe(section, { attributes: true, attributeFilter: ["class"] });
  if (section.classList.contains("active")) loadChat();
}

startChat();
