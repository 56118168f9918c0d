import type { Checkpoint, Run, ThreadState } from "@langchain/langgraph-sdk";
import { useMemo, useState } from "react";
import { describeError, useApi } from "../api";
import { Empty, ErrorBox, JsonEditor, JsonView, StatusBadge, jsonProblems } from "../components/common";
import { clockTime, shortId, useInterval, useLoad } from "../hooks";
import { compact, parseJson, parseLoose, pretty, type Schema } from "../json";
import type { Engine, EventRow } from "./engine";

export interface InterruptLike {
  value?: unknown;
  id?: string;
  when?: string;
}

/**
 * Shows what the graph asked and sends the answer as Command(resume=...). A run that stopped
 * with nodes still to run but no question (a breakpoint, or a cancelled run) is continued
 * instead: `onResume(undefined)`.
 */
export function InterruptForm({ interrupts, onResume }: { interrupts: InterruptLike[]; onResume: (value: unknown) => Promise<void> | void }) {
  const [text, setText] = useState("");
  const [error, setError] = useState<unknown>(null);
  const [sending, setSending] = useState(false);
  const breakpoint = interrupts.every((i) => i.when === "breakpoint");
  return (
    <form
      className="interrupt"
      data-testid="interrupt-form"
      onSubmit={async (e) => {
        e.preventDefault();
        setSending(true);
        setError(null);
        try {
          await onResume(breakpoint ? undefined : parseLoose(text));
          setText("");
        } catch (err) {
          setError(err);
        } finally {
          setSending(false);
        }
      }}
    >
      <div className="interrupt-head">
        <span className="badge status-interrupted">interrupted</span>
        {breakpoint ? " The run stopped before the end (a breakpoint, or it was cancelled)." : " The graph is waiting for an answer."}
      </div>
      {interrupts
        .filter((i) => i.when !== "breakpoint")
        .map((i, n) => {
          const question = i.value && typeof i.value === "object" && "question" in i.value ? String((i.value as { question: unknown }).question) : null;
          return (
            <div key={i.id ?? n} className="interrupt-value" data-testid="interrupt-value">
              {question && <strong>{question}</strong>}
              <JsonView value={i.value} />
            </div>
          );
        })}
      {!breakpoint && (
        <label>
          <span className="label">Resume value (JSON, or plain text)</span>
          <textarea rows={2} value={text} onChange={(e) => setText(e.target.value)} data-testid="resume-input" placeholder='"yes", {"approved": true}, …' />
        </label>
      )}
      <ErrorBox error={error} />
      <div className="row">
        <button type="submit" className="primary" disabled={sending} data-testid="resume-submit">
          {breakpoint ? "Continue" : "Resume"}
        </button>
      </div>
    </form>
  );
}

/** The events of the current run, as they arrive, filtered by mode. */
export function EventsLog({ events, live }: { events: EventRow[]; live: boolean }) {
  const [hidden, setHidden] = useState<Set<string>>(new Set());
  const [open, setOpen] = useState<number | null>(null);
  const modes = useMemo(() => {
    const counts = new Map<string, number>();
    for (const e of events) {
      const mode = e.event.split("|")[0];
      counts.set(mode, (counts.get(mode) ?? 0) + 1);
    }
    return [...counts.entries()];
  }, [events]);
  const shown = events.filter((e) => !hidden.has(e.event.split("|")[0]));
  return (
    <div className="events" data-testid="events">
      <div className="row wrap">
        {live && <span className="badge status-running">live</span>}
        {modes.map(([mode, count]) => (
          <button
            key={mode}
            type="button"
            className={hidden.has(mode) ? "chip off" : "chip"}
            onClick={() => setHidden((h) => {
              const next = new Set(h);
              if (next.has(mode)) next.delete(mode);
              else next.add(mode);
              return next;
            })}
            data-testid={`events-mode-${mode}`}
          >
            {mode} <span className="muted">{count}</span>
          </button>
        ))}
        {events.length === 0 && <span className="muted">No events yet: they appear here as a run streams.</span>}
      </div>
      <ol className="event-list">
        {shown.map((e) => (
          <li key={e.n} data-testid="event" data-event={e.event} className={`event mode-${e.event.split("|")[0]}`} onClick={() => setOpen(open === e.n ? null : e.n)}>
            <span className="event-name">{e.event}</span>
            {open === e.n ? <pre className="json">{pretty(e.data)}</pre> : <code className="event-data">{compact(e.data, 200)}</code>}
          </li>
        ))}
      </ol>
    </div>
  );
}

