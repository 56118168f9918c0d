import type { Thread, ThreadStatus } from "@langchain/langgraph-sdk";
import { useState } from "react";
import { useApi } from "../api";
import { ConfirmButton, Empty, ErrorBox, StatusBadge, jsonProblems } from "../components/common";
import { shortId, timeAgo, useLoad } from "../hooks";
import { parseJson } from "../json";
import { href, linkTo, navigate, useLocation } from "../router";

const STATUSES = ["", "idle", "busy", "interrupted", "error"] as const;
const PAGE = 50;

export function ThreadsPage() {
  const { client } = useApi();
  const location = useLocation();
  const graphId = location.query.get("graph_id");
  const [metadataText, setMetadataText] = useState(graphId ? JSON.stringify({ graph_id: graphId }) : "");
  const [status, setStatus] = useState<(typeof STATUSES)[number]>("");
  const [applied, setApplied] = useState({ metadata: metadataText, status });
  const [limit, setLimit] = useState(PAGE);
  const [error, setError] = useState<unknown>(null);
  const threads = useLoad(
    (signal) => {
      const parsed = parseJson(applied.metadata);
      const metadata = parsed.ok && parsed.value && typeof parsed.value === "object" ? (parsed.value as Record<string, unknown>) : undefined;
      return client.threads.search({
        metadata,
        status: (applied.status || undefined) as ThreadStatus | undefined,
        limit: limit + 1,
        sortBy: "updated_at",
        sortOrder: "desc",
        signal,
      });
    },
    [client, applied, limit],
  );
  const metadataProblems = jsonProblems(metadataText, { type: "object" });
  const rows = (threads.data ?? []).slice(0, limit);
  const remove = async (thread: Thread) => {
    try {
      await client.threads.delete(thread.thread_id);
      threads.reload();
    } catch (e) {
      setError(e);
    }
  };
  return (
    <div className="page" data-testid="threads-page">
      <header className="detail-head">
        <h1>Threads</h1>
      </header>
      <form
        className="filters"
        onSubmit={(e) => {
          e.preventDefault();
          if (!metadataProblems.length) setApplied({ metadata: metadataText, status });
        }}
      >
        <label>
          <span className="label">Metadata contains</span>
          <input value={metadataText} placeholder='{"graph_id": "agent"}' onChange={(e) => setMetadataText(e.target.value)} data-testid="thread-filter-metadata" aria-invalid={metadataProblems.length > 0} />
        </label>
        <label>
          <span className="label">Status</span>
          <select value={status} onChange={(e) => setStatus(e.target.value as (typeof STATUSES)[number])} data-testid="thread-filter-status">
            {STATUSES.map((s) => (
              <option key={s} value={s}>
                {s || "any"}
              </option>
            ))}
          </select>
        </label>
        <button type="submit" className="primary" disabled={metadataProblems.length > 0} data-testid="thread-search">
          Search
        </button>
      </form>
      {metadataProblems.length > 0 && <div className="error-text">{metadataProblems[0]}</div>}
      <ErrorBox error={threads.error ?? error} />
      <div className="table-wrap">
        <table className="table" data-testid="thread-list">
          <thead>
            <tr>
              <th>Thread</th>
              <th>Status</th>
              <th>Graph</th>
              <th>Updated</th>
              <th className="hide-narrow">Metadata</th>
              <th />
            </tr>
          </thead>
          <tbody>
            {rows.map((t) => {
              const md = (t.metadata ?? {}) as Record<string, unknown>;
              const path = `/threads/${t.thread_id}${typeof md.assistant_id === "string" ? `?assistant=${md.assistant_id}` : ""}`;
              return (
                <tr key={t.thread_id} data-testid="thread-row" data-thread-id={t.thread_id} data-status={t.status} className="clickable" onClick={(e) => (e.target as HTMLElement).closest("button,a") == null && navigate(path)}>
                  <td>
                    <a href={href(path)} onClick={linkTo(path)} title={t.thread_id}>
                      <code>{shortId(t.thread_id)}</code>
                    </a>
                  </td>
                  <td>
                    <StatusBadge status={t.status} />
                  </td>
                  <td>{typeof md.graph_id === "string" ? md.graph_id : ""}</td>
                  <td title={t.updated_at}>{timeAgo(t.updated_at)}</td>
                  <td className="hide-narrow">
                    <code className="clip">{JSON.stringify(md)}</code>
                  </td>
                  <td className="actions">
                    <ConfirmButton onConfirm={() => void remove(t)} testId="thread-delete">
                      Delete
                    </ConfirmButton>
                  </td>
                </tr>
              );
            })}
          </tbody>
        </table>
      </div>
      {!threads.loading && rows.length === 0 && !threads.error && <Empty>No threads match.</Empty>}
      {(threads.data?.length ?? 0) > limit && (
        <button type="button" onClick={() => setLimit((l) => l + PAGE)}>
          More
        </button>
      )}
    </div>
  );
}
