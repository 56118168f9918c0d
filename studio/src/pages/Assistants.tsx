import type { Assistant, AssistantVersion, GraphSchema } from "@langchain/langgraph-sdk";
import { useEffect, useState } from "react";
import { describeError, useApi } from "../api";
import { Empty, ErrorBox, JsonEditor, JsonView, Tabs, jsonProblems } from "../components/common";
import { GraphView, type GraphJson } from "../components/GraphView";
import { clockTime, shortId, useLoad } from "../hooks";
import { parseJson, pretty, propertiesOf, type Schema } from "../json";
import { href, linkTo, navigate } from "../router";

export function AssistantsPage({ assistantId }: { assistantId: string | null }) {
  const { client } = useApi();
  const [filter, setFilter] = useState("");
  const list = useLoad((signal) => client.assistants.search({ limit: 100, sortBy: "name", sortOrder: "asc", signal }), [client]);
  const assistants = (list.data ?? []).filter((a) => !filter || `${a.name} ${a.graph_id} ${a.assistant_id}`.toLowerCase().includes(filter.toLowerCase()));
  useEffect(() => {
    if (!assistantId && list.data?.length) navigate(`/assistants/${list.data[0].assistant_id}`, { replace: true });
  }, [assistantId, list.data]);
  return (
    <div className="split">
      <aside className="sidebar">
        <div className="sidebar-head">
          <h2>Assistants</h2>
          <input type="search" placeholder="Filter" value={filter} onChange={(e) => setFilter(e.target.value)} aria-label="Filter assistants" />
        </div>
        <ErrorBox error={list.error} />
        <ul className="list" data-testid="assistant-list">
          {assistants.map((a) => (
            <li key={a.assistant_id}>
              <a
                href={href(`/assistants/${a.assistant_id}`)}
                onClick={linkTo(`/assistants/${a.assistant_id}`)}
                className={a.assistant_id === assistantId ? "item active" : "item"}
                data-testid="assistant-item"
                data-graph-id={a.graph_id}
                data-assistant-id={a.assistant_id}
              >
                <span className="item-title">{a.name}</span>
                <span className="item-sub">
                  {a.graph_id !== a.name ? `${a.graph_id} · ` : ""}v{a.version}
                </span>
              </a>
            </li>
          ))}
        </ul>
        {!list.loading && !list.error && assistants.length === 0 && <Empty>No assistants.</Empty>}
      </aside>
      <section className="content">
        {assistantId ? <AssistantDetail key={assistantId} assistantId={assistantId} onChanged={list.reload} /> : <Empty>Pick an assistant.</Empty>}
      </section>
    </div>
  );
}

type Tab = "graph" | "schemas" | "config" | "versions";

function AssistantDetail({ assistantId, onChanged }: { assistantId: string; onChanged: () => void }) {
  const { client } = useApi();
  const assistant = useLoad((signal) => client.assistants.get(assistantId, { signal }), [client, assistantId]);
  const [tab, setTab] = useState<Tab>("graph");
  const [creating, setCreating] = useState<unknown>(null);
  const a = assistant.data;
  const newThread = async () => {
    if (!a) return;
    try {
      const thread = await client.threads.create({ metadata: { graph_id: a.graph_id, assistant_id: a.assistant_id } });
      navigate(`/threads/${thread.thread_id}?assistant=${a.assistant_id}`);
    } catch (e) {
      setCreating(e);
    }
  };
  return (
    <div className="detail" data-testid="assistant-detail">
      <ErrorBox error={assistant.error} />
      {a && (
        <header className="detail-head">
          <div>
            <h1 data-testid="assistant-name">{a.name}</h1>
            <div className="meta">
              <span>graph <code>{a.graph_id}</code></span>
              <span data-testid="assistant-version">version {a.version}</span>
              <span title={a.assistant_id}>id <code>{shortId(a.assistant_id)}</code></span>
              {a.description && <span>{a.description}</span>}
            </div>
          </div>
          <div className="row">
            <a className="button" href={href(`/threads?graph_id=${encodeURIComponent(a.graph_id)}`)} onClick={linkTo(`/threads?graph_id=${encodeURIComponent(a.graph_id)}`)}>
              Threads
            </a>
            <button type="button" className="primary" onClick={newThread} data-testid="new-thread">
              New thread
            </button>
          </div>
        </header>
      )}
      <ErrorBox error={creating} />
      <Tabs<Tab>
        tabs={[
          { id: "graph", label: "Graph" },
          { id: "schemas", label: "Schemas" },
          { id: "config", label: "Config" },
          { id: "versions", label: "Versions" },
        ]}
        active={tab}
        onChange={setTab}
      />
      {tab === "graph" && <GraphTab assistantId={assistantId} />}
      {tab === "schemas" && <SchemasTab assistantId={assistantId} />}
      {tab === "config" && a && (
        <ConfigTab
          assistant={a}
          onSaved={() => {
            assistant.reload();
            onChanged();
          }}
        />
      )}
      {tab === "versions" && a && (
        <VersionsTab
          assistant={a}
          onChanged={() => {
            assistant.reload();
            onChanged();
          }}
        />
      )}
    </div>
  );
}

