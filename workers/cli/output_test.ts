import assert from "node:assert/strict";
import type { StatusView } from "../../sdk/client/mod.ts";
import { formatStatus } from "./output.ts";

const status: StatusView = {
  ledger: "demo",
  site: "site-b",
  role: "candidate",
  term: 4,
  leader: null,
  commitIndex: 9,
  appliedIndex: 9,
  height: 5,
  logSize: 12,
  healthy: true,
};

Deno.test("cli status: a site that has known no leader for longer than an election takes says for how long, and that it refuses new writes; one that knows a leader has no such line", () => {
  const cut = formatStatus({ ...status, leaderlessMs: 2345 }, "http://127.0.0.1:7002");
  assert.match(
    cut,
    /^no leader +for 2\.3 s: cut off from the majority, it refuses new writes until it hears a leader again$/m,
  );
  assert.match(cut, /^leader +none$/m);
  const inTouch = formatStatus({ ...status, role: "follower", leader: "site-a" }, "http://x");
  assert.doesNotMatch(inTouch, /^no leader/m);
  assert.match(inTouch, /^leader +site-a$/m);
});
