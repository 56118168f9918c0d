// JSON helpers and a small, lenient JSON-schema checker for the input editor.

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
export type Schema = Record<string, unknown>;

export function pretty(value: unknown): string {
  if (value === undefined) return "";
  try {
    return JSON.stringify(value, null, 2);
  } catch {
    return String(value);
  }
}

export function compact(value: unknown, max = 160): string {
  let text: string;
  try {
    text = JSON.stringify(value) ?? "undefined";
  } catch {
    text = String(value);
  }
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

export type Parsed = { ok: true; value: unknown } | { ok: false; error: string };

/** Parse an editor's text; empty text is `null`. */
export function parseJson(text: string): Parsed {
  if (!text.trim()) return { ok: true, value: null };
  try {
    return { ok: true, value: JSON.parse(text) };
  } catch (e) {
    return { ok: false, error: e instanceof Error ? e.message : String(e) };
  }
}

/** JSON when it parses, else the text itself (for resume values typed by hand). */
export function parseLoose(text: string): unknown {
  const trimmed = text.trim();
  if (!trimmed) return "";
  try {
    return JSON.parse(trimmed);
  } catch {
    return text;
  }
}

function typeOf(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "array";
  if (typeof value === "number") return Number.isInteger(value) ? "integer" : "number";
  return typeof value;
}

function typeMatches(expected: string, actual: string): boolean {
  return expected === actual || (expected === "number" && actual === "integer");
}

/**
 * Problems with `value` against `schema`, as "path: message" lines. Lenient on purpose: `oneOf`
 * is read as `anyOf` (LangChain message schemas overlap), and unknown keywords are ignored, so it
 * catches typos and wrong types without refusing what the server would accept.
 */
export function validate(value: unknown, schema: Schema | null | undefined, root?: Schema): string[] {
  if (schema == null || typeof schema !== "object") return [];
  return check(value, schema, root ?? schema, "$", 0);
}

function resolve(schema: Schema, root: Schema): Schema {
  let current = schema;
  for (let i = 0; i < 16 && typeof current.$ref === "string"; i++) {
    const ref = current.$ref as string;
    if (!ref.startsWith("#/")) return {};
    let target: unknown = root;
    for (const part of ref.slice(2).split("/")) {
      target = (target as Record<string, unknown> | undefined)?.[part.replace(/~1/g, "/").replace(/~0/g, "~")];
    }
    if (target == null || typeof target !== "object") return {};
    current = { ...(target as Schema), ...Object.fromEntries(Object.entries(current).filter(([k]) => k !== "$ref")) };
  }
  return current;
}

function check(value: unknown, raw: Schema, root: Schema, path: string, depth: number): string[] {
  if (depth > 32) return [];
  const schema = resolve(raw, root);
  const actual = typeOf(value);
  const alternatives = (schema.anyOf ?? schema.oneOf) as Schema[] | undefined;
  if (Array.isArray(alternatives) && alternatives.length) {
    const results = alternatives.map((alt) => check(value, alt, root, path, depth + 1));
    if (!results.some((r) => r.length === 0)) {
      return results.reduce((best, r) => (r.length < best.length ? r : best));
    }
  }
  if (Array.isArray(schema.allOf)) {
    for (const part of schema.allOf as Schema[]) {
      const problems = check(value, part, root, path, depth + 1);
      if (problems.length) return problems;
    }
  }
  if ("const" in schema && JSON.stringify(schema.const) !== JSON.stringify(value)) {
    return [`${path}: must be ${JSON.stringify(schema.const)}`];
  }
  if (Array.isArray(schema.enum) && !schema.enum.some((e) => JSON.stringify(e) === JSON.stringify(value))) {
    return [`${path}: must be one of ${schema.enum.map((e) => JSON.stringify(e)).join(", ")}`];
  }
  const expected = schema.type;
  if (typeof expected === "string" || Array.isArray(expected)) {
    const types = (Array.isArray(expected) ? expected : [expected]) as string[];
    if (!types.some((t) => typeMatches(t, actual))) {
      return [`${path}: expected ${types.join(" or ")}, got ${actual}`];
    }
  }
  const problems: string[] = [];
  if (actual === "object") {
    const object = value as Record<string, unknown>;
    const properties = (schema.properties ?? {}) as Record<string, Schema>;
    for (const key of (schema.required ?? []) as string[]) {
      if (!(key in object)) problems.push(`${path}: missing required "${key}"`);
    }
    for (const [key, item] of Object.entries(object)) {
      if (key in properties) {
        problems.push(...check(item, properties[key], root, `${path}.${key}`, depth + 1));
      } else if (schema.additionalProperties === false) {
        problems.push(`${path}: unknown key "${key}"`);
      } else if (schema.additionalProperties && typeof schema.additionalProperties === "object") {
        problems.push(...check(item, schema.additionalProperties as Schema, root, `${path}.${key}`, depth + 1));
      }
    }
  }
  if (actual === "array" && schema.items && typeof schema.items === "object" && !Array.isArray(schema.items)) {
    (value as unknown[]).forEach((item, i) => {
      problems.push(...check(item, schema.items as Schema, root, `${path}[${i}]`, depth + 1));
    });
  }
  return problems;
}

/** A starting value for an editor, from a schema: each property with an empty value of its type. */
export function skeleton(schema: Schema | null | undefined): unknown {
  if (!schema || typeof schema !== "object") return {};
  const properties = (schema.properties ?? {}) as Record<string, Schema>;
  const required = new Set((schema.required ?? []) as string[]);
  const keys = Object.keys(properties);
  const picked = keys.filter((k) => required.has(k));
  const out: Record<string, unknown> = {};
  for (const key of picked.length ? picked : keys.slice(0, 1)) {
    const prop = resolve(properties[key], schema);
    const type = Array.isArray(prop.type) ? prop.type[0] : prop.type;
    out[key] =
      "default" in prop
        ? prop.default
        : type === "array"
          ? []
          : type === "object"
            ? {}
            : type === "integer" || type === "number"
              ? 0
              : type === "boolean"
                ? false
                : type === "string"
                  ? ""
                  : null;
  }
  return out;
}

/** The top-level properties of a schema, for a readable table. */
export function propertiesOf(schema: Schema | null | undefined): { name: string; type: string; required: boolean; description: string }[] {
  if (!schema || typeof schema !== "object") return [];
  const properties = (schema.properties ?? {}) as Record<string, Schema>;
  const required = new Set((schema.required ?? []) as string[]);
  return Object.entries(properties).map(([name, raw]) => {
    const prop = resolve(raw, schema);
    return { name, type: describeType(prop, schema), required: required.has(name), description: String(prop.description ?? "") };
  });
}

function describeType(schema: Schema, root: Schema, depth = 0): string {
  if (depth > 3) return "…";
  const s = resolve(schema, root);
  const alternatives = (s.anyOf ?? s.oneOf) as Schema[] | undefined;
  if (Array.isArray(alternatives)) {
    const names = alternatives.map((a) => (typeof a.$ref === "string" ? a.$ref.split("/").pop() : describeType(a, root, depth + 1)));
    return [...new Set(names)].join(" | ");
  }
  if (s.type === "array") {
    const items = s.items as Schema | undefined;
    if (items && typeof items === "object" && Object.keys(items).length) {
      return `${typeof items.$ref === "string" ? items.$ref.split("/").pop() : describeType(items, root, depth + 1)}[]`;
    }
    return "array";
  }
  if ("const" in s) return JSON.stringify(s.const);
  if (Array.isArray(s.enum)) return s.enum.map((e) => JSON.stringify(e)).join(" | ");
  if (Array.isArray(s.type)) return s.type.join(" | ");
  if (typeof s.type === "string") return s.type;
  if (typeof s.title === "string") return s.title;
  return "any";
}
