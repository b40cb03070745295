// topicclf's page: plain JavaScript over the native API (GET /models, POST /tag with
// "explain"). Text from the server (topic names, words, messages) is only ever set with
// textContent, never parsed as HTML, and shown through `visible` first.
"use strict";

const WORDS_PER_TOPIC = 8; // as `topicclf explain` shows by default
const MAX_FILE_BYTES = 20 * 1024 * 1024; // beyond this the textarea itself gets slow

const $ = (id) => document.getElementById(id);
const form = $("form");
const modelField = $("model-field");
const modelSelect = $("model");
const modelInfo = $("model-info");
const textBox = $("text");
const fileInput = $("file");
const limitInput = $("limit");
const submitButton = $("submit");
const statusLine = $("status");
const errorBox = $("error");
const results = $("results");
const summary = $("summary");
const topicList = $("topics");

let models = new Map(); // name -> GET /models entry
let latest = 0; // the number of the newest request: older answers are dropped
let chosen = 0; // the number of the newest file chosen or dropped: older reads are dropped

// What `one_line` in topicclf/reports/safe.py shows as an escape, and how: this mirrors its
// _CONTROL_ONE_LINE class and its \xHH / \uHHHH forms, so a name reads here as in every
// other output (tests/test_server_page.py checks the two agree, code point by code point).
// C0 controls (tab and newline too: a name is one line), DEL, C1 controls, U+2028/U+2029,
// the bidi overrides and isolates ("evil\u202eRTL" would show as "evilLTR") and lone
// surrogates. The "u" flag makes a surrogate pair one character, which is not matched: a
// Python str never holds a pair as two code points once decoded from JSON.
const CONTROLS = /[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069\u{d800}-\u{dfff}]/gu;

function visible(text) {
  return String(text).replace(CONTROLS, (char) => {
    const code = char.codePointAt(0);
    return code < 0x100
      ? `\\x${code.toString(16).padStart(2, "0")}`
      : `\\u${code.toString(16).padStart(4, "0")}`;
  });
}

function element(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = visible(text);
  return node;
}

// An error and results never show together: each is about the newest submission only.
function showError(message) {
  errorBox.textContent = visible(message);
  errorBox.hidden = false;
  results.hidden = true;
  statusLine.textContent = "";
}

function clearError() {
  errorBox.textContent = "";
  errorBox.hidden = true;
}

async function readJson(response) {
  try {
    return await response.json();
  } catch {
    return {};
  }
}

function refusal(response, body) {
  const detail = typeof body.error === "string" ? body.error : response.statusText;
  const who = response.status >= 500 ? "The server failed" : "The server refused the request";
  return `${who} (${response.status}): ${detail}`;
}

function describeModel() {
  const info = models.get(modelSelect.value);
  if (!info) {
    modelInfo.textContent = "";
    return;
  }
  let text = `${info.topics} topics · ${info.network} network · ${info.mode}`;
  if (!info.explain) text += " · this model cannot say which words drove its topics";
  modelInfo.textContent = visible(text);
}

async function loadModels() {
  let response;
  try {
    response = await fetch("/models", { headers: { Accept: "application/json" } });
  } catch (err) {
    showError(`The server did not answer (${err.message}).`);
    return;
  }
  const body = await readJson(response);
  if (!response.ok) {
    showError(refusal(response, body));
    return;
  }
  models = new Map(body.models.map((m) => [m.name, m]));
  modelSelect.replaceChildren(
    ...body.models.map((m) => {
      const option = element("option", "", m.name);
      option.value = m.name; // the exact name is sent; the shown one may hold escapes
      return option;
    }),
  );
  // The first served model is the default; a chooser of one is only noise.
  modelSelect.selectedIndex = 0;
  modelField.hidden = models.size < 2;
  describeModel();
}