export function StatePanel({ threadId, refresh, onEdited }: { threadId: string; refresh: number; onEdited: () => void }) {
  const { client } = useApi();
  const state = useLoad((signal) => client.threads.getState(threadId, undefined, { signal }), [client, threadId, refresh]);
  const [editing, setEditing] = useState(false);
  const s = state.data as ThreadState | undefined;
  return (
    <div className="panel" data-testid="state-panel">
      <ErrorBox error={state.error} />
      {s && (
        <>
          <div className="meta">
            <span>next: {s.next?.length ? s.next.map((n) => <code key={n}>{n}</code>) : <span className="muted">nothing (done)</span>}</span>
            {s.checkpoint?.checkpoint_id && (
              <span title={s.checkpoint.checkpoint_id}>
                checkpoint <code>{shortId(s.checkpoint.checkpoint_id)}</code>
              </span>
            )}
          </div>
          {editing ? (
            <StateEditor threadId={threadId} state={s} onDone={(changed) => { setEditing(false); if (changed) onEdited(); }} />
          ) : (
            <>
              <div className="row">
                <button type="button" onClick={() => setEditing(true)} data-testid="edit-state" disabled={!s.checkpoint?.checkpoint_id}>
                  Edit state
                </button>
              </div>
              <JsonView value={s.values} testId="state-values" />
            </>
          )}
          {s.tasks?.some((t) => t.interrupts?.length || t.error) && (
            <details open>
              <summary>Tasks</summary>
              <JsonView value={s.tasks} />
            </details>
          )}
        </>
      )}
    </div>
  );
}

/** update_state: writes values as if a node had returned them, on top of a checkpoint. */
export function StateEditor({ threadId, state, onDone }: { threadId: string; state: ThreadState; onDone: (changed: boolean) => void }) {
  const { client } = useApi();
  const [text, setText] = useState(pretty(state.values ?? {}));
  const [asNode, setAsNode] = useState("");
  const [error, setError] = useState<unknown>(null);
  const problems = jsonProblems(text, null, false);
  const save = async () => {
    const parsed = parseJson(text);
    if (!parsed.ok) return;
    try {
      await client.threads.updateState(threadId, {
        values: parsed.value as Record<string, unknown>,
        checkpointId: state.checkpoint?.checkpoint_id ?? undefined,
        asNode: asNode.trim() || undefined,
      });
      onDone(true);
    } catch (e) {
      setError(e);
    }
  };
  return (
    <form className="stack" data-testid="state-editor" onSubmit={(e) => { e.preventDefault(); void save(); }}>
      <p className="muted">
        The values go through the graph's reducers, as if the node below had returned them (a list of messages is appended, for instance). A new checkpoint is made after <code>{shortId(state.checkpoint?.checkpoint_id)}</code>.
      </p>
      <JsonEditor value={text} onChange={setText} rows={10} testId="state-editor-values" allowEmpty={false} />
      <label>
        <span className="label">As node (optional)</span>
        <input value={asNode} onChange={(e) => setAsNode(e.target.value)} placeholder="the last node that ran" data-testid="state-editor-as-node" />
      </label>
      <ErrorBox error={error} />
      <div className="row">
        <button type="submit" className="primary" disabled={problems.length > 0} data-testid="state-editor-save">
          Save state
        </button>
        <button type="button" onClick={() => onDone(false)}>
          Cancel
        </button>
      </div>
    </form>
  );
}

interface Lane {
  lane: number;
  fork: boolean;
}

/** Lanes for the timeline: the newest line is lane 0, each other branch gets the next lane. */
function lanes(history: ThreadState[]): Map<string, Lane> {
  const byId = new Map(history.map((s) => [s.checkpoint.checkpoint_id ?? "", s]));
  const children = new Map<string, number>();
  for (const s of history) {
    const parent = s.parent_checkpoint?.checkpoint_id;
    if (parent) children.set(parent, (children.get(parent) ?? 0) + 1);
  }
  const out = new Map<string, Lane>();
  let next = 0;
  for (const s of history) {
    const id = s.checkpoint.checkpoint_id ?? "";
    if (out.has(id) || children.has(id)) continue; // only start from heads
    const lane = next++;
    let cursor: ThreadState | undefined = s;
    while (cursor) {
      const cid: string = cursor.checkpoint.checkpoint_id ?? "";
      if (out.has(cid)) break;
      out.set(cid, { lane, fork: (children.get(cid) ?? 0) > 1 });
      const parent: string | null | undefined = cursor.parent_checkpoint?.checkpoint_id;
      cursor = parent ? byId.get(parent) : undefined;
    }
  }
  for (const s of history) {
    const id = s.checkpoint.checkpoint_id ?? "";
    if (!out.has(id)) out.set(id, { lane: next++, fork: (children.get(id) ?? 0) > 1 });
  }
  return out;
}

