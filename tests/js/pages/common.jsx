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

// What both pages show of a stream: its messages, the interrupt with an approve button (how
// to answer it is the hook's own), an error, and the send button.
export function Page({ stream, approve, pageProps = {} }) {
  useSeenLog(stream.isLoading, stream.messages);
  const interrupt = stream.interrupt;
  return (
    <main data-testid="page" data-loading={String(stream.isLoading)} {...pageProps}>
      <Messages messages={stream.messages} />
      {interrupt && (
        <section data-testid="interrupt" data-id={interrupt.id}>
          <pre data-testid="interrupt-value">{JSON.stringify(interrupt.value)}</pre>
          <button data-testid="approve" onClick={() => void approve(interrupt)}>
            approve
          </button>
        </section>
      )}
      {stream.error != null && <p data-testid="error">{String(stream.error?.message ?? stream.error)}</p>}
      <button data-testid="send" disabled={stream.isLoading} onClick={() => void stream.submit({ messages: [{ type: "human", content: params.get("text") ?? "hi" }] })}>
        send
      </button>
    </main>
  );
}