function topicItem(label, score, explanation) {
  const item = element("li", "topic");
  item.dataset.topic = label;
  const head = element("div", "topic-head");
  head.append(element("span", "topic-name", label));
  if (typeof score === "number") {
    const meter = element("meter");
    meter.min = 0;
    meter.max = 1;
    meter.value = score;
    meter.setAttribute("aria-hidden", "true"); // the number beside it says the same
    head.append(meter, element("span", "score", score.toFixed(3)));
  }
  item.append(head);
  if (explanation) {
    item.append(wordLine("raised by", "up", explanation.up));
    if (explanation.down.length) item.append(wordLine("lowered by", "down", explanation.down));
  }
  return item;
}

function wordLine(title, direction, terms) {
  const line = element("div", `why ${direction}`);
  line.append(element("span", "why-label", title));
  const list = element("ul", "words");
  list.setAttribute("aria-label", `words that ${title.replace(" by", "")} the topic`);
  if (!terms.length) list.append(element("li", "muted", "no single word"));
  for (const { term, weight } of terms) {
    const word = element("li", "word");
    word.append(element("span", "term", term));
    const sign = weight >= 0 ? "+" : "\u2212";
    word.append(element("span", "weight", sign + Math.abs(weight).toFixed(2)));
    list.append(word);
  }
  line.append(list);
  return line;
}

function showResults(answer) {
  const result = answer.results[0];
  const explanations = new Map((result.explanations || []).map((e) => [e.topic, e]));
  const items = result.labels.map((label) =>
    topicItem(label, result.scores ? result.scores[label] : undefined, explanations.get(label)),
  );
  topicList.replaceChildren(...items);
  const count = result.labels.length;
  let text = count
    ? `${count} topic${count === 1 ? "" : "s"} from model ${answer.model}`
    : `Model ${answer.model} suggests no topic for this text`;
  text += ` (${answer.milliseconds.toFixed(1)} ms).`;
  for (const note of answer.notes || []) text += ` Note: ${note}`;
  summary.textContent = visible(text);
  clearError();
  results.hidden = false;
  statusLine.textContent = count ? `${count} topic${count === 1 ? "" : "s"} suggested.` : "No topic.";
}

// Digits only: Number() would also take 0x10, 5.0, +3 and 1e21 (sent as 1e+21, a 400).
// A number box's value is "" for what it cannot read ("+3" in some browsers): that is
// badInput, not an empty box. Past MAX_SAFE_INTEGER, JSON would write 1e+21, which the
// server refuses; any N past the model's topic count means every topic anyway.
function limitValue() {
  if (limitInput.validity && limitInput.validity.badInput) return NaN;
  const raw = limitInput.value.trim();
  if (raw === "") return null;
  if (!/^[0-9]+$/.test(raw)) return NaN;
  const n = Number(raw);
  return n >= 1 ? Math.min(n, Number.MAX_SAFE_INTEGER) : NaN;
}

// A new submission makes every answer still on its way stale, even one refused here (an
// empty text): else an older, slower answer would show under its error, for a text no
// longer in the box. The button the older request disabled is enabled again.
function newSubmission() {
  latest += 1;
  submitButton.disabled = false;
  clearError();
  return latest;
}

async function suggest(event) {
  event.preventDefault();
  const mine = newSubmission();
  const text = textBox.value;
  if (!text.trim()) {
    showError("The text is empty: paste a text or choose a file first.");
    textBox.focus();
    return;
  }
  const limit = limitValue();
  if (Number.isNaN(limit)) {
    showError("“Best N topics” takes a whole number in digits, 1 or more, or nothing.");
    limitInput.focus();
    return;
  }
  const request = { text };
  const info = models.get(modelSelect.value);
  if (modelSelect.value) request.model = modelSelect.value;
  if (limit !== null) request.top_k = limit;
  if (info && info.explain) request.explain = WORDS_PER_TOPIC;

  submitButton.disabled = true;
  statusLine.textContent = "Suggesting topics…";
  try {
    const response = await fetch("/tag", {
      method: "POST",
      headers: { "Content-Type": "application/json", Accept: "application/json" },
      body: JSON.stringify(request),
    });
    const body = await readJson(response);
    if (mine !== latest) return;
    if (!response.ok) {
      showError(refusal(response, body));
      return;
    }
    showResults(body);
  } catch (err) {
    if (mine === latest) showError(`The server did not answer (${err.message}).`);
  } finally {
    if (mine === latest) submitButton.disabled = false;
  }
}

