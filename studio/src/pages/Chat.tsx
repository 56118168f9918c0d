// The chat view for graphs with a `messages` channel, on `useStream` from @langchain/react: the
// v2-native hook, a binding over the SDK's StreamController, which talks to the thread through
// the Agent Streaming Protocol v2 (commands to POST /threads/{id}/commands, events from SSE on
// POST /threads/{id}/stream/events). Tokens appear as they stream (the `messages` channel's
// content-block deltas), tool calls are shown, interrupts are answered with a resume form
// (`input.respond`), and a run in progress is rejoined after a reload: the hook reads the
// thread's state, finds it active and follows its stream, which the server replays from the
// start. Generative-UI messages (the `ui` state key that `push_ui_message` fills) are shown as
// Agent Chat UI shows them: each under the AI message it names, loaded from the server's
// `/ui/{assistant}` bundle by LoadExternalComponent; those tied to no message after the list.
import { HumanMessage, type AIMessage, type BaseMessage, type ToolMessage } from "@langchain/core/messages";
import type { Client } from "@langchain/langgraph-sdk";
import { LoadExternalComponent, type UIMessage } from "@langchain/langgraph-sdk/react-ui";
import { useChannelEffect, useStream, type Event } from "@langchain/react";
import { useCallback, useEffect, useMemo, useRef, useState, type KeyboardEvent, type ReactNode } from "react";
import { useApi } from "../api";
import { ErrorBox } from "../components/common";
import { compact } from "../json";
import type { EngineProps } from "./engine";
import { InterruptForm, type InterruptLike } from "./panels";

type ChatState = { messages: BaseMessage[]; ui?: UIMessage[] };
type Ending = "success" | "error" | "interrupt" | "stopped";

/**
 * What the side panel's event log shows (values and messages are the chat itself). Not
 * `lifecycle`: the SDK folds every subscription into one SSE, opening a new one with the union
 * whenever a subscription is added; a log stream opened before the hook's own (on a thread that
 * was idle) would hand the hook a run's root lifecycle ahead of its values, and the hook, taking
 * the run for ended, would hold those values back until the next run.
 */
const LOGGED_CHANNELS = ["updates", "custom"] as const;

export function textOf(content: unknown): string {
  if (typeof content === "string") return content;
  if (Array.isArray(content)) {
    return content
      .map((part) => (typeof part === "string" ? part : part && typeof part === "object" && "text" in part ? String((part as { text: unknown }).text) : ""))
      .join("");
  }
  return content == null ? "" : compact(content, 2000);
}

/**
 * A fresh hook (a new StreamController) whenever `follow` is asked for: a controller that found
 * the thread idle when it loaded it opens no event stream until it sends a command itself, so a
 * run started elsewhere is followed by loading the thread again, which then finds it active.
 */
export function ChatPane(props: EngineProps) {
  const [generation, setGeneration] = useState(0);
  const follow = useCallback(() => setGeneration((g) => g + 1), []);
  return <ChatView key={generation} {...props} follow={follow} />;
}

