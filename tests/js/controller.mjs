// StreamController (`@langchain/langgraph-sdk/stream` 1.15.0, the engine of @langchain/react's
// useStream) against a distaff server, over SSE. A page reload is modelled as the reference
// capture does it (61, 62): dispose the controller, then a new one on the same thread id.
//
//   node controller.mjs <server url> <hitl-reload|tokens-reload|error>
//
// Prints one JSON object with the controller's snapshots at each step.
import { Client } from "@langchain/langgraph-sdk";
import { StreamController } from "@langchain/langgraph-sdk/stream";
import { brief, main, waitFor } from "./lib.mjs";

function snapshot(controller) {
  const s = controller.rootStore.getSnapshot();
  return {
    threadId: s.threadId,
    isLoading: s.isLoading,
    interrupts: s.interrupts,
    messages: s.messages.map(brief),
    // The state besides the messages (those are in `messages`, as [type, text]).
    values: Object.fromEntries(Object.entries(s.values ?? {}).filter(([key]) => key !== "messages")),
    error: s.error == null ? null : String(s.error?.message ?? s.error),
  };
}

const until = (controller, check, what, ms) =>
  waitFor(() => check(controller.rootStore.getSnapshot()), what, ms, () => JSON.stringify(snapshot(controller)));

/** Every distinct text the last AI message had, in the order the store showed them. */
function watchAiText(controller) {
  const seen = [];
  controller.rootStore.subscribe(() => {
    const ai = controller.rootStore.getSnapshot().messages.map(brief).filter(([type]) => type === "ai");
    if (ai.length && seen.at(-1) !== ai.at(-1)[1]) seen.push(ai.at(-1)[1]);
  });
  return seen;
}

const scenarios = {
  // hitl on a new thread; "reload" while interrupted; the new controller answers.
  async "hitl-reload"(url) {
    const client = new Client({ apiUrl: url });
    const page1 = new StreamController({ assistantId: "hitl", client, threadId: null });
    page1.activate();
    await page1.submit({ messages: [{ type: "human", content: "go" }] });
    const afterSubmit = snapshot(page1);
    const threadId = afterSubmit.threadId;
    await page1.dispose();

    const page2 = new StreamController({ assistantId: "hitl", client, threadId });
    page2.activate();
    await page2.hydrationPromise;
    const afterHydrate = snapshot(page2);
    // respond() without an interrupt id takes the pending one from the thread stream's list,
    // which the SSE replay fills in; hydration (GET state) resolves before that replay comes.
    await waitFor(() => page2.getThread()?.interrupts.length, "the replayed input.requested");
    const replayed = structuredClone(page2.getThread().interrupts);
    await page2.respond("yes");
    await until(page2, (s) => !s.isLoading && s.messages.length === 3, "the resumed run's end");
    const end = snapshot(page2);
    await page2.dispose();
    return { threadId, afterSubmit, afterHydrate, replayed, end };
  },

  // typist streams its reply; the page "reloads" once a few words are in, and the new
  // controller rejoins the run still going.
  async "tokens-reload"(url) {
    const client = new Client({ apiUrl: url });
    const page1 = new StreamController({ assistantId: "typist", client, threadId: null });
    page1.activate();
    const seen1 = watchAiText(page1);
    const submitted = page1.submit({ messages: [{ type: "human", content: "type" }] });
    // Three different texts: the reply was seen to grow (the first tokens may come in one
    // batch, from the replay of the event stream the controller opens after run.start).
    await until(page1, () => seen1.length >= 3, "three texts");
    const beforeReload = snapshot(page1);
    await page1.dispose();
    await submitted;

    const page2 = new StreamController({ assistantId: "typist", client, threadId: beforeReload.threadId });
    const seen2 = watchAiText(page2);
    page2.activate();
    await page2.hydrationPromise;
    const afterHydrate = snapshot(page2);
    await until(page2, (s) => !s.isLoading && s.messages.length >= 2, "the run's end");
    const end = snapshot(page2);
    const state = await client.threads.getState(beforeReload.threadId);
    await page2.dispose();
    return { seen1, beforeReload, afterHydrate, seen2, end, state: state.values.messages.map(brief) };
  },

  // agent with "boom": the run fails with ValueError("boom requested").
  async error(url) {
    const client = new Client({ apiUrl: url });
    const page = new StreamController({ assistantId: "agent", client, threadId: null });
    page.activate();
    await page.submit({ messages: [{ type: "human", content: "boom" }] });
    await until(page, (s) => !s.isLoading && s.error != null, "the error");
    const end = snapshot(page);
    await page.dispose();
    return { end };
  },
};

main(scenarios);
