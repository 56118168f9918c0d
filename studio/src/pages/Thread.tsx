import type { Assistant, GraphSchema, Thread } from "@langchain/langgraph-sdk";
import { useCallback, useEffect, useRef, useState } from "react";
import { useApi } from "../api";
import { ConfirmButton, ErrorBox, StatusBadge, Tabs } from "../components/common";
import { shortId, useInterval, useLoad } from "../hooks";
import type { Schema } from "../json";
import { href, linkTo, navigate } from "../router";
import { ChatPane } from "./Chat";
import type { Engine, EventRow } from "./engine";
import { EventsLog, HistoryPanel, RunsPanel, StatePanel } from "./panels";
import { RunnerPane } from "./Runner";

type Side = "state" | "history" | "runs" | "events";
const MAX_EVENTS = 2000;

function hasMessages(schemas: GraphSchema | undefined, thread: Thread | undefined): boolean {
  const props = (schemas?.state_schema as Schema | null | undefined)?.properties as Record<string, unknown> | undefined;
  if (props) return "messages" in props;
  const values = thread?.values as Record<string, unknown> | null | undefined;
  return Array.isArray(values?.messages);
}

/** Keeps a choice in the page's URL, so that a reload comes back to it. */
function remember(threadId: string, key: string, value: string): void {
  const query = new URLSearchParams(window.location.search);
  query.set(key, value);
  navigate(`/threads/${threadId}?${query}`, { replace: true });
}

