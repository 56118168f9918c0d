// Connection settings (API URL and token, kept in localStorage) and the shared SDK client.
import { Client } from "@langchain/langgraph-sdk";
import { createContext, useContext } from "react";

const URL_KEY = "distaff.studio.apiUrl";
const TOKEN_KEY = "distaff.studio.token";

export interface Settings {
  /** Empty: the origin the studio is served from. */
  apiUrl: string;
  /** Sent as `Authorization: Bearer <token>` when set. */
  token: string;
}

export function loadSettings(): Settings {
  return {
    apiUrl: localStorage.getItem(URL_KEY) ?? "",
    token: localStorage.getItem(TOKEN_KEY) ?? "",
  };
}

export function saveSettings(settings: Settings): void {
  const put = (key: string, value: string) =>
    value ? localStorage.setItem(key, value) : localStorage.removeItem(key);
  put(URL_KEY, settings.apiUrl.trim());
  put(TOKEN_KEY, settings.token.trim());
}

/** The server the page talks to: the one it came from, unless set (`npm run dev`: :2024). */
export function apiUrlOf(settings: Settings): string {
  const fallback = import.meta.env.DEV ? "http://127.0.0.1:2024" : window.location.origin;
  return (settings.apiUrl.trim() || fallback).replace(/\/+$/, "");
}

export function makeClient(settings: Settings): Client {
  const token = settings.token.trim();
  return new Client({
    apiUrl: apiUrlOf(settings),
    apiKey: null,
    defaultHeaders: token ? { Authorization: `Bearer ${token}` } : {},
    callerOptions: { maxRetries: 1 },
  });
}

export interface Api {
  client: Client;
  settings: Settings;
  setSettings: (settings: Settings) => void;
  /** Called by any view whose request was refused for want of credentials. */
  reportAuthError: (error: unknown) => void;
}

export const ApiContext = createContext<Api | null>(null);

export function useApi(): Api {
  const api = useContext(ApiContext);
  if (api == null) throw new Error("useApi outside ApiContext");
  return api;
}

export function statusOf(error: unknown): number | undefined {
  const status = (error as { status?: unknown } | null)?.status;
  return typeof status === "number" ? status : undefined;
}

export function isAuthError(error: unknown): boolean {
  const status = statusOf(error);
  return status === 401 || status === 403;
}

/** A short, readable description of a failed request or stream. */
export function describeError(error: unknown): string {
  if (error == null) return "";
  if (typeof error === "string") return error;
  const e = error as { message?: unknown; status?: unknown; error?: unknown; text?: unknown };
  if (typeof e.status === "number" && typeof e.text === "string") {
    try {
      const body = JSON.parse(e.text) as { detail?: unknown };
      if (typeof body?.detail === "string") return `HTTP ${e.status}: ${body.detail}`;
    } catch {
      // not JSON: fall through to the message
    }
  }
  if (typeof e.message === "string" && e.message) {
    return typeof e.error === "string" && !e.message.startsWith(e.error)
      ? `${e.error}: ${e.message}`
      : e.message;
  }
  try {
    return JSON.stringify(error);
  } catch {
    return String(error);
  }
}
