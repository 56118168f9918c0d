// The legacy useStream from @langchain/langgraph-sdk/react (1.15.0): v1 runs.stream.
import { useStream } from "@langchain/langgraph-sdk/react";
import { useState } from "react";
import { createRoot } from "react-dom/client";
import { Page, params, rememberThread } from "./common.jsx";

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
  // The legacy hook answers an interrupt with a submit that resumes.
  return <Page stream={stream} approve={() => stream.submit(undefined, { command: { resume: "yes" } })} />;
}

createRoot(document.getElementById("root")).render(<App />);
