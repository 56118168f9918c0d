// useStream from @langchain/react 1.1.0: the v2 protocol (thread commands and event streams).
import { useStream } from "@langchain/react";
import { createRoot } from "react-dom/client";
import { Page, params, rememberThread } from "./common.jsx";

function App() {
  const stream = useStream({
    apiUrl: params.get("api"),
    assistantId: params.get("assistant"),
    // Read once, at load: the first page has none (submit mints it), a reload has it.
    threadId: params.get("thread"),
    onThreadId: rememberThread,
  });
  return (
    <Page
      stream={stream}
      // By id: the interrupt shown may come from GET state (after a reload) before the event
      // stream has replayed its input.requested, which respond() alone looks for.
      approve={(interrupt) => stream.respond("yes", { interruptId: interrupt.id })}
      pageProps={{
        "data-thread-loading": String(stream.isThreadLoading),
        "data-thread": stream.threadId ?? "",
      }}
    />
  );
}

createRoot(document.getElementById("root")).render(<App />);
