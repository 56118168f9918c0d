// What the thread page's side panels (history, runs) ask of the view that runs the graph: the
// chat (@langchain/react's useStream, on the v2 protocol) or the input editor (the client's v1
// runs.stream), whichever is shown.
import type { Command, GraphSchema } from "@langchain/langgraph-sdk";
import type { MutableRefObject } from "react";

export interface LaunchOptions {
  input?: unknown;
  command?: Command;
  /** Time travel: start from this checkpoint (a fork when it is not the latest). */
  checkpointId?: string;
}

export interface Engine {
  launch: (options: LaunchOptions) => Promise<void>;
  /** Follow a run that is already going (started elsewhere, or before a reload). */
  join: (runId: string) => Promise<void>;
}

export interface EventRow {
  n: number;
  event: string;
  data: unknown;
  id?: string;
  at: number;
}

export interface EngineProps {
  threadId: string;
  assistantId: string;
  schemas: GraphSchema | undefined;
  engineRef: MutableRefObject<Engine | null>;
  onEvent: (event: string, data: unknown, id?: string) => void;
  clearEvents: () => void;
  /** A run was created, ended or changed: panels reload. */
  onRunChange: () => void;
  onBusy: (busy: boolean) => void;
  events: EventRow[];
}

/** sessionStorage key of the run the input view is streaming (the legacy useStream's key). */
export const runKey = (threadId: string) => `lg:stream:${threadId}` as const;
