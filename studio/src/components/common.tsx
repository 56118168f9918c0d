import { useEffect, useMemo, useState, type ReactNode } from "react";
import { describeError } from "../api";
import { parseJson, pretty, validate, type Schema } from "../json";

export function ErrorBox({ error, testId }: { error: unknown; testId?: string }) {
  if (error == null || error === "") return null;
  return (
    <div className="error" role="alert" data-testid={testId ?? "error"}>
      {describeError(error)}
    </div>
  );
}

export function StatusBadge({ status, testId }: { status: string | undefined; testId?: string }) {
  if (!status) return null;
  return (
    <span className={`badge status-${status}`} data-testid={testId} data-status={status}>
      {status}
    </span>
  );
}

export function JsonView({ value, testId, className }: { value: unknown; testId?: string; className?: string }) {
  return (
    <pre className={`json ${className ?? ""}`} data-testid={testId}>
      {value === undefined ? "—" : pretty(value)}
    </pre>
  );
}

export function Tabs<T extends string>({
  tabs,
  active,
  onChange,
  testId,
}: {
  tabs: readonly { id: T; label: ReactNode }[];
  active: T;
  onChange: (id: T) => void;
  testId?: string;
}) {
  return (
    <div className="tabs" role="tablist" data-testid={testId}>
      {tabs.map((tab) => (
        <button
          key={tab.id}
          type="button"
          role="tab"
          aria-selected={tab.id === active}
          className={tab.id === active ? "tab active" : "tab"}
          data-testid={`tab-${tab.id}`}
          onClick={() => onChange(tab.id)}
        >
          {tab.label}
        </button>
      ))}
    </div>
  );
}

/**
 * A JSON textarea that says at once whether its text parses and, given a schema, whether it
 * fits. `onValid` gets the parsed value, or undefined while the text is invalid.
 */
export function JsonEditor({
  value,
  onChange,
  schema,
  rows = 8,
  testId,
  label,
  allowEmpty = true,
}: {
  value: string;
  onChange: (text: string) => void;
  schema?: Schema | null;
  rows?: number;
  testId?: string;
  label?: ReactNode;
  allowEmpty?: boolean;
}) {
  const problems = useMemo(() => jsonProblems(value, schema, allowEmpty), [value, schema, allowEmpty]);
  return (
    <label className="json-editor">
      {label && <span className="label">{label}</span>}
      <textarea
        spellCheck={false}
        rows={rows}
        value={value}
        data-testid={testId}
        aria-invalid={problems.length > 0}
        onChange={(e) => onChange(e.target.value)}
      />
      {problems.length > 0 && (
        <ul className="problems" data-testid={testId ? `${testId}-problems` : undefined}>
          {problems.slice(0, 6).map((p) => (
            <li key={p}>{p}</li>
          ))}
        </ul>
      )}
    </label>
  );
}

export function jsonProblems(text: string, schema: Schema | null | undefined, allowEmpty = true): string[] {
  if (!text.trim()) return allowEmpty ? [] : ["a value is required"];
  const parsed = parseJson(text);
  if (!parsed.ok) return [`not JSON: ${parsed.error}`];
  if (parsed.value === null) return [];
  return validate(parsed.value, schema);
}

export function Modal({ title, onClose, children, testId }: { title: ReactNode; onClose: () => void; children: ReactNode; testId?: string }) {
  useEffect(() => {
    const onKey = (e: KeyboardEvent) => e.key === "Escape" && onClose();
    window.addEventListener("keydown", onKey);
    return () => window.removeEventListener("keydown", onKey);
  }, [onClose]);
  return (
    <div className="modal-backdrop" onMouseDown={(e) => e.target === e.currentTarget && onClose()}>
      <div className="modal" role="dialog" aria-label={typeof title === "string" ? title : undefined} data-testid={testId}>
        <header>
          <h2>{title}</h2>
          <button type="button" className="icon" aria-label="Close" onClick={onClose}>
            ×
          </button>
        </header>
        {children}
      </div>
    </div>
  );
}

/** A button that asks once more before doing something that cannot be undone. */
export function ConfirmButton({ onConfirm, children, testId, className }: { onConfirm: () => void; children: ReactNode; testId?: string; className?: string }) {
  const [armed, setArmed] = useState(false);
  useEffect(() => {
    if (!armed) return;
    const id = window.setTimeout(() => setArmed(false), 4000);
    return () => window.clearTimeout(id);
  }, [armed]);
  return armed ? (
    <button type="button" className={`danger ${className ?? ""}`} data-testid={testId ? `${testId}-confirm` : undefined} onClick={() => { setArmed(false); onConfirm(); }}>
      Really?
    </button>
  ) : (
    <button type="button" className={className} data-testid={testId} onClick={() => setArmed(true)}>
      {children}
    </button>
  );
}

export function Empty({ children }: { children: ReactNode }) {
  return <div className="empty">{children}</div>;
}
