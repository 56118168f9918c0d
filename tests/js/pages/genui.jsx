// Generative UI as Agent Chat UI shows it: the legacy useStream of @langchain/langgraph-sdk/react
// with onCustomEvent folding `ui` events into values.ui (uiMessageReducer), and, under each AI
// message, a LoadExternalComponent (@langchain/langgraph-sdk/react-ui) per UI message tied to
// it; UI messages tied to no message are shown after the list. LoadExternalComponent asks the
// server for the component (POST /ui/{assistant}) and renders it in a shadow root.
import { useStream } from "@langchain/langgraph-sdk/react";
import { LoadExternalComponent, isRemoveUIMessage, isUIMessage, uiMessageReducer } from "@langchain/langgraph-sdk/react-ui";
import { useEffect, useRef } from "react";
import { createRoot } from "react-dom/client";
import { params, textOf, typeOf } from "./common.jsx";

/** The `custom` events the page received, for the test to read. */
window.__custom = [];

function App() {
  const stream = useStream({
    apiUrl: params.get("api"),
    assistantId: params.get("assistant"),
    onCustomEvent: (event, options) => {
      window.__custom.push(event);
      if (isUIMessage(event) || isRemoveUIMessage(event)) {
        options.mutate((prev) => ({ ...prev, ui: uiMessageReducer(prev.ui ?? [], event) }));
      }
    },
  });
  const started = useRef(false);
  useEffect(() => {
    if (started.current) return;
    started.current = true;
    stream.submit({ messages: [{ type: "human", content: params.get("text") ?? "Lisbon" }] });
  }, []);
  const ui = stream.values?.ui ?? [];
  const show = (message) => (
    <LoadExternalComponent key={message.id} stream={stream} message={message} data-testid={`ui-${message.id}`} fallback={<i>loading {message.name}</i>} />
  );
  return (
    <main data-testid="page" data-loading={String(stream.isLoading)}>
      <ol data-testid="messages">
        {stream.messages.map((m, i) => (
          <li key={m.id ?? i} data-testid="message" data-type={typeOf(m)}>
            {textOf(m.content)}
            {ui.filter((u) => u.metadata?.message_id === m.id).map(show)}
          </li>
        ))}
      </ol>
      <section data-testid="unbound">{ui.filter((u) => !u.metadata?.message_id).map(show)}</section>
      {stream.error != null && <p data-testid="error">{String(stream.error)}</p>}
    </main>
  );
}

createRoot(document.getElementById("root")).render(<App />);