export function ThreadPage({ threadId, assistantParam, viewParam }: { threadId: string; assistantParam: string | null; viewParam: string | null }) {
  const { client } = useApi();
  const thread = useLoad((signal) => client.threads.get(threadId, { signal }) as Promise<Thread>, [client, threadId]);
  const assistants = useLoad((signal) => client.assistants.search({ limit: 100, signal }) as Promise<Assistant[]>, [client]);
  const [picked, setPicked] = useState<string | null>(assistantParam);
  const [busy, setBusy] = useState(false);
  const [refresh, setRefresh] = useState(0);
  const [stateGeneration, setStateGeneration] = useState(0);
  const [side, setSide] = useState<Side>("history");
  const [mode, setMode] = useState<"chat" | "run" | null>(viewParam === "chat" || viewParam === "run" ? viewParam : null);
  const [events, setEvents] = useState<EventRow[]>([]);
  const [deleteError, setDeleteError] = useState<unknown>(null);
  const engineRef = useRef<Engine | null>(null);
  const counter = useRef(0);

  const md = (thread.data?.metadata ?? {}) as Record<string, unknown>;
  const list = assistants.data ?? [];
  const byGraph = (graphId: unknown) =>
    list.find((a) => a.graph_id === graphId && (a.metadata as Record<string, unknown> | undefined)?.created_by === "system") ?? list.find((a) => a.graph_id === graphId);
  const assistantId =
    picked ??
    (typeof md.assistant_id === "string" ? md.assistant_id : undefined) ??
    byGraph(md.graph_id)?.assistant_id ??
    (thread.data && assistants.data ? list[0]?.assistant_id : undefined);
  const assistant = list.find((a) => a.assistant_id === assistantId);
  const schemas = useLoad((signal) => (assistantId ? client.assistants.getSchemas(assistantId, { signal }) : Promise.resolve(undefined)), [client, assistantId]);
  const ready = assistantId != null && !schemas.loading && thread.data != null;
  const chat = hasMessages(schemas.data, thread.data);
  const view = mode ?? (chat ? "chat" : "run");

  const bump = useCallback(() => {
    setRefresh((r) => r + 1);
    thread.reload();
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, []);
  const onEvent = useCallback((event: string, data: unknown, id?: string) => {
    setEvents((prev) => {
      const next = [...prev, { n: counter.current++, event, data, id, at: Date.now() }];
      return next.length > MAX_EVENTS ? next.slice(-MAX_EVENTS) : next;
    });
  }, []);
  const clearEvents = useCallback(() => setEvents([]), []);
  const onBusy = useCallback((b: boolean) => setBusy(b), []);
  const stateEdited = useCallback(() => {
    setStateGeneration((g) => g + 1);
    bump();
  }, [bump]);
  useInterval(thread.reload, 1000, busy || thread.data?.status === "busy");
  useEffect(() => {
    if (!busy) bump();
  }, [busy, bump]);

  const remove = async () => {
    try {
      await client.threads.delete(threadId);
      navigate("/threads");
    } catch (e) {
      setDeleteError(e);
    }
  };

  const engineProps = {
    threadId,
    assistantId: assistantId ?? "",
    schemas: schemas.data,
    engineRef,
    onEvent,
    clearEvents,
    onRunChange: bump,
    onBusy,
    events,
  };
  const sideTabs = [
    { id: "history" as const, label: "History" },
    { id: "state" as const, label: "State" },
    { id: "runs" as const, label: "Runs" },
    ...(view === "chat" ? [{ id: "events" as const, label: `Events${events.length ? ` (${events.length})` : ""}` }] : []),
  ];

  return (
    <div className="thread-page" data-testid="thread-page" data-thread-id={threadId}>
      <header className="thread-head">
        <a href={href("/threads")} onClick={linkTo("/threads")} className="muted back">
          ← Threads
        </a>
        <h1 title={threadId}>
          Thread <code>{shortId(threadId)}</code>
        </h1>
        <StatusBadge status={thread.data?.status} testId="thread-status" />
        <span className="spacer" />
        <label className="inline">
          <span className="label">Assistant</span>
          <select value={assistantId ?? ""} onChange={(e) => {
            setPicked(e.target.value);
            remember(threadId, "assistant", e.target.value);
          }} data-testid="thread-assistant">
            {list.map((a) => (
              <option key={a.assistant_id} value={a.assistant_id}>
                {a.name}
                {a.name !== a.graph_id ? ` (${a.graph_id})` : ""}
              </option>
            ))}
          </select>
        </label>
        <div className="segmented" role="group" aria-label="View">
          <button type="button" className={view === "chat" ? "active" : ""} onClick={() => {
              setMode("chat");
              remember(threadId, "view", "chat");
            }} data-testid="view-chat" disabled={busy}>
            Chat
          </button>
          <button type="button" className={view === "run" ? "active" : ""} onClick={() => {
              setMode("run");
              remember(threadId, "view", "run");
            }} data-testid="view-run" disabled={busy}>
            Input
          </button>
        </div>
        <ConfirmButton onConfirm={() => void remove()} testId="thread-delete" className="ghost">
          Delete
        </ConfirmButton>
      </header>
      <ErrorBox error={thread.error ?? assistants.error ?? schemas.error ?? deleteError} />
      {assistant && (
        <div className="thread-sub muted">
          {assistant.name} · <code>{assistant.graph_id}</code> · v{assistant.version}
        </div>
      )}
      <div className="thread-body">
        <section className="main-pane">
          {ready &&
            (view === "chat" ? (
              <ChatPane key={`${assistantId}:${stateGeneration}`} {...engineProps} />
            ) : (
              <RunnerPane key={`${assistantId}:${stateGeneration}`} {...engineProps} />
            ))}
        </section>
        <aside className="side-pane">
          <Tabs<Side> tabs={sideTabs} active={side === "events" && view !== "chat" ? "history" : side} onChange={setSide} testId="side-tabs" />
          {side === "state" && <StatePanel threadId={threadId} refresh={refresh} onEdited={stateEdited} />}
          {(side === "history" || (side === "events" && view !== "chat")) && (
            <HistoryPanel
              threadId={threadId}
              refresh={refresh}
              engine={() => engineRef.current}
              busy={busy}
              onEdited={stateEdited}
              inputSchema={(schemas.data?.input_schema ?? null) as Schema | null}
              chat={view === "chat"}
            />
          )}
          {side === "runs" && <RunsPanel threadId={threadId} refresh={refresh} busy={busy} engine={() => engineRef.current} onChanged={bump} />}
          {side === "events" && view === "chat" && <EventsLog events={events} live={busy} />}
        </aside>
      </div>
    </div>
  );
}