// A byte order mark names the file's encoding, as the browser's own reading of text honours
// it (a UTF-16 file saved by Notepad reads right); without one the file must be UTF-8. Bytes
// that encoding cannot decode refuse the file, as `topicclf tag` refuses it without
// --encoding-errors replace: U+FFFD in place of letters would be tagged without a word.
// The marks `BOMS` in topicclf/corpus/base.py reads, in its order: the UTF-32LE mark begins
// with the UTF-16LE one, so it is looked for first (else its text was read as UTF-16 with a
// NUL between letters, and tagged "no topic").
const MARKS = [
  [[0xff, 0xfe, 0x00, 0x00], "UTF-32LE"],
  [[0x00, 0x00, 0xfe, 0xff], "UTF-32BE"],
  [[0xef, 0xbb, 0xbf], "UTF-8"],
  [[0xff, 0xfe], "UTF-16LE"],
  [[0xfe, 0xff], "UTF-16BE"],
];

function markedEncoding(bytes) {
  const found = MARKS.find(([mark]) => mark.every((byte, i) => bytes[i] === byte));
  return found ? found[1] : null;
}

// `refuse_binary` in topicclf/corpus/base.py, with its thresholds: UTF-16/32 text with its
// mark is full of NULs and never binary; otherwise (UTF-8, the page's only other encoding)
// the first BINARY_SNIFF_BYTES are binary when they hold a NUL and more NULs and
// undecodable bytes than max(8, 1%). A NUL or two is text `tag` reads; UTF-16 without a mark
// is a NUL in every other byte.
const BINARY_SNIFF_BYTES = 8192; // config.BINARY_SNIFF_BYTES

function looksBinary(bytes, marked) {
  if (marked && marked !== "UTF-8") return false;
  const head = bytes.subarray(0, BINARY_SNIFF_BYTES);
  if (!head.includes(0)) return false;
  let count = 0;
  for (const byte of head) if (byte === 0) count++;
  // As Python's incremental decoder: a character cut at the head's end is not counted.
  for (const char of new TextDecoder("UTF-8").decode(head, { stream: true })) {
    if (char === "\ufffd") count++;
  }
  return count > Math.max(8, Math.floor(head.length / 100));
}

// TextDecoder has no UTF-32: its 4-byte units after the mark are read here and refused as
// Python's codec refuses them (a length not a multiple of 4, a surrogate, past U+10FFFF),
// then written as UTF-16LE bytes for TextDecoder to make the string (no array of millions
// of code points, and the same on a big-endian machine).
function decodeUtf32(bytes, littleEndian) {
  if (bytes.length % 4) throw new TypeError("truncated data");
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out = new Uint8Array(bytes.length); // a code point takes at most 4 bytes either way
  let size = 0;
  const unit = (value) => {
    out[size++] = value & 0xff;
    out[size++] = value >> 8;
  };
  for (let at = 4; at < bytes.length; at += 4) {
    const code = view.getUint32(at, littleEndian);
    if (code > 0x10ffff || (code >= 0xd800 && code <= 0xdfff)) {
      throw new TypeError("not a code point");
    }
    if (code < 0x10000) {
      unit(code);
    } else {
      unit(0xd800 + ((code - 0x10000) >> 10));
      unit(0xdc00 + ((code - 0x10000) & 0x3ff));
    }
  }
  // ignoreBOM keeps a U+FEFF after the mark, as Python drops the mark alone.
  return new TextDecoder("UTF-16LE", { ignoreBOM: true }).decode(out.subarray(0, size));
}

