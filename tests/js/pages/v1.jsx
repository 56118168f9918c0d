// The legacy useStream from @langchain/langgraph-sdk/react (1.15.0): v1 runs.stream.
import { useStream } from "@langchain/langgraph-sdk/react";
import { useState } from "react";
import { createRoot } from "react-dom/client";
import { Messages, params, rememberThread, useSeenLog } from "./common.jsx";

function App() {
  // The legacy hook's threadId is controlled: without it given back, the next submit (the
  // resume) would go to a new thread.
  const [threadId, setThreadId] = useState(params.get("thread"));
  const stream = useStream({
    apiUrl: params.get("api"),
    assistantId: params.get("assistant"),
    threadId,
    onThreadId: (id) => {
      setThreadId(id);
      rememberThread(id);
    },
  });
  useSeenLog(stream.isLoading, stream.messages);
  const interrupt = stream.interrupt;
  return (
    <main data-testid="page" data-loading={String(stream.isLoading)}>
      <Messages messages={stream.messages} />
      {interrupt && (
        <section data-testid="interrupt">
          <pre data-testid="interrupt-value">{JSON.stringify(interrupt.value)}</pre>
          <button data-testid="approve" onClick={() => void stream.submit(undefined, { command: { resume: "yes" } })}>
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

createRoot(document.getElementById("root")).render(<App />);
