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

Deno.test("cli status: a site that has known no leader for longer than an election takes is not ready, saying for how long and that it refuses new writes — a learner that still names its last leader too, and a follower whose leader answers none of its forwards; one that knows a leader is ready", () => {
  const cut = formatStatus({ ...status, leaderlessMs: 2345 }, "http://127.0.0.1:7002");
  assert.match(
    cut,
    /^ready +no: no leader heard from for 2\.3 s \(cut off from the majority: new writes are refused\)$/m,
  );
  assert.match(cut, /^leader +none$/m);
  const learner = formatStatus(
    { ...status, role: "learner", leader: "site-a", leaderlessMs: 4100 },
    "http://x",
  );
  assert.match(learner, /^ready +no: no leader heard from for 4\.1 s/m);
  const unreachable = formatStatus(
    { ...status, role: "follower", leader: "site-a", leaderUnreachableMs: 3070 },
    "http://x",
  );
  assert.match(
    unreachable,
    /^ready +no: the leader site-a has answered no forward for 3\.1 s \(the link to it is cut: new writes are refused\)$/m,
  );
  assert.match(unreachable, /^leader +site-a$/m);
  const inTouch = formatStatus({ ...status, role: "follower", leader: "site-a" }, "http://x");
  assert.match(inTouch, /^ready +yes$/m);
  assert.match(inTouch, /^leader +site-a$/m);
});
