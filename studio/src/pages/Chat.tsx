// The chat view for graphs with a `messages` channel, on the SDK's React `useStream` hook: tokens
// appear as they stream (messages-tuple), tool calls are shown, interrupts are answered with a
// resume form, and a run in progress is rejoined after a reload (reconnectOnMount).
import type { Message } from "@langchain/langgraph-sdk";
import { useStream } from "@langchain/langgraph-sdk/react";
import { useEffect, useRef, useState, type KeyboardEvent } from "react";
import { describeError, useApi } from "../api";
import { ErrorBox } from "../components/common";
import { compact } from "../json";
import type { EngineProps } from "./engine";
import { InterruptForm, type InterruptLike } from "./panels";

type ChatState = { messages: Message[] };

export function textOf(content: unknown): string {
  if (typeof content === "string") return content;
  if (Array.isArray(content)) {
    return content
      .map((part) => (typeof part === "string" ? part : part && typeof part === "object" && "text" in part ? String((part as { text: unknown }).text) : ""))
      .join("");
  }
  return content == null ? "" : compact(content, 2000);
}

export function ChatPane({ threadId, assistantId, engineRef, onEvent, clearEvents, onRunChange, onBusy }: EngineProps) {
  const { client, reportAuthError } = useApi();
  const stream = useStream<ChatState>({
    client,
    assistantId,
    threadId,
    reconnectOnMount: true,
    fetchStateHistory: { limit: 100 },
    onCustomEvent: (data, { namespace }) => onEvent(namespace?.length ? `custom|${namespace.join("|")}` : "custom", data),
    onUpdateEvent: (data, { namespace }) => onEvent(namespace?.length ? `updates|${namespace.join("|")}` : "updates", data),
    onMetadataEvent: (data) => onEvent("metadata", data),
    onCreated: () => onRunChange(),
    onFinish: () => onRunChange(),
    onError: (error) => {
      reportAuthError(error);
      onRunChange();
    },
  });
  const [text, setText] = useState("");
  const endRef = useRef<HTMLDivElement>(null);
  const messages = stream.messages;
  const busy = stream.isLoading;

  useEffect(() => onBusy(busy), [busy, onBusy]);
  useEffect(() => {
    endRef.current?.scrollIntoView({ block: "end" });
  }, [messages]);

  const submitRef = useRef(stream.submit);
  submitRef.current = stream.submit;
  const joinRef = useRef(stream.joinStream);
  joinRef.current = stream.joinStream;
  useEffect(() => {
    engineRef.current = {
      launch: async ({ input, command, checkpointId }) => {
        clearEvents();
        await submitRef.current((input ?? null) as Partial<ChatState> | null, {
          command,
          checkpoint: checkpointId ? { checkpoint_id: checkpointId, checkpoint_ns: "", checkpoint_map: null } : undefined,
          streamResumable: true,
        });
      },
      join: async (runId) => {
        clearEvents();
        await joinRef.current(runId, "-1");
      },
    };
    return () => {
      engineRef.current = null;
    };
  }, [engineRef, clearEvents]);

  const send = () => {
    const content = text.trim();
    if (!content || busy) return;
    setText("");
    clearEvents();
    const message = { type: "human", content } as Message;
    void stream.submit(
      { messages: [message] },
      {
        streamResumable: true,
        optimisticValues: (prev) => ({ ...prev, messages: [...(prev.messages ?? []), message] }),
      },
    );
  };
  const onKey = (e: KeyboardEvent<HTMLTextAreaElement>) => {
    if (e.key === "Enter" && !e.shiftKey && !e.nativeEvent.isComposing) {
      e.preventDefault();
      send();
    }
  };
  const interrupts = (busy ? [] : stream.interrupts) as InterruptLike[];
  // A cancelled run leaves its task's error in the checkpoint (langgraph): say so plainly.
  const cancelled = !busy && stream.error != null && /CancelledError|UserInterrupt/.test(describeError(stream.error));
  const results = new Map<string, Message>();
  for (const m of messages) if (m.type === "tool" && m.tool_call_id) results.set(m.tool_call_id, m);

  return (
    <div className="chat" data-testid="chat">
      <div className="messages" data-testid="messages">
        {stream.isThreadLoading && <div className="muted">Loading…</div>}
        {!stream.isThreadLoading && messages.length === 0 && <div className="empty">Say something to start the thread.</div>}
        {messages.map((m, i) => (
          <MessageView key={m.id ?? i} message={m} results={results} streaming={busy && i === messages.length - 1 && m.type === "ai"} />
        ))}
        {busy && <div className="typing" data-testid="run-active" aria-label="running"><span /><span /><span /></div>}
        <div ref={endRef} />
      </div>
      {cancelled ? (
        <div className="notice" data-testid="chat-cancelled">
          The last run was cancelled.
        </div>
      ) : (
        <ErrorBox error={stream.error} testId="chat-error" />
      )}
      {interrupts.length > 0 && (
        <InterruptForm
          interrupts={interrupts}
          onResume={(resume) => {
            clearEvents();
            return stream.submit(null, resume === undefined ? { streamResumable: true } : { command: { resume }, streamResumable: true });
          }}
        />
      )}
      <form
        className="composer"
        onSubmit={(e) => {
          e.preventDefault();
          send();
        }}
      >
        <textarea rows={2} value={text} placeholder={interrupts.length ? "Answer the interrupt above, or send a new message" : "Message"} onChange={(e) => setText(e.target.value)} onKeyDown={onKey} data-testid="chat-input" />
        {busy ? (
          <button type="button" onClick={() => void stream.stop()} data-testid="chat-stop">
            Stop
          </button>
        ) : (
          <button type="submit" className="primary" disabled={!text.trim()} data-testid="chat-send">
            Send
          </button>
        )}
      </form>
    </div>
  );
}

function MessageView({ message, results, streaming }: { message: Message; results: Map<string, Message>; streaming: boolean }) {
  if (message.type === "tool") {
    return (
      <div className="message tool" data-testid="message" data-type="tool">
        <div className="who">tool {message.name ? <code>{message.name}</code> : null}</div>
        <pre className="tool-result" data-testid="tool-result">{textOf(message.content)}</pre>
      </div>
    );
  }
  const text = textOf(message.content);
  const toolCalls = message.type === "ai" ? (message.tool_calls ?? []) : [];
  return (
    <div className={`message ${message.type}`} data-testid="message" data-type={message.type} data-streaming={streaming ? "true" : "false"}>
      <div className="who">{message.type === "human" ? "you" : message.type === "ai" ? (message.name ?? "assistant") : message.type}</div>
      {text && (
        <div className="message-text" data-testid="message-text">
          {text}
          {streaming && <span className="caret" aria-hidden="true" />}
        </div>
      )}
      {toolCalls.map((call, i) => {
        const result = call.id ? results.get(call.id) : undefined;
        return (
          <div key={call.id ?? i} className="tool-call" data-testid="tool-call" data-tool-name={call.name}>
            <div className="tool-head">
              <span className="badge">tool call</span> <code>{call.name}</code>
              <span className="muted">{result ? " · answered" : " · pending"}</span>
            </div>
            <pre>{JSON.stringify(call.args, null, 2)}</pre>
          </div>
        );
      })}
    </div>
  );
}
