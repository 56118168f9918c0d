// useStream from @langchain/react 1.1.0: the v2 protocol (thread commands and event streams).
import { useStream } from "@langchain/react";
import { createRoot } from "react-dom/client";
import { Messages, params, rememberThread, useSeenLog } from "./common.jsx";

function App() {
  const stream = useStream({
    apiUrl: params.get("api"),
    assistantId: params.get("assistant"),
    // Read once, at load: the first page has none (submit mints it), a reload has it.
    threadId: params.get("thread"),
    onThreadId: rememberThread,
  });
  useSeenLog(stream.isLoading, stream.messages);
  const interrupt = stream.interrupt;
  return (
    <main data-testid="page" data-loading={String(stream.isLoading)} data-thread-loading={String(stream.isThreadLoading)} data-thread={stream.threadId ?? ""}>
      <Messages messages={stream.messages} />
      {interrupt && (
        <section data-testid="interrupt" data-id={interrupt.id}>
          <pre data-testid="interrupt-value">{JSON.stringify(interrupt.value)}</pre>
          {/* By id: the interrupt shown may come from GET state (after a reload) before the
              event stream has replayed its input.requested, which respond() alone looks for. */}
          <button data-testid="approve" onClick={() => void stream.respond("yes", { interruptId: interrupt.id })}>
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