// A file's text in the encoding its mark names (the mark dropped), else UTF-8; throws when
// the bytes do not decode.
function decodeFile(bytes, marked) {
  if (marked === "UTF-32LE" || marked === "UTF-32BE") {
    return decodeUtf32(bytes, marked === "UTF-32LE");
  }
  // The decoder drops the mark itself.
  return new TextDecoder(marked || "UTF-8", { fatal: true }).decode(bytes);
}

// Characters as Python's len counts them (code points): `length` counts UTF-16 units, two
// for an emoji. Counted one by one, not by spreading a 10 MB text into an array.
function codePoints(text) {
  let count = 0;
  for (const _ of text) count++;
  return count;
}

function readFile(file) {
  newSubmission(); // the text in the box is being replaced
  // A read still on its way when another file is chosen or dropped is dropped when it
  // ends: else a larger, slower file would replace the newer one's text after it.
  const mine = ++chosen;
  if (!(file.type === "text/plain" || /\.txt$/i.test(file.name))) {
    showError(`${file.name} is not a text file: choose a .txt file.`);
    return;
  }
  if (file.size > MAX_FILE_BYTES) {
    showError(`${file.name} is larger than ${MAX_FILE_BYTES / 1024 / 1024} MB; paste a part.`);
    return;
  }
  const reader = new FileReader();
  reader.onload = () => {
    if (mine !== chosen) return;
    const bytes = new Uint8Array(reader.result);
    const marked = markedEncoding(bytes);
    if (looksBinary(bytes, marked)) {
      // Valid UTF-8 to the decoder, but UTF-16 without a byte order mark, or no text: its
      // letters with a NUL between each were tagged "no topic"; `topicclf tag` refuses it.
      showError(
        `${file.name} looks like a binary file, or UTF-16 without a byte order mark (it ` +
          "contains NUL bytes): save it as UTF-8 (or paste its text).",
      );
      return;
    }
    let text;
    try {
      text = decodeFile(bytes, marked);
    } catch {
      const what = marked ? `valid ${marked} text, which its byte order mark names` : "UTF-8 text";
      showError(`${file.name} is not ${what}: save it as UTF-8 (or paste its text).`);
      return;
    }
    textBox.value = text;
    statusLine.textContent = `Read ${visible(file.name)} (${codePoints(textBox.value)} characters).`;
    form.requestSubmit();
  };
  reader.onerror = () => {
    if (mine === chosen) showError(`${file.name} could not be read.`);
  };
  reader.readAsArrayBuffer(file);
}

function hasFiles(event) {
  return event.dataTransfer && Array.from(event.dataTransfer.types).includes("Files");
}

form.addEventListener("submit", suggest);
modelSelect.addEventListener("change", describeModel);
fileInput.addEventListener("change", () => {
  if (!fileInput.files.length) return;
  const file = fileInput.files[0];
  // The browser fires no change for the file the input already holds: emptied, the input
  // reads the same file again when it is chosen again (after the text was edited, or the
  // file saved anew). The File taken above stays readable.
  fileInput.value = "";
  readFile(file);
});
textBox.addEventListener("keydown", (event) => {
  if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) form.requestSubmit();
});
// A file dropped anywhere on the page is read, not opened by the browser in place of it.
for (const type of ["dragenter", "dragover"]) {
  window.addEventListener(type, (event) => {
    if (!hasFiles(event)) return;
    event.preventDefault();
    textBox.classList.add("dragging");
  });
}
window.addEventListener("dragleave", (event) => {
  if (event.relatedTarget === null) textBox.classList.remove("dragging");
});
window.addEventListener("drop", (event) => {
  if (!hasFiles(event)) return;
  event.preventDefault();
  textBox.classList.remove("dragging");
  if (event.dataTransfer.files.length) readFile(event.dataTransfer.files[0]);
});

loadModels();
