// The view for graphs without a `messages` channel: a JSON input editor checked against the
// assistant's input schema, a choice of stream modes, and the run's events live, by mode. Runs
// are resumable, so a reload rejoins the run in progress (joinStream with Last-Event-ID).
import type { StreamMode, Thread } from "@langchain/langgraph-sdk";
import { useCallback, useEffect, useRef, useState } from "react";
import { describeError, useApi } from "../api";
import { ErrorBox, JsonEditor, JsonView, jsonProblems } from "../components/common";
import { useLoad } from "../hooks";
import { parseJson, pretty, skeleton, type Schema } from "../json";
import { runKey, type EngineProps, type LaunchOptions } from "./engine";
import { EventsLog, InterruptForm, type InterruptLike } from "./panels";

const MODES: StreamMode[] = ["values", "updates", "messages-tuple", "custom", "tasks", "checkpoints", "debug", "events"];

export function RunnerPane({ threadId, assistantId, schemas, engineRef, onEvent, clearEvents, onRunChange, onBusy, events }: EngineProps) {
  const { client, reportAuthError } = useApi();
  const inputSchema = (schemas?.input_schema ?? null) as Schema | null;
  const contextSchema = (schemas?.context_schema ?? null) as Schema | null;
  const [input, setInput] = useState(() => pretty(skeleton(inputSchema)));
  const [touched, setTouched] = useState(false);
  const [context, setContext] = useState("");
  const [modes, setModes] = useState<StreamMode[]>(["values", "updates", "custom"]);
  const [subgraphs, setSubgraphs] = useState(false);
  const [running, setRunning] = useState(false);
  const [runId, setRunId] = useState<string | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [values, setValues] = useState<unknown>(undefined);
  const controllerRef = useRef<AbortController | null>(null);
  const thread = useLoad((signal) => client.threads.get(threadId, { signal }) as Promise<Thread>, [client, threadId, running]);

  useEffect(() => {
    if (!touched) setInput(pretty(skeleton(inputSchema)));
  }, [inputSchema, touched]);
  useEffect(() => onBusy(running), [running, onBusy]);

  const consume = useCallback(
    async (parts: AsyncGenerator<{ id?: string; event: string; data: unknown }>, controller: AbortController) => {
      setRunning(true);
      setError(null);
      try {
        for await (const part of parts) {
          onEvent(part.event, part.data, part.id);
          if (part.event === "error") setError(part.data);
          if (part.event === "values") setValues(part.data);
        }
      } catch (e) {
        if (!controller.signal.aborted) {
          reportAuthError(e);
          setError(e);
        }
      } finally {
        if (controllerRef.current === controller) {
          controllerRef.current = null;
          sessionStorage.removeItem(runKey(threadId));
          setRunning(false);
          setRunId(null);
          onRunChange();
        }
      }
    },
    [onEvent, onRunChange, reportAuthError, threadId],
  );

  const launch = useCallback(
    async ({ input: runInput, command, checkpointId }: LaunchOptions) => {
      controllerRef.current?.abort();
      const controller = new AbortController();
      controllerRef.current = controller;
      clearEvents();
      setValues(undefined);
      const parsedContext = parseJson(context);
      const parts = client.runs.stream(threadId, assistantId, {
        input: (runInput ?? null) as Record<string, unknown> | null,
        command,
        checkpointId,
        context: parsedContext.ok && parsedContext.value ? (parsedContext.value as Record<string, unknown>) : undefined,
        streamMode: modes,
        streamSubgraphs: subgraphs,
        streamResumable: true,
        onDisconnect: "continue",
        signal: controller.signal,
        onRunCreated: ({ run_id }: { run_id: string }) => {
          sessionStorage.setItem(runKey(threadId), run_id);
          setRunId(run_id);
          onRunChange();
        },
      });
      await consume(parts as AsyncGenerator<{ id?: string; event: string; data: unknown }>, controller);
    },
    [assistantId, clearEvents, client, consume, context, modes, onRunChange, subgraphs, threadId],
  );

  const join = useCallback(
    async (id: string) => {
      controllerRef.current?.abort();
      const controller = new AbortController();
      controllerRef.current = controller;
      clearEvents();
      sessionStorage.setItem(runKey(threadId), id);
      setRunId(id);
      const parts = client.runs.joinStream(threadId, id, { lastEventId: "-1", signal: controller.signal });
      await consume(parts as AsyncGenerator<{ id?: string; event: string; data: unknown }>, controller);
    },
    [clearEvents, client, consume, threadId],
  );

  useEffect(() => {
    engineRef.current = { launch, join };
    return () => {
      engineRef.current = null;
    };
  }, [engineRef, launch, join]);

  // After a reload: rejoin the run this tab was streaming, if it still goes on.
  useEffect(() => {
    const stored = sessionStorage.getItem(runKey(threadId));
    if (!stored) return;
    let gone = false;
    client.runs.get(threadId, stored).then(
      (run) => {
        if (gone) return;
        if (run.status === "pending" || run.status === "running") void join(stored);
        else sessionStorage.removeItem(runKey(threadId));
      },
      () => sessionStorage.removeItem(runKey(threadId)),
    );
    return () => {
      gone = true;
      controllerRef.current?.abort();
      controllerRef.current = null;
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [threadId]);

  const problems = jsonProblems(input, inputSchema);
  const contextProblems = jsonProblems(context, contextSchema);
  const t = thread.data;
  const asked = Object.values(t?.interrupts ?? {}).flat() as InterruptLike[];
  const interrupts: InterruptLike[] = running || t?.status !== "interrupted" ? [] : asked.length ? asked : [{ when: "breakpoint" }];
  const cancel = async () => {
    if (!runId) return;
    try {
      await client.runs.cancel(threadId, runId, false, "interrupt");
    } catch (e) {
      setError(describeError(e));
    }
  };

  return (
    <div className="runner" data-testid="runner">
      <form
        className="stack"
        onSubmit={(e) => {
          e.preventDefault();
          const parsed = parseJson(input);
          if (parsed.ok && !problems.length) void launch({ input: parsed.value });
        }}
      >
        <JsonEditor
          label="Input"
          value={input}
          onChange={(v) => {
            setTouched(true);
            setInput(v);
          }}
          schema={inputSchema}
          rows={8}
          testId="run-input"
        />
        <details>
          <summary>Run options</summary>
          <div className="stack">
            <fieldset className="modes">
              <legend>Stream modes</legend>
              {MODES.map((m) => (
                <label key={m} className="check">
                  <input
                    type="checkbox"
                    checked={modes.includes(m)}
                    onChange={(e) => setModes((prev) => (e.target.checked ? [...prev, m] : prev.filter((x) => x !== m)))}
                    data-testid={`mode-${m}`}
                  />
                  {m}
                </label>
              ))}
              <label className="check">
                <input type="checkbox" checked={subgraphs} onChange={(e) => setSubgraphs(e.target.checked)} />
                subgraphs
              </label>
            </fieldset>
            <JsonEditor label="Context (JSON)" value={context} onChange={setContext} schema={contextSchema} rows={3} testId="run-context" />
          </div>
        </details>
        <div className="row">
          {running ? (
            <button type="button" className="danger" onClick={() => void cancel()} disabled={!runId} data-testid="run-cancel-current">
              Cancel run
            </button>
          ) : (
            <button type="submit" className="primary" disabled={problems.length > 0 || contextProblems.length > 0 || modes.length === 0} data-testid="run-submit">
              Run
            </button>
          )}
          {running && <span className="muted" data-testid="run-active">running…</span>}
        </div>
      </form>
      <ErrorBox error={error} testId="run-error" />
      {interrupts.length > 0 && <InterruptForm interrupts={interrupts} onResume={(resume) => launch(resume === undefined ? {} : { command: { resume } })} />}
      <EventsLog events={events} live={running} />
      {values !== undefined && (
        <details open>
          <summary>Last values</summary>
          <JsonView value={values} testId="run-values" />
        </details>
      )}
    </div>
  );
}
