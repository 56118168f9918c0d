// What both test pages share: their settings from the URL, and a log of what the page showed
// (window.__seen) for the test to read. The page runs in headless Chromium, driven by
// tests/test_js_clients.py through Playwright.
import { useEffect } from "react";

/** ?api=<distaff url>&assistant=<graph id>&thread=<id, after the first submit>&text=<input> */
export const params = new URLSearchParams(window.location.search);

/** Keeps the thread id in the URL, so a reload of the page comes back to the same thread. */
export function rememberThread(threadId) {
  const next = new URLSearchParams(window.location.search);
  next.set("thread", threadId);
  window.history.replaceState(null, "", `?${next}`);
}

export function textOf(content) {
  if (typeof content === "string") return content;
  if (Array.isArray(content)) return content.map((part) => (typeof part === "string" ? part : (part?.text ?? ""))).join("");
  return "";
}

export const typeOf = (message) => (typeof message._getType === "function" ? message._getType() : message.type);

/** Each render's [isLoading, text of the last AI message], when either changed: whether the
 * text grew while the run went on is read from this log. */
window.__seen = [];
export function useSeenLog(isLoading, messages) {
  const ai = messages.filter((m) => typeOf(m) === "ai");
  const text = ai.length ? textOf(ai.at(-1).content) : null;
  useEffect(() => {
    const last = window.__seen.at(-1);
    if (!last || last[0] !== isLoading || last[1] !== text) window.__seen.push([isLoading, text]);
  }, [isLoading, text]);
}

export function Messages({ messages }) {
  return (
    <ol data-testid="messages">
      {messages.map((m, i) => (
        <li key={m.id ?? i} data-testid="message" data-type={typeOf(m)}>
          {textOf(m.content)}
        </li>
      ))}
    </ol>
  );
}