function GraphTab({ assistantId }: { assistantId: string }) {
  const { client } = useApi();
  const [xray, setXray] = useState(false);
  const graph = useLoad((signal) => client.assistants.getGraph(assistantId, { xray, signal }) as unknown as Promise<GraphJson>, [client, assistantId, xray]);
  return (
    <div className="panel">
      <label className="check">
        <input type="checkbox" checked={xray} onChange={(e) => setXray(e.target.checked)} data-testid="xray-toggle" />
        Show subgraphs (xray)
      </label>
      <ErrorBox error={graph.error} />
      {graph.data && <GraphView graph={graph.data} />}
    </div>
  );
}

const SCHEMA_KEYS = [
  ["input_schema", "Input"],
  ["output_schema", "Output"],
  ["state_schema", "State"],
  ["config_schema", "Config"],
  ["context_schema", "Context"],
] as const;

function SchemasTab({ assistantId }: { assistantId: string }) {
  const { client } = useApi();
  const schemas = useLoad((signal) => client.assistants.getSchemas(assistantId, { signal }), [client, assistantId]);
  return (
    <div className="panel" data-testid="schemas">
      <ErrorBox error={schemas.error} />
      {schemas.data &&
        SCHEMA_KEYS.map(([key, title]) => {
          const schema = (schemas.data as GraphSchema)[key] as Schema | null | undefined;
          const props = propertiesOf(schema);
          return (
            <section key={key} className="schema" data-testid={`schema-${key}`}>
              <h3>{title}</h3>
              {schema == null ? (
                <p className="muted">none</p>
              ) : (
                <>
                  {props.length > 0 ? (
                    <table className="props">
                      <tbody>
                        {props.map((p) => (
                          <tr key={p.name}>
                            <td>
                              <code>{p.name}</code>
                              {p.required && <span className="req" title="required">*</span>}
                            </td>
                            <td className="muted">{p.type}</td>
                            <td>{p.description}</td>
                          </tr>
                        ))}
                      </tbody>
                    </table>
                  ) : (
                    <p className="muted">no properties</p>
                  )}
                  <details>
                    <summary>JSON schema</summary>
                    <JsonView value={schema} />
                  </details>
                </>
              )}
            </section>
          );
        })}
    </div>
  );
}