function ChatView({ threadId, assistantId, engineRef, onEvent, clearEvents, onRunChange, onBusy, follow }: EngineProps & { follow: () => void }) {
  const { client, reportAuthError } = useApi();
  // The run this hook started itself (run.start answers its id); the only one its stop() cancels.
  const ownRun = useRef<string | null>(null);
  // A fork shows its branch once it ends: see launch below.
  const forking = useRef(false);
  const [ending, setEnding] = useState<Ending | null>(null);
  // The hook hands onCreated/onCompleted to its controller once, when it makes it: they may use
  // only refs and callbacks that never change.
  const stream = useStream<ChatState>({
    client,
    assistantId,
    threadId,
    onCreated: ({ runId }) => {
      ownRun.current = runId;
      onRunChange();
    },
    onCompleted: ({ reason }) => {
      ownRun.current = null;
      setEnding(reason);
      onRunChange();
      if (forking.current) {
        forking.current = false;
        follow();
      }
    },
  });
  // The event log: the thread's updates and custom events as its stream brings them, root and
  // one level down. A v2 stream replays the thread from its first run, so a page (re)loaded on a
  // thread shows those of its earlier runs too; a run this page starts begins the log anew.
  useChannelEffect(stream, LOGGED_CHANNELS, {
    onEvent: (event: Event) => {
      const { namespace, data } = event.params;
      onEvent(namespace.length ? `${event.method}|${namespace.join("|")}` : event.method, data, event.event_id);
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
  useEffect(() => {
    if (stream.error != null) reportAuthError(stream.error);
  }, [stream.error, reportAuthError]);

  const streamRef = useRef(stream);
  streamRef.current = stream;
  const respond = useCallback(
    async (resume: unknown) => {
      setEnding(null);
      clearEvents();
      const { interrupts } = streamRef.current;
      // One answer for all of them when several are pending at once: one `input.respond` with
      // a response per interrupt id (one at a time, the first would start the run without the rest).
      if (interrupts.length > 1) await streamRef.current.respondAll(Object.fromEntries(interrupts.map((i) => [i.id ?? "", resume])));
      else await streamRef.current.respond(resume, interrupts[0]?.id ? { interruptId: interrupts[0].id } : undefined);
      // input.respond answers no run id (no onCreated): the panels learn of the run here.
      onRunChange();
    },
    [clearEvents, onRunChange],
  );
  useEffect(() => {
    engineRef.current = {
      launch: async ({ input, command, checkpointId }) => {
        if (command?.resume !== undefined) return respond(command.resume);
        setEnding(null);
        clearEvents();
        // The hook keeps the messages it has shown when a values snapshot comes from an earlier
        // step than it has seen (a replay), which is also what a fork's branch looks like; the
        // branch is loaded afresh when its run ends.
        forking.current = checkpointId != null;
        await streamRef.current.submit((input ?? null) as Partial<ChatState> | null, checkpointId ? { forkFrom: checkpointId } : undefined);
      },
      join: async () => {
        clearEvents();
        follow();
      },
    };
    return () => {
      engineRef.current = null;
    };
  }, [engineRef, clearEvents, respond, follow]);

  const stop = async () => {
    if (ownRun.current != null) {
      await stream.stop(); // cancels it (POST /threads/{id}/runs/{run}/cancel), then stops following
      return;
    }
    // A run the hook joined (after a reload) or resumed (input.respond answers no run id): the
    // hook does not know its id, so cancel whatever runs on the thread; its lifecycle ends it here.
    const [running, pending] = await Promise.all([client.runs.list(threadId, { status: "running" }), client.runs.list(threadId, { status: "pending" })]);
    await Promise.all([...running, ...pending].map((run) => client.runs.cancel(threadId, run.run_id)));
  };
  const send = () => {
    const content = text.trim();
    if (!content || busy) return;
    setText("");
    setEnding(null);
    clearEvents();
    // Shown at once (the hook's optimistic input, with a client-made id the server keeps).
    void stream.submit({ messages: [new HumanMessage(content)] });
  };
  const onKey = (e: KeyboardEvent<HTMLTextAreaElement>) => {
    if (e.key === "Enter" && !e.shiftKey && !e.nativeEvent.isComposing) {
      e.preventDefault();
      send();
    }
  };
  const interrupts: InterruptLike[] = busy ? [] : stream.interrupts.map((i) => ({ id: i.id, value: i.value }));
  // A run that stopped with no question pending was cancelled (v2 ends it `interrupted`, as it
  // does a human-in-the-loop pause, minus the input request): say so plainly.
  const cancelled = !busy && interrupts.length === 0 && (ending === "interrupt" || ending === "stopped");
  const results = new Map<string, ToolMessage>();
  for (const m of messages) if (m.type === "tool" && (m as ToolMessage).tool_call_id) results.set((m as ToolMessage).tool_call_id, m as ToolMessage);
  const ui = Array.isArray(stream.values?.ui) ? stream.values.ui : [];
  const tied = (id: string | undefined) => (id ? ui.filter((u) => u.metadata?.message_id === id) : []);
  const shown = new Set(messages.map((m) => m.id).filter(Boolean));
  const unbound = ui.filter((u) => !shown.has(u.metadata?.message_id as string | undefined));

  return (
    <div className="chat" data-testid="chat">
      <div className="messages" data-testid="messages">
        {stream.isThreadLoading && <div className="muted">Loading…</div>}
        {!stream.isThreadLoading && messages.length === 0 && <div className="empty">Say something to start the thread.</div>}
        {messages.map((m, i) => (
          <MessageView key={m.id ?? i} message={m} results={results} streaming={busy && i === messages.length - 1 && m.type === "ai"}>
            {tied(m.id).map((u) => (
              <UiView key={u.id} message={u} client={client} assistantId={assistantId} />
            ))}
          </MessageView>
        ))}
        {unbound.map((u) => (
          <UiView key={u.id} message={u} client={client} assistantId={assistantId} />
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
      {interrupts.length > 0 && <InterruptForm interrupts={interrupts} onResume={(resume) => respond(resume)} />}
      <form
        className="composer"
        onSubmit={(e) => {
          e.preventDefault();
          send();
        }}
      >
        <textarea rows={2} value={text} placeholder={interrupts.length ? "Answer the interrupt above, or send a new message" : "Message"} onChange={(e) => setText(e.target.value)} onKeyDown={onKey} data-testid="chat-input" />
        {busy ? (
          <button type="button" onClick={() => void stop()} data-testid="chat-stop">
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

type ExternalStream = Parameters<typeof LoadExternalComponent>[0]["stream"];

/**
 * One UI message, rendered by the component the graph's bundle names (in a shadow root, with the
 * page's React). LoadExternalComponent reads only `client` and `assistantId` from the stream it
 * is given, so that is all it gets: a component's `useStreamContext()` expects the SDK's v1
 * hook, which this page does not run (it speaks v2), and would find nothing else there.
 */
function UiView({ message, client, assistantId }: { message: UIMessage; client: Client; assistantId: string }) {
  // Typed as the whole v1 hook; the two fields are all the component reads (see above).
  const stream = useMemo(() => ({ client, assistantId }) as unknown as ExternalStream, [client, assistantId]);
  return (
    <div className="ui-message" data-testid="ui-message" data-ui-name={message.name}>
      <LoadExternalComponent stream={stream} message={message} fallback={<span className="muted">loading {message.name}…</span>} />
    </div>
  );
}

function MessageView({ message, results, streaming, children }: { message: BaseMessage; results: Map<string, ToolMessage>; streaming: boolean; children?: ReactNode }) {
  if (message.type === "tool") {
    return (
      <div className="message tool" data-testid="message" data-type="tool">
        <div className="who">tool {message.name ? <code>{message.name}</code> : null}</div>
        <pre className="tool-result" data-testid="tool-result">{textOf(message.content)}</pre>
      </div>
    );
  }
  const text = textOf(message.content);
  const toolCalls = message.type === "ai" ? ((message as AIMessage).tool_calls ?? []) : [];
  return (
    <div className={`message ${message.type}`} data-testid="message" data-type={message.type} data-streaming={streaming ? "true" : "false"}>
      <div className="who">{message.type === "human" ? "you" : message.type === "ai" ? (message.name ?? "assistant") : message.type}</div>
      {text && (
        <div className="message-text" data-testid="message-text">
          {text}
          {streaming && <span className="caret" aria-hidden="true" />}
        </div>
      )}
      {children}
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
