// The JS SDK's ThreadStream (`client.threads.stream(...)`, @langchain/langgraph-sdk 1.15.0)
// against a distaff server, over SSE or over one WebSocket.
//
//   node threadstream.mjs <server url> <tokens|hitl|subgraphs|error> <sse|websocket>
//
// Prints one JSON object: what the client assembled (messages, interrupts, subgraph handles,
// the output) and the events it saw, in order.
import { Client } from "@langchain/langgraph-sdk";
import { brief, main, nsPath, recordEvents, socketFactory, waitFor } from "./lib.mjs";

function open(url, assistantId, transport) {
  const client = new Client({ apiUrl: url });
  const sockets = socketFactory();
  const thread = client.threads.stream({ assistantId, transport, webSocketFactory: sockets.factory });
  const errors = [];
  thread.onError((error) => errors.push(String(error?.message ?? error)));
  return { client, thread, sockets, errors, events: recordEvents(thread) };
}

/** A streaming message handle, read to its end: its text deltas and the final text. */
async function followMessage(message) {
  const entry = { id: message.id, ns: nsPath(message.namespace), node: message.node, deltas: [] };
  for await (const delta of message.text) entry.deltas.push(delta);
  entry.text = await message.text;
  return entry;
}

/** Every message of `messages` (an iterable of streaming handles) with its text deltas. */
async function collectMessages(messages) {
  const out = [];
  for await (const message of messages) out.push(await followMessage(message));
  return out;
}

/** Opens the `values` projection (thread.output's) and waits until the client's shared SSE,
 * or its socket subscriptions, carry every projection opened so far: then the run starts.
 * distaff starts a run at once, so a projection the client opens only after run.start is
 * fed by a second SSE (the client "rotates" to a wider filter and relies on the replay),
 * and that replay can come after the first stream's root terminal has already ended the
 * projection: seen under CPU load as thread.output resolving to undefined. A client race,
 * not the server's: every SSE carried the run's events in full. */
async function openProjections(thread) {
  void thread.values;
  await thread.subscribe(["lifecycle", "input"]);
}

const rootTerminals = (events) => events.filter((e) => e.method === "lifecycle" && e.ns === "" && e.event !== "running");

/** The thread's status once it is no longer "busy". distaff writes a run's terminal lifecycle
 * event just before it records the thread's new status (the executor ends the event tape,
 * then calls runs.finish), so a read right after the event may still find "busy". The JS
 * clients never read the thread's status; this driver does only to check where it ends. */
async function settledStatus(client, threadId) {
  let status;
  const started = Date.now();
  do {
    status = (await client.threads.get(threadId)).status;
    if (status !== "busy") return status;
    await new Promise((resolve) => setTimeout(resolve, 10));
  } while (Date.now() - started < 5_000);
  return status;
}

function common(session) {
  return {
    threadId: session.thread.threadId,
    errors: session.errors,
    sockets: session.sockets.opened.length,
    events: session.events,
  };
}

const scenarios = {
  // agent: "Hello there friend", token by token.
  async tokens(url, transport) {
    const session = open(url, "agent", transport);
    const { thread } = session;
    const messages = collectMessages(thread.messages);
    await openProjections(thread);
    const run = await thread.run.start({ input: { messages: [{ role: "user", content: "hi" }] } });
    const output = await thread.output;
    await waitFor(() => rootTerminals(session.events).length === 1, "the root terminal");
    return { ...common(session), runId: run.run_id, messages: await messages, output: output.messages.map(brief) };
  },

  // hitl: interrupt({"question": "approve?", "n": 1}), answered "yes", then "done".
  async hitl(url, transport) {
    const session = open(url, "hitl", transport);
    const { client, thread } = session;
    const values = [];
    void (async () => {
      for await (const v of thread.values) values.push(v);
    })();
    await openProjections(thread);
    await thread.run.start({ input: { messages: [{ role: "user", content: "go" }] } });
    await waitFor(() => thread.interrupted, "thread.interrupted");
    const interrupts = structuredClone(thread.interrupts);
    const statusInterrupted = await settledStatus(client, thread.threadId);
    const [pending] = thread.interrupts;
    await thread.input.respond({ interrupt_id: pending.interruptId, namespace: pending.namespace, response: "yes" });
    await waitFor(() => rootTerminals(session.events).length === 2, "the resumed run's terminal", 10_000, () => JSON.stringify(session.events));
    const state = await client.threads.getState(thread.threadId);
    const status = await settledStatus(client, thread.threadId);
    let tree;
    try {
      tree = await thread.agent.getTree();
    } catch (error) {
      tree = { error: String(error?.message ?? error) };
    }
    return {
      ...common(session),
      interrupts,
      statusInterrupted,
      valuesBeforeInterrupt: values.map((v) => (v.messages ?? []).map(brief)),
      state: { approved: state.values.approved, messages: state.values.messages.map(brief), next: state.next },
      status,
      tree,
    };
  },

  // deep: root -> subgraph "mid" -> subgraph "leaf", whose model streams "leaf says hi".
  async subgraphs(url, transport) {
    const session = open(url, "deep", transport);
    const { thread } = session;
    // The subgraph handles the client discovers from lifecycle events. Their own projections
    // (handle.messages) subscribe only once found, which here is after this fast run has
    // ended, and whether such late subscriptions get the replay is up to the client's stream
    // rotation (seen missing now and then over SSE although every replay carried the events):
    // only the discovery is asserted on, and these loops are not awaited.
    const tree = [];
    const walk = async (handles, into) => {
      for await (const handle of handles) {
        const node = { name: handle.name, graphName: handle.graphName, ns: nsPath(handle.namespace), children: [] };
        into.push(node);
        void walk(handle.subgraphs, node.children);
      }
    };
    void walk(thread.subgraphs, tree);
    // A raw subscription made before the run: "mid" (no task id) is a namespace prefix, so
    // this gets the messages of mid and of every graph below it.
    const sub = await thread.subscribe(["messages"], { namespaces: [["mid"]] });
    await openProjections(thread);
    const messageEvents = (async () => {
      const out = [];
      for await (const event of sub) {
        const data = event.params.data;
        out.push({ ns: nsPath(event.params.namespace), event: data.event, text: data.delta?.text ?? data.content?.text });
      }
      return out;
    })();
    await thread.run.start({ input: { messages: [{ role: "user", content: "go" }] } });
    const output = await thread.output;
    await waitFor(() => rootTerminals(session.events).length === 1, "the root terminal");
    const complete = await waitFor(() => tree[0]?.children.length, "the subgraph handles", 5_000).then(
      () => true,
      () => false,
    );
    return { ...common(session), complete, tree, messages: await messageEvents, output: output.messages.map(brief) };
  },

  // agent with "boom": the node raises ValueError("boom requested").
  async error(url, transport) {
    const session = open(url, "agent", transport);
    const { client, thread } = session;
    await openProjections(thread);
    await thread.run.start({ input: { messages: [{ role: "user", content: "boom" }] } });
    const output = await thread.output;
    await waitFor(() => rootTerminals(session.events).length === 1, "the root terminal");
    const status = await settledStatus(client, thread.threadId);
    return { ...common(session), output: (output?.messages ?? []).map(brief), status };
  },
};

main(Object.fromEntries(Object.entries(scenarios).map(([name, run]) => [name, (url, transport = "sse") => run(url, transport)])));
