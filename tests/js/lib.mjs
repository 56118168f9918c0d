// Helpers shared by the Node drivers: argument parsing, a bounded wait on a condition, and a
// compact, JSON-friendly record of what a client saw. The drivers print one JSON object on
// stdout; tests/test_js_clients.py asserts on it.
import WebSocket from "ws";

/** The text of a message's content: a string, or the text parts of a content-block list. */
export function textOf(content) {
  if (typeof content === "string") return content;
  if (Array.isArray(content)) return content.map((part) => (typeof part === "string" ? part : (part?.text ?? ""))).join("");
  return "";
}

/** [type, text] of a message: a class instance (the controller's) or a plain dict. */
export function brief(message) {
  const type = typeof message._getType === "function" ? message._getType() : message.type;
  return [type, textOf(message.content)];
}

/** The namespace without the task ids: ["mid:<uuid>", "leaf:<uuid>"] -> "mid/leaf". */
export function nsPath(namespace) {
  return (namespace ?? []).map((segment) => segment.split(":")[0]).join("/");
}

/** Resolves once `check()` is truthy; polls, since the clients' state changes come from
 * several sources. `ms` bounds the wait: on expiry it rejects with `what` and `detail()`. */
export function waitFor(check, what, ms = 10_000, detail = () => "") {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const tick = () => {
      let value;
      try {
        value = check();
      } catch (error) {
        reject(error);
        return;
      }
      if (value) resolve(value);
      else if (Date.now() - started > ms) reject(new Error(`timed out after ${ms} ms waiting for ${what} ${detail()}`));
      else setTimeout(tick, 10);
    };
    tick();
  });
}

/** Node 20 has no global WebSocket: the `ws` package stands in, and every socket the client
 * opens is counted (the JS SDK puts a ThreadStream's whole session on one socket). */
export function socketFactory() {
  const opened = [];
  const factory = (url) => {
    opened.push(url);
    return new WebSocket(url);
  };
  return { factory, opened };
}

/** Each event the thread saw once (ThreadStream.onEvent dedups by event_id), compacted. */
export function recordEvents(thread) {
  const events = [];
  thread.onEvent((event) => {
    const data = event.params?.data ?? {};
    const entry = { seq: event.seq, method: event.method, ns: nsPath(event.params?.namespace) };
    if (event.method === "lifecycle") {
      entry.event = data.event;
      if (data.graph_name !== undefined) entry.graph = data.graph_name;
      if (data.error !== undefined) entry.error = data.error;
    } else if (event.method === "messages") entry.event = data.event;
    else if (event.method === "input.requested") entry.interrupt_id = data.interrupt_id;
    events.push(entry);
  });
  return events;
}

/** Runs `scenario(url, ...rest)` and prints its result as JSON; a failure or an expired
 * `timeoutMs` prints the error on stderr and exits non-zero. */
export function main(scenarios, timeoutMs = 20_000) {
  const [url, name, ...rest] = process.argv.slice(2);
  const scenario = scenarios[name];
  if (!url || !scenario) {
    console.error(`usage: node ${process.argv[1]} <server url> <${Object.keys(scenarios).join("|")}> ...`);
    process.exit(64);
  }
  const timer = setTimeout(() => {
    console.error(`${name}: no result in ${timeoutMs} ms`);
    process.exit(3);
  }, timeoutMs);
  scenario(url, ...rest).then(
    (result) => {
      clearTimeout(timer);
      process.stdout.write(JSON.stringify(result) + "\n");
      // The clients may keep idle keep-alive sockets: the result is out, so end here.
      process.exit(0);
    },
    (error) => {
      console.error(error?.stack ?? String(error));
      process.exit(1);
    },
  );
}
