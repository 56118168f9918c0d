// A tiny router over the History API. Every route lives under the studio's base (/studio/), and
// the server answers any such path with index.html, so a reload keeps its place.
import { useEffect, useState, type MouseEvent } from "react";

export const BASE = import.meta.env.BASE_URL.replace(/\/+$/, ""); // "/studio"

export interface Location {
  /** The path inside the studio, e.g. "/threads/abc". */
  path: string;
  query: URLSearchParams;
}

function current(): Location {
  let path = window.location.pathname;
  if (path.startsWith(BASE)) path = path.slice(BASE.length);
  return { path: path.replace(/\/+$/, "") || "/", query: new URLSearchParams(window.location.search) };
}

const listeners = new Set<() => void>();

export function href(path: string): string {
  return `${BASE}${path.startsWith("/") ? path : `/${path}`}`;
}

export function navigate(path: string, options: { replace?: boolean } = {}): void {
  const url = href(path);
  if (options.replace) window.history.replaceState(null, "", url);
  else window.history.pushState(null, "", url);
  listeners.forEach((listener) => listener());
}

export function useLocation(): Location {
  const [location, setLocation] = useState(current);
  useEffect(() => {
    const update = () => setLocation(current());
    listeners.add(update);
    window.addEventListener("popstate", update);
    return () => {
      listeners.delete(update);
      window.removeEventListener("popstate", update);
    };
  }, []);
  return location;
}

/** onClick for an <a href>: navigate inside the app unless a modifier asks for a new tab. */
export function linkTo(path: string) {
  return (event: MouseEvent) => {
    if (event.metaKey || event.ctrlKey || event.shiftKey || event.button !== 0) return;
    event.preventDefault();
    navigate(path);
  };
}