function ConfigTab({ assistant, onSaved }: { assistant: Assistant; onSaved: () => void }) {
  const { client } = useApi();
  const schemas = useLoad((signal) => client.assistants.getSchemas(assistant.assistant_id, { signal }), [client, assistant.assistant_id]);
  const [name, setName] = useState(assistant.name);
  const [description, setDescription] = useState(assistant.description ?? "");
  const [config, setConfig] = useState(pretty(assistant.config ?? {}));
  const [context, setContext] = useState(pretty(assistant.context ?? {}));
  const [metadata, setMetadata] = useState(pretty(assistant.metadata ?? {}));
  const [result, setResult] = useState<{ ok: boolean; text: string } | null>(null);
  const [saving, setSaving] = useState(false);
  const configSchema = (schemas.data?.config_schema ?? null) as Schema | null;
  const contextSchema = (schemas.data?.context_schema ?? null) as Schema | null;
  const invalid = jsonProblems(config, configSchema).length + jsonProblems(context, contextSchema).length + jsonProblems(metadata, null).length > 0;
  const save = async () => {
    setSaving(true);
    setResult(null);
    try {
      const parse = (text: string) => {
        const parsed = parseJson(text);
        if (!parsed.ok) throw new Error(parsed.error);
        return (parsed.value ?? {}) as Record<string, unknown>;
      };
      const updated = await client.assistants.update(assistant.assistant_id, {
        graphId: assistant.graph_id,
        name,
        description: description || undefined,
        config: parse(config),
        context: parse(context),
        metadata: parse(metadata),
      });
      setResult({ ok: true, text: `Saved as version ${updated.version}.` });
      onSaved();
    } catch (e) {
      setResult({ ok: false, text: describeError(e) });
    } finally {
      setSaving(false);
    }
  };
  return (
    <form className="panel stack" onSubmit={(e) => { e.preventDefault(); void save(); }} data-testid="config-form">
      <p className="muted">Saving creates a new version of the assistant and makes it the latest.</p>
      <div className="grid2">
        <label>
          <span className="label">Name</span>
          <input value={name} onChange={(e) => setName(e.target.value)} data-testid="config-name" />
        </label>
        <label>
          <span className="label">Description</span>
          <input value={description} onChange={(e) => setDescription(e.target.value)} />
        </label>
      </div>
      <div className="grid2">
        <JsonEditor label="Config" value={config} onChange={setConfig} schema={configSchema} testId="config-config" />
        <JsonEditor label="Context" value={context} onChange={setContext} schema={contextSchema} testId="config-context" />
      </div>
      <JsonEditor label="Metadata (merged)" value={metadata} onChange={setMetadata} rows={4} testId="config-metadata" />
      <div className="row">
        <button type="submit" className="primary" disabled={saving || invalid} data-testid="config-save">
          Save new version
        </button>
        {result && (
          <span className={result.ok ? "ok-text" : "error-text"} data-testid={result.ok ? "config-saved" : "config-error"}>
            {result.text}
          </span>
        )}
      </div>
    </form>
  );
}

function VersionsTab({ assistant, onChanged }: { assistant: Assistant; onChanged: () => void }) {
  const { client } = useApi();
  const versions = useLoad((signal) => client.assistants.getVersions(assistant.assistant_id, { limit: 50, signal }), [client, assistant.assistant_id, assistant.version]);
  const [error, setError] = useState<unknown>(null);
  const makeLatest = async (v: AssistantVersion) => {
    try {
      await client.assistants.setLatest(assistant.assistant_id, v.version);
      onChanged();
    } catch (e) {
      setError(e);
    }
  };
  return (
    <div className="panel">
      <ErrorBox error={versions.error ?? error} />
      <table className="table" data-testid="versions">
        <thead>
          <tr>
            <th>Version</th>
            <th>Created</th>
            <th>Config</th>
            <th />
          </tr>
        </thead>
        <tbody>
          {(versions.data ?? []).map((v) => (
            <tr key={v.version} data-testid="version-row">
              <td>
                v{v.version}
                {v.version === assistant.version && <span className="badge">latest</span>}
              </td>
              <td>{clockTime(v.created_at)}</td>
              <td>
                <code className="clip">{JSON.stringify({ config: v.config, context: (v as { context?: unknown }).context })}</code>
              </td>
              <td>
                {v.version !== assistant.version && (
                  <button type="button" onClick={() => makeLatest(v)}>
                    Make latest
                  </button>
                )}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
