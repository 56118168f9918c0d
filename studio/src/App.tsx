import { useCallback, useEffect, useMemo, useState } from "react";
import { ApiContext, apiUrlOf, isAuthError, loadSettings, makeClient, saveSettings, type Api, type Settings } from "./api";
import { Modal } from "./components/common";
import { AssistantsPage } from "./pages/Assistants";
import { ThreadPage } from "./pages/Thread";
import { ThreadsPage } from "./pages/Threads";
import { href, linkTo, useLocation } from "./router";

export function App() {
  const [settings, setSettingsState] = useState<Settings>(loadSettings);
  const [authProblem, setAuthProblem] = useState(false);
  const [showSettings, setShowSettings] = useState(false);
  const [generation, setGeneration] = useState(0);
  const client = useMemo(() => makeClient(settings), [settings]);
  const setSettings = useCallback((next: Settings) => {
    saveSettings(next);
    setSettingsState(loadSettings());
    setAuthProblem(false);
    setGeneration((g) => g + 1);
  }, []);
  const reportAuthError = useCallback((error: unknown) => {
    if (isAuthError(error)) setAuthProblem(true);
  }, []);
  const api: Api = useMemo(() => ({ client, settings, setSettings, reportAuthError }), [client, settings, setSettings, reportAuthError]);
  const location = useLocation();
  const [info, setInfo] = useState<{ version?: string } | null | undefined>(undefined);
  useEffect(() => {
    let gone = false;
    fetch(`${apiUrlOf(settings)}/info`, { headers: settings.token ? { Authorization: `Bearer ${settings.token}` } : {} })
      .then((r) => (r.ok ? r.json() : null))
      .then((body) => !gone && setInfo(body), () => !gone && setInfo(null));
    return () => {
      gone = true;
    };
  }, [settings]);

  const parts = location.path.split("/").filter(Boolean);
  let page;
  let section: "assistants" | "threads" = "assistants";
  if (parts[0] === "threads" && parts[1]) {
    section = "threads";
    page = <ThreadPage key={parts[1]} threadId={decodeURIComponent(parts[1])} assistantParam={location.query.get("assistant")} viewParam={location.query.get("view")} />;
  } else if (parts[0] === "threads") {
    section = "threads";
    page = <ThreadsPage />;
  } else {
    page = <AssistantsPage assistantId={parts[0] === "assistants" && parts[1] ? decodeURIComponent(parts[1]) : null} />;
  }

  return (
    <ApiContext.Provider value={api}>
      <div className="app">
        <header className="topbar">
          <a className="brand" href={href("/")} onClick={linkTo("/")}>
            <span className="logo" aria-hidden="true" />
            distaff <span className="muted">studio</span>
          </a>
          <nav>
            <a href={href("/assistants")} onClick={linkTo("/assistants")} className={section === "assistants" ? "active" : ""} data-testid="nav-assistants">
              Assistants
            </a>
            <a href={href("/threads")} onClick={linkTo("/threads")} className={section === "threads" ? "active" : ""} data-testid="nav-threads">
              Threads
            </a>
          </nav>
          <span className="spacer" />
          <span className={`conn ${info ? "ok" : info === null ? "bad" : ""}`} title={apiUrlOf(settings)} data-testid="connection">
            {hostOf(apiUrlOf(settings))}
            {info?.version ? ` · ${info.version}` : ""}
          </span>
          <button type="button" className="ghost" onClick={() => setShowSettings(true)} data-testid="open-settings">
            Settings
          </button>
        </header>
        {authProblem && <TokenBanner settings={settings} onSave={setSettings} />}
        <main key={generation}>{page}</main>
        {showSettings && <SettingsDialog settings={settings} onSave={(s) => { setSettings(s); setShowSettings(false); }} onClose={() => setShowSettings(false)} />}
      </div>
    </ApiContext.Provider>
  );
}

function hostOf(url: string): string {
  try {
    return new URL(url).host;
  } catch {
    return url;
  }
}

function TokenBanner({ settings, onSave }: { settings: Settings; onSave: (s: Settings) => void }) {
  const [token, setToken] = useState("");
  return (
    <form className="banner" data-testid="auth-banner" onSubmit={(e) => { e.preventDefault(); onSave({ ...settings, token }); }}>
      <strong>{settings.token ? "The server refused this token." : "This server needs a token."}</strong>
      <input type="password" placeholder="Bearer token" value={token} onChange={(e) => setToken(e.target.value)} data-testid="token-input" autoComplete="off" />
      <button type="submit" className="primary" data-testid="token-save">
        Use token
      </button>
    </form>
  );
}

function SettingsDialog({ settings, onSave, onClose }: { settings: Settings; onSave: (s: Settings) => void; onClose: () => void }) {
  const [apiUrl, setApiUrl] = useState(settings.apiUrl);
  const [token, setToken] = useState(settings.token);
  return (
    <Modal title="Settings" onClose={onClose} testId="settings">
      <form className="stack" onSubmit={(e) => { e.preventDefault(); onSave({ apiUrl, token }); }}>
        <label>
          <span className="label">API URL</span>
          <input value={apiUrl} placeholder={window.location.origin} onChange={(e) => setApiUrl(e.target.value)} data-testid="settings-url" />
          <small className="muted">Empty: the server this page came from.</small>
        </label>
        <label>
          <span className="label">Token</span>
          <input type="password" value={token} onChange={(e) => setToken(e.target.value)} data-testid="settings-token" autoComplete="off" />
          <small className="muted">Sent as Authorization: Bearer &lt;token&gt;; kept in this browser's localStorage.</small>
        </label>
        <div className="row end">
          <button type="button" onClick={onClose}>
            Cancel
          </button>
          <button type="submit" className="primary" data-testid="settings-save">
            Save
          </button>
        </div>
      </form>
    </Modal>
  );
}