export function HistoryPanel({ threadId, refresh, engine, busy, onEdited, inputSchema, chat }: { threadId: string; refresh: number; engine: () => Engine | null; busy: boolean; onEdited: () => void; inputSchema: Schema | null; chat: boolean }) {
  const { client } = useApi();
  const history = useLoad((signal) => client.threads.getHistory(threadId, { limit: 200, signal }) as Promise<ThreadState[]>, [client, threadId, refresh]);
  const [selected, setSelected] = useState<string | null>(null);
  const [action, setAction] = useState<"fork" | "edit" | null>(null);
  const states = history.data ?? [];
  const laneOf = useMemo(() => lanes(states), [states]);
  const byId = useMemo(() => new Map(states.map((s) => [s.checkpoint.checkpoint_id ?? "", s])), [states]);
  const chosen = states.find((s) => s.checkpoint.checkpoint_id === selected);
  const laneCount = Math.max(1, ...[...laneOf.values()].map((l) => l.lane + 1));
  return (
    <div className="panel history" data-testid="history-panel">
      <ErrorBox error={history.error} />
      {states.length === 0 && !history.loading && <Empty>No checkpoints yet.</Empty>}
      <ol className="timeline" data-testid="timeline" style={{ ["--lanes" as string]: String(Math.min(laneCount, 6)) }}>
        {states.map((s) => {
          const id = s.checkpoint.checkpoint_id ?? "";
          const lane = laneOf.get(id) ?? { lane: 0, fork: false };
          const md = (s.metadata ?? {}) as { step?: number; source?: string; writes?: Record<string, unknown> | null };
          const parent = byId.get(s.parent_checkpoint?.checkpoint_id ?? "");
          // Which nodes made this checkpoint: the writes (older langgraph) or the parent's next.
          const writes = md.writes && typeof md.writes === "object" ? Object.keys(md.writes) : md.source === "loop" ? (parent?.next ?? []) : [];
          return (
            <li
              key={id}
              className={`checkpoint lane-${lane.lane % 6}${selected === id ? " selected" : ""}${lane.lane > 0 ? " side-branch" : ""}`}
              data-testid="checkpoint"
              data-checkpoint-id={id}
              data-parent-id={s.parent_checkpoint?.checkpoint_id ?? ""}
              data-lane={lane.lane}
              data-step={md.step ?? ""}
              onClick={() => { setSelected(selected === id ? null : id); setAction(null); }}
            >
              <span className="dot" style={{ marginLeft: `${Math.min(lane.lane, 5) * 14}px` }} />
              <span className="cp-main">
                <span className="cp-title">
                  step {md.step ?? "?"} · {md.source ?? ""}
                  {writes.length > 0 && <> · {writes.join(", ")}</>}
                  {lane.fork && <span className="badge" title="more than one run started from here">fork point</span>}
                  {lane.lane > 0 && <span className="badge">branch {lane.lane}</span>}
                </span>
                <span className="cp-sub">
                  <code>{shortId(id)}</code> · next: {s.next?.length ? s.next.join(", ") : "—"} · {clockTime(s.created_at)}
                </span>
              </span>
            </li>
          );
        })}
      </ol>
      {chosen && (
        <div className="checkpoint-detail" data-testid="checkpoint-detail">
          <div className="row wrap">
            <strong>Checkpoint {shortId(chosen.checkpoint.checkpoint_id)}</strong>
            <span className="spacer" />
            <button type="button" className="primary" disabled={busy} onClick={() => setAction(action === "fork" ? null : "fork")} data-testid="fork-open">
              Fork from here
            </button>
            <button type="button" onClick={() => setAction(action === "edit" ? null : "edit")} data-testid="edit-here">
              Edit state here
            </button>
          </div>
          {action === "fork" && (
            <ForkForm
              key={chosen.checkpoint.checkpoint_id}
              checkpoint={chosen.checkpoint}
              schema={inputSchema}
              chat={chat}
              onFork={async (input) => {
                const e = engine();
                if (!e) throw new Error("no run view");
                setAction(null);
                await e.launch({ input, checkpointId: chosen.checkpoint.checkpoint_id ?? undefined });
              }}
            />
          )}
          {action === "edit" && (
            <StateEditor
              threadId={threadId}
              state={chosen}
              onDone={(changed) => {
                setAction(null);
                if (changed) onEdited();
              }}
            />
          )}
          <h4>State here</h4>
          <JsonView value={chosen.values} testId="checkpoint-values" />
          <details>
            <summary>Metadata and tasks</summary>
            <JsonView value={{ metadata: chosen.metadata, next: chosen.next, tasks: chosen.tasks }} />
          </details>
        </div>
      )}
    </div>
  );
}

function ForkForm({ checkpoint, schema, chat, onFork }: { checkpoint: Checkpoint; schema: Schema | null; chat: boolean; onFork: (input: unknown) => Promise<void> }) {
  const [text, setText] = useState(chat ? "" : "");
  const [error, setError] = useState<unknown>(null);
  const problems = jsonProblems(text, schema);
  return (
    <form
      className="stack fork"
      data-testid="fork-form"
      onSubmit={async (e) => {
        e.preventDefault();
        const parsed = parseJson(text);
        if (!parsed.ok) return;
        try {
          await onFork(parsed.value);
        } catch (err) {
          setError(err);
        }
      }}
    >
      <p className="muted">
        Starts a run from checkpoint <code>{shortId(checkpoint.checkpoint_id)}</code>. Leave the input empty to run on from there as it was; give input to branch with it
        {chat ? <> (e.g. <code>{'{"messages": [{"type": "human", "content": "…"}]}'}</code>)</> : null}. The original history stays.
      </p>
      <JsonEditor value={text} onChange={setText} schema={schema} rows={4} testId="fork-input" label="Input (JSON, empty for none)" />
      <ErrorBox error={error} />
      <div className="row">
        <button type="submit" className="primary" disabled={problems.length > 0} data-testid="fork-submit">
          Run from this checkpoint
        </button>
      </div>
    </form>
  );
}

export function RunsPanel({ threadId, refresh, busy, engine, onChanged }: { threadId: string; refresh: number; busy: boolean; engine: () => Engine | null; onChanged: () => void }) {
  const { client } = useApi();
  const runs = useLoad((signal) => client.runs.list(threadId, { limit: 50, signal }) as Promise<Run[]>, [client, threadId, refresh]);
  const [error, setError] = useState<unknown>(null);
  const active = (runs.data ?? []).some((r) => r.status === "pending" || r.status === "running");
  useInterval(runs.reload, 700, active || busy);
  const cancel = async (run: Run) => {
    setError(null);
    try {
      await client.runs.cancel(threadId, run.run_id, false, "interrupt");
      runs.reload();
      onChanged();
    } catch (e) {
      setError(e);
    }
  };
  return (
    <div className="panel" data-testid="runs-panel">
      <ErrorBox error={error ?? runs.error} />
      {(runs.data ?? []).length === 0 && !runs.loading && <Empty>No runs yet.</Empty>}
      <table className="table">
        <tbody>
          {(runs.data ?? []).map((r) => {
            const live = r.status === "pending" || r.status === "running";
            return (
              <tr key={r.run_id} data-testid="run-row" data-run-id={r.run_id} data-status={r.status}>
                <td title={r.run_id}>
                  <code>{shortId(r.run_id)}</code>
                </td>
                <td>
                  <StatusBadge status={r.status} testId="run-status" />
                </td>
                <td className="muted">{clockTime(r.created_at)}</td>
                <td className="actions">
                  {live && !busy && (
                    <button type="button" onClick={() => void engine()?.join(r.run_id).catch((e: unknown) => setError(describeError(e)))} data-testid="run-join">
                      Follow
                    </button>
                  )}
                  {live && (
                    <button type="button" className="danger" onClick={() => void cancel(r)} data-testid="run-cancel">
                      Cancel
                    </button>
                  )}
                </td>
              </tr>
            );
          })}
        </tbody>
      </table>
    </div>
  );
}
